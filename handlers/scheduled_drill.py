"""Lambda entry point for scheduled drills: EventBridge Scheduler's target.

Each plan's schedule (created by `drs-bot plans apply`) invokes this function with
{"plan": <name>, "scheduled_time": "<aws.scheduler.scheduled-time>"}; the drill starts as `scheduler`
or is skipped with a message in the plan's channel (bot/services/scheduled_drills.py).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Tracer

from bot.adapters import telemetry
from bot.services.scheduled_drills import ScheduledDrills
from bot.settings import Settings
from bot.wiring import Container
from handlers.invocation import invocation_keys
from handlers.observability import logger, metrics, share_logger

tracer = Tracer(service=telemetry.SERVICE)
share_logger()


@cache
def _scheduled() -> ScheduledDrills:
    return Container(Settings.from_env()).scheduled_drills


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_keys(logger, context):
        run = _scheduled().start(str(event["plan"]), str(event["scheduled_time"]))
        return run.model_dump(mode="json")
