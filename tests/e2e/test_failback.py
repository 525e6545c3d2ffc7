"""A recovery and its failback rehearsed through the sandbox: Slack commands and clicks, the Lambda
handlers, the Step Functions loop's ticks and the DRS-events ticks running side by side, as on AWS."""

from __future__ import annotations

import time
from typing import Any

from bot.domain.execution import Execution, ExecutionStatus, FailbackPhase
from bot.slack.ids import APPROVE_ACTION
from tests.e2e.conftest import APPROVER, NOT_READY_TO_REVERSE, Sandbox

REQUESTER = "U0REQUESTER"
ORIGIN_REGION = "us-west-2"


def approved(sandbox: Sandbox, channel: str, kind: str) -> str:
    reply = sandbox.command(f"execute plan-back {kind}", channel=channel, user=REQUESTER)
    assert reply.status == 200 and "Requesting approval" in reply.body["text"], reply.body
    sandbox.settle()
    pending = sandbox.stack.bot.store.latest_in_channel(channel)
    assert pending is not None and pending.status is ExecutionStatus.PENDING_APPROVAL
    card = next(m for m in sandbox.public(channel) if not m["thread_ts"] and m["ts"] == pending.anchor_ts)
    sandbox.click(channel, card["ts"], APPROVE_ACTION, pending.execution_id, user=APPROVER)
    return pending.execution_id


def approved_and_finished(sandbox: Sandbox, channel: str, kind: str) -> Execution:
    return finished(sandbox, approved(sandbox, channel, kind), kind)


def finished(sandbox: Sandbox, execution_id: str, kind: str) -> Execution:
    store = sandbox.stack.bot.store
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        sandbox.settle()
        execution = store.get(execution_id)
        run = execution.failback if execution else None
        if (
            execution is not None
            and execution.status.is_terminal
            and (run is None or run.phase is FailbackPhase.DONE)
            and not store.pending_events(execution.execution_id)
        ):
            return execution
        time.sleep(0.1)
    raise AssertionError(f"{kind} of plan-back did not finish: {store.get(execution_id)!r}")


def reverse_calls(sandbox: Sandbox, instances: set[str]) -> dict[str, list[Any]]:
    calls: dict[str, list[Any]] = {}
    for call in sandbox.stack.drs.calls:
        if call.operation == "ReverseReplication" and call.params["recoveryInstanceID"] in instances:
            calls.setdefault(call.params["recoveryInstanceID"], []).append(call)
    return calls


def test_a_failback_rehearsed_in_the_sandbox_reverses_and_reprotects_each_instance_once(
    sandbox: Sandbox,
) -> None:
    sandbox.stack.drs.initialize_region(ORIGIN_REGION)  # DRS's prerequisite: both regions initialized
    channel = sandbox.new_channel()
    recovery = approved_and_finished(sandbox, channel, "recovery")
    assert recovery.status is ExecutionStatus.COMPLETED
    slow = next(s.instance_id for s in recovery.servers() if s.source_server_id == NOT_READY_TO_REVERSE)
    assert slow is not None
    # Not ready until DRS has said so once, however long a loaded machine takes to ask (its configured
    # hold is an emulated hour from the instance's start: 6 real seconds).
    sandbox.stack.drs.hold_reverse_readiness(slow)
    failback_id = approved(sandbox, channel, "failback")
    deadline = time.monotonic() + 60
    while not [
        c for c in reverse_calls(sandbox, {slow}).get(slow, []) if "not ready" in (c.error_message or "")
    ]:
        assert time.monotonic() < deadline, "the failback never asked DRS to reverse the slow instance"
        time.sleep(0.1)
    sandbox.stack.drs.hold_reverse_readiness(slow, 0)
    failback = finished(sandbox, failback_id, "failback")

    assert failback.status is ExecutionStatus.COMPLETED, failback
    assert failback.failback is not None and all(s.reprotected for s in failback.failback.servers)
    assert {w.region for w in failback.waves} == {ORIGIN_REGION}
    recovered = {s.instance_id for s in recovery.servers() if s.instance_id}
    launched_back = {s.instance_id for s in failback.servers() if s.instance_id}
    assert len(recovered) == len(launched_back) == 2
    calls = reverse_calls(sandbox, recovered | launched_back)
    assert set(calls) == recovered | launched_back
    for instance, made in calls.items():
        # One call took effect, and none came after it; before it only "not ready" refusals.
        assert made[-1].error is None, (instance, [c.error_message for c in made])
        assert all("not ready" in (c.error_message or "") for c in made[:-1]), (instance, made)
    assert len(calls[slow]) > 1  # DRS said "not ready" first; the bot asked again

    thread = "\n".join(m.get("text", "") for m in sandbox.messages(channel))
    assert "DRS is not ready to reverse replication for 1/2 recovery instance(s) yet" in thread
    assert "Reverse replication started for 2/2" in thread
    assert "Re-protect: 2/2" in thread
