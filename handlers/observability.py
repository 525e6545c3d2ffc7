"""The functions' Powertools: one Logger (the services' stdlib loggers print through it), Tracer, Metrics.

Every line is JSON with the Lambda context and, while a use case acts on an execution, its
execution_id, plan and execution_type (bot.adapters.telemetry). Metrics are flushed once per invocation
by `log_metrics`; the facts the adapters know (DRS and Slack error codes, wave durations) are printed as
they happen.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from bot.adapters.telemetry import NAMESPACE, SERVICE

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def share_logger() -> None:
    """bot.* loggers (services, Slack listeners) use the Logger's handler and JSON formatter, keys included.
    Loggers created later under bot.* propagate to it too."""
    copy_config_to_registered_loggers(source_logger=logger, include={"bot"})
