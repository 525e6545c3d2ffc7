"""Two-person control for real recoveries: who may decide, the first valid decision wins, expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain import engine
from bot.domain.engine import Decision, EventLog
from bot.domain.events import (
    ApprovalExpired,
    ApprovalRecorded,
    ApprovalRequested,
    ExecutionApproved,
    ExecutionRejected,
)
from bot.domain.execution import Action, ActionKind, Approval, Execution, ExecutionStatus, Rejection
from bot.domain.frozen import Frozen
from bot.domain.policy import AccessPolicy
from bot.domain.transitions import EXECUTION, IllegalTransition, move_execution

REASON_LIMIT = 500


class Vote(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class VoteResult(StrEnum):
    APPROVED = "approved"  # the last approval needed: the execution starts
    RECORDED = "recorded"  # an approval, more are needed
    REJECTED = "rejected"
    SELF_APPROVAL = "self_approval"
    NOT_ALLOWED = "not_allowed"
    ALREADY_VOTED = "already_voted"
    ALREADY_DECIDED = "already_decided"
    EXPIRED = "expired"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"  # clicked where the policy allows no /drs, or not on its card


class VoteOutcome(Frozen):
    result: VoteResult
    decision: Decision | None = None  # what to save, when the vote changed something

    @property
    def changed(self) -> bool:
        return self.decision is not None


def request_approval(execution: Execution, policy: AccessPolicy, now: datetime) -> Decision:
    """A RECOVERY or FAILBACK waits for approval by someone other than the requester."""
    expires_at = now + timedelta(minutes=policy.approval_timeout_minutes)
    if execution.status is not ExecutionStatus.PENDING_APPROVAL:  # laid out so by new_execution
        raise IllegalTransition(EXECUTION.kind, execution.status, ExecutionStatus.PENDING_APPROVAL)
    pending = execution.model_copy(
        update={"approvals_required": policy.approvals_required, "approval_expires_at": expires_at}
    )
    events = EventLog(pending)
    events.add(
        ApprovalRequested,
        at=now,
        execution_id=execution.execution_id,
        plan_name=execution.plan_name,
        execution_type=execution.execution_type,
        requested_by=execution.initiated_by,
        approvers=list(policy.approvers),
        approvals_required=policy.approvals_required,
        expires_at=expires_at,
    )
    return Decision(execution=events.stamp(pending), events=tuple(events.items))


def vote(
    execution: Execution,
    choice: Vote,
    *,
    user_id: str,
    groups: set[str],
    policy: AccessPolicy,
    now: datetime,
    reason: str = "",
    channel_id: str | None = None,
) -> VoteOutcome:
    """`channel_id`: where the click came from (None: not from Slack). A decision counts only on the
    request's own card, in a channel the access policy allows."""
    if channel_id is not None and (
        channel_id != execution.channel_id or not policy.channel_allowed(channel_id)
    ):
        return VoteOutcome(result=VoteResult.CHANNEL_NOT_ALLOWED)
    if execution.status is not ExecutionStatus.PENDING_APPROVAL:
        return VoteOutcome(result=VoteResult.ALREADY_DECIDED)
    if execution.approval_expires_at is not None and now >= execution.approval_expires_at:
        return VoteOutcome(result=VoteResult.EXPIRED)
    is_requester = user_id == execution.initiated_by
    if choice is Vote.REJECT:
        # The requester may withdraw their own request; otherwise only approvers decide.
        if not (is_requester or policy.may_approve(user_id, groups)):
            return VoteOutcome(result=VoteResult.NOT_ALLOWED)
        return VoteOutcome(result=VoteResult.REJECTED, decision=_reject(execution, user_id, reason, now))
    if is_requester:
        return VoteOutcome(result=VoteResult.SELF_APPROVAL)
    if not policy.may_approve(user_id, groups):
        return VoteOutcome(result=VoteResult.NOT_ALLOWED)
    if any(approval.user_id == user_id for approval in execution.approvals):
        return VoteOutcome(result=VoteResult.ALREADY_VOTED)
    approvals = (*execution.approvals, Approval(user_id=user_id, at=now))
    approved = execution.model_copy(update={"approvals": approvals}).acted(
        Action(user_id=user_id, kind=ActionKind.APPROVE, at=now)
    )
    events = EventLog(approved)
    if len(approvals) < execution.approvals_required:
        events.add(
            ApprovalRecorded,
            at=now,
            execution_id=execution.execution_id,
            approved_by=user_id,
            approvals=len(approvals),
            approvals_required=execution.approvals_required,
        )
        decision = Decision(execution=events.stamp(approved, execution, now), events=tuple(events.items))
        return VoteOutcome(result=VoteResult.RECORDED, decision=decision)
    events.add(
        ExecutionApproved,
        at=now,
        execution_id=execution.execution_id,
        approved_by=[approval.user_id for approval in approvals],
    )
    recorded = events.stamp(approved)
    started = engine.start_execution(recorded, now)
    decision = Decision(execution=started.execution, events=(*events.items, *started.events))
    return VoteOutcome(result=VoteResult.APPROVED, decision=decision)


def expire_if_due(execution: Execution, now: datetime) -> Decision | None:
    if execution.status is not ExecutionStatus.PENDING_APPROVAL or execution.approval_expires_at is None:
        return None
    if now < execution.approval_expires_at:
        return None
    expired = move_execution(execution, ExecutionStatus.EXPIRED, now)
    events = EventLog(expired)
    events.add(ApprovalExpired, at=now, execution_id=execution.execution_id, expired_at=now)
    return Decision(execution=events.stamp(expired, execution, now), events=tuple(events.items))


def _reject(execution: Execution, user_id: str, reason: str, now: datetime) -> Decision:
    reason = (reason.strip() or "no reason given")[:REASON_LIMIT]
    rejection = Rejection(user_id=user_id, at=now, reason=reason)
    acted = execution.acted(Action(user_id=user_id, kind=ActionKind.REJECT, at=now, reason=reason))
    rejected = move_execution(acted, ExecutionStatus.REJECTED, now, rejection=rejection)
    events = EventLog(rejected)
    events.add(
        ExecutionRejected, at=now, execution_id=execution.execution_id, rejected_by=user_id, reason=reason
    )
    return Decision(execution=events.stamp(rejected, execution, now), events=tuple(events.items))
