"""What a user's App Home tab shows: the plans they may see, as the watch last saw them, and what runs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from bot.domain.execution import Execution
from bot.domain.plans import Catalog
from bot.services.access import Access
from bot.services.ports import CatalogStore, Clock, ExecutionStore
from bot.services.watch import PlanWatch, WatchView


class HomeFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    may_see: bool  # the policy lets the user run drills, request recoveries or approve
    catalog: Catalog | None = None
    plans: dict[str, PlanWatch] = {}
    running: tuple[Execution, ...] = ()  # not yet ended, newest first
    now: datetime


class Home:
    def __init__(
        self, *, catalog: CatalogStore, watch: WatchView, store: ExecutionStore, access: Access, clock: Clock
    ) -> None:
        self._catalog = catalog
        self._watch = watch
        self._store = store
        self._access = access
        self._clock = clock

    def facts(self, user_id: str) -> HomeFacts:
        """Everyone the policy lets act on plans sees them all (plans have no per-user policy); others
        see nothing of them."""
        now = self._clock()
        groups = self._access.groups(user_id)
        policy = self._access.policy
        if not (
            policy.may_run_drill(user_id, groups)
            or policy.may_request_recovery(user_id, groups)
            or policy.may_approve(user_id, groups)
        ):
            return HomeFacts(may_see=False, now=now)
        catalog = self._catalog.load()
        running = [
            e
            for e in (self._store.get(i) for i in self._store.active_ids())
            if e and not e.status.is_terminal
        ]
        running.sort(key=lambda e: e.created_at, reverse=True)
        return HomeFacts(
            may_see=True, catalog=catalog, plans=self._watch.plans(catalog), running=tuple(running), now=now
        )
