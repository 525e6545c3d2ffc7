"""Two-person control, decided from plain data."""

from __future__ import annotations

from datetime import timedelta

from bot.domain import approval
from bot.domain.approval import Vote, VoteResult
from bot.domain.events import ApprovalExpired, ApprovalRecorded, ExecutionApproved, ExecutionStarted
from bot.domain.execution import Execution, ExecutionStatus, ExecutionType
from bot.domain.policy import AccessPolicy
from tests.unit.builders import at, execution

POLICY = AccessPolicy(recovery_requesters=["*"], approvers=["U0BOSS", "S0LEADS"])


def requested(policy: AccessPolicy = POLICY) -> Execution:
    ex = execution(2, kind=ExecutionType.RECOVERY)  # requested by U1
    return approval.request_approval(ex, policy, at(0)).execution


def test_a_request_waits_with_a_deadline() -> None:
    ex = requested()
    assert ex.status is ExecutionStatus.PENDING_APPROVAL
    assert ex.approval_expires_at == at(0) + timedelta(minutes=30)


def test_an_approver_starts_the_execution_once() -> None:
    outcome = approval.vote(
        requested(), Vote.APPROVE, user_id="U0BOSS", groups=set(), policy=POLICY, now=at(5)
    )
    assert outcome.result is VoteResult.APPROVED and outcome.decision is not None
    started = outcome.decision.execution
    assert started.status is ExecutionStatus.IN_PROGRESS and started.start_time == at(5)
    kinds = [type(e) for e in outcome.decision.events]
    assert kinds[:2] == [ExecutionApproved, ExecutionStarted]
    again = approval.vote(
        started, Vote.APPROVE, user_id="U0OTHER", groups={"S0LEADS"}, policy=POLICY, now=at(6)
    )
    assert again.result is VoteResult.ALREADY_DECIDED and not again.changed


def test_membership_of_an_approver_group_counts() -> None:
    outcome = approval.vote(
        requested(), Vote.APPROVE, user_id="U0LEAD", groups={"S0LEADS"}, policy=POLICY, now=at(1)
    )
    assert outcome.result is VoteResult.APPROVED


def test_the_requester_cannot_approve_but_may_withdraw() -> None:
    ex = requested()
    selfish = approval.vote(ex, Vote.APPROVE, user_id="U1", groups={"S0LEADS"}, policy=POLICY, now=at(1))
    assert selfish.result is VoteResult.SELF_APPROVAL and not selfish.changed
    withdrawn = approval.vote(
        ex, Vote.REJECT, user_id="U1", groups=set(), policy=POLICY, now=at(2), reason="typo"
    )
    assert withdrawn.result is VoteResult.REJECTED and withdrawn.decision is not None
    assert withdrawn.decision.execution.status is ExecutionStatus.REJECTED


def test_someone_who_is_no_approver_can_neither_approve_nor_reject() -> None:
    ex = requested()
    for choice in Vote:
        outcome = approval.vote(ex, choice, user_id="U0RANDOM", groups=set(), policy=POLICY, now=at(1))
        assert outcome.result is VoteResult.NOT_ALLOWED and not outcome.changed


def test_two_of_n_needs_two_different_approvers() -> None:
    policy = POLICY.model_copy(update={"approvals_required": 2})
    ex = requested(policy)
    first = approval.vote(ex, Vote.APPROVE, user_id="U0BOSS", groups=set(), policy=policy, now=at(1))
    assert first.result is VoteResult.RECORDED and first.decision is not None
    assert isinstance(first.decision.events[0], ApprovalRecorded)
    ex = first.decision.execution
    assert ex.status is ExecutionStatus.PENDING_APPROVAL
    twice = approval.vote(ex, Vote.APPROVE, user_id="U0BOSS", groups=set(), policy=policy, now=at(2))
    assert twice.result is VoteResult.ALREADY_VOTED and not twice.changed
    second = approval.vote(ex, Vote.APPROVE, user_id="U0LEAD", groups={"S0LEADS"}, policy=policy, now=at(3))
    assert second.result is VoteResult.APPROVED and second.decision is not None
    assert [a.user_id for a in second.decision.execution.approvals] == ["U0BOSS", "U0LEAD"]


def test_a_request_expires_and_then_cannot_be_approved() -> None:
    ex = requested()
    assert approval.expire_if_due(ex, at(30 * 60 - 1)) is None
    expired = approval.expire_if_due(ex, at(30 * 60))
    assert expired is not None and expired.execution.status is ExecutionStatus.EXPIRED
    assert isinstance(expired.events[0], ApprovalExpired)
    late = approval.vote(ex, Vote.APPROVE, user_id="U0BOSS", groups=set(), policy=POLICY, now=at(30 * 60 + 5))
    assert late.result is VoteResult.EXPIRED and not late.changed


def test_a_rejection_keeps_who_when_and_why() -> None:
    outcome = approval.vote(
        requested(),
        Vote.REJECT,
        user_id="U0BOSS",
        groups=set(),
        policy=POLICY,
        now=at(9),
        reason="  not now  ",
    )
    assert outcome.decision is not None
    rejection = outcome.decision.execution.rejection
    assert rejection is not None and (rejection.user_id, rejection.at, rejection.reason) == (
        "U0BOSS",
        at(9),
        "not now",
    )


def test_a_decision_counts_only_on_its_own_card_in_an_allowed_channel() -> None:
    card = requested().model_copy(update={"channel_id": "C0DRILLS"})
    fenced = AccessPolicy(recovery_requesters=["*"], approvers=["U0BOSS"], allowed_channels=["C0DRILLS"])
    moved = fenced.model_copy(update={"allowed_channels": ["C0OTHER"]})  # changed after the request
    for channel, policy in (("C0OTHER", POLICY), ("C0OTHER", fenced), ("C0DRILLS", moved)):
        for choice in Vote:
            outcome = approval.vote(
                card, choice, user_id="U0BOSS", groups=set(), policy=policy, now=at(1), channel_id=channel
            )
            assert outcome.result is VoteResult.CHANNEL_NOT_ALLOWED and outcome.decision is None
    allowed = approval.vote(
        card, Vote.APPROVE, user_id="U0BOSS", groups=set(), policy=fenced, now=at(1), channel_id="C0DRILLS"
    )
    assert allowed.result is VoteResult.APPROVED
