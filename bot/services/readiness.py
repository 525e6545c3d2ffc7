"""Checking a plan's readiness: gather what DRS says about its servers, and let the domain judge."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from bot.domain import readiness
from bot.domain.engine import RegionLoad
from bot.domain.execution import Limits
from bot.domain.plans import Catalog, RecoveryPlan
from bot.domain.readiness import Finding, Level, ServerFacts, Verdict
from bot.errors import DrsError
from bot.services.ports import Clock, Drs

ACTIVE_JOB_WINDOW = timedelta(hours=24)
SNAPSHOT_LOOKUPS_AT_ONCE = 8  # DescribeRecoverySnapshots is per server: a few at a time


class ReadinessReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    verdict: Verdict
    servers: dict[str, list[str]]  # protection group -> its source servers, tag selectors resolved


class Readiness:
    def __init__(self, drs: Drs, clock: Clock, limits: Limits) -> None:
        self._drs = drs
        self._clock = clock
        self._limits = limits

    def check(self, catalog: Catalog, plan: RecoveryPlan) -> ReadinessReport:
        """Never raises for DRS trouble: a check that could not be made is a BLOCKED verdict saying why."""
        now = self._clock()
        try:
            servers = self.resolve(catalog, plan)
            facts, load = self._facts(catalog, plan, servers)
        except DrsError as error:
            finding = Finding(level=Level.BLOCKED, reason=f"could not ask DRS: {error}")
            verdict = Verdict(
                plan_name=plan.name,
                level=Level.BLOCKED,
                findings=(finding,),
                servers_checked=0,
                checked_at=now,
            )
            return ReadinessReport(verdict=verdict, servers={})
        waves = [
            (wave.name, catalog.group(wave.protection_group).region, servers[wave.protection_group])
            for wave in plan.waves
        ]
        verdict = readiness.assess(
            plan_name=plan.name,
            waves=waves,
            facts=facts,
            load=load,
            limits=self._limits,
            rpo_target_seconds=plan.options.rpo_target,
            now=now,
        )
        return ReadinessReport(verdict=verdict, servers=servers)

    def resolve(self, catalog: Catalog, plan: RecoveryPlan) -> dict[str, list[str]]:
        """Each protection group's servers; groups that select by tags are looked up now."""
        resolved: dict[str, list[str]] = {}
        in_region: dict[str, list[tuple[str, dict[str, str]]]] = {}
        for wave in plan.waves:
            group = catalog.group(wave.protection_group)
            if not group.by_tags:
                resolved[group.name] = list(group.source_servers)
                continue
            if group.region not in in_region:
                in_region[group.region] = [
                    (server.source_server_id, server.tags)
                    for server in self._drs.source_servers(group.region)
                ]
            wanted = group.source_server_tags.items()
            resolved[group.name] = sorted(
                sid for sid, tags in in_region[group.region] if all(tags.get(k) == v for k, v in wanted)
            )
        return resolved

    def _facts(
        self, catalog: Catalog, plan: RecoveryPlan, servers: dict[str, list[str]]
    ) -> tuple[dict[str, ServerFacts], dict[str, RegionLoad]]:
        by_region: dict[str, set[str]] = defaultdict(set)
        for wave in plan.waves:
            by_region[catalog.group(wave.protection_group).region].update(servers[wave.protection_group])
        facts: dict[str, ServerFacts] = {}
        load: dict[str, RegionLoad] = {}
        since = self._clock() - ACTIVE_JOB_WINDOW
        for region, ids in by_region.items():
            wanted = sorted(ids)
            infos = {info.source_server_id: info for info in self._drs.source_servers(region, wanted)}
            active = self._drs.active_jobs(region, since)
            load[region] = RegionLoad(jobs=len(active), servers=sum(len(job.servers) for job in active))
            holders = {launch.source_server_id: job.job_id for job in active for launch in job.servers}
            drills: dict[str, list[str]] = defaultdict(list)
            for instance in self._drs.recovery_instances(region, wanted):
                if instance.is_drill and not instance.gone:
                    drills[instance.source_server_id].append(instance.recovery_instance_id)
            snapshots = self._snapshots(
                region, [sid for sid in wanted if sid in infos], plan.options.rpo_target
            )
            for sid in wanted:
                info = infos.get(sid)
                facts[sid] = ServerFacts(
                    source_server_id=sid,
                    region=region,
                    found=info is not None,
                    replication_state=info.replication_state if info else None,
                    lag_seconds=info.lag_seconds if info else None,
                    replication_error=info.replication_error if info else None,
                    last_launch_result=info.last_launch_result if info else None,
                    active_job_id=holders.get(sid),
                    running_drill_instances=tuple(drills.get(sid, ())),
                    newest_snapshot_at=snapshots.get(sid),
                    snapshot_checked=sid in snapshots,
                )
        return facts, load

    def _snapshots(self, region: str, ids: list[str], rpo_target: int | None) -> dict[str, datetime | None]:
        if rpo_target is None or not ids:
            return {}  # snapshot age only matters against an RPO target
        with ThreadPoolExecutor(SNAPSHOT_LOOKUPS_AT_ONCE) as pool:
            newest = list(pool.map(lambda sid: self._drs.newest_snapshot(region, sid), ids))
        return dict(zip(ids, newest, strict=True))
