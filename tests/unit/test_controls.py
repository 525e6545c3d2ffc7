"""Who may steer an execution (the permission table) and the record every control leaves."""

from __future__ import annotations

import pytest

from bot.domain import approval, cleanup, engine
from bot.domain.approval import Vote
from bot.domain.execution import ActionKind, Execution, ExecutionStatus, ExecutionType
from bot.domain.history import to_history
from bot.domain.policy import CONTROLS, AccessPolicy, may_control
from bot.domain.transitions import move_execution
from tests.unit.builders import at, execution

POLICY = AccessPolicy(drill_runners=["U0RUNNER"], recovery_requesters=["*"], approvers=["U0REQ", "U0BOSS"])


def recovery() -> Execution:
    requested = execution(2, kind=ExecutionType.RECOVERY).model_copy(update={"initiated_by": "U0REQ"})
    return approval.request_approval(requested, POLICY, at(0)).execution


@pytest.mark.parametrize("kind", list(CONTROLS))
def test_on_a_drill_the_requester_approvers_and_drill_runners_may_steer_and_nobody_else(
    kind: ActionKind,
) -> None:
    drill = execution(2)  # requested by U1
    for user in ("U1", "U0BOSS", "U0RUNNER"):
        assert may_control(POLICY, kind, drill, user, set())
    assert not may_control(POLICY, kind, drill, "U0STRANGER", set())


def test_on_a_recovery_continue_needs_an_approver_other_than_the_requester() -> None:
    ex = recovery()  # U0REQ requested it and is an approver too
    assert not may_control(POLICY, ActionKind.CONTINUE, ex, "U0REQ", set())
    assert may_control(POLICY, ActionKind.CONTINUE, ex, "U0BOSS", set())
    assert not may_control(POLICY, ActionKind.CONTINUE, ex, "U0RUNNER", set())


@pytest.mark.parametrize("kind", [ActionKind.RETRY, ActionKind.SKIP])
def test_on_a_recovery_retry_and_skip_are_approver_actions(kind: ActionKind) -> None:
    ex = recovery().model_copy(update={"initiated_by": "U0OTHER"})
    assert may_control(POLICY, kind, ex, "U0BOSS", set())
    assert not may_control(POLICY, kind, ex, "U0OTHER", set())
    assert not may_control(POLICY, kind, ex, "U0RUNNER", set())


@pytest.mark.parametrize("kind", [ActionKind.CANCEL, ActionKind.PAUSE, ActionKind.RESUME, ActionKind.STOP])
def test_on_a_recovery_the_requester_or_an_approver_may_pause_stop_or_cancel(kind: ActionKind) -> None:
    ex = recovery().model_copy(update={"initiated_by": "U0OTHER"})
    assert may_control(POLICY, kind, ex, "U0OTHER", set())
    assert may_control(POLICY, kind, ex, "U0BOSS", set())
    assert not may_control(POLICY, kind, ex, "U0RUNNER", set())


def test_every_control_is_kept_in_order_with_who_when_and_why_and_stored_in_the_history() -> None:
    ex = recovery()
    approved = approval.vote(ex, Vote.APPROVE, user_id="U0BOSS", groups=set(), policy=POLICY, now=at(5))
    assert approved.decision is not None
    cancelled = engine.request_cancel(approved.decision.execution, "U0BOSS", at(9)).execution
    assert [(a.kind, a.user_id, a.at) for a in cancelled.actions] == [
        (ActionKind.APPROVE, "U0BOSS", at(5)),
        (ActionKind.CANCEL, "U0BOSS", at(9)),
    ]
    rejected = approval.vote(
        recovery(), Vote.REJECT, user_id="U0BOSS", groups=set(), policy=POLICY, now=at(3), reason="not now"
    )
    assert rejected.decision is not None
    stored = to_history(rejected.decision.execution)["Actions"]
    assert stored == [
        {"Who": "U0BOSS", "What": "REJECT", "Time": int(at(3).timestamp()), "Wave": None, "Reason": "not now"}
    ]


def test_a_cleanup_click_is_recorded_but_the_plans_cleanup_after_is_nobodys() -> None:
    ended = move_execution(execution(1), ExecutionStatus.COMPLETED, at(60))
    clicked = cleanup.request(ended, "U1", at(70)).decision
    automatic = cleanup.request(ended, None, at(70)).decision
    assert clicked is not None and automatic is not None
    assert [(a.kind, a.user_id) for a in clicked.execution.actions] == [(ActionKind.CLEANUP, "U1")]
    assert automatic.execution.actions == ()
