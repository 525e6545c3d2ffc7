"""Lambda entry point for Slack's HTTP requests (API Gateway HTTP API v2 or a function URL)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from bot.adapters import aws
from bot.slack.entry import slack_app
from bot.slack.requests import SlackLambdaHandler
from handlers.invocation import invocation_keys

# No Tracer and no Metrics here: X-Ray's SDK alone costs the ack's cold start more than the rest of
# Powertools (README "Operating it"); the function's TracingConfig still traces each invocation.
logger = Logger(service="drs-chatops")
# The lazy listeners log through bot.* (services included, imported later): same JSON, same keys.
copy_config_to_registered_loggers(source_logger=logger, include={"bot"})


@cache
def _slack_handler() -> SlackLambdaHandler:
    return SlackLambdaHandler(slack_app(os.environ))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_keys(logger, context):
        return _slack_handler().handle(event, context)


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"):  # set by Lambda for its INIT phase
    # Read the Slack secret and build the lazy listeners' client now, not in front of the first ack: an
    # environment initialized ahead of demand (provisioned concurrency, Lambda's proactive initialization)
    # then answers its first request with no AWS call. A failure here is the first request's to report.
    try:
        _slack_handler().use_lambda_client(aws.lambda_client())
    except Exception:
        logger.exception("Could not prepare the Slack app during INIT; the first request tries again")
        _slack_handler.cache_clear()
