"""Cancel, one execution per plan, and history, through the real handler."""

from __future__ import annotations

import time

from bot.domain.execution import Execution, ExecutionStatus, WaveStatus
from tests.e2e.conftest import Sandbox


def running_execution(sandbox: Sandbox, channel: str) -> Execution:
    store = sandbox.stack.bot.store
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        sandbox.settle()
        execution = store.latest_in_channel(channel)
        if execution and execution.waves[0].job_ids:
            return execution
        time.sleep(0.05)
    raise AssertionError("the drill did not start")


def test_cancel_stops_what_has_not_started_and_follows_what_runs(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-slow drill", channel=channel)
    execution = running_execution(sandbox, channel)

    reply = sandbox.command(f"cancel {execution.execution_id[:8]}", channel=channel, user="U0BOB")
    assert reply.status == 200
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.CANCELLED
    assert final.waves[0].status is WaveStatus.COMPLETED  # the running job was followed to its end
    assert final.waves[1].status is WaveStatus.SKIPPED and not final.waves[1].job_ids
    assert any(f"Cancelling `{execution.execution_id}`" in text for text in sandbox.ephemeral(channel))
    thread = "\n".join(m["text"] for m in sandbox.public(channel))
    assert "Cancel requested by <@U0BOB>" in thread
    assert "Skipped After: the execution was cancelled" in thread
    assert "Drill of plan-slow CANCELLED" in thread


def test_a_plan_runs_once_at_a_time(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-slow drill", channel=channel)
    execution = running_execution(sandbox, channel)
    other = sandbox.new_channel()
    sandbox.command("execute plan-slow drill", channel=other)
    sandbox.settle()
    (refusal,) = sandbox.ephemeral(other)
    assert f"`plan-slow` is already running: `{execution.execution_id}`" in refusal
    assert f"<#{channel}>" in refusal and f"/drs cancel {execution.execution_id}" in refusal
    assert sandbox.public(other) == []
    sandbox.command(f"cancel {execution.execution_id}", channel=channel)
    sandbox.finished_execution(channel)


def test_history_lists_a_plans_executions_newest_first(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-flaky drill", channel=channel)
    first = sandbox.finished_execution(channel)
    sandbox.command("execute plan-flaky drill", channel=channel)
    deadline = time.monotonic() + 30
    while (second := sandbox.finished_execution(channel)).execution_id == first.execution_id:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sandbox.command("history plan-flaky", channel=channel)
    sandbox.settle()
    listing = sandbox.ephemeral(channel)[-1]
    assert listing.startswith("*Recent executions of `plan-flaky`*")
    assert listing.index(second.execution_id) < listing.index(first.execution_id)
    assert "PARTIAL, 1/2 launched, 1 failed" in listing


def test_plans_and_one_plan_are_described_and_a_near_miss_gets_did_you_mean(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("plans", channel=channel)
    sandbox.settle()
    sandbox.command("PLAN plan-x", channel=channel)
    sandbox.settle()
    sandbox.command("plan plan-xx", channel=channel)
    sandbox.settle()
    listing, plan, miss = sandbox.ephemeral(channel)[-3:]
    assert "• `plan-x` — Payments stack (2 waves, 5 servers)" in listing
    assert "1. *Databases* — `db-tier`: 2 servers in us-east-1" in plan
    assert "2 waves, 5 servers. Run a drill: `/drs execute plan-x drill`" in plan
    assert miss.startswith("There is no plan `plan-xx`. Did you mean `plan-x`?")
    assert sandbox.public(channel) == []


def test_cleanup_of_a_drill_through_slack(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-flaky drill", channel=channel)
    drill = sandbox.finished_execution(channel)
    sandbox.command(f"cleanup {drill.execution_id[:7]}", channel=channel)
    store = sandbox.stack.bot.store
    deadline = time.monotonic() + 30
    while (
        (cleaned := sandbox.stored(drill.execution_id)).cleanup is None
        or cleaned.cleanup.status.value != "DONE"
        or store.pending_events(drill.execution_id)  # and its messages are in the thread
    ):
        assert time.monotonic() < deadline, cleaned.cleanup
        sandbox.settle()
        time.sleep(0.1)
    assert any(f"Cleaning up `{drill.execution_id}`" in text for text in sandbox.ephemeral(channel))
    thread = "\n".join(m["text"] for m in sandbox.public(channel))
    # One server of plan-flaky failed to launch: only the launched one had an instance to terminate.
    assert "Cleanup done: 1 drill instance(s) terminated" in thread
    sandbox.command("cleanup nosuchid", channel=channel)
    sandbox.settle()
    assert "There is no execution `nosuchid`" in sandbox.ephemeral(channel)[-1]


def test_an_id_prefix_two_executions_share_is_refused_by_name_and_a_longer_one_works(
    sandbox: Sandbox,
) -> None:
    from bot.services.requesting import execution_id_for

    # Two Slack requests whose executions' ids begin with the same 6 characters (found by search).
    first, second = execution_id_for("trigger-3362"), execution_id_for("trigger-5584")
    assert first[:6] == second[:6] and first != second
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x recovery", channel=channel, trigger_id="trigger-3362")
    sandbox.command("execute plan-flaky recovery", channel=channel, trigger_id="trigger-5584")
    sandbox.settle()
    try:
        sandbox.command(f"status {first[:6]}", channel=channel)
        sandbox.settle()
        ambiguous = sandbox.ephemeral(channel)[-1]
        sandbox.command(f"status {first[:8]}", channel=channel)
        sandbox.settle()
        status = sandbox.ephemeral(channel)[-1]
        assert ambiguous.startswith(f"`{first[:6]}` is the start of 2 executions in this channel")
        assert f"`{first}`" in ambiguous and f"`{second}`" in ambiguous and "type more of the id" in ambiguous
        assert first in status and "plan-x" in status
    finally:  # the pending requests would hold both plans for the tests after this one
        for execution_id in (first, second):
            sandbox.command(f"cancel {execution_id}", channel=channel)
        sandbox.settle()
