"""Lambda entry point for Slack's HTTP requests (API Gateway HTTP API v2 or a function URL)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from bot.slack.entry import slack_app
from bot.slack.requests import SlackLambdaHandler

logger = Logger(service="drs-chatops")


@cache
def _slack_handler() -> SlackLambdaHandler:
    # Built on the first request, not at import: nothing slow runs before Slack's 3-second clock starts.
    return SlackLambdaHandler(slack_app(os.environ))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _slack_handler().handle(event, context)
