"""The engine's promises under people's controls: whatever sequence of ticks, retries, skips, cancels,
gates (pause_before: Continue, Stop here), pauses and resumes, and DRS answers (launches that fail, jobs that outlive a timeout, calls refused, lost or made twice by a
crashed tick), no server is ever in two active DRS jobs, a server that launched is never launched again
in the same execution, a wave never starts while an earlier one has yet to end (running, gated or not
started), and nothing starts while the execution is paused.

DRS is simulated here (`Drs`): it keeps every job and lets jobs go on after the engine stopped following
them (a wave's timeout). Like the real one it refuses a StartRecovery for a server another active job
holds (ConflictException), and the tick waits that out, as Ticking does; what the engine records must
then agree with DRS: a server it follows is in the very job DRS has it in."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.domain import engine, steering
from bot.domain import retry as retry_domain
from bot.domain.engine import JobSnapshot, Observation, ServerLaunch
from bot.domain.execution import (
    ActionKind,
    ChunkRef,
    ChunkStatus,
    Execution,
    ExecutionStatus,
    Limits,
    WaveStatus,
)
from bot.domain.plans import OnFailure, WaveOptions
from tests.unit.builders import at, execution
from tests.unit.test_transitions import _statuses

LIMITS = Limits(servers_per_job=2, concurrent_jobs=2, servers_in_active_jobs=3, claim_timeout_seconds=120)
FINAL = ("LAUNCHED", "FAILED")


@dataclass
class Job:
    job_id: str
    tags: tuple[int, int]  # (wave, chunk), as the bot tags its jobs
    servers: dict[str, str]  # source server id → launch status
    active: bool = True


@dataclass
class Drs:
    jobs: dict[str, Job] = field(default_factory=dict)
    launched: set[str] = field(default_factory=set)  # every server DRS ever launched

    def holder(self, server: str) -> Job | None:
        return next((j for j in self.jobs.values() if j.active and server in j.servers), None)

    def start(self, ref: ChunkRef, servers: list[str], now: int) -> str:
        for server in servers:
            assert self.holder(server) is None, f"{server} would be in two active jobs"
            assert server not in self.launched, f"{server} launched already, and is launched again"
        job_id = f"drsjob-{len(self.jobs)}-{now}"
        self.jobs[job_id] = Job(job_id, (ref.wave, ref.chunk), dict.fromkeys(servers, "PENDING"))
        return job_id

    def find(self, ref: ChunkRef) -> str | None:
        return next((j.job_id for j in self.jobs.values() if j.tags == (ref.wave, ref.chunk)), None)

    def progress(self, data: st.DataObject) -> None:
        for job in self.jobs.values():
            if not job.active:
                continue
            for server, status in job.servers.items():
                if status not in FINAL:
                    job.servers[server] = data.draw(st.sampled_from(["PENDING", "IN_PROGRESS", *FINAL]))
                if job.servers[server] == "LAUNCHED":
                    self.launched.add(server)
            job.active = not all(status in FINAL for status in job.servers.values())

    def observe(self) -> Observation:
        return Observation(
            jobs={
                j.job_id: JobSnapshot(
                    job_id=j.job_id,
                    status="STARTED" if j.active else "COMPLETED",
                    servers=tuple(
                        ServerLaunch(source_server_id=s, launch_status=st_, recovery_instance_id=f"i-{s[2:]}")
                        for s, st_ in j.servers.items()
                    ),
                )
                for j in self.jobs.values()
            }
        )


class Step(StrEnum):
    TICK = "tick"
    RETRY = "retry"
    SKIP = "skip"
    CANCEL = "cancel"
    CONTINUE = "continue"  # at a gate
    STOP = "stop"  # "Stop here" at a gate
    PAUSE = "pause"
    RESUME = "resume"


STEERING = {
    Step.CONTINUE: ActionKind.CONTINUE,
    Step.STOP: ActionKind.STOP,
    Step.PAUSE: ActionKind.PAUSE,
    Step.RESUME: ActionKind.RESUME,
}


def check_moves(before: Execution, after: Execution, reopening: bool) -> None:
    """Only the tables' moves; the moves out of an end only on a retry."""
    old = _statuses(before)
    for key, (table, status) in _statuses(after).items():
        if key in old and old[key][1] != status:
            was = old[key][1]
            assert table.allows(was, status) or (reopening and table.reopens_to(was, status)), (
                f"{table.kind} {was} → {status}"
            )


def check_order(ex: Execution) -> None:
    """Wave N+1 has not started while wave N is running or has yet to run."""
    for wave in ex.waves:
        started = wave.status is WaveStatus.IN_PROGRESS or any(
            c.status is not ChunkStatus.PLANNED for c in wave.chunks
        )
        if wave.status is WaveStatus.IN_PROGRESS or (started and not wave.status.is_terminal):
            earlier = ex.waves[: wave.index]
            assert all(w.status.is_terminal for w in earlier), [(w.name, w.status) for w in ex.waves]
    running = [w.index for w in ex.waves if w.status is WaveStatus.IN_PROGRESS]
    assert len(running) <= 1, running


def check_chunks(ex: Execution, drs: Drs) -> None:
    """Each server is in one chunk of the execution (a retry moves it, never copies it), in at most one
    active DRS job, and the job the engine follows it in is that one (a retried chunk's tags are its own:
    a reconcile never picks up an earlier attempt's job)."""
    ids = [s.source_server_id for s in ex.servers()]
    assert len(ids) == len(set(ids))
    for server in ids:
        assert sum(1 for j in drs.jobs.values() if j.active and server in j.servers) <= 1, server
    for wave in ex.waves:
        for chunk in wave.chunks:
            if chunk.status is ChunkStatus.RUNNING and chunk.job_id:
                assert drs.jobs[chunk.job_id].tags == (wave.index, chunk.index), (
                    chunk,
                    drs.jobs[chunk.job_id],
                )
                for run in chunk.servers:
                    holder = drs.holder(run.source_server_id)
                    assert holder is None or holder.job_id == chunk.job_id, (run, holder)


@st.composite
def new_execution(draw: st.DrawFn) -> Execution:
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    ex = execution(*sizes, servers_per_job=LIMITS.servers_per_job)
    for wave in ex.waves:
        options = WaveOptions(
            wait_before=draw(st.sampled_from([0, 0, 300])),
            timeout=draw(st.sampled_from([600, 3600])),
            on_failure=draw(st.sampled_from(list(OnFailure))),
            pause_before=draw(st.sampled_from([False, False, True])),
        )
        ids = [s.source_server_id for s in wave.servers()]
        optional = tuple(draw(st.lists(st.sampled_from(ids), unique=True, max_size=len(ids) - 1)))
        ex = ex.replace_wave(wave.model_copy(update={"options": options, "optional": optional}))
    return engine.start_execution(ex, at(0)).execution


def tick(ex: Execution, drs: Drs, data: st.DataObject, now: int) -> Execution:
    """What Ticking does, against the simulated DRS."""
    drs.progress(data)
    decision = engine.advance(ex, drs.observe(), at(now), LIMITS)
    if ex.paused:
        assert not decision.starts, "a job starts while the execution is paused"
        assert not any(
            before.status is WaveStatus.PENDING
            and after.status is not WaveStatus.PENDING
            and after.status is not WaveStatus.SKIPPED
            for before, after in zip(ex.waves, decision.execution.waves, strict=True)
        ), "a wave starts while the execution is paused"
    check_moves(ex, decision.execution, reopening=False)
    ex = decision.execution
    started: list[tuple[ChunkRef, str]] = []
    refused: list[ChunkRef] = []
    later: list[ChunkRef] = []
    for ref in decision.reconcile:
        job_id = drs.find(ref)
        if job_id:
            started.append((ref, job_id))
        else:
            ex = engine.record_not_started(ex, ref, "not started: the execution was cancelled")
    for ref in decision.starts:
        chunk = ex.waves[ref.wave].chunks[ref.chunk]
        for wave in ex.waves[: ref.wave]:
            assert wave.status.is_terminal, f"wave {ref.wave} starts while wave {wave.index} is {wave.status}"
        job_id = drs.find(ref) if chunk.attempts > 1 else None
        if job_id:
            started.append((ref, job_id))
            continue
        if any(drs.holder(s) for s in chunk.server_ids):
            later.append(ref)  # DrsConflict: another job holds a server; wait for it
            continue
        outcome = data.draw(
            st.sampled_from(["started", "started", "refused", "unavailable", "crash", "lost"])
        )
        if outcome == "refused":
            refused.append(ref)
        elif outcome == "unavailable":
            later.append(ref)
        elif outcome in ("started", "lost"):
            job_id = drs.start(ref, chunk.server_ids, now)
            if outcome == "started":
                started.append((ref, job_id))
            # lost: the job exists but the tick died before recording it; a later claim finds it by tags
        # crash: died before the call; the claim goes stale and is taken again
    before = ex
    ex = engine.record_jobs_started(ex, started, at(now)).execution
    for ref in refused:
        ex = engine.record_start_refused(ex, ref, "ValidationException: no", at(now))
    for ref in later:
        ex = engine.release_chunk(ex, ref)
    check_moves(before, ex, reopening=False)
    return ex


def control(ex: Execution, drs: Drs, step: Step, data: st.DataObject, now: int) -> Execution:
    numbers = [str(w.index + 1) for w in ex.waves]
    if step is Step.RETRY:
        ref = data.draw(st.sampled_from([None, *numbers]))
        # As Controlling does: DRS's view of the jobs the failed servers were in, read first.
        ruling = retry_domain.retry(ex, ref, "U1", at(now), LIMITS.servers_per_job, drs.observe().jobs)
    elif step is Step.SKIP:
        ruling = retry_domain.skip(ex, data.draw(st.sampled_from(numbers)), "U1", "not needed", at(now))
    elif step in STEERING:
        gated = ex.gated_wave()
        steered = steering.steer(ex, STEERING[step], "U1", at(now), gated.index if gated else None)
        after = steered.decision.execution if steered.decision else ex
        check_moves(ex, after, reopening=False)
        return after
    else:
        if ex.status is not ExecutionStatus.IN_PROGRESS or ex.cancelling:
            return ex  # the service refuses these
        return engine.request_cancel(ex, "U1", at(now)).execution
    after = ruling.decision.execution if ruling.decision else ex
    check_moves(ex, after, reopening=step is Step.RETRY)
    return after


# No shrinking: a failure is reported as found, without minutes spent shrinking it in CI.
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(start=new_execution(), data=st.data())
def test_no_control_or_drs_answer_breaks_the_engines_promises(start: Execution, data: st.DataObject) -> None:
    ex, drs, now = start, Drs(), 0
    weights = [Step.TICK] * 6 + [Step.RETRY] * 2 + [Step.SKIP, Step.CANCEL, *STEERING, Step.CONTINUE]
    for _ in range(data.draw(st.integers(10, 60))):
        now += data.draw(st.sampled_from([1, 30, 400, 1900, 4000]))
        step = data.draw(st.sampled_from(weights))
        ex = tick(ex, drs, data, now) if step is Step.TICK else control(ex, drs, step, data, now)
        check_order(ex)
        check_chunks(ex, drs)
    if ex.status.is_terminal:
        assert all(wave.status.is_terminal for wave in ex.waves)
