"""Checking a plan's readiness: gather what DRS says about its servers, and let the domain judge."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from bot.domain import readiness, snapshot_ages
from bot.domain.accounts import AccountRegion
from bot.domain.drs import SourceServerInfo
from bot.domain.engine import RegionLoad
from bot.domain.execution import Limits
from bot.domain.plans import Catalog, RecoveryPlan
from bot.domain.readiness import ServerFacts, Verdict
from bot.domain.snapshot_ages import Lookup, SnapshotAges
from bot.errors import DrsError, DrsUnavailable
from bot.services.ports import Clock, Drs

ACTIVE_JOB_WINDOW = timedelta(hours=24)
# DescribeSourceServers and DescribeRecoveryInstances filter on at most 200 servers per call.
FACT_IDS_PER_CALL = 200
FACT_CALLS_AT_ONCE = 4
PLACES_AT_ONCE = 4  # accounts and regions asked at once, each with its FACT_CALLS_AT_ONCE
# DescribeRecoverySnapshots takes one server: a few calls at a time, each retried by botocore's
# standard mode when throttled; when its retries are spent the rest wait for a later attempt.
SNAPSHOT_LOOKUPS_AT_ONCE = 8
# An executor tick reads at most this many servers' snapshot ages, after its launches: 4,000 servers
# take 8 ticks, and no tick spends long on them.
SNAPSHOT_AGES_PER_TICK = 500


class _NotAsked(Exception):
    """A lookup not made: DRS had stopped answering."""


class ReadinessReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    servers: dict[str, list[str]]  # protection group -> its source servers, tag selectors resolved
    # With an rpo_target and no --at: the snapshot ages still to read (none yet), and of which servers.
    snapshot_ages: SnapshotAges | None = None
    # (account and region, source server id), once each, in plan order
    targets: tuple[tuple[AccountRegion, str], ...] = ()


class Readiness:
    def __init__(self, drs: Drs, clock: Clock, limits: Limits) -> None:
        self._drs = drs
        self._clock = clock
        self._limits = limits

    def check(self, catalog: Catalog, plan: RecoveryPlan, *, at: datetime | None = None) -> ReadinessReport:
        """Everything that may hold a launch back, from batched calls per account and region; the
        snapshot ages are left for later (read_snapshot_ages). Never raises for DRS trouble: a place DRS
        could not be asked in (a role not assumed, a permission missing, no answer) blocks its own waves,
        saying why, and the other places are checked as usual."""
        now = self._clock()
        unreachable: dict[AccountRegion, str] = {}
        servers = self._resolve(catalog, plan, unreachable)
        facts, load = self._facts(catalog, plan, servers, unreachable)
        wheres = {wave.name: catalog.group(wave.protection_group).where for wave in plan.waves}
        waves = [
            (wave.name, wheres[wave.name], servers.get(wave.protection_group, [])) for wave in plan.waves
        ]
        verdict = readiness.assess(
            plan_name=plan.name,
            waves=waves,
            facts=facts,
            load=load,
            limits=self._limits,
            rpo_target_seconds=plan.options.rpo_target,
            now=now,
            at=at,
            unreachable=unreachable,
        )
        targets = {sid: where for _, where, ids in waves if where not in unreachable for sid in ids}
        ages = (
            snapshot_ages.start(plan.options.rpo_target, now, len(targets))
            if plan.options.rpo_target is not None and at is None and targets
            else None
        )
        return ReadinessReport(
            verdict=verdict,
            servers=servers,
            snapshot_ages=ages,
            targets=tuple((where, sid) for sid, where in targets.items()),
        )

    def read_snapshot_ages(
        self, targets: Sequence[tuple[AccountRegion, str]], taken_by: datetime
    ) -> tuple[list[Lookup], str | None]:
        """Each server's newest recovery snapshot taken by `taken_by`, in order, a few calls at a time.
        At the first call DRS did not answer (throttled past botocore's retries) no new call starts:
        what arrived before it is returned with the reason, the rest is for a later attempt."""
        found: list[Lookup] = []
        refused: list[str] = []  # set once, by the first call DRS did not answer

        def newest(region: AccountRegion, source_server_id: str) -> datetime | str | None:
            if refused:
                raise _NotAsked
            try:
                snapshot = self._drs.snapshot_at_or_before(region, source_server_id, taken_by)
            except DrsUnavailable as error:
                refused.append(f"DRS did not answer ({error})")
                raise
            except DrsError as error:
                return str(error)  # this server's answer (not found, access denied): the others go on
            return snapshot[1] if snapshot else None

        with ThreadPoolExecutor(SNAPSHOT_LOOKUPS_AT_ONCE) as pool:
            futures: list[Future[datetime | str | None]] = [
                pool.submit(newest, region, sid) for region, sid in targets
            ]
            for (_, sid), future in zip(targets, futures, strict=True):
                try:
                    found.append((sid, future.result()))
                except (DrsUnavailable, _NotAsked):
                    return found, refused[0]
        return found, None

    def resolve(self, catalog: Catalog, plan: RecoveryPlan) -> dict[str, list[str]]:
        """Each protection group's servers; groups that select by tags are looked up now (DrsError if
        DRS cannot be asked)."""
        return self._resolve(catalog, plan, {}, raising=True)

    def _resolve(
        self,
        catalog: Catalog,
        plan: RecoveryPlan,
        unreachable: dict[AccountRegion, str],
        *,
        raising: bool = False,
    ) -> dict[str, list[str]]:
        """Groups selecting by tags in a place DRS could not be asked in are left out, the place noted
        in `unreachable` with why."""
        resolved: dict[str, list[str]] = {}
        in_region: dict[AccountRegion, list[tuple[str, dict[str, str]]]] = {}
        for wave in plan.waves:
            group = catalog.group(wave.protection_group)
            if not group.by_tags:
                resolved[group.name] = list(group.source_servers)
                continue
            if group.where in unreachable:
                continue
            if group.where not in in_region:
                try:
                    found = self._drs.source_servers(group.where)
                except DrsError as error:
                    if raising:
                        raise
                    unreachable[group.where] = _why(error)
                    continue
                in_region[group.where] = [(server.source_server_id, server.tags) for server in found]
            wanted = group.source_server_tags.items()
            resolved[group.name] = sorted(
                sid for sid, tags in in_region[group.where] if all(tags.get(k) == v for k, v in wanted)
            )
        return resolved

    def _facts(
        self,
        catalog: Catalog,
        plan: RecoveryPlan,
        servers: dict[str, list[str]],
        unreachable: dict[AccountRegion, str],
    ) -> tuple[dict[str, ServerFacts], dict[AccountRegion, RegionLoad]]:
        by_region: dict[AccountRegion, set[str]] = defaultdict(set)
        for wave in plan.waves:
            group = catalog.group(wave.protection_group)
            if group.where not in unreachable:
                by_region[group.where].update(servers.get(group.name, ()))
        facts: dict[str, ServerFacts] = {}
        load: dict[AccountRegion, RegionLoad] = {}
        since = self._clock() - ACTIVE_JOB_WINDOW
        places = sorted(by_region, key=AccountRegion.sort_key)
        # A plan over 14 accounts is 14 places: a few at once, as the calls within each.
        with ThreadPoolExecutor(PLACES_AT_ONCE) as pool:
            asked = [pool.submit(self._facts_in, where, sorted(by_region[where]), since) for where in places]
            for where, call in zip(places, asked, strict=True):
                try:
                    found, load[where] = call.result()
                except DrsError as error:
                    unreachable[where] = _why(error)
                    continue
                facts.update(found)
        return facts, load

    def _facts_in(
        self, where: AccountRegion, wanted: list[str], since: datetime
    ) -> tuple[dict[str, ServerFacts], RegionLoad]:
        """What DRS says in one account and region about its servers, and its jobs in flight."""
        batches = [wanted[i : i + FACT_IDS_PER_CALL] for i in range(0, len(wanted), FACT_IDS_PER_CALL)]
        # A few calls at a time: on AWS each is a round trip, and 4,000 servers are 20 of each kind.
        with ThreadPoolExecutor(FACT_CALLS_AT_ONCE) as pool:
            described = [pool.submit(self._drs.source_servers, where, batch) for batch in batches]
            instances = [pool.submit(self._drs.recovery_instances, where, batch) for batch in batches]
            active = self._drs.active_jobs(where, since)
            infos = {info.source_server_id: info for call in described for info in call.result()}
            found_instances = [instance for call in instances for instance in call.result()]
        load = RegionLoad(jobs=len(active), servers=sum(len(job.servers) for job in active))
        holders = {launch.source_server_id: job.job_id for job in active for launch in job.servers}
        drills: dict[str, list[str]] = defaultdict(list)
        for instance in found_instances:
            if instance.is_drill and not instance.gone:
                drills[instance.source_server_id].append(instance.recovery_instance_id)
        facts = {
            sid: server_facts(sid, where, infos.get(sid), holders.get(sid), tuple(drills.get(sid, ())))
            for sid in wanted
        }
        return facts, load


def _why(error: DrsError) -> str:
    transient = isinstance(error, DrsUnavailable) and getattr(error, "transient", True)
    return readiness.refusal(error, transient)


def server_facts(
    sid: str,
    where: AccountRegion,
    info: SourceServerInfo | None,
    active_job_id: str | None = None,
    running_drill_instances: tuple[str, ...] = (),
) -> ServerFacts:
    """One server's facts as DRS described it (`info` None: DRS does not know it there)."""
    return ServerFacts(
        source_server_id=sid,
        where=where,
        found=info is not None,
        replication_state=info.replication_state if info else None,
        lag_seconds=info.lag_seconds if info else None,
        replication_error=info.replication_error if info else None,
        last_launch_result=info.last_launch_result if info else None,
        active_job_id=active_job_id,
        running_drill_instances=running_drill_instances,
        staging_account=info.staging_account if info else None,
        staging_status=info.staging_status if info else None,
        staging_error=info.staging_error if info else None,
    )
