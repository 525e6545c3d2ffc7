"""Lambda entry point for one executor tick (the Step Functions loop calls it until `finished`)."""

from __future__ import annotations

import gc
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from bot.services.executions import Executions
from bot.settings import Settings
from bot.wiring import Container

logger = Logger(service="drs-chatops")


@cache
def _executions() -> Executions:
    executions = Container(Settings.from_env()).executions
    # Long-lived objects built once per container: keep the cyclic GC from re-scanning them every tick.
    gc.freeze()
    return executions


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = _executions().tick(str(event["execution_id"]))
    return result.model_dump()
