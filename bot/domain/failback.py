"""AWS-to-AWS failback as pure decisions (drs-facts.md, "Failback").

A failback execution mirrors the waves of the plan's last recovery, with the servers that launched.
Before its waves run: ReverseReplication on each recovery instance (a FAILBACK-direction source server
appears in the origin region), then a wait until those servers are CONTINUOUS. The waves are then
rewritten to launch the reversed servers in the origin region, and the wave engine runs them as it runs
any execution. After the launch, re-protect: ReverseReplication on the new recovery instances.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from bot.domain.engine import Decision, EventLog
from bot.domain.events import (
    FAILURES_LISTED,
    FailbackReprotected,
    FailbackReversed,
    FailbackSyncFinished,
    FailbackSyncProgress,
    ServerFailure,
)
from bot.domain.execution import (
    Chunk,
    ChunkStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    FailbackPhase,
    FailbackRun,
    FailbackServer,
    ServerRun,
    ServerStatus,
    WaveRun,
    chunked,
    clip_error,
)

CONTINUOUS = "CONTINUOUS"
_ARN = re.compile(r"^arn:aws[\w-]*:drs:(?P<region>[\w-]+):\d*:source-server/(?P<id>s-[0-9a-zA-Z]+)$")
# ConflictException on re-protect (a launch job still holds the instance): tries before giving up.
REPROTECT_ATTEMPTS = 20


def parse_source_server_arn(arn: str) -> tuple[str, str] | None:
    """(region, source server id) of `arn:aws:drs:<region>:<account>:source-server/<id>`."""
    match = _ARN.match(arn)
    return (match["region"], match["id"]) if match else None


def plan_failback(
    recovery: Execution,
    *,
    execution_id: str,
    initiated_by: str,
    channel_id: str | None,
    now: datetime,
    servers_per_job: int,
    sync_timeout_seconds: int,
) -> Execution | None:
    """A failback of what this recovery launched: its waves, with the servers that LAUNCHED (None if
    none did). Waves stay in the recovery region until the reversed servers are known."""
    waves: list[WaveRun] = []
    servers: list[FailbackServer] = []
    for wave in recovery.waves:
        launched = [s for s in wave.servers() if s.status is ServerStatus.LAUNCHED and s.instance_id]
        if not launched:
            continue
        index = len(waves)
        chunks = tuple(
            Chunk(index=n, servers=tuple(ServerRun(source_server_id=s.source_server_id) for s in part))
            for n, part in enumerate(chunked_runs(launched, servers_per_job))
        )
        waves.append(
            WaveRun(
                index=index,
                name=wave.name,
                protection_group=wave.protection_group,
                region=wave.region,
                options=wave.options,  # a failback runs its waves as the recovery did
                chunks=chunks,
            )
        )
        servers += [
            FailbackServer(
                wave=index,
                source_server_id=s.source_server_id,
                recovery_region=wave.region,
                recovery_instance_id=s.instance_id or "",
            )
            for s in launched
        ]
    if not waves:
        return None
    return Execution(
        execution_id=execution_id,
        plan_name=recovery.plan_name,
        plan_description=recovery.plan_description,
        plan_options=recovery.plan_options,
        execution_type=ExecutionType.FAILBACK,
        status=ExecutionStatus.PENDING_APPROVAL,
        initiated_by=initiated_by,
        created_at=now,
        channel_id=channel_id,
        failback=FailbackRun(
            recovery_execution_id=recovery.execution_id,
            sync_timeout_seconds=sync_timeout_seconds,
            servers=tuple(servers),
        ),
        waves=tuple(waves),
    )


def chunked_runs(runs: list[ServerRun], size: int) -> list[list[ServerRun]]:
    return [runs[start : start + size] for start in range(0, len(runs), size)]


def to_reverse(execution: Execution) -> list[FailbackServer]:
    """Recovery instances still to reverse (not reversed, not refused)."""
    run = execution.failback
    if run is None or run.phase is not FailbackPhase.REVERSING:
        return []
    return [s for s in run.servers if s.reversed_source_server_id is None and not s.failed]


def record_reversals(
    execution: Execution,
    reversed_arns: Mapping[str, str],
    refused: Mapping[str, str],
    now: datetime,
    servers_per_job: int,
) -> Decision:
    """ReverseReplication answers by recovery instance id: an ARN, or DRS's refusal. Servers with
    neither (DRS unavailable) are tried again next tick; when none is left, the wait for sync begins."""
    run = execution.failback
    assert run is not None
    servers = []
    for server in run.servers:
        arn = reversed_arns.get(server.recovery_instance_id)
        if server.reversed_source_server_id is None and not server.failed:
            if arn is not None:
                parsed = parse_source_server_arn(arn)
                if parsed is None:
                    server = server.model_copy(
                        update={"error": clip_error(f"ReverseReplication returned an unexpected ARN: {arn}")}
                    )
                else:
                    region, sid = parsed
                    server = server.model_copy(
                        update={"origin_region": region, "reversed_source_server_id": sid}
                    )
            elif server.recovery_instance_id in refused:
                error = refused[server.recovery_instance_id]
                server = server.model_copy(
                    update={"error": clip_error(f"ReverseReplication refused: {error}")}
                )
        servers.append(server)
    run = run.model_copy(update={"servers": tuple(servers)})
    execution = execution.model_copy(update={"failback": run})
    events = EventLog(execution)
    if any(s.reversed_source_server_id is None and not s.failed for s in servers):
        return Decision(execution=events.stamp(execution), events=())
    failed = [s for s in servers if s.failed]
    events.add(
        FailbackReversed,
        at=now,
        execution_id=execution.execution_id,
        reversed=len(servers) - len(failed),
        total=len(servers),
        origin_regions=sorted({s.origin_region for s in servers if s.origin_region}),
        failures=_failures(failed),
        more_failures=max(0, len(failed) - FAILURES_LISTED),
    )
    run = run.model_copy(
        update={
            "phase": FailbackPhase.SYNCING,
            "sync_deadline": now + timedelta(seconds=run.sync_timeout_seconds),
        }
    )
    execution = execution.model_copy(update={"failback": run})
    if len(failed) == len(servers):
        execution = _to_launch(execution, events, now, servers_per_job)
    return Decision(execution=events.stamp(execution), events=tuple(events.items))


def to_sync(execution: Execution) -> dict[str, list[str]]:
    """Reversed source servers not yet CONTINUOUS, by origin region."""
    run = execution.failback
    wanted: dict[str, list[str]] = {}
    if run is None or run.phase is not FailbackPhase.SYNCING:
        return wanted
    for s in run.servers:
        if s.reversed_source_server_id and s.origin_region and not s.ready and not s.failed:
            wanted.setdefault(s.origin_region, []).append(s.reversed_source_server_id)
    return wanted


def record_sync(
    execution: Execution, states: Mapping[str, str | None], now: datetime, servers_per_job: int
) -> Decision:
    """DescribeSourceServers in the origin regions: replication state by reversed source server id.
    Progress is reported when the CONTINUOUS count changes; at the deadline the laggards are left out."""
    run = execution.failback
    assert run is not None and run.phase is FailbackPhase.SYNCING
    servers = []
    for server in run.servers:
        sid = server.reversed_source_server_id
        if sid is not None and not server.failed and not server.ready and sid in states:
            state = states[sid]
            server = server.model_copy(update={"replication_state": state, "ready": state == CONTINUOUS})
        servers.append(server)
    live = [s for s in servers if not s.failed]
    ready = sum(1 for s in live if s.ready)
    deadline = run.sync_deadline or now
    events = EventLog(execution)
    if ready == len(live) or now >= deadline:
        if ready < len(live):
            waited = _duration(run.sync_timeout_seconds)
            servers = [
                s
                if s.failed or s.ready
                else s.model_copy(
                    update={
                        "error": f"never reached CONTINUOUS within {waited}: "
                        f"{s.replication_state or 'state unknown'}"
                    }
                )
                for s in servers
            ]
        run = run.model_copy(update={"servers": tuple(servers), "synced_reported": ready})
        execution = _to_launch(execution.model_copy(update={"failback": run}), events, now, servers_per_job)
        return Decision(execution=events.stamp(execution), events=tuple(events.items))
    if ready != run.synced_reported:
        events.add(
            FailbackSyncProgress,
            at=now,
            execution_id=execution.execution_id,
            continuous=ready,
            total=len(live),
            states=dict(Counter(s.replication_state or "UNKNOWN" for s in live)),
            deadline=deadline,
        )
        run = run.model_copy(update={"synced_reported": ready})
    run = run.model_copy(update={"servers": tuple(servers)})
    return Decision(
        execution=events.stamp(execution.model_copy(update={"failback": run})), events=tuple(events.items)
    )


def cancel_before_launch(execution: Execution) -> Execution:
    """Cancelled while reversing or syncing: nothing launches; the engine skips the waves."""
    run = execution.failback
    if run is None or not run.phase.before_launch or not execution.cancelling:
        return execution
    return execution.model_copy(
        update={"failback": run.model_copy(update={"phase": FailbackPhase.LAUNCHING})}
    )


def _to_launch(execution: Execution, events: EventLog, now: datetime, servers_per_job: int) -> Execution:
    """Rewrite the waves: the reversed servers in the origin region; those left out stay FAILED with why."""
    run = execution.failback
    assert run is not None
    servers = list(run.servers)
    waves = []
    for wave in execution.waves:
        mine = [s for s in servers if s.wave == wave.index]
        ready = [s for s in mine if not s.failed]
        regions = Counter(s.origin_region for s in ready if s.origin_region)
        region = regions.most_common(1)[0][0] if regions else wave.region
        for s in ready:
            if s.origin_region != region:
                error = f"its origin region {s.origin_region} differs from the wave's ({region})"
                servers = [x.model_copy(update={"error": error}) if x is s else x for x in servers]
        mine = [s for s in servers if s.wave == wave.index]
        launch = [s.reversed_source_server_id or "" for s in mine if not s.failed]
        chunks = [
            Chunk(index=n, servers=tuple(ServerRun(source_server_id=sid) for sid in ids))
            for n, ids in enumerate(chunked(launch, servers_per_job))
        ]
        left_out = tuple(
            ServerRun(
                source_server_id=s.reversed_source_server_id or s.source_server_id,
                status=ServerStatus.FAILED,
                error=s.error,
            )
            for s in mine
            if s.failed
        )
        if left_out:
            chunks.append(Chunk(index=len(chunks), status=ChunkStatus.DONE, servers=left_out))
        waves.append(wave.model_copy(update={"region": region, "chunks": tuple(chunks)}))
    failed = [s for s in servers if s.failed]
    run = run.model_copy(update={"phase": FailbackPhase.LAUNCHING, "servers": tuple(servers)})
    events.add(
        FailbackSyncFinished,
        at=now,
        execution_id=execution.execution_id,
        ready=len(servers) - len(failed),
        total=len(servers),
        failures=_failures(failed),
        more_failures=max(0, len(failed) - FAILURES_LISTED),
    )
    return execution.model_copy(update={"failback": run, "waves": tuple(waves)})


def to_reprotect(execution: Execution) -> list[tuple[str, str]]:
    """(origin region, recovery instance id) of each server launched in the origin region and not
    re-protected yet."""
    run = execution.failback
    if run is None or run.phase is not FailbackPhase.REPROTECTING:
        return []
    done = {s.reversed_source_server_id for s in run.servers if s.reprotected or s.reprotect_error}
    return [
        (wave.region, server.instance_id)
        for wave in execution.waves
        for server in wave.servers()
        if server.status is ServerStatus.LAUNCHED
        and server.instance_id
        and server.source_server_id not in done
    ]


def record_reprotect(
    execution: Execution,
    reprotected: Mapping[str, str],
    refused: Mapping[str, str],
    now: datetime,
) -> Decision:
    """ReverseReplication on the new recovery instances, by instance id: ARN or refusal. When every
    launched server has an answer, the failback is done."""
    run = execution.failback
    assert run is not None
    by_reversed = {
        server.source_server_id: server.instance_id
        for wave in execution.waves
        for server in wave.servers()
        if server.status is ServerStatus.LAUNCHED and server.instance_id
    }
    servers = []
    for s in run.servers:
        instance = by_reversed.get(s.reversed_source_server_id or "")
        if instance is not None and not (s.reprotected or s.reprotect_error):
            if instance in reprotected:
                s = s.model_copy(update={"reprotected": True})
            elif instance in refused:
                s = s.model_copy(
                    update={
                        "reprotect_error": clip_error(
                            f"{instance}: ReverseReplication refused: {refused[instance]}"
                        )
                    }
                )
        servers.append(s)
    run = run.model_copy(update={"servers": tuple(servers)})
    execution = execution.model_copy(update={"failback": run})
    events = EventLog(execution)
    if to_reprotect(execution):
        return Decision(execution=execution, events=())
    launched = [s for s in servers if s.reversed_source_server_id in by_reversed]
    failed = [s for s in launched if s.reprotect_error]
    if launched:
        events.add(
            FailbackReprotected,
            at=now,
            execution_id=execution.execution_id,
            reprotected=sum(1 for s in launched if s.reprotected),
            total=len(launched),
            failures=[
                ServerFailure(
                    source_server_id=s.reversed_source_server_id or s.source_server_id,
                    error=s.reprotect_error or "",
                )
                for s in failed[:FAILURES_LISTED]
            ],
            more_failures=max(0, len(failed) - FAILURES_LISTED),
        )
    execution = execution.model_copy(
        update={"failback": run.model_copy(update={"phase": FailbackPhase.DONE})}
    )
    return Decision(execution=events.stamp(execution), events=tuple(events.items))


def _failures(servers: list[FailbackServer]) -> list[ServerFailure]:
    return [
        ServerFailure(source_server_id=s.reversed_source_server_id or s.source_server_id, error=s.error or "")
        for s in servers[:FAILURES_LISTED]
    ]


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"
