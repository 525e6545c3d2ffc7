"""/drs retry and /drs skip as domain decisions: what they refuse and what they leave behind."""

from __future__ import annotations

from pydantic import TypeAdapter

from bot.adapters.dynamodb import SERVERS_PER_PAGE
from bot.domain import cleanup, engine, retry
from bot.domain.execution import (
    ERROR_TEXT_LIMIT,
    CleanupStatus,
    Execution,
    ExecutionStatus,
    FailbackPhase,
    FailbackRun,
    Limits,
    ServerAttempt,
    ServerRun,
    ServerStatus,
    WaveStatus,
)
from bot.domain.plans import WaveOptions
from tests.unit.builders import at, execution, job, observe, server_ids

LIMITS = Limits()
S0, S1 = server_ids("0", 2)


def ended(ex: Execution, *, launched: str = "LAUNCHED", failed: str = "FAILED", now: int = 600) -> Execution:
    """Wave 1 run to its end: S0 `launched`, S1 `failed` (as DescribeJobs says at `now`)."""
    ex = engine.start_execution(ex, at(0)).execution
    decision = engine.advance(ex, observe(), at(1), LIMITS)
    ex = engine.record_jobs_started(decision.execution, [(decision.starts[0], "j0")], at(1)).execution
    status = "COMPLETED" if "IN_PROGRESS" not in (launched, failed) else "STARTED"
    return engine.advance(
        ex, observe(job("j0", status, **{S0: launched, S1: failed})), at(now), LIMITS
    ).execution


def test_a_scheduled_cleanup_waits_for_the_new_end_and_a_started_one_refuses_the_retry() -> None:
    drill = execution(2)
    drill = drill.model_copy(
        update={"plan_options": drill.plan_options.model_copy(update={"cleanup_after": 600})}
    )
    first = ended(drill)
    assert (
        first.status is ExecutionStatus.PARTIAL
        and first.cleanup
        and first.cleanup.status is CleanupStatus.SCHEDULED
    )

    due = cleanup.due(first, at(2000))
    assert due is not None
    refused = retry.retry(due.execution, None, "U1", at(2001), 100, {})
    assert refused.decision is None and refused.refusal and "cleaned up" in refused.refusal

    ruling = retry.retry(first, None, "U1", at(700), 100, {})
    assert ruling.decision is not None
    reopened = ruling.decision.execution
    assert reopened.status is ExecutionStatus.IN_PROGRESS and reopened.cleanup is None
    decision = engine.advance(reopened, observe(), at(701), LIMITS)
    assert [ref.chunk for ref in decision.starts] == [1]  # the appended chunk, S1 alone
    ex = engine.record_jobs_started(decision.execution, [(decision.starts[0], "j1")], at(702)).execution
    final = engine.advance(
        ex, observe(job("j1", "COMPLETED", **{S1: "LAUNCHED"})), at(1300), LIMITS
    ).execution
    assert final.status is ExecutionStatus.COMPLETED
    assert final.cleanup and final.cleanup.due_at == at(1900)  # cleanup_after from the new end


def test_a_server_timed_out_here_is_not_launched_again_while_or_after_its_job_launches_it() -> None:
    short = execution(2)
    short = short.replace_wave(short.waves[0].model_copy(update={"options": WaveOptions(timeout=600)}))
    timed_out = ended(short, launched="LAUNCHED", failed="IN_PROGRESS", now=700)
    assert timed_out.waves[0].status is WaveStatus.PARTIAL

    running = {"j0": job("j0", "STARTED", **{S0: "LAUNCHED", S1: "IN_PROGRESS"})}
    held = retry.retry(timed_out, "1", "U1", at(800), 100, running)
    assert held.refusal == (
        "DRS is still running job(s) j0 that some of its failed servers timed out in; retry once DRS has ended them"
    )
    late = {"j0": job("j0", "COMPLETED", **{S0: "LAUNCHED", S1: "LAUNCHED"})}
    launched = retry.retry(timed_out, "1", "U1", at(800), 100, late)
    assert (
        launched.decision is None
        and launched.refusal
        and f"({S1}): nothing to launch again" in launched.refusal
    )
    failed = {"j0": job("j0", "COMPLETED", **{S0: "LAUNCHED", S1: "FAILED"})}
    assert retry.retry(timed_out, "1", "U1", at(800), 100, failed).decision is not None


def test_skipping_the_waiting_wave_schedules_the_next_from_the_skip() -> None:
    ex = execution(1, 1, 1)
    for index in (1, 2):
        ex = ex.replace_wave(ex.waves[index].model_copy(update={"options": WaveOptions(wait_before=300)}))
    ex = engine.start_execution(ex, at(0)).execution
    decision = engine.advance(ex, observe(), at(1), LIMITS)
    ex = engine.record_jobs_started(decision.execution, [(decision.starts[0], "j0")], at(1)).execution
    (first,) = ex.waves[0].servers()
    ex = engine.advance(
        ex, observe(job("j0", "COMPLETED", **{first.source_server_id: "LAUNCHED"})), at(600), LIMITS
    ).execution
    assert ex.waves[1].not_before == at(900)

    ruling = retry.skip(ex, "2", "U1", "", at(650))
    assert ruling.decision is not None
    skipped = ruling.decision.execution
    assert skipped.waves[1].status is WaveStatus.SKIPPED and skipped.actions[-1].reason == "no reason given"
    assert skipped.waves[2].not_before == at(950)
    assert [e.kind for e in ruling.decision.events][:2] == ["wave_skipped", "wave_scheduled"]
    assert retry.skip(skipped, "2", "U1", "", at(651)).refusal == "wave Wave 2 has already ended SKIPPED"
    assert retry.skip(skipped, "9", "U1", "", at(651)).refusal == (
        "it has no wave 9 (waves: 1 Wave 1, 2 Wave 2, 3 Wave 3)"
    )


def test_a_cancelled_execution_is_neither_retried_nor_skipped() -> None:
    first = ended(execution(2, 1))  # wave 2 still to come
    cancelling = engine.request_cancel(first, "U1", at(601)).execution
    assert (
        retry.retry(cancelling, "1", "U1", at(602), 100, {}).refusal
        == "it is being cancelled: nothing new starts"
    )
    assert retry.skip(cancelling, "2", "U1", "", at(602)).refusal == (
        "it is being cancelled: no further wave will run anyway"
    )


def test_a_completed_wave_or_an_ended_failback_is_not_retried() -> None:
    first = ended(execution(2))
    ruling = retry.retry(first, "1", "U1", at(700), 100, {})
    assert ruling.decision is not None
    again = engine.advance(ruling.decision.execution, observe(), at(701), LIMITS)
    ex = engine.record_jobs_started(again.execution, [(again.starts[0], "j1")], at(702)).execution
    completed = engine.advance(
        ex, observe(job("j1", "COMPLETED", **{S1: "LAUNCHED"})), at(1300), LIMITS
    ).execution
    assert completed.waves[0].status is WaveStatus.COMPLETED
    assert retry.retry(completed, "1", "U1", at(1400), 100, {}).refusal == (
        "it is COMPLETED: only a running execution, or one that ended PARTIAL or FAILED, can be retried"
    )

    failback = first.model_copy(
        update={
            "failback": FailbackRun(
                phase=FailbackPhase.REPROTECTING,
                recovery_execution_id="r1",
                sync_timeout_seconds=60,
                servers=(),
            )
        }
    )
    refusal = retry.retry(failback, "1", "U1", at(700), 100, {}).refusal
    assert refusal and "this failback has ended and re-protects what it launched" in refusal


def test_a_server_is_retried_twice_at_most_so_its_page_stays_under_dynamodbs_item_limit() -> None:
    ex = ended(execution(2))
    for attempt in range(1, retry.RETRIES_PER_SERVER + 1):
        ruling = retry.retry(ex, "1", "U1", at(1000 * attempt), 100, {})
        assert ruling.decision is not None, ruling.refusal
        decision = engine.advance(ruling.decision.execution, observe(), at(1000 * attempt + 1), LIMITS)
        ex = engine.record_jobs_started(
            decision.execution, [(decision.starts[0], f"j{attempt}")], at(1000 * attempt + 2)
        ).execution
        ex = engine.advance(
            ex, observe(job(f"j{attempt}", "COMPLETED", **{S1: "FAILED"})), at(1000 * attempt + 600), LIMITS
        ).execution
    (server,) = [s for s in ex.servers() if s.source_server_id == S1]
    assert [a.recovery_job_id for a in server.attempts] == ["j0", "j1"] and server.recovery_job_id == "j2"
    refusal = retry.retry(ex, "1", "U1", at(9000), 100, {}).refusal
    assert (
        refusal
        == "wave Wave 1's failed servers were retried 2 times already (the most an execution keeps); start a new execution for them"
    )

    # A full page: 200 servers, each failed with DRS's longest text after the most attempts.
    now, longest = at(0), "x" * ERROR_TEXT_LIMIT
    earlier = ServerAttempt(
        recovery_job_id="drsjob-" + "a" * 17,
        started_at=now,
        retried_at=now,
        error=longest[: retry.ATTEMPT_ERROR_LIMIT],
    )
    worst = ServerRun(
        source_server_id="s-" + "a" * 17,
        status=ServerStatus.FAILED,
        recovery_job_id="drsjob-" + "a" * 17,
        error=longest,
        snapshot_id="pit-" + "a" * 17,
        snapshot_time=now,
        attempts=(earlier,) * retry.RETRIES_PER_SERVER,
    )
    page = TypeAdapter(list[ServerRun]).dump_json([worst] * SERVERS_PER_PAGE, exclude_none=True)
    assert len(page) < 350_000  # DynamoDB's 400 KB, with room for the item's keys
