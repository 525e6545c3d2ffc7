"""Lambda entry point for Slack's HTTP requests (API Gateway HTTP API v2 or a function URL)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from bot.settings import Settings
from bot.slack.requests import SlackLambdaHandler
from bot.wiring import Container

logger = Logger(service="drs-chatops")


@cache
def _slack_handler() -> SlackLambdaHandler:
    # Built on the first request, not at import: nothing slow runs before Slack's 3-second clock starts.
    return SlackLambdaHandler(Container(Settings.from_env()).slack_app())


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _slack_handler().handle(event, context)
