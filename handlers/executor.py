"""Lambda entry point for one executor tick (the Step Functions loop calls it until `finished`)."""

from __future__ import annotations

import gc
from functools import cache
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.metrics import MetricUnit

from bot.adapters import telemetry
from bot.services.ticking import Ticking
from bot.settings import Settings
from bot.wiring import Container
from handlers.invocation import invocation_keys
from handlers.observability import logger, metrics, share_logger

tracer = Tracer(service=telemetry.SERVICE)  # patches boto3: DRS, DynamoDB and Step Functions calls traced
share_logger()


@cache
def _ticking() -> Ticking:
    ticking = Container(Settings.from_env()).use_cases.ticking
    # Long-lived objects built once per container: keep the cyclic GC from re-scanning them every tick.
    gc.freeze()
    return ticking


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_keys(logger, context):
        metrics.add_metric(name=telemetry.TICKS, unit=MetricUnit.Count, value=1)
        try:
            execution_id = str(event["execution_id"])
            tracer.put_annotation("execution_id", execution_id)
            result = _ticking().tick(execution_id)
        except Exception:
            metrics.add_metric(name=telemetry.TICK_ERRORS, unit=MetricUnit.Count, value=1)
            raise
        return result.model_dump()
