"""Hostile Slack through the whole stack: signed requests in, what the user is told and what DRS got out.
The war room and the archived channel are declared in the sandbox's config (tests/e2e/conftest.py)."""

from __future__ import annotations

import time

import pytest

from bot.domain.execution import Execution, ExecutionStatus
from bot.slack.ids import APPROVE_ACTION, REJECT_ACTION
from tests.e2e.conftest import APPROVER, ARCHIVED, WAR_ROOM, Sandbox
from tests.e2e.test_approvals import REQUESTER, launches, request_recovery
from tests.e2e.test_bad_input import slack_function_with

INVITE = "I am not a member of this channel: invite me with `/invite @DRS ChatOps`"


def ended(sandbox: Sandbox, channel: str, timeout: float = 60) -> Execution:
    """The channel's execution once it ended and is no longer ticked (its messages may wait)."""
    store = sandbox.stack.bot.store
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sandbox.settle()
        execution = store.latest_in_channel(channel)
        if execution and execution.status.is_terminal and execution.execution_id not in store.active_ids():
            return execution
        time.sleep(0.1)
    raise AssertionError(f"nothing ended in {channel}: {store.latest_in_channel(channel)!r}")


def test_a_recovery_requested_where_the_bot_cannot_post_says_so_and_holds_nothing(sandbox: Sandbox) -> None:
    reply = sandbox.command("execute plan-x recovery", channel=WAR_ROOM, user=REQUESTER)
    assert reply.status == 200
    withdrawn = ended(sandbox, WAR_ROOM)
    (told,) = sandbox.ephemeral(WAR_ROOM)
    assert told.startswith(f"Nothing was requested: {INVITE}, so nobody could see the approval card.")
    assert "`plan-x` is free" in told and "the card is in the channel" not in told
    assert withdrawn.status is ExecutionStatus.CANCELLED
    assert launches(sandbox, withdrawn.execution_id) == []
    # The plan is not held: a drill of it starts at once elsewhere.
    elsewhere = sandbox.new_channel()
    assert sandbox.command("execute plan-x drill", channel=elsewhere).status == 200
    assert sandbox.finished_execution(elsewhere).status is ExecutionStatus.COMPLETED


def test_a_drill_where_the_bot_is_not_invited_runs_and_its_messages_follow_the_invite(
    sandbox: Sandbox,
) -> None:
    channel = sandbox.new_channel()
    sandbox.stack.slack.add_channel(channel, is_member=False)
    assert sandbox.command("execute plan-slow drill", channel=channel).status == 200
    sandbox.settle()
    (told,) = sandbox.ephemeral(channel)
    assert "is running, but " + INVITE in told and "Its messages follow" in told
    assert sandbox.public(channel) == []
    sandbox.stack.slack.add_channel(channel, is_member=True)  # /invite, while the drill runs
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.COMPLETED and final.slack_blocked is None
    keys = [(m.get("metadata") or {}).get("event_payload", {}).get("key") for m in sandbox.public(channel)]
    assert len(keys) == len(set(keys)) and f"{final.execution_id}:anchor" in keys  # each once


def test_a_drill_in_an_archived_channel_runs_to_its_end_and_is_then_left_alone(sandbox: Sandbox) -> None:
    assert sandbox.command("execute plan-x drill", channel=ARCHIVED).status == 200
    final = ended(sandbox, ARCHIVED)
    (told,) = sandbox.ephemeral(ARCHIVED)
    assert "is running, but this channel is archived" in told
    assert final.status is ExecutionStatus.COMPLETED
    assert final.slack_blocked is not None and final.slack_blocked.error == "is_archived"
    assert len(launches(sandbox, final.execution_id)) == 2  # one job per wave: the drill itself ran
    refused = [c for c in sandbox.stack.slack.calls if c["outcome"] == "is_archived"]
    time.sleep(1)  # ticks would go on here, were it still ticked
    assert [c for c in sandbox.stack.slack.calls if c["outcome"] == "is_archived"] == refused
    sandbox.command(f"status {final.execution_id}", channel=ARCHIVED)
    sandbox.settle()
    status = sandbox.ephemeral(ARCHIVED)[-1]
    assert "COMPLETED" in status and "Slack refuses them (`is_archived`) since" in status


def test_approve_and_reject_obey_the_channel_allow_list(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = sandbox.new_channel()
    execution, card = request_recovery(sandbox, channel)
    # The policy changes after the card was posted: this channel is no longer allowed.
    policy = sandbox.stack.config.access_policy.model_copy(update={"allowed_channels": ["C0ELSEWHERE"]})
    views, before = len(sandbox.stack.slack.views()), len(sandbox.ephemeral(channel))
    with slack_function_with(monkeypatch, sandbox, DRS_BOT_ACCESS_POLICY=policy.model_dump_json()):
        sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=APPROVER)
        sandbox.click(channel, card["ts"], REJECT_ACTION, execution.execution_id, user=APPROVER)
    told = sandbox.ephemeral(channel)[before:]
    assert len(told) == 2 and all("cannot be decided from this channel" in text for text in told)
    assert len(sandbox.stack.slack.views()) == views  # no reason form was opened
    store = sandbox.stack.bot.store
    assert store.get(execution.execution_id).status is ExecutionStatus.PENDING_APPROVAL  # type: ignore[union-attr]
    # A click that names this request from another channel's message does not decide it either.
    other = sandbox.new_channel()
    sandbox.click(other, card["ts"], APPROVE_ACTION, execution.execution_id, user=APPROVER)
    sandbox.settle()
    assert any("cannot be decided from this channel" in text for text in sandbox.ephemeral(other))
    assert store.get(execution.execution_id).status is ExecutionStatus.PENDING_APPROVAL  # type: ignore[union-attr]
    assert launches(sandbox, execution.execution_id) == []
    sandbox.click(channel, card["ts"], REJECT_ACTION, execution.execution_id, user=APPROVER)
    sandbox.submit(sandbox.stack.slack.views()[-1], {}, user=APPROVER)
    assert sandbox.finished_execution(channel).status is ExecutionStatus.REJECTED


@pytest.mark.parametrize(
    ("kind", "why"), [("slow", "no answer within 1.5 s"), ("ratelimited", "Slack answered `ratelimited`")]
)
def test_a_slow_or_rate_limited_reason_form_is_answered_within_slacks_three_seconds(
    sandbox: Sandbox, kind: str, why: str
) -> None:
    channel = sandbox.new_channel()
    execution, card = request_recovery(sandbox, channel)
    before = len(sandbox.ephemeral(channel))
    sandbox.stack.slack.inject_fault("views.open", kind, delay=5, retry_after=30)
    began = time.monotonic()
    reply = sandbox.click(channel, card["ts"], REJECT_ACTION, execution.execution_id, user=APPROVER)
    took = time.monotonic() - began
    assert reply.status == 200
    assert took < 3, f"the click was answered after {took:.1f} s: Slack shows the user an error after 3"
    (told,) = sandbox.ephemeral(channel)[before:]
    assert (
        told
        == f"Slack did not open the rejection form in time ({why}); nothing changed. Click *Reject* again."
    )
    store = sandbox.stack.bot.store
    assert store.get(execution.execution_id).status is ExecutionStatus.PENDING_APPROVAL  # type: ignore[union-attr]
    # Clicking again works.
    sandbox.click(channel, card["ts"], REJECT_ACTION, execution.execution_id, user=APPROVER)
    sandbox.submit(sandbox.stack.slack.views()[-1], {}, user=APPROVER)
    assert sandbox.finished_execution(channel).status is ExecutionStatus.REJECTED
