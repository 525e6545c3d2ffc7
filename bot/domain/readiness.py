"""Readiness: is a plan fit to launch now? A verdict with its reasons, from facts DRS reported.

Pure: the service gathers the facts and this decides. READY, WARN (launch, but know this) or BLOCKED (a
drill does not start without --force; a recovery's approvers see it on the card). Everything that can
hold a launch back comes from calls that take 200 servers (DescribeSourceServers,
DescribeRecoveryInstances) or the whole region (DescribeJobs), so the verdict is quick at 4,000 servers.
Recovery snapshot ages take one call per server: without --at they follow the launch
(bot/domain/snapshot_ages.py); with --at the chosen snapshots are read before it and judged here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from enum import StrEnum

from bot.domain import snapshot_ages
from bot.domain.accounts import AccountRegion
from bot.domain.engine import Decision, EventLog, RegionLoad
from bot.domain.events import ReadinessReported
from bot.domain.execution import Execution, Limits, chunked
from bot.domain.frozen import Frozen
from bot.domain.snapshot_ages import EXAMPLES_LISTED, Lookup, minutes, servers_text

HEALTHY = "CONTINUOUS"
# Replicating, but behind: launches work, from older data.
CATCHING_UP = {"BACKLOG", "CREATING_SNAPSHOT", "RESCAN"}


class Level(StrEnum):
    READY = "READY"
    WARN = "WARN"
    BLOCKED = "BLOCKED"


class ServerFacts(Frozen):
    source_server_id: str
    where: AccountRegion
    found: bool = True
    replication_state: str | None = None
    lag_seconds: float | None = None
    replication_error: str | None = None
    last_launch_result: str | None = None
    active_job_id: str | None = None  # a job that has not ended holds this server
    running_drill_instances: tuple[str, ...] = ()
    # An extended source server (DRS's extended source servers): the staging account it replicates
    # from, and the extension's status (EXTENDED, EXTENSION_ERROR) with DRS's message.
    staging_account: str | None = None
    staging_status: str | None = None
    staging_error: str | None = None


class Finding(Frozen):
    level: Level
    reason: str  # what is wrong, the same words for every server it applies to
    servers: tuple[str, ...] = ()  # the servers concerned (empty: about the plan)


class Verdict(Frozen):
    plan_name: str
    level: Level
    findings: tuple[Finding, ...]
    servers_checked: int
    checked_at: datetime
    # Facts worth knowing that hold nothing back: which staging account extended servers replicate from.
    notes: tuple[Finding, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.level is Level.BLOCKED

    def summary_lines(self, examples: int = EXAMPLES_LISTED) -> list[str]:
        """One line per reason, worst first, naming a few servers and counting the rest."""
        lines = []
        for finding in sorted(self.findings, key=lambda f: f.level is not Level.BLOCKED):
            line = f"{finding.level.value}: {finding.reason}"
            lines.append(line + servers_text(len(finding.servers), finding.servers, examples))
        for note in self.notes:
            lines.append(note.reason + servers_text(len(note.servers), note.servers, examples))
        return lines

    def with_findings(self, more: tuple[Finding, ...]) -> Verdict:
        findings = (*self.findings, *more)
        return self.model_copy(update={"findings": findings, "level": _level(findings)})


def assess(
    *,
    plan_name: str,
    waves: list[tuple[str, AccountRegion, list[str]]],  # (wave name, account and region, source servers)
    facts: dict[str, ServerFacts],
    load: dict[AccountRegion, RegionLoad],
    limits: Limits,
    rpo_target_seconds: int | None,
    now: datetime,
    at: datetime | None = None,
    unreachable: dict[AccountRegion, str] | None = None,
) -> Verdict:
    """`at`: the --at time, if any. Replication lag is the RPO of a launch from the latest data only;
    with --at it is the chosen snapshots' age (chosen_snapshot_findings). `unreachable`: the places
    DRS could not be asked in (a role that cannot be assumed, a permission missing), each with why
    (`refusal`): their waves are BLOCKED with that reason, the others judged as usual."""
    lag_target = rpo_target_seconds if at is None else None
    cut_off = unreachable or {}
    found: dict[tuple[Level, str], list[str]] = defaultdict(list)
    for where, reason in sorted(cut_off.items(), key=lambda item: item[0].sort_key()):
        names = ", ".join(name for name, place, _ in waves if place == where)
        found[(Level.BLOCKED, f"{_place(where)}: {reason}; not checked: wave {names}")]
    checked = [(name, where, servers) for name, where, servers in waves if where not in cut_off]
    for wave_name, _where, servers in checked:
        if not servers:
            found[
                (Level.BLOCKED, f"wave {wave_name}: its protection group resolves to no source server")
            ].append("")
    server_ids = sorted({sid for _, _, servers in checked for sid in servers})
    staging: dict[str, list[str]] = defaultdict(list)
    for server_id in server_ids:
        server = facts.get(server_id)
        for level, reason in _server_findings(server, lag_target):
            found[(level, reason)].append(server_id)
        if server is not None and server.staging_account and server.staging_status == "EXTENDED":
            staging[server.staging_account].append(server_id)
    for level, reason in _quota_findings(checked, load, limits):
        found[(level, reason)] = []
    findings = tuple(
        Finding(level=level, reason=reason, servers=tuple(s for s in servers if s))
        for (level, reason), servers in found.items()
    )
    notes = tuple(
        Finding(level=Level.READY, reason=f"replicating from staging account {account}", servers=tuple(ids))
        for account, ids in sorted(staging.items())
    )
    return Verdict(
        plan_name=plan_name,
        level=_level(findings),
        findings=findings,
        servers_checked=len(server_ids),
        checked_at=now,
        notes=notes,
    )


def refusal(error: Exception, transient: bool) -> str:
    """Why DRS could not be asked in a place, as `assess` says it."""
    return f"DRS did not answer: {error}" if transient else f"DRS refused: {error}"


def _place(where: AccountRegion) -> str:
    return f"account {where.account} ({where.region})" if where.account else where.region


def _level(findings: tuple[Finding, ...]) -> Level:
    if any(f.level is Level.BLOCKED for f in findings):
        return Level.BLOCKED
    return Level.WARN if findings else Level.READY


def chosen_snapshot_findings(
    chosen: dict[str, datetime], rpo_target_seconds: int | None, now: datetime
) -> tuple[Finding, ...]:
    """With --at the snapshot each server launches from is chosen before launching; its age is the RPO."""
    if rpo_target_seconds is None:
        return ()
    old = tuple(
        sorted(sid for sid, taken in chosen.items() if (now - taken).total_seconds() > rpo_target_seconds)
    )
    if not old:
        return ()
    reason = f"the recovery snapshot chosen for --at is older than the plan's rpo_target of {minutes(rpo_target_seconds)}"
    return (Finding(level=Level.WARN, reason=reason, servers=old),)


def snapshot_targets(execution: Execution) -> list[tuple[AccountRegion, str]]:
    """(account and region, source server id) of every server the execution launches, once each, in
    launch order: the order the snapshot ages are read in."""
    seen: dict[str, AccountRegion] = {}
    for wave in execution.waves:
        for server in wave.servers():
            seen.setdefault(server.source_server_id, wave.where)
    return [(region, sid) for sid, region in seen.items()]


def record_snapshot_ages(
    execution: Execution, found: list[Lookup], unavailable: str | None, now: datetime
) -> Decision:
    """The next servers' snapshot ages, recorded on the execution's readiness. When the last arrive,
    the thread is told if they warn, or if it was told readiness was not READY before launching."""
    note = execution.readiness
    if note is None or note.snapshot_ages is None or note.snapshot_ages.done:
        return Decision(execution=execution)
    before = execution
    ages = snapshot_ages.record(note.snapshot_ages, found, unavailable)
    updated = execution.model_copy(update={"readiness": note.model_copy(update={"snapshot_ages": ages})})
    events = EventLog(execution)
    if ages.done and (ages.findings or note.level != Level.READY):
        events.add(
            ReadinessReported,
            at=now,
            execution_id=execution.execution_id,
            level=updated.readiness.current_level if updated.readiness else ages.level,
            lines=ages.lines(),
        )
    return Decision(execution=events.stamp(updated, before, now), events=tuple(events.items))


def _server_findings(facts: ServerFacts | None, rpo_target_seconds: int | None) -> list[tuple[Level, str]]:
    if facts is None or not facts.found:
        return [(Level.BLOCKED, "not found in DRS in its protection group's region")]
    out: list[tuple[Level, str]] = []
    state = facts.replication_state or "UNKNOWN"
    if state in CATCHING_UP:
        out.append((Level.WARN, f"replication is {state} (catching up; it would launch from older data)"))
    elif state != HEALTHY:
        error = f": {facts.replication_error}" if facts.replication_error else ""
        out.append((Level.BLOCKED, f"replication is {state}{error}"))
    if facts.staging_status == "EXTENSION_ERROR":
        error = f": {facts.staging_error}" if facts.staging_error else ""
        out.append(
            (Level.BLOCKED, f"its extension from staging account {facts.staging_account} is in error{error}")
        )
    if (
        rpo_target_seconds is not None
        and facts.lag_seconds is not None
        and facts.lag_seconds > rpo_target_seconds
    ):
        out.append(
            (Level.WARN, f"replication lag is over the plan's rpo_target of {minutes(rpo_target_seconds)}")
        )
    if facts.last_launch_result == "FAILED":
        out.append((Level.WARN, "its last launch FAILED (see that job's log)"))
    if facts.active_job_id:
        out.append((Level.BLOCKED, "already in a DRS job that has not ended (a new launch would conflict)"))
    if facts.running_drill_instances:
        out.append((Level.WARN, "drill instances from an earlier drill still run (and bill): clean them up"))
    return out


def _quota_findings(
    waves: list[tuple[str, AccountRegion, list[str]]], load: dict[AccountRegion, RegionLoad], limits: Limits
) -> list[tuple[Level, str]]:
    """Each account and region has DRS's quotas in full (an account may have its own: Limits.accounts)."""
    out: list[tuple[Level, str]] = []
    for wave_name, where, servers in waves:
        out += _quota_finding(
            wave_name, str(where), servers, load.get(where), limits.in_account(where.account)
        )
    return out


def _quota_finding(
    wave_name: str, region: str, servers: list[str], load: RegionLoad | None, limits: Limits
) -> list[tuple[Level, str]]:
    in_use = load or RegionLoad(jobs=0, servers=0)
    jobs = len(chunked(servers, limits.servers_per_job))
    if in_use.jobs >= limits.concurrent_jobs:
        return [
            (
                Level.WARN,
                f"{region}: all {limits.concurrent_jobs} concurrent DRS jobs are in use now; "
                f"wave {wave_name} will wait for capacity",
            )
        ]
    if (
        in_use.servers + len(servers) > limits.servers_in_active_jobs
        or in_use.jobs + jobs > limits.concurrent_jobs
    ):
        return [
            (
                Level.WARN,
                f"{region}: wave {wave_name} ({len(servers)} servers, {jobs} jobs) does not fit the free quota "
                f"({limits.servers_in_active_jobs - in_use.servers} servers, "
                f"{limits.concurrent_jobs - in_use.jobs} jobs); it will start in parts",
            )
        ]
    return []
