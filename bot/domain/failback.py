"""AWS-to-AWS failback as pure decisions (drs-facts.md, "Failback").

A failback execution mirrors the waves of the plan's last recovery, with the servers that launched.
Before its waves run: ReverseReplication on each recovery instance (a FAILBACK-direction source server
appears in the origin region), then a wait until those servers are CONTINUOUS. The waves are then
rewritten to launch the reversed servers in the origin region, and the wave engine runs them as it runs
any execution. After the launch, re-protect: ReverseReplication on the new recovery instances.

ReverseReplication changes DRS, so it follows StartRecovery's pattern: each call is claimed in a saved
execution first (only the tick whose save won calls), recorded after, and a claim taken again (a crashed
tick's, or after an answer that was lost) asks DRS first whether the earlier call took effect.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta

from bot.domain.accounts import AccountRegion
from bot.domain.engine import Decision, EventLog
from bot.domain.events import (
    FAILURES_LISTED,
    FailbackReprotected,
    FailbackReversed,
    FailbackReverseWaiting,
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
    JobSize,
    ServerRun,
    ServerStatus,
    WaveRun,
    chunked,
    clip_error,
    job_size,
)
from bot.domain.frozen import Frozen
from bot.domain.transitions import move_failback

CONTINUOUS = "CONTINUOUS"
_ARN = re.compile(
    r"^arn:aws[\w-]*:drs:(?P<region>[\w-]+):(?P<account>\d*):source-server/(?P<id>s-[0-9a-zA-Z]+)$"
)
# ConflictException on re-protect (a launch job still holds the instance): claims before giving up.
REPROTECT_ATTEMPTS = 20


def parse_source_server_arn(arn: str) -> tuple[str, str] | None:
    """(region, source server id) of `arn:aws:drs:<region>:<account>:source-server/<id>`."""
    match = _ARN.match(arn)
    return (match["region"], match["id"]) if match else None


def origin_account(
    arn: str, recovery_account: str | None, target_accounts: Collection[str]
) -> tuple[str | None, str | None]:
    """The account a reversed source server is in, from its ARN: (account, None), or (None, why not)
    when the bot cannot reach it. The bot does not know its own account id: a reversal of a recovery in
    the bot's own account into an account that is not a target is taken as the bot's own (the only
    other it can reach); one from a target account into an unknown account is reported, not guessed."""
    match = _ARN.match(arn)
    account = match["account"] if match else ""
    if account and (account == recovery_account or account in target_accounts):
        return account, None
    if recovery_account is None:
        return None, None
    return None, (
        f"ReverseReplication made {arn} in account {account or 'unknown'}, which the bot has no role for: "
        "add it to the bot stack's TargetAccounts to fail back there"
    )


def plan_failback(
    recovery: Execution,
    *,
    execution_id: str,
    initiated_by: str,
    channel_id: str | None,
    now: datetime,
    servers_per_job: JobSize,
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
            for n, part in enumerate(chunked_runs(launched, job_size(servers_per_job, wave.account)))
        )
        waves.append(
            WaveRun(
                index=index,
                name=wave.name,
                protection_group=wave.protection_group,
                region=wave.region,
                account=wave.account,
                options=wave.options,  # a failback runs its waves as the recovery did
                chunks=chunks,
            )
        )
        servers += [
            FailbackServer(
                wave=index,
                source_server_id=s.source_server_id,
                recovery_region=wave.region,
                recovery_account=wave.account,
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


class Claimed(Frozen):
    """What a tick claimed: the execution to save (claims written), and the servers it now calls for."""

    execution: Execution
    servers: tuple[FailbackServer, ...]


def claim_reversals(execution: Execution, now: datetime, stale_after: timedelta) -> Claimed | None:
    """Claim each server to reverse that no live claim holds (a claim older than `stale_after` is a
    crashed tick's). None when there is nothing to claim. The first claim starts the deadline for
    instances DRS is not ready to reverse yet."""
    run = execution.failback
    if run is None or run.phase is not FailbackPhase.REVERSING:
        return None
    claimed: list[FailbackServer] = []
    servers = []
    for server in run.servers:
        todo = server.reversed_source_server_id is None and not server.failed
        if todo and _free(server.reverse_claimed_at, now, stale_after):
            server = server.model_copy(
                update={"reverse_claimed_at": now, "reverse_attempts": server.reverse_attempts + 1}
            )
            claimed.append(server)
        servers.append(server)
    if not claimed:
        return None
    deadline = run.reverse_deadline or now + timedelta(seconds=run.sync_timeout_seconds)
    run = run.model_copy(update={"servers": tuple(servers), "reverse_deadline": deadline})
    return Claimed(execution=execution.model_copy(update={"failback": run}), servers=tuple(claimed))


def _free(claimed_at: datetime | None, now: datetime, stale_after: timedelta) -> bool:
    """No claim, or one a crashed tick left behind."""
    return claimed_at is None or now - claimed_at >= stale_after


def record_reversals(
    execution: Execution,
    reversed_arns: Mapping[str, str],
    refused: Mapping[str, str],
    now: datetime,
    servers_per_job: JobSize,
    *,
    not_ready: Mapping[str, str] | None = None,
    released: Collection[str] = (),
    target_accounts: Collection[str] = (),
) -> Decision:
    """ReverseReplication answers by recovery instance id: an ARN, DRS's refusal, or DRS's "not ready
    yet" (asked again next tick, until the deadline: then it is left out with DRS's text). Claims of
    `released` instances without an answer (DRS unavailable) are let go: the next tick tries again.
    When no server is left, the wait for sync begins."""
    run = execution.failback
    assert run is not None
    not_ready = not_ready or {}
    answered = set(reversed_arns) | set(refused) | set(not_ready) | set(released)
    servers = []
    newly_waiting: list[FailbackServer] = []
    for server in run.servers:
        instance = server.recovery_instance_id
        if server.reversed_source_server_id is None and not server.failed and instance in answered:
            server = server.model_copy(update={"reverse_claimed_at": None})
            arn = reversed_arns.get(instance)
            if arn is not None:
                parsed = parse_source_server_arn(arn)
                if parsed is None:
                    server = server.model_copy(
                        update={"error": clip_error(f"ReverseReplication returned an unexpected ARN: {arn}")}
                    )
                else:
                    region, sid = parsed
                    account, unreachable = origin_account(arn, server.recovery_account, target_accounts)
                    server = server.model_copy(
                        update={
                            "origin_region": region,
                            "origin_account": account,
                            "reversed_source_server_id": sid,
                            "not_ready": None,
                            "error": clip_error(unreachable) if unreachable else None,
                        }
                    )
            elif instance in refused:
                error = refused[instance]
                server = server.model_copy(
                    update={"error": clip_error(f"ReverseReplication refused: {error}")}
                )
            elif instance in not_ready:
                if server.not_ready is None:
                    newly_waiting.append(server)
                server = server.model_copy(update={"not_ready": clip_error(not_ready[instance])})
        servers.append(server)
    deadline = run.reverse_deadline
    if deadline is not None and now >= deadline:
        waited = _duration(run.sync_timeout_seconds)
        servers = [
            s.model_copy(
                update={
                    "error": clip_error(
                        f"not ready to reverse replication within {waited}: "
                        f"{s.not_ready or 'DRS did not answer'}"
                    )
                }
            )
            if s.reversed_source_server_id is None and not s.failed and s.reverse_claimed_at is None
            else s
            for s in servers
        ]
    run = run.model_copy(update={"servers": tuple(servers)})
    execution = execution.model_copy(update={"failback": run})
    events = EventLog(execution)
    if newly_waiting:
        waiting = [s for s in servers if s.not_ready and s.reversed_source_server_id is None and not s.failed]
        events.add(
            FailbackReverseWaiting,
            at=now,
            execution_id=execution.execution_id,
            waiting=len(waiting),
            total=len(servers),
            servers=[
                ServerFailure(source_server_id=s.recovery_instance_id, error=s.not_ready or "")
                for s in waiting[:FAILURES_LISTED]
            ],
            more_servers=max(0, len(waiting) - FAILURES_LISTED),
            deadline=deadline or now,
        )
    if any(s.reversed_source_server_id is None and not s.failed for s in servers):
        return Decision(execution=events.stamp(execution), events=tuple(events.items))
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
    run = move_failback(
        run, FailbackPhase.SYNCING, sync_deadline=now + timedelta(seconds=run.sync_timeout_seconds)
    )
    execution = execution.model_copy(update={"failback": run})
    if len(failed) == len(servers):
        execution = _to_launch(execution, events, now, servers_per_job)
    return Decision(execution=events.stamp(execution), events=tuple(events.items))


def to_sync(execution: Execution) -> dict[AccountRegion, list[str]]:
    """Reversed source servers not yet CONTINUOUS, by origin account and region."""
    run = execution.failback
    wanted: dict[AccountRegion, list[str]] = {}
    if run is None or run.phase is not FailbackPhase.SYNCING:
        return wanted
    for s in run.servers:
        if s.reversed_source_server_id and s.origin_region and not s.ready and not s.failed:
            where = AccountRegion(s.origin_account, s.origin_region)
            wanted.setdefault(where, []).append(s.reversed_source_server_id)
    return wanted


def record_sync(
    execution: Execution, states: Mapping[str, str | None], now: datetime, servers_per_job: JobSize
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
    return execution.model_copy(update={"failback": move_failback(run, FailbackPhase.LAUNCHING)})


def _to_launch(execution: Execution, events: EventLog, now: datetime, servers_per_job: JobSize) -> Execution:
    """Rewrite the waves: the reversed servers in the origin region; those left out stay FAILED with why."""
    run = execution.failback
    assert run is not None
    servers = list(run.servers)
    waves = []
    for wave in execution.waves:
        mine = [s for s in servers if s.wave == wave.index]
        ready = [s for s in mine if not s.failed]
        places = Counter(AccountRegion(s.origin_account, s.origin_region) for s in ready if s.origin_region)
        where = places.most_common(1)[0][0] if places else wave.where
        for s in ready:
            if AccountRegion(s.origin_account, s.origin_region or "") != where:
                error = f"its origin {AccountRegion(s.origin_account, s.origin_region or '')} differs from the wave's ({where})"
                servers = [x.model_copy(update={"error": error}) if x is s else x for x in servers]
        mine = [s for s in servers if s.wave == wave.index]
        launch = [s.reversed_source_server_id or "" for s in mine if not s.failed]
        chunks = [
            Chunk(index=n, servers=tuple(ServerRun(source_server_id=sid) for sid in ids))
            for n, ids in enumerate(chunked(launch, job_size(servers_per_job, where.account)))
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
        waves.append(
            wave.model_copy(
                update={"region": where.region, "account": where.account, "chunks": tuple(chunks)}
            )
        )
    failed = [s for s in servers if s.failed]
    run = move_failback(run, FailbackPhase.LAUNCHING, servers=tuple(servers))
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


def to_reprotect(execution: Execution) -> list[tuple[AccountRegion, str]]:
    """(origin region, recovery instance id) of each server launched in the origin region and not
    re-protected yet."""
    return [(region, instance) for region, instance, _ in _launched_to_reprotect(execution)]


def _launched_to_reprotect(execution: Execution) -> list[tuple[AccountRegion, str, FailbackServer]]:
    run = execution.failback
    if run is None or run.phase is not FailbackPhase.REPROTECTING:
        return []
    by_reversed = {s.reversed_source_server_id: s for s in run.servers if s.reversed_source_server_id}
    found = []
    for wave in execution.waves:
        for server in wave.servers():
            mine = by_reversed.get(server.source_server_id)
            if (
                server.status is ServerStatus.LAUNCHED
                and server.instance_id
                and mine is not None
                and not (mine.reprotected or mine.reprotect_error)
            ):
                found.append((wave.where, server.instance_id, mine))
    return found


class ReprotectClaim(Frozen):
    where: AccountRegion  # the origin account and region, where the new recovery instance runs
    instance_id: str
    server: FailbackServer  # its reversed_source_server_id launched the instance


def claim_reprotects(
    execution: Execution, now: datetime, stale_after: timedelta
) -> tuple[Execution, list[ReprotectClaim]] | None:
    """Claim the re-protect of each launched instance no live claim holds; None if there is none."""
    todo = [
        (region, instance, server)
        for region, instance, server in _launched_to_reprotect(execution)
        if _free(server.reprotect_claimed_at, now, stale_after)
    ]
    run = execution.failback
    if not todo or run is None:
        return None
    claims = {
        server.source_server_id: server.model_copy(
            update={"reprotect_claimed_at": now, "reprotect_attempts": server.reprotect_attempts + 1}
        )
        for _, _, server in todo
    }
    servers = tuple(claims.get(s.source_server_id, s) for s in run.servers)
    claimed = execution.model_copy(update={"failback": run.model_copy(update={"servers": servers})})
    return claimed, [
        ReprotectClaim(where=region, instance_id=instance, server=claims[server.source_server_id])
        for region, instance, server in todo
    ]


def record_reprotect(
    execution: Execution,
    reprotected: Mapping[str, str],
    refused: Mapping[str, str],
    now: datetime,
    *,
    busy: Mapping[str, str] | None = None,
    released: Collection[str] = (),
) -> Decision:
    """ReverseReplication on the new recovery instances, by instance id: ARN, refusal, or DRS busy
    (ConflictException: e.g. its launch job has not closed yet), which is asked again up to
    REPROTECT_ATTEMPTS claims. When every launched server has an answer, the failback is done."""
    run = execution.failback
    assert run is not None
    busy = busy or {}
    answered = set(reprotected) | set(refused) | set(busy) | set(released)
    instance_of = {s.source_server_id: i for _, i, s in _launched_to_reprotect(execution)}
    servers = []
    for s in run.servers:
        instance = instance_of.get(s.source_server_id)
        if instance is not None and instance in answered:
            s = s.model_copy(update={"reprotect_claimed_at": None})
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
            elif instance in busy and s.reprotect_attempts >= REPROTECT_ATTEMPTS:
                s = s.model_copy(
                    update={
                        "reprotect_error": clip_error(
                            f"{instance}: ReverseReplication refused: {busy[instance]} "
                            f"(still after {s.reprotect_attempts} tries)"
                        )
                    }
                )
        servers.append(s)
    run = run.model_copy(update={"servers": tuple(servers)})
    execution = execution.model_copy(update={"failback": run})
    events = EventLog(execution)
    if to_reprotect(execution):
        return Decision(execution=execution, events=())
    launched_ids = {
        server.source_server_id
        for wave in execution.waves
        for server in wave.servers()
        if server.status is ServerStatus.LAUNCHED and server.instance_id
    }
    launched = [s for s in servers if s.reversed_source_server_id in launched_ids]
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
    execution = execution.model_copy(update={"failback": move_failback(run, FailbackPhase.DONE)})
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
