"""Wave options (wait_before, timeout, on_failure) and cancel, decided from plain data."""

from __future__ import annotations

from bot.domain import engine
from bot.domain.events import CancelRequested, WaveScheduled, WavesSkipped
from bot.domain.execution import (
    ChunkRef,
    ChunkStatus,
    Execution,
    ExecutionStatus,
    Limits,
    ServerStatus,
    WaveStatus,
)
from bot.domain.plans import OnFailure, WaveOptions
from tests.unit.builders import at, execution, job, observe

LIMITS = Limits()


def with_wave(ex: Execution, index: int, **changes: object) -> Execution:
    return ex.replace_wave(ex.waves[index].model_copy(update=changes))


def started(ex: Execution, now_s: float) -> Execution:
    d = engine.advance(ex, observe(), at(now_s), LIMITS)
    jobs = [(ref, f"drsjob-w{ref.wave}c{ref.chunk}") for ref in d.starts]
    return engine.record_jobs_started(d.execution, jobs, at(now_s)).execution


def complete_wave(ex: Execution, wave: int, now_s: float, state: str = "LAUNCHED") -> engine.Decision:
    servers = {s.source_server_id: state for s in ex.waves[wave].servers()}
    return engine.advance(ex, observe(job(f"drsjob-w{wave}c0", "COMPLETED", **servers)), at(now_s), LIMITS)


def test_a_wave_with_wait_before_starts_only_when_the_wait_is_over() -> None:
    ex = with_wave(execution(1, 1), 1, options=WaveOptions(wait_before=300))
    ex = started(ex, 0)
    d = complete_wave(ex, 0, 540)
    assert d.starts == ()
    scheduled = [e for e in d.events if isinstance(e, WaveScheduled)]
    assert scheduled[0].starts_at == at(840) and scheduled[0].wait_seconds == 300
    assert d.wake_at == at(840)
    assert engine.advance(d.execution, observe(), at(839), LIMITS).starts == ()
    assert engine.advance(d.execution, observe(), at(840), LIMITS).starts == (ChunkRef(wave=1, chunk=0),)


def test_servers_not_launched_by_the_wave_timeout_fail_as_timed_out() -> None:
    ex = with_wave(execution(2), 0, options=WaveOptions(timeout=600))
    ex = started(ex, 0)
    first, second = (s.source_server_id for s in ex.waves[0].servers())
    half = observe(job("drsjob-w0c0", "STARTED", **{first: "LAUNCHED", second: "IN_PROGRESS"}))
    assert engine.advance(ex, half, at(599), LIMITS).execution.status is ExecutionStatus.IN_PROGRESS
    d = engine.advance(ex, half, at(600), LIMITS)
    servers = {s.source_server_id: s for s in d.execution.waves[0].servers()}
    assert servers[first].status is ServerStatus.LAUNCHED
    assert servers[second].status is ServerStatus.FAILED
    assert servers[second].error == "timed out: not launched 10 min after the wave started"
    assert d.execution.waves[0].status is WaveStatus.PARTIAL


def test_a_wave_whose_jobs_drs_did_not_show_this_tick_is_not_timed_out_on_what_was_not_seen() -> None:
    ex = with_wave(execution(2), 0, options=WaveOptions(timeout=600))
    ex = started(ex, 0)
    blind = observe().model_copy(update={"unobserved": frozenset({ex.waves[0].where})})
    d = engine.advance(ex, blind, at(900), LIMITS)
    assert all(s.status is ServerStatus.LAUNCHING for s in d.execution.waves[0].servers())
    # The first tick that reads the jobs judges them: what launched is kept, the rest timed out.
    first, second = (s.source_server_id for s in ex.waves[0].servers())
    seen = observe(job("drsjob-w0c0", "STARTED", **{first: "LAUNCHED", second: "IN_PROGRESS"}))
    servers = {
        s.source_server_id: s for s in engine.advance(ex, seen, at(901), LIMITS).execution.waves[0].servers()
    }
    assert servers[first].status is ServerStatus.LAUNCHED
    assert servers[second].error == "timed out: not launched 10 min after the wave started"


def test_on_failure_stop_skips_the_remaining_waves_and_fails_the_execution() -> None:
    ex = with_wave(execution(1, 1, 1), 0, options=WaveOptions(on_failure=OnFailure.STOP))
    ex = started(ex, 0)
    d = complete_wave(ex, 0, 540, state="FAILED")
    assert [w.status for w in d.execution.waves] == [
        WaveStatus.FAILED,
        WaveStatus.SKIPPED,
        WaveStatus.SKIPPED,
    ]
    assert d.execution.status is ExecutionStatus.FAILED and d.starts == ()
    (skipped,) = [e for e in d.events if isinstance(e, WavesSkipped)]
    assert skipped.wave_names == ["Wave 2", "Wave 3"] and "on_failure is stop" in skipped.reason


def test_on_failure_continue_goes_on_after_a_failed_wave() -> None:
    ex = started(execution(1, 1), 0)
    d = complete_wave(ex, 0, 540, state="FAILED")
    assert d.execution.waves[0].status is WaveStatus.FAILED
    assert d.starts == (ChunkRef(wave=1, chunk=0),)


def test_cancel_follows_running_jobs_to_their_end_and_starts_nothing_new() -> None:
    ex = started(execution(1, 1), 0)
    cancel = engine.request_cancel(ex, "U2", at(10))
    requested = cancel.events[0]
    assert isinstance(requested, CancelRequested) and requested.jobs_running == 1
    ex = cancel.execution
    d = engine.advance(ex, observe(), at(20), LIMITS)
    assert d.execution.status is ExecutionStatus.IN_PROGRESS  # still following wave 1's job
    d = complete_wave(d.execution, 0, 540)
    assert d.starts == ()
    assert d.execution.waves[0].status is WaveStatus.COMPLETED
    assert d.execution.waves[1].status is WaveStatus.SKIPPED
    assert d.execution.status is ExecutionStatus.CANCELLED


def test_cancel_before_queued_chunks_start_leaves_them_not_started() -> None:
    tight = Limits(concurrent_jobs=1)
    ex = execution(200, servers_per_job=100)
    d = engine.advance(ex, observe(), at(0), tight)
    ex = engine.record_jobs_started(d.execution, [(d.starts[0], "drsjob-w0c0")], at(0)).execution
    ex = engine.request_cancel(ex, "U2", at(5)).execution
    d = complete_wave(ex, 0, 540)
    wave = d.execution.waves[0]
    assert wave.chunks[1].status is ChunkStatus.DONE and wave.chunks[1].job_id is None
    not_started = list(wave.chunks[1].servers)
    assert all(s.status is ServerStatus.PENDING for s in not_started)
    assert all(s.error == "not started: the execution was cancelled" for s in not_started)
    assert wave.status is WaveStatus.PARTIAL and d.execution.status is ExecutionStatus.CANCELLED


def test_a_cancelled_execution_only_looks_up_a_chunk_claimed_before_a_crash() -> None:
    ex = execution(1)
    claimed = engine.advance(ex, observe(), at(0), LIMITS).execution  # claimed, then the tick died
    cancelled = engine.request_cancel(claimed, "U2", at(1)).execution
    d = engine.advance(cancelled, observe(), at(200), LIMITS)
    assert d.starts == () and d.reconcile == (ChunkRef(wave=0, chunk=0),)
    # No job was found for it: it never started.
    ex = engine.record_not_started(d.execution, d.reconcile[0], "not started: the execution was cancelled")
    d = engine.advance(ex, observe(), at(201), LIMITS)
    assert d.execution.status is ExecutionStatus.CANCELLED
    assert d.execution.waves[0].status is WaveStatus.SKIPPED
