"""Lambda entry point for the readiness watch: a round on its schedule, and at once on DRS events.

EventBridge invokes it every `WatchMinutes` (a scheduled event) and on "DRS Source Server Data
Replication Stalled Change" events; an event names its region and account, so that round checks only
the plans with servers there. Rounds that overlap are harmless: each plan's state is written under a condition, and
only the round whose write stored a change tells its news.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.metrics import MetricUnit

from bot.adapters import telemetry
from bot.services.watch import Watch
from bot.settings import Settings
from bot.wiring import Container
from handlers.invocation import invocation_keys
from handlers.observability import logger, metrics, share_logger

tracer = Tracer(service=telemetry.SERVICE)
share_logger()

# Plans whose readiness news went out this round: a count to graph, and to alarm on if it never moves.
WATCH_NEWS = "WatchNews"


@cache
def _watch() -> Watch:
    return Container(Settings.from_env()).watch


def regions_of(event: dict[str, Any]) -> list[str] | None:
    """None (every region) for the schedule; the event's region for a DRS event."""
    if event.get("source") == "aws.drs" and isinstance(event.get("region"), str):
        return [event["region"]]
    return None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with invocation_keys(logger, context):
        account = event.get("account") if event.get("source") == "aws.drs" else None
        result = _watch().round(regions_of(event), account=account if isinstance(account, str) else None)
        metrics.add_metric(name=WATCH_NEWS, unit=MetricUnit.Count, value=result.news_posted)
        if result.regions_unavailable:
            logger.warning(
                "DRS did not answer; those plans keep their verdict",
                extra={"regions": result.regions_unavailable},
            )
        return result.model_dump(mode="json")
