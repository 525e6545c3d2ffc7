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
from bot.adapters.drs import LaunchResult, launch_result_job, launch_result_place
from bot.domain.accounts import AccountRegion
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


def _own_account(context: Any) -> str | None:
    """The bot's own account, from the function's ARN (arn:aws:lambda:region:account:function:name)."""
    parts = str(getattr(context, "invoked_function_arn", "") or "").split(":")
    return parts[4] if len(parts) > 4 and parts[4] else None


def _placed(results: list[LaunchResult], own_account: str | None) -> list[tuple[AccountRegion, str]]:
    """Each event's job where it runs; an event from an account the bot has no role for is left out."""
    targets = Settings.from_env().target_accounts if results else ()
    jobs = []
    for result in results:
        where = launch_result_place(result, targets, own_account)
        if where is None:
            logger.warning(
                "Launch-result event from account %s ignored: not one of the target accounts",
                result.account,
                extra={"account": result.account, "region": result.region, "job_id": result.job_id},
            )
            continue
        jobs.append((where, result.job_id))
    return jobs


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=SQSEvent)
def handler(event: SQSEvent, context: Any) -> dict[str, Any]:
    with invocation_keys(logger, context):  # each execution's tick adds its keys to these, and removes them
        results = [result for record in event.records if (result := launch_result_job(record.body))]
        jobs = _placed(results, _own_account(context))
        outcome = _ticking().on_launch_results(jobs)
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
