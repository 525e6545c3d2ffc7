"""A recovery waits for an approver; the first valid decision wins."""

from __future__ import annotations

from bot.domain.approval import Vote, VoteResult
from bot.domain.execution import ExecutionStatus, ExecutionType, ServerStatus
from bot.services.requesting import RequestResult
from tests.unit.services.conftest import BOSS, OPS, World


def test_a_recovery_launches_nothing_until_an_approver_approves(world: World) -> None:
    outcome = world.request(ExecutionType.RECOVERY)

    assert outcome.result is RequestResult.APPROVAL_REQUESTED
    assert outcome.card_posted
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    world.use_cases().ticking.tick(execution_id)
    assert world.drs.started() == []
    assert world.stored(execution_id).status is ExecutionStatus.PENDING_APPROVAL

    own = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, OPS)
    assert own.outcome.result is VoteResult.SELF_APPROVAL
    assert world.drs.started() == []

    approved = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)
    assert approved.outcome.result is VoteResult.APPROVED
    # The approval's own tick started the first wave, as a recovery (not a drill).
    assert [job.is_drill for job in world.drs.started()] == [False]

    final = world.run(execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    assert {server.status for server in final.servers()} == {ServerStatus.LAUNCHED}
    assert [approval.user_id for approval in final.approvals] == [BOSS]


def test_a_rejected_recovery_ends_with_the_reason_and_launches_nothing(world: World) -> None:
    outcome = world.request(ExecutionType.RECOVERY)
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id

    rejected = world.use_cases().controlling.vote(execution_id, Vote.REJECT, BOSS, reason="change freeze")
    late = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)

    assert rejected.outcome.result is VoteResult.REJECTED
    assert late.outcome.result is VoteResult.ALREADY_DECIDED
    final = world.run(execution_id)
    assert final.status is ExecutionStatus.REJECTED
    assert world.drs.started() == []
    assert world.store.plan_holder("plan-x") is None  # the plan is free again


def test_an_approval_that_expires_frees_the_plan(world: World) -> None:
    outcome = world.request(ExecutionType.RECOVERY)
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id

    world.clock.advance(world.policy.approval_timeout_minutes * 60 + 1)
    final = world.run(execution_id)

    assert final.status is ExecutionStatus.EXPIRED
    late = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)
    assert late.outcome.result is not VoteResult.APPROVED
    assert world.drs.started() == []
