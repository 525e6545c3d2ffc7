"""Real recoveries need someone else's approval, through the card's buttons."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.domain.execution import Execution, ExecutionStatus, ExecutionType
from bot.domain.history import to_history
from bot.slack.ids import APPROVE_ACTION, PAUSE_ACTION, REASON_BLOCK, REASON_INPUT, REJECT_ACTION
from tests.e2e.conftest import APPROVER, LEAD_MEMBERS, Sandbox

REQUESTER = "U0REQUESTER"


def request_recovery(
    sandbox: Sandbox, channel: str, plan: str = "plan-x"
) -> tuple[Execution, dict[str, Any]]:
    reply = sandbox.command(f"execute {plan} recovery", channel=channel, user=REQUESTER)
    assert reply.status == 200
    assert f"Requesting approval for a recovery of `{plan}`" in reply.body["text"]
    sandbox.settle()
    execution = sandbox.stack.bot.store.latest_in_channel(channel)
    assert execution is not None and execution.status is ExecutionStatus.PENDING_APPROVAL
    (card,) = [m for m in sandbox.public(channel) if not m["thread_ts"]]
    return execution, card


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        element["action_id"]
        for block in message.get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def latest(message: dict[str, Any]) -> dict[str, Any]:
    return message["updates"][-1] if message.get("updates") else message


def launches(sandbox: Sandbox, execution_id: str) -> list[Any]:
    return [
        call
        for call in sandbox.stack.drs.calls
        if call.operation == "StartRecovery"
        and (call.params.get("tags") or {}).get("drs-chatops:execution") == execution_id
    ]


def test_a_recovery_waits_for_another_persons_approval_then_runs_for_real(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    execution, card = request_recovery(sandbox, channel)
    assert buttons(card) == [APPROVE_ACTION, REJECT_ACTION]
    assert "Approval needed: Recovery of `plan-x`" in card["blocks"][0]["text"]["text"]
    assert (
        f"<@{REQUESTER}>" in card["blocks"][1]["text"]["text"]
        and "*Servers:* 5" in card["blocks"][1]["text"]["text"]
    )
    assert launches(sandbox, execution.execution_id) == []

    # The requester cannot approve their own request; someone who is no approver cannot either.
    sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=REQUESTER)
    sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user="U0BYSTANDER")
    sandbox.settle()
    refusals = sandbox.ephemeral(channel)
    assert any("you cannot approve it" in text for text in refusals)
    assert any("You are not an approver" in text for text in refusals)
    assert sandbox.stored(execution.execution_id).status is ExecutionStatus.PENDING_APPROVAL

    sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=APPROVER)
    final = sandbox.finished_execution(channel)
    assert final.execution_type is ExecutionType.RECOVERY and final.status is ExecutionStatus.COMPLETED
    starts = launches(sandbox, execution.execution_id)
    assert len(starts) == 2 and all(call.params["isDrill"] is False for call in starts)
    card_now = latest(next(m for m in sandbox.public(channel) if m["ts"] == card["ts"]))
    assert buttons(card_now) == []  # decided: no more buttons
    assert f"Approved by <@{APPROVER}>" in str(card_now["blocks"])
    history = to_history(final)
    assert history["InitiatedBy"] == REQUESTER and history["Approvals"][0]["ApprovedBy"] == APPROVER


def test_a_rejection_asks_why_records_it_and_launches_nothing(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    execution, card = request_recovery(sandbox, channel)
    views_before = len(sandbox.stack.slack.views())
    sandbox.click(channel, card["ts"], REJECT_ACTION, execution.execution_id, user=LEAD_MEMBERS[0])
    views = sandbox.stack.slack.views()
    assert len(views) == views_before + 1
    modal = views[-1]
    values = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": "Region is healthy again"}}}
    reply = sandbox.submit(modal, values, user=LEAD_MEMBERS[0])
    assert reply.status == 200
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.REJECTED
    assert final.rejection is not None and final.rejection.reason == "Region is healthy again"
    assert launches(sandbox, execution.execution_id) == []
    card_now = latest(next(m for m in sandbox.public(channel) if m["ts"] == card["ts"]))
    assert buttons(card_now) == []
    assert "Rejected by <@U0LEAD000>: Region is healthy again" in str(card_now["blocks"])
    thread = "\n".join(m["text"] for m in sandbox.public(channel))
    assert "Nothing was launched" in thread
    # A late click on the decided card changes nothing.
    sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=APPROVER)
    sandbox.settle()
    assert any("already decided (REJECTED)" in text for text in sandbox.ephemeral(channel))
    assert sandbox.stored(execution.execution_id).status is ExecutionStatus.REJECTED


def test_fifty_approvers_clicking_at_once_start_exactly_one_execution(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    execution, card = request_recovery(sandbox, channel)

    def click(user: str) -> int:
        return sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=user).status

    with ThreadPoolExecutor(25) as pool:
        statuses = list(pool.map(click, LEAD_MEMBERS[:50]))
    assert statuses == [200] * 50
    final = sandbox.finished_execution(channel, timeout=90)
    assert final.status is ExecutionStatus.COMPLETED
    assert len(final.approvals) == 1  # the first valid click won
    assert len(launches(sandbox, execution.execution_id)) == 2  # one job per wave, once
    thread = [m["text"] for m in sandbox.public(channel) if m["thread_ts"]]
    assert sum("Approved by" in text for text in thread) == 1
    late = [text for text in sandbox.ephemeral(channel) if "already decided" in text]
    assert len(late) == 49
    # The card changed once for the decision: no re-render for the 49 clicks that lost. Decided, it has
    # no Approve or Reject any more (while the recovery runs, the anchor offers Pause: steering).
    versions = next(m for m in sandbox.public(channel) if m["ts"] == card["ts"])["updates"]
    assert all(buttons(version) in ([], [PAUSE_ACTION]) for version in versions)
    assert buttons(versions[-1]) == []  # ended
    assert f"Approved by <@{final.approvals[0].user_id}>" in str(versions[0]["blocks"])
