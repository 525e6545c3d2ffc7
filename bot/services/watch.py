"""The readiness watch round: every plan checked from one pass over each region's source servers.

`/drs check` asks DRS about one plan's servers; the watch checks all plans at once, so it asks each
region once for all its source servers (DescribeSourceServers without a filter, 200 a page) and judges
every plan from those facts (bot/domain/readiness.py, then bot/domain/watch.py). 50 plans over 4,000
servers in one region cost 20 calls a round, not one per plan per 200 servers.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from bot.domain import readiness, watch
from bot.domain.accounts import AccountRegion
from bot.domain.drs import SourceServerInfo
from bot.domain.execution import ExecutionSummary, ExecutionType, Limits
from bot.domain.plans import Catalog, RecoveryPlan
from bot.domain.readiness import ServerFacts
from bot.domain.watch import News, WatchState
from bot.errors import AccountUnreachable, DrsError, DrsUnavailable, SlackError, StaleWatchState
from bot.services.ports import CatalogStore, Clock, ExecutionStore, HomeTab, Message, Notifier
from bot.services.readiness import server_facts

logger = logging.getLogger(__name__)

# A round that died while posting leaves its claim; another round takes the news after this long.
CLAIM_SECONDS = 120


class WatchStore(Protocol):
    def states(self) -> dict[str, WatchState]: ...

    def save(
        self, state: WatchState, *, claim_owner: str | None = None, claim_until: datetime | None = None
    ) -> WatchState:
        """Store if the version is still the one read (StaleWatchState otherwise); optionally claim the
        pending news in the same write."""
        ...

    def claim(self, plan_name: str, key: str, owner: str, now: datetime, until: datetime) -> bool: ...

    def last_successful_drill(self, plan_name: str) -> datetime | None:
        """When the plan's newest COMPLETED drill ended, if it has one."""
        ...

    def release(self, plan_name: str, key: str, owner: str) -> None: ...

    def delivered(self, plan_name: str, key: str) -> None: ...

    def forget(self, plan_name: str) -> None:
        """Delete the plan's state, unless news of it is still to be posted."""
        ...


class SourceServers(Protocol):
    def source_servers(self, where: AccountRegion) -> list[SourceServerInfo]:
        """Every source server of the account and region (DrsGateway's call of the same name does this too)."""
        ...


class WatchRenderer(Protocol):
    def news(self, news: News) -> Message: ...


class RoundResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    plans_checked: int = 0
    news_posted: int = 0
    forgotten: tuple[str, ...] = ()  # plans no longer in the catalog whose state was deleted
    home_changed: bool = False  # a verdict changed, or a plan came or went: the Home tab was republished
    regions_unavailable: tuple[str, ...] = ()  # their plans kept their stored verdict this round


class Watch:
    def __init__(
        self,
        *,
        catalog: CatalogStore,
        drs: SourceServers,
        store: WatchStore,
        notifier: Notifier,
        renderer: WatchRenderer,
        clock: Clock,
        limits: Limits,
        claim_seconds: float = CLAIM_SECONDS,
        home: HomeTab | None = None,
        target_accounts: Collection[str] = (),
    ) -> None:
        self._target_accounts = frozenset(target_accounts)
        self._home = home
        self._catalog = catalog
        self._drs = drs
        self._store = store
        self._notifier = notifier
        self._renderer = renderer
        self._clock = clock
        self._limits = limits
        self._claim_seconds = claim_seconds
        self._owner = uuid.uuid4().hex

    def round(self, regions: Iterable[str] | None = None, *, account: str | None = None) -> RoundResult:
        """Check every plan (or those with a server in `regions` of `account`: a DRS event names its
        region and account), store each verdict, and tell each channel whose plan's verdict changed;
        then post news an earlier round saved but did not get out. An event's account that is not one of
        the bot's targets is the bot's own (the bot does not know its own id)."""
        catalog = self._catalog.load()
        owner = account if account in self._target_accounts else None
        wanted = {AccountRegion(owner, region) for region in regions} if regions is not None else None
        plans = [p for p in catalog.plans if wanted is None or _regions(catalog, p) & wanted]
        needed = {region for plan in plans for region in _regions(catalog, plan)}
        servers: dict[AccountRegion, list[SourceServerInfo]] = {}
        unavailable: list[AccountRegion] = []
        refused: dict[AccountRegion, str] = {}
        for region in sorted(needed, key=AccountRegion.sort_key):
            try:
                servers[region] = self._drs.source_servers(region)
            except AccountUnreachable as error:
                if error.transient:
                    logger.warning("watch: STS did not answer for %s: %s", region, error)
                    unavailable.append(region)
                else:  # the role cannot be assumed: nothing would launch there
                    refused[region] = readiness.refusal(error, transient=False)
            except DrsUnavailable as error:
                logger.warning("watch: DRS did not answer in %s: %s", region, error)
                unavailable.append(region)
            except DrsError as error:
                # Refused for good (access denied, DRS not initialized): no launch there would work.
                refused[region] = readiness.refusal(error, transient=False)
        stored = self._store.states()
        now = self._clock()
        checked = posted = 0
        home_changed = False
        for plan in plans:
            if _regions(catalog, plan) & set(unavailable):
                continue
            verdict = self._verdict(catalog, plan, servers, now, refused)
            outcome = watch.observe(stored.get(plan.name), verdict, plan.options.channel, now)
            every = plan.options.drill_every
            outcome = watch.remind(
                outcome,
                drill_every=every,
                channel=plan.options.channel,
                last_success=self._store.last_successful_drill(plan.name) if every else None,
                now=now,
            )
            checked += 1
            try:
                saved = self._store.save(
                    outcome.state,
                    claim_owner=self._owner if outcome.news else None,
                    claim_until=now + timedelta(seconds=self._claim_seconds) if outcome.news else None,
                )
            except StaleWatchState:
                continue  # another round saved this plan meanwhile: its news is its own to tell
            home_changed = home_changed or _shown(stored.get(plan.name)) != _shown(saved)
            if outcome.news is not None:
                posted += self._post(outcome.news)
                saved = saved.model_copy(update={"pending": None})  # posted, or claimed until retried
            stored[plan.name] = saved
        posted += self._leftovers(stored)
        forgotten = self._forget_removed(catalog, stored) if wanted is None else ()
        home_changed = home_changed or bool(forgotten)
        if self._home is not None:  # neither raises: the round's work is done
            if home_changed:
                self._home.refresh()
            elif wanted is None:
                self._home.refresh_if_catalog_changed()  # `plans apply` changed a plan's definition
        return RoundResult(
            plans_checked=checked,
            news_posted=posted,
            forgotten=forgotten,
            home_changed=home_changed,
            regions_unavailable=tuple(str(where) for where in unavailable),
        )

    def _forget_removed(self, catalog: Catalog, stored: dict[str, WatchState]) -> tuple[str, ...]:
        """The states of plans `plans apply` removed: nothing reads them any more. News of such a plan
        still to be posted keeps its state until a later round has posted it."""
        names = set(catalog.plan_names())
        gone = tuple(
            sorted(name for name, state in stored.items() if name not in names and state.pending is None)
        )
        for name in gone:
            self._store.forget(name)
        return gone

    def _verdict(
        self,
        catalog: Catalog,
        plan: RecoveryPlan,
        servers: dict[AccountRegion, list[SourceServerInfo]],
        now: datetime,
        refused: dict[AccountRegion, str],
    ) -> readiness.Verdict:
        unreachable = {where: refused[where] for where in _regions(catalog, plan) if where in refused}
        waves = []
        facts: dict[str, ServerFacts] = {}
        for wave in plan.waves:
            group = catalog.group(wave.protection_group)
            if group.where in unreachable:
                waves.append((wave.name, group.where, list(group.source_servers)))
                continue
            infos = {info.source_server_id: info for info in servers[group.where]}
            if group.by_tags:
                wanted = group.source_server_tags.items()
                ids = sorted(sid for sid, i in infos.items() if all(i.tags.get(k) == v for k, v in wanted))
            else:
                ids = list(group.source_servers)
            waves.append((wave.name, group.where, ids))
            for sid in ids:
                facts[sid] = server_facts(sid, group.where, infos.get(sid))
        # No load: the region's jobs in flight are a launch's concern, not the plan's health.
        return readiness.assess(
            plan_name=plan.name,
            waves=waves,
            facts=facts,
            load={},
            limits=self._limits,
            rpo_target_seconds=plan.options.rpo_target,
            now=now,
            unreachable=unreachable,
        )

    def _post(self, news: News) -> int:
        """Post news this round claimed: looked for first (a round that died may have posted it)."""
        try:
            if self._notifier.find(news.channel, news.key, since=news.since - timedelta(minutes=5)) is None:
                self._notifier.post(news.channel, self._renderer.news(news), key=news.key)
        except SlackError as error:
            # Left pending for the next round, which looks for it first: the post may have arrived.
            logger.warning("watch: could not tell %s about %s: %s", news.channel, news.plan_name, error)
            self._store.release(news.plan_name, news.key, self._owner)
            return 0
        self._store.delivered(news.plan_name, news.key)
        return 1

    def _leftovers(self, stored: dict[str, WatchState]) -> int:
        posted = 0
        now = self._clock()
        for state in stored.values():
            news = state.pending
            if news is None:
                continue
            until = now + timedelta(seconds=self._claim_seconds)
            if self._store.claim(state.plan_name, news.key, self._owner, now, until):
                posted += self._post(news)
        return posted


class PlanWatch(BaseModel):
    """What `/drs plans` shows of a plan besides its definition."""

    model_config = ConfigDict(frozen=True)

    state: WatchState | None = None  # its readiness as the watch last saw it
    last_drill: ExecutionSummary | None = None  # among its recent executions
    last_success: datetime | None = None  # when its newest COMPLETED drill ended
    overdue: bool = False  # it has drill_every, and its last successful drill is older


# The newest executions of a plan looked at for its last drill (recoveries and failbacks are rarer).
RECENT_EXECUTIONS = 20


class WatchView:
    """The watch's stored view of each plan, with its drills, read for `/drs plans` and `/drs check`."""

    def __init__(self, *, store: WatchStore, executions: ExecutionStore, clock: Clock) -> None:
        self._store = store
        self._executions = executions
        self._clock = clock

    def plans(self, catalog: Catalog) -> dict[str, PlanWatch]:
        states = self._store.states()
        now = self._clock()
        found: dict[str, PlanWatch] = {}
        for plan in catalog.plans:
            recent = self._executions.history_of_plan(plan.name, RECENT_EXECUTIONS)
            drill = next(
                (e for e in recent if e.execution_type is ExecutionType.DRILL and e.status.is_terminal), None
            )
            every = plan.options.drill_every
            success = self._store.last_successful_drill(plan.name) if every else None
            found[plan.name] = PlanWatch(
                state=states.get(plan.name),
                last_drill=drill,
                last_success=success,
                overdue=every is not None and watch.overdue(every, success, now),
            )
        return found

    def state(self, plan_name: str) -> WatchState | None:
        return self._store.states().get(plan_name)


def _shown(state: WatchState | None) -> tuple[object, ...] | None:
    """What the Home tab shows of a plan's state: its verdict, since when, and whether it was reminded;
    not when it was last checked (that changes every round)."""
    if state is None:
        return None
    return (state.level, state.since, state.reminded_at is None)


def _regions(catalog: Catalog, plan: RecoveryPlan) -> set[AccountRegion]:
    return {catalog.group(wave.protection_group).where for wave in plan.waves}
