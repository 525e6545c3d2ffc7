"""Readiness before launch: a BLOCKED drill does not start without --force; approvers see the verdict."""

from __future__ import annotations

from bot.domain.approval import Vote
from bot.domain.execution import ExecutionStatus
from tests.e2e.conftest import STALLED_SERVER, Sandbox


def test_check_reports_the_verdict_with_its_reasons(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("check plan-stalled", channel=channel)
    sandbox.command("check plan-x", channel=channel)
    sandbox.settle()
    # The two lazy follow-ups run concurrently: tell them apart by their plan.
    stalled = next(text for text in sandbox.ephemeral(channel) if "plan-stalled" in text)
    healthy = next(text for text in sandbox.ephemeral(channel) if "`plan-x`" in text)
    assert stalled.startswith(":red_circle: *Readiness: BLOCKED* for `plan-stalled`")
    assert "BLOCKED: replication is STALLED" in stalled and STALLED_SERVER in stalled
    assert "_2 servers checked._" in stalled
    # plan-x is healthy; drills earlier in this session may have left instances running (a warning).
    assert healthy.startswith(
        (
            ":large_green_circle: *Readiness: READY* for `plan-x`",
            ":large_yellow_circle: *Readiness: WARN* for `plan-x`",
        )
    )
    if "WARN" in healthy:
        assert "drill instances from an earlier drill still run" in healthy
    assert sandbox.public(channel) == []


def test_a_blocked_drill_does_not_start_and_says_how_to_force_it(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    sandbox.command("execute plan-stalled drill", channel=channel)
    sandbox.settle()
    (refusal,) = sandbox.ephemeral(channel)
    assert "Readiness: BLOCKED" in refusal and STALLED_SERVER in refusal
    assert "`/drs execute plan-stalled drill --force`" in refusal
    assert sandbox.stack.bot.store.latest_in_channel(channel) is None
    assert [c for c in sandbox.stack.drs.calls[before:] if c.operation == "StartRecovery"] == []
    assert sandbox.public(channel) == []

    # Slack may turn the typed "--" into an em dash: it still counts.
    sandbox.command("execute plan-stalled drill \u2014force", channel=channel)
    final = sandbox.finished_execution(channel)
    assert final.readiness is not None and final.readiness.forced
    thread = "\n".join(m["text"] for m in sandbox.public(channel))
    assert "Readiness: BLOCKED — started anyway (--force)" in thread


def test_a_recovery_card_shows_the_verdict_to_the_approvers(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-stalled recovery", channel=channel, user="U0REQUESTER")
    sandbox.settle()
    (card,) = [m for m in sandbox.public(channel) if not m["thread_ts"]]
    assert "Readiness: BLOCKED" in str(card["blocks"]) and STALLED_SERVER in str(card["blocks"])
    execution = sandbox.stack.bot.store.latest_in_channel(channel)
    assert execution is not None and execution.status is ExecutionStatus.PENDING_APPROVAL
    sandbox.stack.bot.use_cases.controlling.vote(
        execution.execution_id, Vote.REJECT, "U0REQUESTER", "test over"
    )
    assert sandbox.finished_execution(channel).status is ExecutionStatus.REJECTED
