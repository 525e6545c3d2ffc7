"""Delivering status events to Slack: in order, later when Slack is down, never twice."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict

from bot.domain.engine import progress_fields
from bot.domain.events import ExecutionFinished, ProgressUpdated
from bot.domain.execution import Execution
from bot.errors import SlackRefused, SlackUnavailable
from bot.services.ports import Clock, ExecutionStore, Notifier, OutboxEntry, Renderer

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 60.0


class DeliveryReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivered: int = 0
    anchor_ts: str | None = None
    error: str | None = None  # Slack's error code when something is left for later
    all_delivered: bool = False  # no event of the execution is left to deliver


class Outbox:
    def __init__(
        self,
        store: ExecutionStore,
        notifier: Notifier,
        renderer: Renderer,
        clock: Clock,
        *,
        claim_seconds: float = CLAIM_SECONDS,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._renderer = renderer
        self._clock = clock
        self._claim_seconds = claim_seconds

    def deliver(self, execution_id: str, known: Execution | None = None) -> DeliveryReport:
        """Post the pending events of an execution in order; say how far it got.

        `known`: the execution as its caller just saved it, which spares reading it again."""
        execution = known or self._store.get(execution_id)
        if execution is None:
            return DeliveryReport()
        if execution.channel_id is None:
            if not execution.needs_ticks():
                self._store.retire(execution_id)
            return DeliveryReport(all_delivered=not self._store.pending_events(execution_id))
        try:
            delivered = self._deliver(execution, execution.channel_id)
        except SlackUnavailable as error:
            logger.warning("Slack unavailable; %s will be delivered later: %s", execution_id, error)
            return DeliveryReport(anchor_ts=execution.anchor_ts, error=error.error)
        except SlackRefused as error:
            logger.error("Slack refused a message of %s (kept for a retry): %s", execution_id, error)
            return DeliveryReport(anchor_ts=execution.anchor_ts, error=error.error)
        all_delivered = not self._store.pending_events(execution_id)
        if all_delivered and not execution.needs_ticks():
            self._store.retire(execution_id)
        return DeliveryReport(delivered=delivered, anchor_ts=execution.anchor_ts, all_delivered=all_delivered)

    def _deliver(self, execution: Execution, channel: str) -> int:
        execution_id = execution.execution_id
        thread = execution.anchor_ts or self._post_anchor(execution, channel)
        pending = self._store.pending_events(execution_id)
        last_progress = max((e.event.seq for e in pending if isinstance(e.event, ProgressUpdated)), default=0)
        delivered = 0
        for entry in pending:
            event, seq = entry.event, entry.event.seq
            if not self._store.claim_event(execution_id, seq, self._clock(), self._claim_seconds):
                break  # another deliverer has it; it keeps the order
            try:
                if isinstance(event, ProgressUpdated):
                    # Edits are idempotent, and only the newest pending one matters.
                    if seq == last_progress:
                        self._notifier.update(channel, thread, self._renderer.anchor(event, self._clock()))
                    ts: str | None = thread
                else:
                    ts = self._post_once(channel, thread, execution_id, entry)
            except (SlackUnavailable, SlackRefused):
                self._store.release_event(execution_id, seq)
                raise
            self._store.mark_delivered(execution_id, seq, ts)
            delivered += 1
        return delivered

    def _post_anchor(self, execution: Execution, channel: str) -> str:
        key = f"{execution.execution_id}:anchor"
        now = self._clock()
        view = ProgressUpdated(seq=0, **progress_fields(execution, now))
        ts = self._notifier.find(channel, key) or self._notifier.post(
            channel, self._renderer.anchor(view, now), key=key
        )
        self._store.set_anchor(execution.execution_id, ts)
        return ts

    def _post_once(self, channel: str, thread: str, execution_id: str, entry: OutboxEntry) -> str:
        key = f"{execution_id}:{entry.event.seq}"
        # An earlier attempt may have posted before failing: look for it before posting again.
        if entry.attempts:
            found = self._notifier.find(channel, key, thread_ts=thread)
            if found:
                return found
        final = isinstance(entry.event, ExecutionFinished)
        message = self._renderer.event(entry.event)
        return self._notifier.post(channel, message, key=key, thread_ts=thread, broadcast=final)
