"""/drs retry and /drs skip: two controls on a wave, as pure decisions on an execution, given `now`.

A retry launches again exactly the servers of one wave that FAILED (never one that launched): they go
back to PENDING with their failed launch kept in `ServerRun.attempts`, in new chunks appended to the
wave (the tick claims and starts them as any chunk: claim → StartRecovery → record, found again by
their job tags after a crash). The wave runs again and is judged again when they end; an execution that
had ended PARTIAL or FAILED runs again, and the waves that the retried wave's `on_failure: stop` skipped
wait again behind it. A skip marks a pending wave SKIPPED, with who and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.domain.accounts import AccountRegion
from bot.domain.approval import REASON_LIMIT
from bot.domain.engine import JOB_DONE, Decision, EventLog, JobSnapshot, schedule_next
from bot.domain.events import FAILURES_LISTED, RetryRequested, WaveSkippedByUser
from bot.domain.execution import (
    Action,
    ActionKind,
    Chunk,
    CleanupStatus,
    Execution,
    ExecutionStatus,
    JobSize,
    ServerAttempt,
    ServerRun,
    ServerStatus,
    WaveRun,
    WaveStatus,
    job_size,
)
from bot.domain.plans import OnFailure
from bot.domain.transitions import move_wave, reopen_execution, reopen_wave, retry_server

RETRYABLE_WAVES = (WaveStatus.PARTIAL, WaveStatus.FAILED)
# Each attempt is kept with its server, in pages of 200 servers under DynamoDB's 400 KB item limit: a
# server is retried at most twice, and an attempt keeps DRS's text to 300 characters.
RETRIES_PER_SERVER = 2
ATTEMPT_ERROR_LIMIT = 300
SKIPPABLE_WAVES = (WaveStatus.PENDING, WaveStatus.GATED)  # waiting its wait_before, or at its gate
RETRYABLE_EXECUTIONS = (ExecutionStatus.IN_PROGRESS, ExecutionStatus.PARTIAL, ExecutionStatus.FAILED)


@dataclass(frozen=True)
class Ruling:
    """A control's outcome: the decision to save, or why not (in the users' words; escaped when shown)."""

    decision: Decision | None = None
    refusal: str | None = None
    wave: WaveRun | None = None


def find_wave(execution: Execution, ref: str) -> WaveRun | None:
    """A wave by its number (1-based, as the thread counts) or its name (any case)."""
    if ref.isdigit():
        number = int(ref)
        return execution.waves[number - 1] if 1 <= number <= len(execution.waves) else None
    return next((wave for wave in execution.waves if wave.name.lower() == ref.lower()), None)


def retryable_servers(execution: Execution, wave: WaveRun) -> list[ServerRun]:
    """The wave's FAILED servers. A failback's server left out before the launch (it never replicated
    back, so it has no job) has nothing to launch from: not retryable. Nor is one that launched and then
    failed its health checks: its recovery instance exists, and a retry never launches a server twice."""
    return [
        server
        for server in wave.servers()
        if server.status is ServerStatus.FAILED
        and server.instance_id is None
        and (execution.failback is None or server.recovery_job_id is not None)
    ]


def _waves_text(execution: Execution, waves: list[WaveRun]) -> str:
    return ", ".join(f"{wave.index + 1} {wave.name}" for wave in waves)


def previous_jobs(execution: Execution) -> dict[AccountRegion, list[str]]:
    """The DRS jobs (by account and region) that the retryable servers failed in: a retry reads them first, since a
    job goes on in DRS after the wave's timeout failed its servers here."""
    jobs: dict[AccountRegion, list[str]] = {}
    for wave in execution.waves:
        if wave.status in RETRYABLE_WAVES:
            ids = {s.recovery_job_id for s in retryable_servers(execution, wave) if s.recovery_job_id}
            jobs.setdefault(wave.where, []).extend(sorted(ids))
    return jobs


def retry(
    execution: Execution,
    wave_ref: str | None,
    user_id: str,
    now: datetime,
    servers_per_job: JobSize,
    jobs: Mapping[str, JobSnapshot],
) -> Ruling:
    """Launch a wave's failed servers again (see the module's note); refused with a reason when it
    cannot be done now. `jobs`: DRS's view now of the jobs they failed in (`previous_jobs`)."""
    if execution.status not in RETRYABLE_EXECUTIONS:
        return Ruling(
            refusal=f"it is {execution.status.value}: only a running execution, or one that ended "
            "PARTIAL or FAILED, can be retried"
        )
    if execution.cancelling:
        return Ruling(refusal="it is being cancelled: nothing new starts")
    if execution.failback is not None and execution.status.is_terminal:
        return Ruling(
            refusal="this failback has ended and re-protects what it launched; run a new failback for "
            "the servers that failed"
        )
    if execution.cleanup is not None and execution.cleanup.status is not CleanupStatus.SCHEDULED:
        return Ruling(refusal="its drill instances are being or were cleaned up; run a new drill instead")
    if wave_ref is None:
        candidates = [
            w for w in execution.waves if w.status in RETRYABLE_WAVES and retryable_servers(execution, w)
        ]
        if not candidates:
            return Ruling(refusal="no wave has failed servers to retry")
        if len(candidates) > 1:
            return Ruling(
                refusal=f"several waves have failed servers ({_waves_text(execution, candidates)}): "
                "name one by its number or name"
            )
        wave = candidates[0]
    else:
        found = find_wave(execution, wave_ref)
        if found is None:
            return Ruling(
                refusal=f"it has no wave {wave_ref} (waves: {_waves_text(execution, list(execution.waves))})"
            )
        wave = found
    if wave.status is WaveStatus.IN_PROGRESS:
        return Ruling(
            refusal=f"wave {wave.name} is still running: retry its failed servers once it ends", wave=wave
        )
    if wave.status not in RETRYABLE_WAVES:
        return Ruling(
            refusal=f"wave {wave.name} is {wave.status.value}: only a wave that ended PARTIAL or FAILED "
            "has servers to retry",
            wave=wave,
        )
    failed = retryable_servers(execution, wave)
    if not failed:
        return Ruling(refusal=f"wave {wave.name} has no failed server that can be launched again", wave=wave)
    failed = [s for s in failed if len(s.attempts) < RETRIES_PER_SERVER]
    if not failed:
        return Ruling(
            refusal=f"wave {wave.name}'s failed servers were retried {RETRIES_PER_SERVER} times already (the "
            "most an execution keeps); start a new execution for them",
            wave=wave,
        )
    # A server timed out here may still be launching in its DRS job, or have launched there since.
    held = sorted(
        {job.job_id for s in failed if (job := jobs.get(s.recovery_job_id or "")) and job.status != JOB_DONE}
    )
    if held:
        return Ruling(
            refusal=f"DRS is still running job(s) {', '.join(held)} that some of its failed servers timed out "
            "in; retry once DRS has ended them",
            wave=wave,
        )
    late = {
        s.source_server_id
        for s in failed
        if _launched_in(jobs.get(s.recovery_job_id or ""), s.source_server_id)
    }
    failed = [s for s in failed if s.source_server_id not in late]
    if not failed:
        return Ruling(
            refusal=f"DRS launched wave {wave.name}'s failed servers after all, after the wave's timeout "
            f"({', '.join(sorted(late))}): nothing to launch again",
            wave=wave,
        )
    # One wave runs at a time, in order: not beside another running one, nor before an earlier one ends.
    running = [
        w
        for w in execution.waves
        if w.index != wave.index
        and (w.status is WaveStatus.IN_PROGRESS or (w.index < wave.index and not w.status.is_terminal))
    ]
    if running:
        return Ruling(
            refusal=f"wave {running[0].name} is {running[0].status.value.lower().replace('_', ' ')}; retry "
            f"wave {wave.name} once it has ended",
            wave=wave,
        )
    return Ruling(decision=_retried(execution, wave, failed, user_id, now, servers_per_job), wave=wave)


def _clip(error: str | None) -> str | None:
    if error is None or len(error) <= ATTEMPT_ERROR_LIMIT:
        return error
    return error[: ATTEMPT_ERROR_LIMIT - 1] + "…"


def _launched_in(job: JobSnapshot | None, server_id: str) -> bool:
    return job is not None and any(
        launch.source_server_id == server_id and launch.launch_status == "LAUNCHED" for launch in job.servers
    )


def _retried(
    execution: Execution,
    wave: WaveRun,
    failed: list[ServerRun],
    user_id: str,
    now: datetime,
    servers_per_job: JobSize,
) -> Decision:
    events = EventLog(execution)
    before = execution
    ids = {server.source_server_id for server in failed}
    kept: list[Chunk] = []
    retried: list[ServerRun] = []
    for chunk in wave.chunks:
        for server in chunk.servers:
            if server.source_server_id in ids:
                attempt = ServerAttempt(
                    recovery_job_id=server.recovery_job_id,
                    started_at=chunk.claimed_at,
                    retried_at=now,
                    error=_clip(server.error),
                )
                retried.append(retry_server(server, attempt))
        # The failed launch stays with its old chunk's job only as an attempt: each server is in one chunk.
        remaining = tuple(s for s in chunk.servers if s.source_server_id not in ids)
        kept.append(chunk.model_copy(update={"servers": remaining}))
    first = len(wave.chunks)
    added = [
        Chunk(index=first + number, servers=tuple(group))
        for number, group in enumerate(chunked_servers(retried, job_size(servers_per_job, wave.account)))
    ]
    wave = reopen_wave(wave.model_copy(update={"chunks": (*kept, *added)}), now)
    execution = execution.replace_wave(wave)
    reopened: list[str] = []
    if wave.options.on_failure is OnFailure.STOP:
        skipped_by_people = {a.wave for a in execution.actions if a.kind is ActionKind.SKIP}
        for later in execution.waves[wave.index + 1 :]:
            if (
                later.status is WaveStatus.SKIPPED
                and not later.job_ids
                and later.index not in skipped_by_people
            ):
                execution = execution.replace_wave(reopen_wave(later, now))
                reopened.append(later.name)
    ended = execution.status.is_terminal
    if ended:
        execution = reopen_execution(execution)
        if execution.cleanup is not None:  # a scheduled cleanup: scheduled again when it ends again
            execution = execution.model_copy(update={"cleanup": None})
    execution = execution.acted(Action(user_id=user_id, kind=ActionKind.RETRY, at=now, wave=wave.index))
    events.add(
        RetryRequested,
        at=now,
        execution_id=execution.execution_id,
        requested_by=user_id,
        wave_index=wave.index,
        wave_count=len(execution.waves),
        wave_name=wave.name,
        servers=[server.source_server_id for server in retried[:FAILURES_LISTED]],
        server_count=len(retried),
        reopened_waves=reopened,
        reopened_execution=ended,
    )
    return Decision(execution=events.stamp(execution, before, now), events=tuple(events.items))


def chunked_servers(servers: list[ServerRun], size: int) -> list[list[ServerRun]]:
    """As few StartRecovery calls as the per-job quota allows."""
    return [servers[start : start + size] for start in range(0, len(servers), size)]


def skip(execution: Execution, wave_ref: str, user_id: str, reason: str, now: datetime) -> Ruling:
    """A pending wave (waiting its wait_before, at a gate, or not reached yet) will not run."""
    if execution.status is not ExecutionStatus.IN_PROGRESS:
        return Ruling(
            refusal=f"it is {execution.status.value}: only a running execution's waves can be skipped"
        )
    if execution.cancelling:
        return Ruling(refusal="it is being cancelled: no further wave will run anyway")
    wave = find_wave(execution, wave_ref)
    if wave is None:
        return Ruling(
            refusal=f"it has no wave {wave_ref} (waves: {_waves_text(execution, list(execution.waves))})"
        )
    if wave.status is WaveStatus.IN_PROGRESS:
        return Ruling(
            refusal=f"wave {wave.name} is running: its jobs are in DRS and are followed to their end "
            "(`/drs cancel` starts nothing new)",
            wave=wave,
        )
    if wave.status not in SKIPPABLE_WAVES:
        return Ruling(refusal=f"wave {wave.name} has already ended {wave.status.value}", wave=wave)
    reason = (reason.strip() or "no reason given")[:REASON_LIMIT]
    events = EventLog(execution)
    before = execution
    was_next = execution.current_wave() == wave
    skipped = move_wave(wave, WaveStatus.SKIPPED, now)
    execution = execution.replace_wave(skipped).acted(
        Action(user_id=user_id, kind=ActionKind.SKIP, at=now, wave=wave.index, reason=reason)
    )
    events.add(
        WaveSkippedByUser,
        at=now,
        execution_id=execution.execution_id,
        skipped_by=user_id,
        wave_index=wave.index,
        wave_count=len(execution.waves),
        wave_name=wave.name,
        reason=reason,
    )
    if was_next:
        # The next wave's wait_before counts from the skip, as from the end of a wave.
        execution = schedule_next(execution, skipped, events, now)
    return Ruling(
        decision=Decision(execution=events.stamp(execution, before, now), events=tuple(events.items)),
        wave=skipped,
    )
