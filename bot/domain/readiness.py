"""Readiness: is a plan fit to launch now? A verdict with its reasons, from facts DRS reported.

Pure: the service gathers the facts (DescribeSourceServers, DescribeRecoveryInstances, DescribeJobs,
DescribeRecoverySnapshots) and this decides. READY, WARN (launch, but know this) or BLOCKED (a drill
does not start without --force; a recovery's approvers see it on the card).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain.engine import RegionLoad
from bot.domain.execution import Limits, chunked

HEALTHY = "CONTINUOUS"
# Replicating, but behind: launches work, from older data.
CATCHING_UP = {"BACKLOG", "CREATING_SNAPSHOT", "RESCAN"}
EXAMPLES_LISTED = 5  # per reason; the rest are counted, so a 4,000-server plan stays readable


class Level(StrEnum):
    READY = "READY"
    WARN = "WARN"
    BLOCKED = "BLOCKED"


class ServerFacts(BaseModel):
    model_config = ConfigDict(frozen=True)

    source_server_id: str
    region: str
    found: bool = True
    replication_state: str | None = None
    lag_seconds: float | None = None
    replication_error: str | None = None
    last_launch_result: str | None = None
    active_job_id: str | None = None  # a job that has not ended holds this server
    running_drill_instances: tuple[str, ...] = ()
    newest_snapshot_at: datetime | None = None
    snapshot_checked: bool = False


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: Level
    reason: str  # what is wrong, the same words for every server it applies to
    servers: tuple[str, ...] = ()  # the servers concerned (empty: about the plan)


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan_name: str
    level: Level
    findings: tuple[Finding, ...]
    servers_checked: int
    checked_at: datetime

    @property
    def blocked(self) -> bool:
        return self.level is Level.BLOCKED

    def summary_lines(self, examples: int = EXAMPLES_LISTED) -> list[str]:
        """One line per reason, worst first, naming a few servers and counting the rest."""
        lines = []
        for finding in sorted(self.findings, key=lambda f: f.level is not Level.BLOCKED):
            line = f"{finding.level.value}: {finding.reason}"
            if finding.servers:
                shown = ", ".join(finding.servers[:examples])
                more = len(finding.servers) - examples
                line += f" — {len(finding.servers)} server(s): {shown}" + (
                    f" and {more} more" if more > 0 else ""
                )
            lines.append(line)
        return lines


def assess(
    *,
    plan_name: str,
    waves: list[tuple[str, str, list[str]]],  # (wave name, region, source server ids)
    facts: dict[str, ServerFacts],
    load: dict[str, RegionLoad],
    limits: Limits,
    rpo_target_seconds: int | None,
    now: datetime,
) -> Verdict:
    found: dict[tuple[Level, str], list[str]] = defaultdict(list)
    for wave_name, _region, servers in waves:
        if not servers:
            found[
                (Level.BLOCKED, f"wave {wave_name}: its protection group resolves to no source server")
            ].append("")
    for server_id in sorted({sid for _, _, servers in waves for sid in servers}):
        for level, reason in _server_findings(facts.get(server_id), rpo_target_seconds, now):
            found[(level, reason)].append(server_id)
    for level, reason in _quota_findings(waves, load, limits):
        found[(level, reason)] = []
    findings = tuple(
        Finding(level=level, reason=reason, servers=tuple(s for s in servers if s))
        for (level, reason), servers in found.items()
    )
    level = (
        Level.BLOCKED
        if any(f.level is Level.BLOCKED for f in findings)
        else Level.WARN
        if findings
        else Level.READY
    )
    checked = len({sid for _, _, servers in waves for sid in servers})
    return Verdict(
        plan_name=plan_name, level=level, findings=findings, servers_checked=checked, checked_at=now
    )


def _server_findings(
    facts: ServerFacts | None, rpo_target_seconds: int | None, now: datetime
) -> list[tuple[Level, str]]:
    if facts is None or not facts.found:
        return [(Level.BLOCKED, "not found in DRS in its protection group's region")]
    out: list[tuple[Level, str]] = []
    state = facts.replication_state or "UNKNOWN"
    if state in CATCHING_UP:
        out.append((Level.WARN, f"replication is {state} (catching up; it would launch from older data)"))
    elif state != HEALTHY:
        error = f": {facts.replication_error}" if facts.replication_error else ""
        out.append((Level.BLOCKED, f"replication is {state}{error}"))
    if (
        rpo_target_seconds is not None
        and facts.lag_seconds is not None
        and facts.lag_seconds > rpo_target_seconds
    ):
        out.append(
            (Level.WARN, f"replication lag is over the plan's rpo_target of {_minutes(rpo_target_seconds)}")
        )
    if rpo_target_seconds is not None and facts.snapshot_checked:
        if facts.newest_snapshot_at is None:
            out.append((Level.WARN, "no recovery snapshot yet"))
        elif (now - facts.newest_snapshot_at).total_seconds() > rpo_target_seconds:
            out.append((Level.WARN, f"newest recovery snapshot is older than {_minutes(rpo_target_seconds)}"))
    if facts.last_launch_result == "FAILED":
        out.append((Level.WARN, "its last launch FAILED (see that job's log)"))
    if facts.active_job_id:
        out.append((Level.BLOCKED, "already in a DRS job that has not ended (a new launch would conflict)"))
    if facts.running_drill_instances:
        out.append((Level.WARN, "drill instances from an earlier drill still run (and bill): clean them up"))
    return out


def _quota_findings(
    waves: list[tuple[str, str, list[str]]], load: dict[str, RegionLoad], limits: Limits
) -> list[tuple[Level, str]]:
    out: list[tuple[Level, str]] = []
    for wave_name, region, servers in waves:
        in_use = load.get(region) or RegionLoad(jobs=0, servers=0)
        jobs = len(chunked(servers, limits.servers_per_job))
        if in_use.jobs >= limits.concurrent_jobs:
            out.append(
                (
                    Level.WARN,
                    f"{region}: all {limits.concurrent_jobs} concurrent DRS jobs are in use now; "
                    f"wave {wave_name} will wait for capacity",
                )
            )
        elif (
            in_use.servers + len(servers) > limits.servers_in_active_jobs
            or in_use.jobs + jobs > limits.concurrent_jobs
        ):
            out.append(
                (
                    Level.WARN,
                    f"{region}: wave {wave_name} ({len(servers)} servers, {jobs} jobs) does not fit the free quota "
                    f"({limits.servers_in_active_jobs - in_use.servers} servers, "
                    f"{limits.concurrent_jobs - in_use.jobs} jobs); it will start in parts",
                )
            )
    return out


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 and seconds >= 60 else f"{seconds} s"
