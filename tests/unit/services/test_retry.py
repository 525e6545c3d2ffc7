"""Retry and skip through Controlling, over the fakes: who may, what DRS is asked, the plan's lock, and
that a repeat changes nothing."""

from __future__ import annotations

from bot.domain.approval import Vote
from bot.domain.execution import ActionKind, ExecutionStatus, ExecutionType, WaveStatus
from bot.services.controlling import ControlResult
from tests.unit.services.conftest import BOSS, DB, OPS, WEB, World


def test_retry_after_a_partial_end_launches_only_the_failed_and_runs_again_in_a_loop_of_its_own(
    world: World,
) -> None:
    world.drs.failing[WEB[0]] = "InsufficientInstanceCapacity"
    outcome = world.request(key="t-retry")
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    ended = world.run(execution_id)
    assert ended.status is ExecutionStatus.PARTIAL
    assert world.store.plan_holder("plan-x") is None  # the end freed the plan

    del world.drs.failing[WEB[0]]
    retried = world.use_cases().controlling.retry(execution_id, OPS)
    assert retried.result is ControlResult.DONE and retried.reopened
    assert world.store.plan_holder("plan-x") == execution_id  # held again while it runs
    assert world.trigger.started[-1] == f"{execution_id}-retry-1"  # a closed loop's name is not reused
    again = world.use_cases().controlling.retry(execution_id, OPS)
    assert again.result is ControlResult.REFUSED and again.refusal == "no wave has failed servers to retry"
    again_by_wave = world.use_cases().controlling.retry(execution_id, OPS, "Web")
    assert again_by_wave.refusal == "wave Web is still running: retry its failed servers once it ends"

    final = world.run(execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    assert [set(job.server_ids) for job in world.drs.started()] == [set(DB), set(WEB), {WEB[0]}]
    (server,) = [s for s in final.servers() if s.source_server_id == WEB[0]]
    (attempt,) = server.attempts
    assert attempt.error and "InsufficientInstanceCapacity" in attempt.error
    assert final.start_time == ended.start_time  # the RTO counts from the first start
    assert final.end_time and ended.end_time and final.end_time > ended.end_time
    assert world.store.plan_holder("plan-x") is None


def test_retry_is_refused_while_another_execution_holds_the_plan(world: World) -> None:
    world.drs.failing[DB[0]] = "no capacity"
    first = world.request(key="t-first").execution
    assert first is not None
    assert world.run(first.execution_id).status is ExecutionStatus.PARTIAL
    second = world.request(key="t-second").execution
    assert second is not None

    refused = world.use_cases().controlling.retry(first.execution_id, OPS, "1")
    assert refused.result is ControlResult.REFUSED
    assert (
        refused.refusal
        == f"plan plan-x is running again as {second.execution_id}; retry once that one has ended"
    )
    assert world.stored(first.execution_id).status is ExecutionStatus.PARTIAL
    assert world.store.plan_holder("plan-x") == second.execution_id


def test_a_recoverys_retry_and_skip_are_an_approvers(world: World) -> None:
    world.drs.failing[DB[0]] = "no capacity"
    outcome = world.request(ExecutionType.RECOVERY, key="t-rec")
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)
    skip_by_requester = world.use_cases().controlling.skip(execution_id, OPS, "2", "not needed")
    assert skip_by_requester.result is ControlResult.NOT_ALLOWED
    running_wave = world.use_cases().controlling.skip(execution_id, BOSS, "1")
    assert running_wave.result is ControlResult.REFUSED and "wave Databases is running" in (
        running_wave.refusal or ""
    )
    skipped = world.use_cases().controlling.skip(execution_id, BOSS, "Web", "  web is not needed  ")
    assert skipped.result is ControlResult.DONE
    final = world.run(execution_id)
    assert [w.status for w in final.waves] == [WaveStatus.PARTIAL, WaveStatus.SKIPPED]
    assert [(a.kind, a.user_id, a.reason) for a in final.actions][-1] == (
        ActionKind.SKIP,
        BOSS,
        "web is not needed",
    )
    assert world.use_cases().controlling.retry(execution_id, OPS).result is ControlResult.NOT_ALLOWED
    assert [set(job.server_ids) for job in world.drs.started()] == [set(DB)]
