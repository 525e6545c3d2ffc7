"""Lambda entry point for DRS EventBridge events ("DRS Source Server Launch Result"): an early tick.

Polling by the Step Functions loop stays the source of truth; this only shortens the gap between a
wave's last launch and the next wave's start."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from bot.services.executions import Executions
from bot.settings import Settings
from bot.wiring import Container

logger = Logger(service="drs-chatops")


@cache
def _executions() -> Executions:
    return Container(Settings.from_env()).executions


@logger.inject_lambda_context
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: Any) -> dict[str, Any]:
    job_id = event.detail.get("job-id") or event.detail.get("jobID")
    if not job_id:
        logger.info("DRS event without a job id; nothing to do", extra={"detail_type": event.detail_type})
        return {"ticked": None}
    result = _executions().on_launch_result(event.region, str(job_id))
    return {"ticked": result.execution_id if result else None}
