"""Scheduled drills: EventBridge Scheduler invokes the bot at a plan's `schedule`, and the drill starts
as the identity `scheduler`, or is skipped with a message in the plan's channel.

The start is an ordinary drill request (Requesting.request), keyed on the plan and the scheduled time,
so a delivery Scheduler repeats finds the drill already started. What would stop a person's drill stops
this one too, and the channel is told why: the plan is BLOCKED (never forced), it is running already,
or the access policy does not name `scheduler` among the drill runners.
"""

from __future__ import annotations

import logging
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from bot.domain.execution import ExecutionType
from bot.domain.policy import SCHEDULER
from bot.errors import SlackError
from bot.services.ports import CatalogStore, Message, Notifier
from bot.services.requesting import ExecutionRequest, RequestResult

logger = logging.getLogger(__name__)


class DrillRequester(Protocol):
    def request(
        self,
        *,
        plan_name: str,
        execution_type: ExecutionType,
        user_id: str,
        channel_id: str,
        request_key: str | None,
    ) -> ExecutionRequest: ...


class SkipRenderer(Protocol):
    def skipped(self, plan_name: str, scheduled_time: str, reasons: list[str]) -> Message: ...


class ScheduledRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan_name: str
    started: bool
    execution_id: str | None = None
    skipped_because: list[str] = []


class ScheduledDrills:
    def __init__(
        self,
        *,
        executions: DrillRequester,
        catalog: CatalogStore,
        notifier: Notifier,
        renderer: SkipRenderer,
    ) -> None:
        self._executions = executions
        self._catalog = catalog
        self._notifier = notifier
        self._renderer = renderer

    def start(self, plan_name: str, scheduled_time: str) -> ScheduledRun:
        plan = self._catalog.load().plan(plan_name)
        channel = plan.options.channel if plan else None
        if plan is None or plan.options.schedule is None or channel is None:
            # A schedule the catalog no longer has (plans apply deletes it): nobody to tell.
            logger.warning("scheduled drill of %s: the catalog schedules no such plan", plan_name)
            return ScheduledRun(plan_name=plan_name, started=False, skipped_because=["not scheduled"])
        outcome = self._executions.request(
            plan_name=plan.name,
            execution_type=ExecutionType.DRILL,
            user_id=SCHEDULER,
            channel_id=channel,
            request_key=f"schedule:{plan.name}:{scheduled_time}",
        )
        if outcome.result in (RequestResult.STARTED, RequestResult.ALREADY_STARTED) and outcome.execution:
            return ScheduledRun(
                plan_name=plan.name, started=True, execution_id=outcome.execution.execution_id
            )
        reasons = _why(outcome)
        key = f"schedule:{plan.name}:{scheduled_time}:skipped"
        try:
            if self._notifier.find(channel, key) is None:
                self._notifier.post(
                    channel, self._renderer.skipped(plan.name, scheduled_time, reasons), key=key
                )
        except SlackError as error:
            logger.warning(
                "scheduled drill of %s skipped; Slack did not take the message: %s", plan.name, error
            )
        return ScheduledRun(plan_name=plan.name, started=False, skipped_because=reasons)


def _why(outcome: ExecutionRequest) -> list[str]:
    if outcome.result is RequestResult.NOT_READY and outcome.verdict:
        return [f"readiness is {outcome.verdict.level.value}", *outcome.verdict.summary_lines()]
    if outcome.result is RequestResult.PLAN_BUSY:
        running = outcome.busy_with.execution_id if outcome.busy_with else "another execution"
        return [f"an execution of the plan is running ({running})"]
    if outcome.result is RequestResult.NOT_ALLOWED:
        return ["the access policy's drill_runners do not name scheduler"]
    if outcome.result is RequestResult.CHANNEL_NOT_ALLOWED:
        return ["the plan's channel is not among the access policy's allowed_channels"]
    return [f"{outcome.result.value}" + (f": {outcome.error}" if outcome.error else "")]
