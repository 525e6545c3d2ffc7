"""What a user's App Home tab shows: the plans they may see, as the watch last saw them, and what runs;
and keeping the tab current for everyone who has it.

The tab is republished when something it shows changes, by whoever notices the change: the outbox when
it delivers a request, a start, an approval's outcome, a cancel or an end (`SHOWN`); the watch round when a plan's verdict
changes or a plan comes or goes. A tick that changes nothing republishes nothing. Republishing never
fails its caller: a Slack error is logged (and counted by the adapter); the tab keeps its last view.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from bot.domain.events import (
    ApprovalExpired,
    ApprovalRequested,
    CancelRequested,
    ExecutionApproved,
    ExecutionFinished,
    ExecutionRejected,
    ExecutionStarted,
    StatusEvent,
)
from bot.domain.execution import Execution
from bot.domain.plans import Catalog
from bot.errors import SlackError
from bot.services.access import Access
from bot.services.ports import CatalogStore, Clock, ExecutionStore, RefreshResult
from bot.services.watch import PlanWatch, WatchView

logger = logging.getLogger(__name__)

# The events after which the tab's "Running now" or a plan's last drill reads differently. A cancel
# ends a request awaiting approval at once, with no other event.
SHOWN: tuple[type[StatusEvent], ...] = (
    ExecutionStarted,
    ApprovalRequested,
    ExecutionApproved,
    ExecutionRejected,
    ApprovalExpired,
    CancelRequested,
    ExecutionFinished,
)


class HomeFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    may_see: bool  # the policy lets the user run drills, request recoveries or approve
    catalog: Catalog | None = None
    plans: dict[str, PlanWatch] = {}
    running: tuple[Execution, ...] = ()  # not yet ended, newest first
    now: datetime


class HomeViewers(Protocol):
    def remember(self, user_id: str, now: datetime) -> None:
        """The user opened the tab: keep republishing to them (for a while: the adapter forgets)."""
        ...

    def viewers(self, now: datetime) -> list[str]:
        """The users to republish to."""
        ...

    def catalog_shown(self) -> str | None:
        """The digest of the catalog the tabs were last published from."""
        ...

    def showing_catalog(self, digest: str) -> None: ...


class HomePublisher(Protocol):
    def publish(self, user_id: str, view: dict[str, Any]) -> None:
        """views.publish; Slack's refusals and outages raise bot.errors.SlackError."""
        ...


class Home:
    def __init__(
        self,
        *,
        catalog: CatalogStore,
        watch: WatchView,
        store: ExecutionStore,
        access: Access,
        clock: Clock,
        viewers: HomeViewers | None = None,
        publisher: HomePublisher | None = None,
        render: Callable[[HomeFacts], dict[str, Any]] | None = None,
    ) -> None:
        self._catalog = catalog
        self._watch = watch
        self._store = store
        self._access = access
        self._clock = clock
        self._viewers = viewers
        self._publisher = publisher
        self._render = render

    def facts(self, user_id: str) -> HomeFacts:
        return self._for(user_id, self._shared())

    def opened(self, user_id: str) -> HomeFacts:
        """The user opened the tab: remembered, so that later changes reach their tab, and shown."""
        if self._viewers is not None:
            self._viewers.remember(user_id, self._clock())
        return self.facts(user_id)

    def refresh_if_catalog_changed(self) -> RefreshResult:
        """`plans apply` writes the catalog with the operator's credentials, which reach no Slack: the
        watch round notices the change (a digest of the catalog) and republishes."""
        if self._viewers is None:
            return RefreshResult()
        try:
            if _digest(self._catalog.load()) == self._viewers.catalog_shown():
                return RefreshResult()
        except Exception:
            logger.exception("home: could not compare the catalog with the Home tab's")
            return RefreshResult()
        return self.refresh()

    def refresh(self) -> RefreshResult:
        """Publish each remembered user's view again, built for that user. Never raises: the caller
        (a tick, a watch round) has done its work, and the tab keeps its last view."""
        if self._viewers is None or self._publisher is None or self._render is None:
            return RefreshResult()
        try:
            users = self._viewers.viewers(self._clock())
            shared = self._shared() if users else None
            if shared is not None and shared.catalog is not None:
                self._viewers.showing_catalog(_digest(shared.catalog))
        except Exception:
            logger.exception("home: could not read what the Home tab shows; not republished")
            return RefreshResult()
        published = failed = 0
        for user_id in users:
            assert shared is not None
            try:
                self._publisher.publish(user_id, self._render(self._for(user_id, shared)))
                published += 1
            except SlackError as error:
                logger.warning("home: the Home tab of %s was not republished: %s", user_id, error)
                failed += 1
            except Exception:
                logger.exception("home: the Home tab of %s was not republished", user_id)
                failed += 1
        return RefreshResult(published=published, failed=failed)

    def _shared(self) -> HomeFacts:
        """What every viewer may see, read once for all of them."""
        now = self._clock()
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

    def _for(self, user_id: str, shared: HomeFacts) -> HomeFacts:
        """Everyone the policy lets act on plans sees them all (plans have no per-user policy); others
        see nothing of them."""
        groups = self._access.groups(user_id)
        policy = self._access.policy
        if not (
            policy.may_run_drill(user_id, groups)
            or policy.may_request_recovery(user_id, groups)
            or policy.may_approve(user_id, groups)
        ):
            return HomeFacts(may_see=False, now=shared.now)
        return shared


def _digest(catalog: Catalog) -> str:
    return hashlib.sha256(catalog.model_dump_json().encode()).hexdigest()


def shown(events: Iterable[StatusEvent]) -> bool:
    """Whether delivering these events changed what the Home tab shows."""
    return any(isinstance(event, SHOWN) for event in events)
