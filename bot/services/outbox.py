"""Delivering status events to Slack: in order, later when Slack is down, never twice."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict

from bot.domain.events import ExecutionFinished
from bot.errors import SlackRefused, SlackUnavailable
from bot.services.ports import Clock, ExecutionStore, Notifier, Renderer

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 60.0


class DeliveryReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivered: int = 0
    anchor_ts: str | None = None
    error: str | None = None  # Slack's error code when something is left for later


class Outbox:
    def __init__(self, store: ExecutionStore, notifier: Notifier, renderer: Renderer, clock: Clock) -> None:
        self._store = store
        self._notifier = notifier
        self._renderer = renderer
        self._clock = clock

    def deliver(self, execution_id: str, *, refresh_anchor: bool = False) -> DeliveryReport:
        """Post the pending events of an execution in order; say how far it got."""
        execution = self._store.get(execution_id)
        if execution is None or execution.channel_id is None:
            return DeliveryReport()
        channel = execution.channel_id
        delivered = 0
        try:
            if execution.anchor_ts is None:
                key = f"{execution_id}:anchor"
                anchor = self._notifier.find(channel, key) or self._notifier.post(
                    channel, self._renderer.anchor(execution, self._clock()), key=key
                )
                self._store.set_anchor(execution_id, anchor)
                execution = execution.model_copy(update={"anchor_ts": anchor})
            thread = execution.anchor_ts
            assert thread is not None
            for entry in self._store.pending_events(execution_id):
                seq = entry.event.seq
                if not self._store.claim_event(execution_id, seq, self._clock(), CLAIM_SECONDS):
                    break  # another tick is delivering; it keeps the order
                key = f"{execution_id}:{seq}"
                # A claim that was taken before and never completed may have posted: look first.
                ts = self._notifier.find(channel, key, thread_ts=thread) if entry.attempts else None
                if ts is None:
                    final = isinstance(entry.event, ExecutionFinished)
                    message = self._renderer.event(entry.event)
                    try:
                        ts = self._notifier.post(channel, message, key=key, thread_ts=thread, broadcast=final)
                    except (SlackUnavailable, SlackRefused):
                        self._store.release_event(execution_id, seq)
                        raise
                self._store.mark_delivered(execution_id, seq, ts)
                delivered += 1
            if delivered or refresh_anchor:
                latest = self._store.get(execution_id) or execution
                self._notifier.update(channel, thread, self._renderer.anchor(latest, self._clock()))
        except SlackUnavailable as error:
            logger.warning("Slack unavailable; %s will be delivered later: %s", execution_id, error)
            return DeliveryReport(delivered=delivered, anchor_ts=execution.anchor_ts, error=error.error)
        except SlackRefused as error:
            logger.error("Slack refused a message of %s (kept for a retry): %s", execution_id, error)
            return DeliveryReport(delivered=delivered, anchor_ts=execution.anchor_ts, error=error.error)
        return DeliveryReport(delivered=delivered, anchor_ts=execution.anchor_ts)
