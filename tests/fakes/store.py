"""The execution store and catalog store in memory, with DynamoDBStore's semantics: a save wins only
on the version it read, events are written with their state, the plan's lock is taken and freed with it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.events import Event
from bot.domain.execution import Execution, ExecutionSummary, SlackBlock, summarize
from bot.domain.plans import Catalog
from bot.errors import ExecutionExists, PlanBusy, StaleExecution
from bot.services.ports import OutboxEntry


@dataclass
class _Stored:
    event: Event
    attempts: int = 0
    claimed_until: float | None = None
    claimed_by: str | None = None
    delivered_ts: str | None = None


@dataclass
class _Record:
    execution: Execution
    anchor_ts: str | None = None
    slack_blocked: SlackBlock | None = None
    active: bool = True
    events: dict[int, _Stored] = field(default_factory=dict)


class InMemoryExecutionStore:
    def __init__(self) -> None:
        self._records: dict[str, _Record] = {}
        self._locks: dict[str, str] = {}  # plan name -> the execution holding it
        self._mutex = threading.Lock()
        self.saves = 0
        self.conflicts = 0  # saves refused because another one won (StaleExecution)

    # --- writing ---------------------------------------------------------------------------------

    def create(self, execution: Execution, events: Sequence[Event]) -> Execution:
        with self._mutex:
            created = execution.model_copy(update={"version": 1})
            if created.execution_id in self._records:
                raise ExecutionExists(created.execution_id)
            if created.plan_name in self._locks:
                raise PlanBusy(created.plan_name, self._locks[created.plan_name])
            self._locks[created.plan_name] = created.execution_id
            record = _Record(execution=created)
            record.events.update({event.seq: _Stored(event) for event in events})
            self._records[created.execution_id] = record
            return created

    def save(self, execution: Execution, previous: Execution, events: Sequence[Event]) -> Execution:
        with self._mutex:
            record = self._records.get(execution.execution_id)
            if record is None or record.execution.version != previous.version:
                self.conflicts += 1
                raise StaleExecution(execution.execution_id)
            saved = execution.model_copy(update={"version": previous.version + 1})
            if previous.status.is_terminal and not saved.status.is_terminal:  # re-opened by /drs retry
                holder = self._locks.get(saved.plan_name, saved.execution_id)
                if holder != saved.execution_id:
                    raise PlanBusy(saved.plan_name, holder)
                self._locks[saved.plan_name] = saved.execution_id
            record.execution = saved
            record.events.update({event.seq: _Stored(event) for event in events})
            ended = saved.status.is_terminal and not previous.status.is_terminal
            if ended and self._locks.get(saved.plan_name) == saved.execution_id:
                del self._locks[saved.plan_name]  # the plan is free in the step that ends its execution
            self.saves += 1
            return self._view(record)

    def set_anchor(self, execution_id: str, ts: str) -> None:
        with self._mutex:
            record = self._records[execution_id]
            record.anchor_ts = record.anchor_ts or ts

    def reactivate(self, execution_id: str) -> None:
        self._records[execution_id].active = True

    def retire(self, execution_id: str) -> None:
        self._records[execution_id].active = False

    def block_slack(self, execution_id: str, error: str, now: datetime) -> None:
        with self._mutex:
            record = self._records[execution_id]
            since = record.slack_blocked.since if record.slack_blocked else now
            record.slack_blocked = SlackBlock(error=error, since=since, checked_at=now)

    def unblock_slack(self, execution_id: str) -> None:
        self._records[execution_id].slack_blocked = None

    # --- the outbox --------------------------------------------------------------------------------

    def pending_events(self, execution_id: str) -> list[OutboxEntry]:
        record = self._records.get(execution_id)
        if record is None:
            return []
        return [
            OutboxEntry(event=stored.event, attempts=stored.attempts)
            for _, stored in sorted(record.events.items())
            if stored.delivered_ts is None
        ]

    def claim_event(
        self, execution_id: str, seq: int, now: datetime, lease_seconds: float, owner: str = ""
    ) -> bool:
        with self._mutex:
            stored = self._records[execution_id].events.get(seq)
            if stored is None or stored.delivered_ts is not None:
                return False
            if stored.claimed_until is not None and stored.claimed_until >= now.timestamp():
                return False
            stored.claimed_until = now.timestamp() + lease_seconds
            stored.claimed_by = owner or "-"
            stored.attempts += 1
            return True

    def renew_claim(
        self, execution_id: str, seq: int, now: datetime, lease_seconds: float, owner: str
    ) -> bool:
        with self._mutex:
            stored = self._records[execution_id].events[seq]
            if stored.claimed_by != owner or stored.delivered_ts is not None:
                return False
            stored.claimed_until = now.timestamp() + lease_seconds
            return True

    def release_event(self, execution_id: str, seq: int, owner: str = "") -> None:
        with self._mutex:
            stored = self._records[execution_id].events[seq]
            if stored.claimed_by == (owner or "-"):
                stored.claimed_until = stored.claimed_by = None

    def mark_delivered(self, execution_id: str, seq: int, message_ts: str | None) -> None:
        self._records[execution_id].events[seq].delivered_ts = message_ts or ""

    # --- reading ---------------------------------------------------------------------------------

    def get(self, execution_id: str) -> Execution | None:
        record = self._records.get(execution_id)
        return None if record is None else self._view(record)

    def plan_holder(self, plan_name: str) -> str | None:
        return self._locks.get(plan_name)

    def active_ids(self) -> list[str]:
        return [execution_id for execution_id, record in self._records.items() if record.active]

    def recent_in_channel(self, channel_id: str, limit: int) -> list[str]:
        return [e.execution_id for e in self._newest(lambda e: e.channel_id == channel_id)][:limit]

    def history_in_channel(self, channel_id: str, limit: int) -> list[ExecutionSummary]:
        return [summarize(e) for e in self._newest(lambda e: e.channel_id == channel_id)][:limit]

    def history_of_plan(self, plan_name: str, limit: int) -> list[ExecutionSummary]:
        return [summarize(e) for e in self._newest(lambda e: e.plan_name == plan_name)][:limit]

    def latest_in_channel(self, channel_id: str) -> Execution | None:
        ids = self.recent_in_channel(channel_id, 1)
        return self.get(ids[0]) if ids else None

    def delivered(self, execution_id: str) -> list[Event]:
        """The events that reached Slack, in order (for assertions)."""
        record = self._records[execution_id]
        return [s.event for _, s in sorted(record.events.items()) if s.delivered_ts is not None]

    def _newest(self, keep: Callable[[Execution], bool]) -> list[Execution]:
        chosen = [self._view(r) for r in self._records.values() if keep(r.execution)]
        return sorted(chosen, key=lambda e: e.created_at, reverse=True)

    @staticmethod
    def _view(record: _Record) -> Execution:
        # The anchor and the Slack block live beside the versioned state, as in DynamoDB's header.
        return record.execution.model_copy(
            update={"anchor_ts": record.anchor_ts, "slack_blocked": record.slack_blocked}
        )


class InMemoryCatalogStore:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or Catalog()
        self.applied_by: str | None = None

    def load(self) -> Catalog:
        return self.catalog

    def replace(self, catalog: Catalog, *, applied_by: str, now: datetime) -> None:
        self.catalog, self.applied_by = catalog, applied_by
