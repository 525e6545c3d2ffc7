"""Lambda entry point for one executor tick (the Step Functions loop calls it until `finished`)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from bot.services.executions import Executions
from bot.settings import Settings
from bot.wiring import Container

logger = Logger(service="drs-chatops")


@cache
def _executions() -> Executions:
    return Container(Settings()).executions


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = _executions().tick(str(event["execution_id"]))
    return result.model_dump()
