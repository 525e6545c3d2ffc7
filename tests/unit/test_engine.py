"""The wave engine's decisions, from plain data: no AWS, no Slack, no clock."""

from __future__ import annotations

from bot.domain import engine
from bot.domain.accounts import home
from bot.domain.events import ExecutionFinished, ProgressUpdated, WaveFinished, WaveStarted
from bot.domain.execution import (
    ChunkRef,
    ChunkStatus,
    Execution,
    ExecutionStatus,
    Limits,
    ServerStatus,
    WaveStatus,
)
from tests.unit.builders import at, execution, job, observe

LIMITS = Limits()


def launch(ex: Execution, now_s: float, job_ids: dict[tuple[int, int], str] | None = None) -> Execution:
    """Advance, then record that every chunk the engine asked for got a job."""
    decision = engine.advance(ex, observe(), at(now_s), LIMITS)
    started = [
        (ref, (job_ids or {}).get((ref.wave, ref.chunk), f"drsjob-w{ref.wave}c{ref.chunk}"))
        for ref in decision.starts
    ]
    return engine.record_jobs_started(decision.execution, started, at(now_s)).execution


def all_states(ex: Execution, wave: int, state: str) -> dict[str, str]:
    return {s.source_server_id: state for s in ex.waves[wave].servers()}


def test_a_new_drill_starts_its_first_wave_only_in_one_job_per_chunk() -> None:
    ex = execution(2, 3)
    decision = engine.advance(ex, observe(), at(1), LIMITS)
    assert decision.starts == (ChunkRef(wave=0, chunk=0),)
    assert decision.execution.waves[0].status is WaveStatus.IN_PROGRESS
    assert decision.execution.waves[1].status is WaveStatus.PENDING
    assert decision.execution.waves[0].chunks[0].status is ChunkStatus.STARTING


def test_a_wave_is_split_into_as_few_jobs_as_the_quota_allows() -> None:
    ex = execution(250, servers_per_job=100)
    assert [len(chunk.servers) for chunk in ex.waves[0].chunks] == [100, 100, 50]
    decision = engine.advance(ex, observe(), at(1), LIMITS)
    assert [ref.chunk for ref in decision.starts] == [0, 1, 2]


def test_recorded_jobs_announce_the_wave_with_its_job_ids() -> None:
    ex = execution(2, 3)
    decision = engine.advance(ex, observe(), at(1), LIMITS)
    recorded = engine.record_jobs_started(decision.execution, [(decision.starts[0], "drsjob-a")], at(2))
    (event,) = recorded.events
    assert isinstance(event, WaveStarted)
    assert event.job_ids == ["drsjob-a"] and event.server_count == 2 and event.wave_index == 0
    assert all(s.status is ServerStatus.LAUNCHING for s in recorded.execution.waves[0].servers())
    assert recorded.execution.waves[0].chunks[0].job_id == "drsjob-a"


def test_the_next_wave_waits_until_every_server_of_the_previous_one_is_terminal() -> None:
    ex = launch(execution(2, 3), 1)
    first, second = list(ex.waves[0].servers())
    half = job(
        "drsjob-w0c0",
        "STARTED",
        **{first.source_server_id: "LAUNCHED", second.source_server_id: "IN_PROGRESS"},
    )
    decision = engine.advance(ex, observe(half), at(300), LIMITS)
    assert decision.starts == ()
    assert decision.execution.waves[1].status is WaveStatus.PENDING

    done = job("drsjob-w0c0", "COMPLETED", **all_states(ex, 0, "LAUNCHED"))
    decision = engine.advance(decision.execution, observe(done), at(540), LIMITS)
    assert decision.execution.waves[0].status is WaveStatus.COMPLETED
    # Wave 2 starts in the same step: no idle tick between waves.
    assert decision.starts == (ChunkRef(wave=1, chunk=0),)
    assert [type(e) for e in decision.events] == [WaveFinished, ProgressUpdated]


def test_a_completed_job_with_a_failed_server_makes_the_wave_partial_with_drs_error_text() -> None:
    ex = launch(execution(2), 1)
    good, bad = (s.source_server_id for s in ex.waves[0].servers())
    completed = job("drsjob-w0c0", "COMPLETED", **{good: "LAUNCHED", bad: "FAILED"})
    reason = "Failed to launch: missing ec2:CreateLaunchTemplateVersion permission"
    decision = engine.advance(ex, observe(completed, reasons={bad: reason}), at(540), LIMITS)
    wave = decision.execution.waves[0]
    assert wave.status is WaveStatus.PARTIAL
    failed = next(s for s in wave.servers() if s.source_server_id == bad)
    assert failed.status is ServerStatus.FAILED and failed.error == reason
    launched = next(s for s in wave.servers() if s.source_server_id == good)
    assert launched.instance_id == f"i-{good[2:]}" and launched.launch_time == at(540)
    finished = next(e for e in decision.events if isinstance(e, WaveFinished))
    assert finished.failures[0].error == reason and finished.launched == 1 and finished.failed == 1
    assert decision.execution.status is ExecutionStatus.PARTIAL


def test_a_server_still_pending_when_its_job_completes_counts_as_failed() -> None:
    ex = launch(execution(1), 1)
    (only,) = (s.source_server_id for s in ex.waves[0].servers())
    decision = engine.advance(
        ex, observe(job("drsjob-w0c0", "COMPLETED", **{only: "PENDING"})), at(9), LIMITS
    )
    server = next(decision.execution.waves[0].servers())
    assert server.status is ServerStatus.FAILED
    assert "completed without launching" in (server.error or "")
    assert decision.execution.status is ExecutionStatus.FAILED


def test_execution_completes_when_all_waves_launch_and_says_so_once() -> None:
    ex = launch(execution(1, 1), 1)
    d = engine.advance(
        ex, observe(job("drsjob-w0c0", "COMPLETED", **all_states(ex, 0, "LAUNCHED"))), at(540), LIMITS
    )
    ex = engine.record_jobs_started(d.execution, [(d.starts[0], "drsjob-w1c0")], at(541)).execution
    d = engine.advance(
        ex, observe(job("drsjob-w1c0", "COMPLETED", **all_states(ex, 1, "LAUNCHED"))), at(1080), LIMITS
    )
    assert d.execution.status is ExecutionStatus.COMPLETED
    assert d.execution.end_time == at(1080)
    finished = [e for e in d.events if isinstance(e, ExecutionFinished)]
    assert len(finished) == 1 and finished[0].launched == 2 and finished[0].total == 2
    # A further step changes nothing and says nothing.
    again = engine.advance(d.execution, observe(), at(1100), LIMITS)
    assert again.execution == d.execution and again.events == ()


def test_event_numbers_continue_across_steps() -> None:
    ex = execution(1, 1)
    started = engine.start_execution(ex, at(0))
    ex = started.execution
    d = engine.advance(ex, observe(), at(1), LIMITS)
    r = engine.record_jobs_started(d.execution, [(d.starts[0], "drsjob-1")], at(1))
    seqs = [e.seq for e in started.events + d.events + r.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert r.execution.events_emitted == seqs[-1]


def test_jobs_in_flight_respect_the_concurrent_job_and_server_quotas() -> None:
    limits = Limits(servers_per_job=100, concurrent_jobs=20, servers_in_active_jobs=500)
    ex = execution(450, 200, servers_per_job=100)
    d = engine.advance(ex, observe(), at(1), limits)
    assert len(d.starts) == 5  # 450 servers -> 5 jobs, 450 in flight
    limits_tight = Limits(servers_per_job=100, concurrent_jobs=2, servers_in_active_jobs=500)
    d = engine.advance(ex, observe(), at(1), limits_tight)
    assert [ref.chunk for ref in d.starts] == [0, 1]  # the rest queues until capacity frees up
    ex = engine.record_jobs_started(
        d.execution, [(r, f"drsjob-{r.chunk}") for r in d.starts], at(2)
    ).execution
    first = ex.waves[0].chunks[0]
    done = job("drsjob-0", "COMPLETED", **{s.source_server_id: "LAUNCHED" for s in first.servers})
    d = engine.advance(ex, observe(done), at(500), limits_tight)
    assert [ref.chunk for ref in d.starts] == [2]


def test_a_claim_left_by_a_crashed_tick_is_taken_again_only_after_the_claim_timeout() -> None:
    ex = execution(3)
    claimed = engine.advance(ex, observe(), at(0), LIMITS).execution  # then the tick died
    assert engine.advance(claimed, observe(), at(60), LIMITS).starts == ()
    retry = engine.advance(claimed, observe(), at(121), LIMITS)
    assert retry.starts == (ChunkRef(wave=0, chunk=0),)
    assert retry.execution.waves[0].chunks[0].attempts == 2


def test_a_refused_start_fails_the_chunk_with_drs_answer() -> None:
    ex = execution(2)
    d = engine.advance(ex, observe(), at(0), LIMITS)
    ex = engine.record_start_refused(d.execution, d.starts[0], "AccessDeniedException: not allowed", at(1))
    d = engine.advance(ex, observe(), at(2), LIMITS)
    assert d.execution.status is ExecutionStatus.FAILED
    assert all("AccessDeniedException" in (s.error or "") for s in d.execution.servers())


def test_a_released_chunk_is_retried_with_a_higher_attempt_count() -> None:
    ex = execution(2)
    d = engine.advance(ex, observe(), at(0), LIMITS)
    ex = engine.release_chunk(d.execution, d.starts[0])
    assert ex.waves[0].chunks[0].status is ChunkStatus.PLANNED
    d = engine.advance(ex, observe(), at(5), LIMITS)
    assert d.starts == (ChunkRef(wave=0, chunk=0),) and d.execution.waves[0].chunks[0].attempts == 2


def test_an_execution_awaiting_approval_does_not_advance() -> None:
    from bot.domain.execution import ExecutionType

    ex = execution(2, kind=ExecutionType.RECOVERY)
    assert ex.status is ExecutionStatus.PENDING_APPROVAL
    d = engine.advance(ex, observe(), at(0), LIMITS)
    assert d.starts == () and d.execution == ex


def test_other_jobs_in_the_region_count_against_the_quotas() -> None:
    from bot.domain.engine import Observation, RegionLoad

    limits = Limits(servers_per_job=100, concurrent_jobs=20, servers_in_active_jobs=500)
    ex = execution(450, servers_per_job=100)
    busy = Observation(load={home("us-east-1"): RegionLoad(jobs=2, servers=150)})
    d = engine.advance(ex, busy, at(1), limits)
    assert [ref.chunk for ref in d.starts] == [0, 1, 2]  # 150 + 300 in flight; a fourth would be 550
    full = Observation(load={home("us-east-1"): RegionLoad(jobs=20, servers=20)})
    assert engine.advance(ex, full, at(1), limits).starts == ()
    # Only new starts need DRS's count; following running jobs does not.
    assert engine.regions_starting(ex, d) == [home("us-east-1")]
