"""Reading executions and plans for an answer: by id or prefix, the latest, the history, plan names."""

from __future__ import annotations

from bot.domain.execution import Execution, ExecutionSummary
from bot.errors import AmbiguousExecution
from bot.services.ports import CatalogStore, ExecutionStore

MIN_PREFIX = 6
# How many of a channel's recent executions a prefix is looked for among.
PREFIX_LOOKBACK = 100


class Queries:
    def __init__(self, *, catalog: CatalogStore, store: ExecutionStore) -> None:
        self._catalog = catalog
        self._store = store

    def get(self, execution_id: str) -> Execution | None:
        return self._store.get(execution_id)

    def find(self, ref: str, channel_id: str | None = None) -> Execution | None:
        """An execution by its id, or by a unique prefix among this channel's recent ones; a prefix that
        several share raises AmbiguousExecution."""
        exact = self._store.get(ref)
        if exact is not None or channel_id is None or len(ref) < MIN_PREFIX:
            return exact
        recent = self._store.recent_in_channel(channel_id, PREFIX_LOOKBACK)
        matches = [execution_id for execution_id in recent if execution_id.startswith(ref)]
        if len(matches) > 1:
            raise AmbiguousExecution(ref, matches)
        return self._store.get(matches[0]) if matches else None

    def history(self, plan_name: str | None, channel_id: str, limit: int) -> list[ExecutionSummary]:
        """A plan's newest executions, or (no plan) the channel's."""
        if plan_name:
            return self._store.history_of_plan(plan_name, limit)
        return self._store.history_in_channel(channel_id, limit)

    def latest_in_channel(self, channel_id: str) -> Execution | None:
        return self._store.latest_in_channel(channel_id)

    def known_plans(self) -> tuple[str, ...]:
        return tuple(self._catalog.load().plan_names())
