"""The wave engine's decisions, as pure functions of an execution, what DRS reported, and the time.

`advance` applies what DRS reported, ends waves whose servers are all terminal, starts the next wave
in the same step (no idle tick between waves), and says which chunks to start. The service performs
the StartRecovery calls and reports back through `record_job_started` / `record_start_refused`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from bot.domain import health, hooks, importance, steering
from bot.domain.accounts import AccountRegion
from bot.domain.events import (
    FAILURES_LISTED,
    WAVES_LISTED,
    CancelRequested,
    CleanupScheduled,
    Event,
    ExecutionFinished,
    ExecutionStarted,
    HealthFailing,
    ProgressUpdated,
    ReadinessReported,
    ServerFailure,
    StatusEvent,
    TimelineReady,
    WaveChecking,
    WaveFinished,
    WaveLine,
    WaveScheduled,
    WavesSkipped,
    WaveStarted,
)
from bot.domain.execution import (
    Action,
    ActionKind,
    CheckResult,
    Chunk,
    ChunkRef,
    ChunkStatus,
    CleanupRun,
    CleanupStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    FailbackPhase,
    Limits,
    ReadinessNote,
    ServerRun,
    ServerStatus,
    WaveRun,
    WaveStatus,
    clip_error,
    tally,
)
from bot.domain.frozen import Frozen
from bot.domain.hooks import HookRef, HookResult
from bot.domain.plans import OnFailure
from bot.domain.transitions import move_chunk, move_execution, move_failback, move_server, move_wave

# DRS job statuses: there is no FAILED; a COMPLETED job can hold servers whose launch FAILED.
JOB_DONE = "COMPLETED"
_LAUNCHING = {"PENDING", "IN_PROGRESS"}


class ServerLaunch(Frozen):
    source_server_id: str
    launch_status: str
    recovery_instance_id: str | None = None


class JobSnapshot(Frozen):
    """One DRS job as DescribeJobs returned it."""

    job_id: str
    status: str
    servers: tuple[ServerLaunch, ...] = ()


class RegionLoad(Frozen):
    """Active DRS jobs in an account and region, and the source servers in them: the quotas count these."""

    jobs: int
    servers: int


class Observation(Frozen):
    """What DRS said this tick: the jobs, and DRS's own error text for servers that failed."""

    jobs: Mapping[str, JobSnapshot] = Field(default_factory=dict)
    failure_reasons: Mapping[str, str] = Field(default_factory=dict)  # by source server id
    # DRS-wide load per account and region (every active job, ours and others'), when it was looked up.
    load: Mapping[AccountRegion, RegionLoad] = Field(default_factory=dict)
    # Where DRS could not say its load this tick (throttled): no new chunk starts there until it can.
    held: frozenset[AccountRegion] = frozenset()
    # Where the bot's role was refused this tick: those jobs were not followed (why, by account and region).
    unreachable: Mapping[AccountRegion, str] = Field(default_factory=dict)
    # Where DRS did not answer for the jobs this tick (throttled, failing): nothing is judged there on
    # what was not seen, so a wave's timeout waits for a tick that read its jobs.
    unobserved: frozenset[AccountRegion] = frozenset()
    # health (#15): the CHECKING waves' health check results, by recovery instance id.
    health: Mapping[str, tuple[CheckResult, ...]] = Field(default_factory=dict)
    # hooks (#15): what SSM said of the running automations, by automation execution id.
    hooks: Mapping[str, HookResult] = Field(default_factory=dict)


class Decision(Frozen):
    execution: Execution
    starts: tuple[ChunkRef, ...] = ()  # chunks to start (after looking for a job by tags if retried)
    reconcile: tuple[ChunkRef, ...] = ()  # chunks only to look up by tags: never to start (cancelled)
    events: tuple[Event, ...] = ()
    wake_at: datetime | None = None  # when a waiting wave becomes due
    hook_starts: tuple[HookRef, ...] = ()  # hooks (#15): claimed hooks to call


class EventLog:
    """Numbers events in the order they happen, continuing the execution's count."""

    def __init__(self, execution: Execution) -> None:
        self.next_seq = execution.events_emitted + 1
        self.items: list[Event] = []

    def add(self, event_type: type[StatusEvent], **fields: Any) -> None:
        self.items.append(event_type(seq=self.next_seq, **fields))  # type: ignore[arg-type]
        self.next_seq += 1

    def stamp(
        self, execution: Execution, before: Execution | None = None, now: datetime | None = None
    ) -> Execution:
        """Close the step: when what the anchor shows changed, say so last (its edit follows the news)."""
        if before is not None and now is not None and progress(before) != progress(execution):
            self.add(ProgressUpdated, **progress_fields(execution, now))
        return execution.model_copy(update={"events_emitted": self.next_seq - 1})


def job_ids_to_follow(execution: Execution) -> list[str]:
    return [
        chunk.job_id
        for wave in execution.waves
        for chunk in wave.chunks
        if chunk.status is ChunkStatus.RUNNING and chunk.job_id
    ]


def newly_failed(execution: Execution, jobs: Mapping[str, JobSnapshot]) -> list[tuple[str, str]]:
    """(job id, source server id) of servers DRS reports FAILED that the execution does not know yet."""
    known = {s.source_server_id for s in execution.servers() if s.status is ServerStatus.FAILED}
    return [
        (job.job_id, launch.source_server_id)
        for job in jobs.values()
        for launch in job.servers
        if launch.launch_status == "FAILED" and launch.source_server_id not in known
    ]


def start_execution(execution: Execution, now: datetime) -> Decision:
    """The first event of a running execution (a drill at once; a recovery once approved)."""
    events = EventLog(execution)
    events.add(
        ExecutionStarted,
        at=now,
        execution_id=execution.execution_id,
        plan_name=execution.plan_name,
        execution_type=execution.execution_type,
        initiated_by=execution.initiated_by,
        wave_count=len(execution.waves),
        server_count=execution.server_count(),
        point_in_time=execution.point_in_time,
    )
    if execution.status is ExecutionStatus.IN_PROGRESS:  # a drill: created running
        started = execution.model_copy(update={"start_time": now})
    else:
        started = move_execution(execution, ExecutionStatus.IN_PROGRESS, now)
    return Decision(execution=events.stamp(started), events=tuple(events.items))


READINESS_LINES = 8  # reasons shown on a card; each already counts its servers


def note_readiness(execution: Execution, note: ReadinessNote, now: datetime) -> Decision:
    """Record the verdict on the execution, and in its thread when there is something to say."""
    events = EventLog(execution)
    noted = execution.model_copy(update={"readiness": note})
    if note.level != "READY":
        events.add(
            ReadinessReported,
            at=now,
            execution_id=execution.execution_id,
            level=note.level,
            lines=list(note.all_lines()[:READINESS_LINES]),
            forced=note.forced,
        )
    return Decision(execution=events.stamp(noted), events=tuple(events.items))


def progress_fields(execution: Execution, now: datetime) -> dict[str, Any]:
    counts = tally(execution.servers())
    return {
        "at": now,
        "execution_id": execution.execution_id,
        "plan_name": execution.plan_name,
        "execution_type": execution.execution_type,
        "status": execution.status,
        "initiated_by": execution.initiated_by,
        "waves": [
            WaveLine(
                name=wave.name,
                protection_group=wave.protection_group,
                region=wave.region,
                account=wave.account,
                servers=sum(len(chunk.servers) for chunk in wave.chunks),
                status=wave.status,
                healthy=health.counts(wave)[0] if wave.status is WaveStatus.CHECKING else None,
            )
            for wave in execution.waves[:WAVES_LISTED]
        ],
        "wave_count": len(execution.waves),
        "waves_done": sum(1 for wave in execution.waves if wave.status.is_terminal),
        "launched": counts.launched,
        "failed": counts.failed,
        "total": counts.total,
        "started_at": execution.start_time,
        "ended_at": execution.end_time,
        "approvals_required": execution.approvals_required,
        "approved_by": [approval.user_id for approval in execution.approvals],
        "rejected_by": execution.rejection.user_id if execution.rejection else None,
        "rejection_reason": execution.rejection.reason if execution.rejection else None,
        "expires_at": execution.approval_expires_at,
        "server_count": counts.total,
        "regions": sorted({str(wave.where) for wave in execution.waves}),  # account/region off the own
        "readiness_level": execution.readiness.current_level if execution.readiness else None,
        "readiness_lines": list(execution.readiness.all_lines()[:READINESS_LINES])
        if execution.readiness
        else [],
        "point_in_time": execution.point_in_time,
        "paused_by": execution.paused_by if not execution.status.is_terminal else None,
        "paused_at": execution.paused_at,
        "gated_wave": gated.name if (gated := execution.gated_wave()) else None,
        "cancelling": execution.cancelling,
    }


def advance(execution: Execution, observation: Observation, now: datetime, limits: Limits) -> Decision:
    """Apply what DRS reported, end waves that are done, start what may start now."""
    if execution.status is not ExecutionStatus.IN_PROGRESS:
        return Decision(execution=execution)
    if execution.failback is not None and execution.failback.phase.before_launch:
        return Decision(execution=execution)  # reversing or syncing: the service's failback steps run
    events = EventLog(execution)
    before = execution
    execution = _apply_observation(execution, observation, now)
    execution = _apply_timeouts(execution, now, observation.unreachable, observation.unobserved)
    load = observation.load
    starts: list[ChunkRef] = []
    reconcile: list[ChunkRef] = []
    stopped_by: str | None = None
    hook_starts: list[HookRef] = []
    while (wave := execution.current_wave()) is not None:
        hook_stop: str | None = None
        if wave.status is WaveStatus.GATED:  # [gates] held until Continue or Stop here
            if execution.cancelling:
                execution = _skip_remaining(execution, events, now, "the execution was cancelled")
            else:
                execution = steering.remind(execution, wave, events, now, limits)
            break
        if wave.status is WaveStatus.PENDING:
            if execution.cancelling:
                execution = _skip_remaining(execution, events, now, "the execution was cancelled")
                break
            if execution.paused:  # [gates] no new wave starts
                break
            if wave.not_before is not None and now < wave.not_before:
                break  # waiting out the wave's wait_before
            if steering.gate_reason(execution, wave):  # [gates] pause_before, --step
                execution = steering.gate(execution, wave, events, now)
                break
            # hooks (#15): a wave with before-hooks is PREPARING until they ran.
            wave = hooks.begin(execution, wave, hooks.BEFORE, now, events) or move_wave(
                wave, WaveStatus.IN_PROGRESS, now
            )
            execution = execution.replace_wave(wave)
        if wave.status in (WaveStatus.PREPARING, WaveStatus.FINISHING):
            # hooks (#15): follow the wave's hooks of its phase; launch or end once they are done.
            hook_step = hooks.step(execution, wave, observation.hooks, now, limits, events)
            wave, hook_stop = hook_step.wave, hook_step.stopped_by
            hook_starts += hook_step.starts
            execution = execution.replace_wave(wave)
            if not hook_step.done:
                break
            if wave.status is WaveStatus.PREPARING and hook_stop is None and not execution.cancelling:
                wave = move_wave(wave, WaveStatus.IN_PROGRESS, now)
        if wave.status is WaveStatus.IN_PROGRESS:
            # Quotas hold per account and region: the wave's own account's, and DRS's count there.
            wave, wave_starts, wave_reconcile = _claim_chunks(
                execution,
                wave,
                now,
                limits.in_account(wave.account),
                load.get(wave.where),
                held=wave.where in observation.held,
            )
            starts += wave_starts
            reconcile += wave_reconcile
            execution = execution.replace_wave(wave)
            if not _wave_done(wave):
                break
        if wave.status in (WaveStatus.IN_PROGRESS, WaveStatus.CHECKING) and health.needs_checks(wave):
            # health (#15): launched; CHECKING until healthy or timed out
            checked = health.check_wave(wave, observation.health, now, cancelling=execution.cancelling)
            wave = checked.wave
            execution = execution.replace_wave(wave)
            if checked.report:
                events.add(WaveChecking, **_wave_checking_fields(execution, wave, now))
            if not checked.done:
                break
        # hooks (#15): the after-hooks, once the wave launched and passed its health checks.
        if (
            wave.status in (WaveStatus.IN_PROGRESS, WaveStatus.CHECKING)
            and not execution.cancelling
            and (finishing := hooks.after_launch(execution, wave, now, events)) is not None
        ):
            execution = execution.replace_wave(finishing)
            continue  # the same wave, now FINISHING: its first hook is claimed at once
        wave = _finish_wave(wave, now)
        execution = execution.replace_wave(wave)
        events.add(WaveFinished, **_wave_finished_fields(execution, wave, now))
        if hook_stop is not None:
            stopped_by = wave.name
            execution = _skip_remaining(execution, events, now, hook_stop)
            break
        # importance: an optional server's failure never stops the plan.
        if wave.options.on_failure is OnFailure.STOP and importance.required_failed(wave):
            stopped_by = wave.name
            reason = f"wave {wave.name} ended {wave.status.value} and its on_failure is stop"
            execution = _skip_remaining(execution, events, now, reason)
            break
        execution = schedule_next(execution, wave, events, now)
    if execution.current_wave() is None:
        execution = _finish_execution(execution, now, events, stopped_by)
    return Decision(
        execution=events.stamp(execution, before, now),
        starts=tuple(starts),
        reconcile=tuple(reconcile),
        events=tuple(events.items),
        wake_at=steering.wake_at(execution, now, limits) or _next_wake(execution),
        hook_starts=tuple(hook_starts),
    )


def request_cancel(execution: Execution, user_id: str, now: datetime) -> Decision:
    """No new chunk or wave starts from now on; jobs already running are followed to their end.
    A request still awaiting approval has nothing running: it ends at once (its card loses the buttons)."""
    events = EventLog(execution)
    cancelled = execution.model_copy(
        update={"cancel_requested_by": user_id, "cancel_requested_at": now}
    ).acted(Action(user_id=user_id, kind=ActionKind.CANCEL, at=now))
    if execution.status is ExecutionStatus.PENDING_APPROVAL:
        cancelled = move_execution(cancelled, ExecutionStatus.CANCELLED, now)
    running = sum(
        1
        for wave in execution.waves
        for chunk in wave.chunks
        if chunk.status in (ChunkStatus.STARTING, ChunkStatus.RUNNING)
    )
    events.add(
        CancelRequested,
        at=now,
        execution_id=execution.execution_id,
        requested_by=user_id,
        jobs_running=running,
    )
    return Decision(execution=events.stamp(cancelled, execution, now), events=tuple(events.items))


def record_jobs_started(
    execution: Execution, started: Iterable[tuple[ChunkRef, str]], now: datetime
) -> Decision:
    """The StartRecovery calls of this tick returned (or a job was found by its tags after a crash)."""
    events = EventLog(execution)
    before = execution
    by_wave: dict[int, list[str]] = {}
    for ref, job_id in started:
        wave = execution.waves[ref.wave]
        first_job_of_wave = not wave.job_ids
        chunk = wave.chunks[ref.chunk]
        if chunk.status is not ChunkStatus.STARTING:
            continue  # another tick recorded it already
        servers = tuple(move_server(s, ServerStatus.LAUNCHING, job_id=job_id) for s in chunk.servers)
        chunk = move_chunk(chunk, ChunkStatus.RUNNING, job_id=job_id, servers=servers)
        execution = execution.replace_wave(_replace_chunk(wave, chunk))
        if first_job_of_wave or ref.wave in by_wave:
            by_wave.setdefault(ref.wave, []).append(job_id)
    for wave_index, job_ids in by_wave.items():
        wave = execution.waves[wave_index]
        events.add(
            WaveStarted,
            at=now,
            execution_id=execution.execution_id,
            wave_index=wave.index,
            wave_count=len(execution.waves),
            wave_name=wave.name,
            protection_group=wave.protection_group,
            region=wave.region,
            account=wave.account,
            server_count=sum(1 for _ in wave.servers()),
            job_ids=job_ids,
        )
    return Decision(execution=events.stamp(execution, before, now), events=tuple(events.items))


def record_start_refused(execution: Execution, ref: ChunkRef, error: str, now: datetime) -> Execution:
    """DRS refused to start a chunk for good (not a throttle): its servers failed with DRS's answer."""
    wave = execution.waves[ref.wave]
    chunk = wave.chunks[ref.chunk]
    if chunk.status is not ChunkStatus.STARTING:
        return execution
    reason = clip_error(f"StartRecovery refused: {error}")
    servers = tuple(move_server(s, ServerStatus.FAILED, error=reason) for s in chunk.servers)
    chunk = move_chunk(chunk, ChunkStatus.DONE, servers=servers)
    return execution.replace_wave(_replace_chunk(wave, chunk))


def _apply_observation(execution: Execution, observation: Observation, now: datetime) -> Execution:
    for wave in execution.waves:
        if wave.status is not WaveStatus.IN_PROGRESS:
            continue
        chunks = tuple(_follow_chunk(chunk, observation, now) for chunk in wave.chunks)
        if chunks != wave.chunks:
            execution = execution.replace_wave(wave.model_copy(update={"chunks": chunks}))
    return execution


def _follow_chunk(chunk: Chunk, observation: Observation, now: datetime) -> Chunk:
    job = observation.jobs.get(chunk.job_id or "")
    if chunk.status is not ChunkStatus.RUNNING or job is None:
        return chunk
    launches = {launch.source_server_id: launch for launch in job.servers}
    job_done = job.status == JOB_DONE
    servers = tuple(
        _follow_server(server, launches.get(server.source_server_id), job_done, observation, now)
        for server in chunk.servers
    )
    if job_done or all(server.status.is_terminal for server in servers):
        return move_chunk(chunk, ChunkStatus.DONE, servers=servers)
    return chunk.model_copy(update={"servers": servers})


def _follow_server(
    server: ServerRun, launch: ServerLaunch | None, job_done: bool, observation: Observation, now: datetime
) -> ServerRun:
    if server.status.is_terminal:
        return server
    status = launch.launch_status if launch else None
    if status == "LAUNCHED":
        instance_id = launch.recovery_instance_id if launch else None
        return move_server(server, ServerStatus.LAUNCHED, now=now, instance_id=instance_id)
    if status in ("FAILED", "TERMINATED"):
        reason = observation.failure_reasons.get(server.source_server_id)
        if status == "TERMINATED":
            reason = reason or "the recovery instance was terminated during the launch"
        reason = clip_error(reason or "DRS reported the launch as FAILED")
        return move_server(server, ServerStatus.FAILED, error=reason)
    if job_done:
        reason = observation.failure_reasons.get(server.source_server_id)
        reason = reason or f"the DRS job completed without launching it (last status: {status})"
        return move_server(server, ServerStatus.FAILED, error=reason)
    return server


def _claim_chunks(
    execution: Execution,
    wave: WaveRun,
    now: datetime,
    limits: Limits,
    load: RegionLoad | None,
    *,
    held: bool = False,
) -> tuple[WaveRun, list[ChunkRef], list[ChunkRef]]:
    """Chunks to start now (planned ones while quota allows; stale claims of a crashed tick),
    or, once cancelled, only stale claims to look up: a job may exist for them."""
    jobs_in_flight, servers_in_flight = _in_flight(execution, wave.where, load)
    stale_before = now - timedelta(seconds=limits.claim_timeout_seconds)
    starts: list[ChunkRef] = []
    reconcile: list[ChunkRef] = []
    for chunk in wave.chunks:
        ref = ChunkRef(wave=wave.index, chunk=chunk.index)
        stale = (
            chunk.status is ChunkStatus.STARTING
            and chunk.claimed_at is not None
            and chunk.claimed_at < stale_before
        )
        if execution.cancelling:
            if chunk.status is ChunkStatus.PLANNED:
                wave = _replace_chunk(wave, _not_started(chunk, "not started: the execution was cancelled"))
            elif stale:
                wave = _replace_chunk(wave, chunk.model_copy(update={"claimed_at": now}))
                reconcile.append(ref)
            continue
        if execution.paused:
            # [gates] no new job starts: not a planned chunk, nor a crashed tick's stale claim (its call may
            # never have reached DRS). The claim is looked up by its tags at the first tick after resume.
            continue
        if chunk.status is ChunkStatus.PLANNED:
            size = len(chunk.servers)
            if held:
                break
            if jobs_in_flight + 1 > limits.concurrent_jobs:
                break
            if servers_in_flight + size > limits.servers_in_active_jobs:
                break
            jobs_in_flight += 1
            servers_in_flight += size
        elif not stale:
            continue
        claimed = move_chunk(chunk, ChunkStatus.STARTING, now=now)
        wave = _replace_chunk(wave, claimed)
        starts.append(ref)
    return wave, starts, reconcile


def _not_started(chunk: Chunk, reason: str) -> Chunk:
    servers = tuple(s.model_copy(update={"error": reason}) for s in chunk.servers)
    return move_chunk(chunk, ChunkStatus.DONE, servers=servers)


def record_not_started(execution: Execution, ref: ChunkRef, reason: str) -> Execution:
    """A claimed chunk that no job exists for, and that must not start any more (cancelled)."""
    wave = execution.waves[ref.wave]
    chunk = wave.chunks[ref.chunk]
    if chunk.status is not ChunkStatus.STARTING:
        return execution
    return execution.replace_wave(_replace_chunk(wave, _not_started(chunk, reason)))


def _apply_timeouts(
    execution: Execution,
    now: datetime,
    unreachable: Mapping[AccountRegion, str] | None = None,
    unobserved: frozenset[AccountRegion] = frozenset(),
) -> Execution:
    wave = execution.current_wave()
    if wave is None or wave.status is not WaveStatus.IN_PROGRESS or wave.start_time is None:
        return execution
    if wave.where in unobserved:
        return execution  # its jobs may have launched since last seen: judged when DRS answers
    # A retried wave's timeout counts from the retry; time paused does not count.
    elapsed = (now - (wave.retried_at or wave.start_time)).total_seconds() - wave.paused_seconds
    timeout = wave.options.timeout
    if elapsed < timeout:
        return execution
    reasons = {
        ChunkStatus.RUNNING: f"timed out: not launched {_minutes(timeout)} after the wave started",
        # Queued behind DRS's quotas the whole time: say so, it is a capacity problem, not a launch one.
        ChunkStatus.PLANNED: f"timed out: never started, waiting {_minutes(timeout)} for DRS capacity",
    }
    if execution.paused:  # [gates] held by a person, not waiting for capacity
        del reasons[ChunkStatus.PLANNED]
    if (refused := (unreachable or {}).get(wave.where)) is not None:
        # Its jobs could not be read: they may well have launched; say what is known.
        reasons[ChunkStatus.RUNNING] = clip_error(
            f"outcome unknown: timed out {_minutes(timeout)} after the wave started, its account "
            f"unreachable ({refused}); its job may have launched it"
        )
    chunks = []
    for chunk in wave.chunks:
        if chunk.status in reasons:
            reason = reasons[chunk.status]
            servers = tuple(
                s if s.status.is_terminal else move_server(s, ServerStatus.FAILED, error=reason)
                for s in chunk.servers
            )
            chunk = move_chunk(chunk, ChunkStatus.DONE, servers=servers)
        chunks.append(chunk)
    return execution.replace_wave(wave.model_copy(update={"chunks": tuple(chunks)}))


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def schedule_next(execution: Execution, finished: WaveRun, events: EventLog, now: datetime) -> Execution:
    # The next wave that has yet to run: one skipped by /drs skip, or run before a retry, is passed.
    upcoming = next(
        (w for w in execution.waves[finished.index + 1 :] if w.status is WaveStatus.PENDING), None
    )
    if upcoming is None:
        return execution
    return wait_before(execution, upcoming, events, now)


def wait_before(execution: Execution, wave: WaveRun, events: EventLog, now: datetime) -> Execution:
    """The wave waits its whole wait_before from now (if it has one), and the thread says until when."""
    wait = wave.options.wait_before
    if wait <= 0:
        return execution
    starts_at = now + timedelta(seconds=wait)
    events.add(
        WaveScheduled,
        at=now,
        execution_id=execution.execution_id,
        wave_index=wave.index,
        wave_count=len(execution.waves),
        wave_name=wave.name,
        starts_at=starts_at,
        wait_seconds=wait,
    )
    return execution.replace_wave(wave.model_copy(update={"not_before": starts_at}))


def _skip_remaining(execution: Execution, events: EventLog, now: datetime, reason: str) -> Execution:
    skipped = []
    for wave in execution.waves:
        if wave.status in (WaveStatus.PENDING, WaveStatus.GATED):
            execution = execution.replace_wave(move_wave(wave, WaveStatus.SKIPPED, now))
            skipped.append(wave.name)
    if skipped:
        events.add(
            WavesSkipped, at=now, execution_id=execution.execution_id, wave_names=skipped, reason=reason
        )
    return execution


def _next_wake(execution: Execution) -> datetime | None:
    wave = execution.current_wave()
    if wave is not None and wave.status is WaveStatus.PENDING:
        return wave.not_before
    return None


def _in_flight(execution: Execution, where: AccountRegion, load: RegionLoad | None) -> tuple[int, int]:
    """Jobs and servers counting against the quotas of one account and region: DRS's own count when
    known (it includes other executions' jobs), plus our claimed chunks DRS may not show yet; else our
    own count. Jobs in another account or region count against that one's quotas, not these."""
    jobs = servers = 0
    for wave in execution.waves:
        if wave.where != where:
            continue
        for chunk in wave.chunks:
            counted = ChunkStatus.STARTING if load else None
            if chunk.status in (ChunkStatus.STARTING, ChunkStatus.RUNNING) and (
                counted is None or chunk.status is counted
            ):
                jobs += 1
                servers += len(chunk.servers)
    if load:
        jobs += load.jobs
        servers += load.servers
    return jobs, servers


def regions_starting(execution: Execution, decision: Decision) -> list[AccountRegion]:
    """Accounts and regions where the decision starts new chunks: the quotas there are shared with
    every other job of that account and region, so the step is decided again knowing DRS's own count
    (only then: most steps start nothing and need no extra call)."""
    places = set()
    for ref in decision.starts:
        before = execution.waves[ref.wave].chunks[ref.chunk]
        if before.status is ChunkStatus.PLANNED:
            places.add(execution.waves[ref.wave].where)
    return sorted(places, key=AccountRegion.sort_key)


def _wave_done(wave: WaveRun) -> bool:
    return all(chunk.status is ChunkStatus.DONE for chunk in wave.chunks)


def _finish_wave(wave: WaveRun, now: datetime) -> WaveRun:
    if hooks.stopped(wave):
        # hooks (#15): a stop hook failed: before the launch nothing launched; after it, what the wave
        # had to do once launched did not happen, so the next waves cannot rely on it.
        return move_wave(wave, WaveStatus.FAILED, now)
    if wave.status is WaveStatus.PREPARING:
        return move_wave(wave, WaveStatus.SKIPPED, now)  # cancelled while its before-hooks ran
    if not wave.job_ids and tally(wave.servers()).failed == 0:
        # nothing was started (cancelled before its first job)
        return move_wave(wave, WaveStatus.SKIPPED, now)
    return move_wave(wave, importance.judge(wave), now)  # optional servers never fail the wave on their own


def _wave_checking_fields(execution: Execution, wave: WaveRun, now: datetime) -> dict[str, object]:
    healthy, launched = health.counts(wave)
    # As the checks begin nothing has answered yet: only later reports name the failing servers.
    failing = health.failing(wave) if wave.checks_started_at != now else []
    check = wave.options.health_check
    assert check is not None
    return {
        "at": now,
        "execution_id": execution.execution_id,
        "wave_index": wave.index,
        "wave_count": len(execution.waves),
        "wave_name": wave.name,
        "healthy": healthy,
        "launched": launched,
        "checks": list(check.checks()),
        "timeout_seconds": check.timeout,
        "failing": [
            HealthFailing(source_server_id=f.source_server_id, check=f.check, detail=f.detail)
            for f in failing[: health.FAILING_LISTED]
        ],
        "more_failing": max(0, len(failing) - health.FAILING_LISTED),
    }


def _wave_finished_fields(execution: Execution, wave: WaveRun, now: datetime) -> dict[str, object]:
    counts = tally(wave.servers())
    failed = [s for s in wave.servers() if s.status is ServerStatus.FAILED]
    started = wave.start_time or now
    return {
        "at": now,
        "execution_id": execution.execution_id,
        "wave_index": wave.index,
        "wave_count": len(execution.waves),
        "wave_name": wave.name,
        "status": wave.status,
        "launched": counts.launched,
        "failed": counts.failed,
        "not_started": counts.pending,
        "duration_seconds": (now - started).total_seconds(),
        "job_ids": wave.job_ids,
        "failures": [
            ServerFailure(source_server_id=s.source_server_id, error=s.error or "", job_id=s.recovery_job_id)
            for s in failed[:FAILURES_LISTED]
        ],
        "more_failures": max(0, len(failed) - FAILURES_LISTED),
        "checked": wave.options.health_check is not None,
        "healthy": health.counts(wave)[0],
        "checked_servers": health.counts(wave)[1],
        "launch_seconds": health.launch_seconds(wave),
        "healthy_seconds": health.healthy_seconds(wave),
    }


def _finish_execution(
    execution: Execution, now: datetime, events: EventLog, stopped_by: str | None
) -> Execution:
    counts = tally(execution.servers())
    if execution.cancelling:
        status = ExecutionStatus.CANCELLED
    elif stopped_by is not None:
        status = ExecutionStatus.FAILED
    elif all(wave.status is WaveStatus.COMPLETED for wave in execution.waves):
        status = ExecutionStatus.COMPLETED
    elif counts.launched == 0:
        status = ExecutionStatus.FAILED
    else:
        status = ExecutionStatus.PARTIAL
    execution = move_execution(execution, status, now)
    if execution.failback is not None:
        # Failback: the launched instances are re-protected after the launch (a post-step, like cleanup).
        run = move_failback(execution.failback, FailbackPhase.REPROTECTING)
        execution = execution.model_copy(update={"failback": run})
    ended = {
        "execution_id": execution.execution_id,
        "plan_name": execution.plan_name,
        "execution_type": execution.execution_type,
        "status": status,
        "launched": counts.launched,
        "total": counts.total,
        "duration_seconds": (now - (execution.start_time or execution.created_at)).total_seconds(),
    }
    to_launch, to_healthy = health.execution_rtos(execution)
    events.add(
        ExecutionFinished,
        at=now,
        failed=counts.failed,
        launch_seconds=to_launch,
        healthy_seconds=to_healthy,
        **ended,
    )
    # Saved with the end, so the picture is posted exactly when the end is (the outbox).
    events.add(TimelineReady, at=now, **ended)
    cleanup_after = execution.plan_options.cleanup_after
    if execution.execution_type is ExecutionType.DRILL and cleanup_after:
        # The plan's cleanup_after: the drill's instances go at a set time, announced now.
        due = now + timedelta(seconds=cleanup_after)
        execution = execution.model_copy(
            update={"cleanup": CleanupRun(status=CleanupStatus.SCHEDULED, due_at=due)}
        )
        events.add(CleanupScheduled, at=now, execution_id=execution.execution_id, due_at=due)
    return execution


def _replace_chunk(wave: WaveRun, chunk: Chunk) -> WaveRun:
    chunks = tuple(chunk if existing.index == chunk.index else existing for existing in wave.chunks)
    return wave.model_copy(update={"chunks": chunks})


def release_unreachable(execution: Execution, ref: ChunkRef, error: str, give_up_after: int) -> Execution:
    """The chunk's account could not be reached (the bot's role there not assumed): nothing was called
    in DRS this try. Back to the queue, the try counted; the `give_up_after`th such try ends its servers
    FAILED with why. Only a chunk none of whose tries can have reached DRS is said not to have launched:
    an earlier try may have started a job (a crash after its claim, a call left unanswered) that could not
    be looked for, and then the outcome is unknown, and said so."""
    wave = execution.waves[ref.wave]
    chunk = wave.chunks[ref.chunk]
    if chunk.status is not ChunkStatus.STARTING:
        return execution
    unreachable = chunk.unreachable + 1
    if unreachable < give_up_after:
        released = move_chunk(chunk, ChunkStatus.PLANNED).model_copy(update={"unreachable": unreachable})
        return execution.replace_wave(_replace_chunk(wave, released))
    if unreachable >= chunk.attempts:
        reason = f"not launched: {error} (still after {unreachable} tries)"
    else:
        reason = (
            f"outcome unknown: {error} (still after {unreachable} tries); an earlier try may have "
            "started a job, which could not be looked for"
        )
    servers = tuple(move_server(s, ServerStatus.FAILED, error=clip_error(reason)) for s in chunk.servers)
    done = move_chunk(chunk, ChunkStatus.DONE, servers=servers).model_copy(
        update={"unreachable": unreachable}
    )
    return execution.replace_wave(_replace_chunk(wave, done))


def release_chunk(execution: Execution, ref: ChunkRef) -> Execution:
    """DRS was unavailable: the chunk goes back to the queue (its attempt count makes the next
    try look for a job by its tags first, in case the call did take effect)."""
    wave = execution.waves[ref.wave]
    if wave.chunks[ref.chunk].status is not ChunkStatus.STARTING:
        return execution
    chunk = move_chunk(wave.chunks[ref.chunk], ChunkStatus.PLANNED)
    return execution.replace_wave(_replace_chunk(wave, chunk))


def progress(execution: Execution) -> tuple[object, ...]:
    """What the anchor message shows; it is edited when this changes."""
    counts = tally(execution.servers())
    waves = tuple((wave.status, wave.healthy_reported) for wave in execution.waves)
    approvals = len(execution.approvals), execution.rejection is not None
    # The approval card shows readiness: edit it when the snapshot ages are in, not at every batch.
    ages = execution.readiness.snapshot_ages if execution.readiness else None
    readiness = (ages.done, ages.findings) if ages else None
    return (
        execution.status,
        execution.cancelling,
        execution.paused,
        approvals,
        waves,
        counts.launched,
        counts.failed,
        readiness,
    )
