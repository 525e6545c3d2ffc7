"""Approvals through the service on one manual clock: expiry, two approvers, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.approval import Vote, VoteResult
from bot.domain.execution import ExecutionStatus, ExecutionType
from bot.domain.policy import AccessPolicy
from bot.services.requesting import RequestResult
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import CHANNEL, World, build_world
from tests.unit.builders import catalog


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, catalog(2), slack)
    yield built
    server.stop()


def request(world: World, key: str = "r1") -> str:
    outcome = world.use_cases().requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.RECOVERY,
        user_id="U0REQ",
        channel_id=CHANNEL,
        request_key=key,
    )
    assert outcome.result is RequestResult.APPROVAL_REQUESTED and outcome.execution is not None
    return outcome.execution.execution_id


def test_an_unapproved_request_expires_frees_the_plan_and_the_card_says_so(world: World) -> None:
    execution_id = request(world)
    world.clock.advance(29 * 60)
    assert not world.use_cases().ticking.tick(execution_id).finished
    world.clock.advance(60)
    final = world.run(world.use_cases(), execution_id)
    assert final.status is ExecutionStatus.EXPIRED
    late = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, "U0BOSS")
    assert late.outcome.result is VoteResult.ALREADY_DECIDED
    assert [c for c in world.emulator.calls if c.operation == "StartRecovery"] == []
    anchor = next(m for m in world.slack.messages(CHANNEL) if not m["thread_ts"])
    assert "Expired at" in str(anchor["updates"][-1]["blocks"])
    assert request(world, "r2")  # the plan is free again


def test_two_of_n_needs_two_different_approvers(world: World) -> None:
    world.policy = AccessPolicy(recovery_requesters=["*"], approvers=["U0A", "U0B"], approvals_required=2)
    execution_id = request(world)
    first = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, "U0A")
    assert first.outcome.result is VoteResult.RECORDED
    again = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, "U0A")
    assert again.outcome.result is VoteResult.ALREADY_VOTED
    assert world.stored(execution_id).status is ExecutionStatus.PENDING_APPROVAL
    second = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, "U0B")
    assert second.outcome.result is VoteResult.APPROVED
    final = world.run(world.use_cases(), execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    assert [a.user_id for a in final.approvals] == ["U0A", "U0B"]
    thread = "\n".join(m["text"] for m in world.slack.messages(CHANNEL))
    assert "Approved by <@U0A> (1/2); waiting for another approver." in thread


def test_no_approvers_configured_means_no_recovery(world: World) -> None:
    world.policy = AccessPolicy(recovery_requesters=["*"])
    outcome = world.use_cases().requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.RECOVERY,
        user_id="U0REQ",
        channel_id=CHANNEL,
        request_key="x",
    )
    assert outcome.result is RequestResult.NO_APPROVERS
    assert world.store().latest_in_channel(CHANNEL) is None


def test_who_may_request_and_where_is_configuration(world: World) -> None:
    world.policy = AccessPolicy(
        drill_runners=["U0DRILLER"],
        recovery_requesters=["U0LEAD"],
        approvers=["U0BOSS"],
        allowed_channels=["C0OK"],
    )
    use_cases = world.use_cases()

    def ask(kind: ExecutionType, user: str, channel: str) -> RequestResult:
        return use_cases.requesting.request(
            plan_name="plan-x",
            execution_type=kind,
            user_id=user,
            channel_id=channel,
            request_key=f"{user}{channel}",
        ).result

    assert ask(ExecutionType.DRILL, "U0DRILLER", "C0ELSEWHERE") is RequestResult.CHANNEL_NOT_ALLOWED
    assert ask(ExecutionType.DRILL, "U0SOMEONE", "C0OK") is RequestResult.NOT_ALLOWED
    assert ask(ExecutionType.RECOVERY, "U0DRILLER", "C0OK") is RequestResult.NOT_ALLOWED
    assert world.store().latest_in_channel("C0OK") is None
    assert ask(ExecutionType.RECOVERY, "U0LEAD", "C0OK") is RequestResult.APPROVAL_REQUESTED


def test_only_the_requester_or_an_approver_may_cancel_and_a_pending_request_ends_at_once(
    world: World,
) -> None:
    from bot.services.controlling import CancelResult

    world.policy = AccessPolicy(drill_runners=["*"], recovery_requesters=["*"], approvers=["U0BOSS"])
    execution_id = request(world)
    refused = world.use_cases().controlling.cancel(execution_id, "U0PASSERBY")
    assert refused.result is CancelResult.NOT_ALLOWED
    assert world.stored(execution_id).status is ExecutionStatus.PENDING_APPROVAL
    withdrawn = world.use_cases().controlling.cancel(execution_id, "U0REQ")
    assert withdrawn.result is CancelResult.CANCELLING
    final = world.store().get(execution_id)
    assert final is not None and final.status is ExecutionStatus.CANCELLED
    late = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, "U0BOSS")
    assert late.outcome.result is VoteResult.ALREADY_DECIDED
    assert [c for c in world.emulator.calls if c.operation == "StartRecovery"] == []
    anchor = next(m for m in world.slack.messages(CHANNEL) if not m["thread_ts"])
    assert "drs_approve" not in str(anchor["updates"][-1]["blocks"])  # the buttons are gone
    assert request(world, "again")  # the plan is free
