"""Lambda entry point for DRS launch-result events, batched by SQS: early ticks.

EventBridge sends "DRS Source Server Launch Result" events to a queue; Lambda reads it in batches, with
at most two batches at a time. A 100-server wave's 100 events become a few invocations that each tick
an execution once, instead of 100 concurrent ticks that take the account's Lambda concurrency from the
Slack function in the middle of a recovery. Polling by the Step Functions loop stays the source of truth:
this only shortens the gap between a wave's last launch and the next wave's start.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source

from bot.adapters import telemetry
from bot.adapters.drs import launch_result_job
from bot.domain.accounts import home
from bot.services.ticking import Ticking
from bot.settings import Settings
from bot.wiring import Container
from handlers.invocation import invocation_keys
from handlers.observability import logger, metrics, share_logger

tracer = Tracer(service=telemetry.SERVICE)
share_logger()


@cache
def _ticking() -> Ticking:
    return Container(Settings.from_env()).use_cases.ticking


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=SQSEvent)
def handler(event: SQSEvent, context: Any) -> dict[str, Any]:
    with invocation_keys(logger, context):  # each execution's tick adds its keys to these, and removes them
        jobs = [job for record in event.records if (job := launch_result_job(record.body))]
        outcome = _ticking().on_launch_results([(home(region), job_id) for region, job_id in jobs])
        # An early tick is a tick: the same alarm covers both.
        metrics.add_metric(name=telemetry.TICKS, unit=MetricUnit.Count, value=len(outcome.ticked))
        if outcome.failed:
            metrics.add_metric(name=telemetry.TICK_ERRORS, unit=MetricUnit.Count, value=len(outcome.failed))
            logger.warning(
                "Early ticks failed; the loop's next poll retries them", extra={"failed": outcome.failed}
            )
        return {
            "events": len(jobs),
            "ticked": [result.execution_id for result in outcome.ticked],
            "unresolved": outcome.unresolved,  # regions DRS did not answer for: left to the loop's polls
        }
