"""Log keys and metrics with Powertools: what an operator follows an execution by and alarms on.

Log keys (execution_id, plan, execution_type) live in Powertools' thread-safe (context-variable) keys,
which the handlers' Logger and, through `copy_config_to_registered_loggers`, the services' stdlib loggers
print on every line. Metrics are CloudWatch's embedded metric format, one document per fact, printed at
once: a metric whose dimension is an error code cannot share a document with the handler's own metrics,
and nothing is kept between invocations of a long-lived process (socket mode, the sandbox).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from bot.domain.events import Event, ExecutionStarted, WaveFinished
from bot.domain.execution import Execution

SERVICE = "drs-chatops"
NAMESPACE = "DrsChatops"

# The metrics, by the names the README's alarms use.
DRS_ERRORS = "DrsErrors"  # dimension ErrorCode: a DRS call that failed after boto3's retries
SLACK_POST_FAILURES = "SlackPostFailures"  # dimension ErrorCode: a post or update Slack refused
HOME_PUBLISH_FAILURES = "HomePublishFailures"  # dimension ErrorCode: a Home tab views.publish that failed
WAVE_DURATION = "WaveDuration"  # seconds from a wave's start to its end (its RTO), ExecutionType
EXECUTIONS_STARTED = "ExecutionsStarted"  # ExecutionType
EXECUTIONS_ENDED = "ExecutionsEnded"  # ExecutionType, Status
TICKS = "Ticks"
TICK_ERRORS = "TickErrors"

_logger = Logger(service=SERVICE)


def count(name: str, **dimensions: str) -> None:
    emit(name, MetricUnit.Count, 1, **dimensions)


def count_error(name: str, code: str) -> None:
    """Twice: in total (what an alarm watches; an alarm cannot sum over a dimension's values) and by
    the error's code (what the operator reads next)."""
    count(name)
    count(name, ErrorCode=code)


def emit(name: str, unit: MetricUnit, value: float, **dimensions: str) -> None:
    if is_metrics_disabled():  # POWERTOOLS_METRICS_DISABLED, as Metrics' own flush honours it
        return
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=NAMESPACE,
        default_dimensions={"service": SERVICE, **dimensions},
    ):
        pass


class PowertoolsLogKeys:
    """The services' LogKeys port: keys added in a scope are gone when it ends, whatever it raised."""

    @contextmanager
    def scope(self) -> Iterator[None]:
        before = dict(_logger.thread_safe_get_current_keys())
        try:
            yield
        finally:
            _logger.thread_safe_clear_keys()
            if before:
                _logger.thread_safe_append_keys(**before)

    def add(self, **keys: str) -> None:
        _logger.thread_safe_append_keys(**keys)


class ExecutionMetrics:
    """What an execution's saved changes mean to an operator: called by the store after each save that
    succeeded (so a tick that lost a race counts nothing)."""

    def saved(self, execution: Execution, previous: Execution | None, events: Sequence[Event]) -> None:
        kind = execution.execution_type.value
        for event in events:
            if isinstance(event, ExecutionStarted):
                count(EXECUTIONS_STARTED, ExecutionType=kind)
            elif isinstance(event, WaveFinished):
                emit(WAVE_DURATION, MetricUnit.Seconds, event.duration_seconds, ExecutionType=kind)
        if execution.status.is_terminal and (previous is None or not previous.status.is_terminal):
            count(EXECUTIONS_ENDED, ExecutionType=kind, Status=execution.status.value)
