"""Readiness with an rpo_target: what may hold a launch back is checked before it, from batched calls;
the recovery snapshot ages (one DRS call per server) are read after the first StartRecovery and
reported as they arrive: in the thread, on the approval card, in /drs status and in the history.

The drill comes last: its launch takes fresh snapshots, which the other tests must not see."""

from __future__ import annotations

import time
from datetime import datetime

from bot.adapters.dynamodb import DynamoExecutionStore
from bot.domain.approval import Vote
from bot.domain.execution import Execution, ExecutionStatus
from tests.e2e.conftest import BEHIND_SERVER, LAGGING_SERVER, Sandbox

LAGGING = LAGGING_SERVER
BEHIND = BEHIND_SERVER
PLAN_RPO_SERVERS = 5
REQUESTER = "U0REQUESTER"


def _store(sandbox: Sandbox) -> DynamoExecutionStore:
    return sandbox.stack.bot.store


def test_check_answers_the_verdict_first_and_the_snapshot_ages_after(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("check plan-rpo", channel=channel)
    sandbox.settle()
    verdict, ages = sandbox.ephemeral(channel)
    assert verdict.startswith(":large_yellow_circle: *Readiness: WARN* for `plan-rpo`")
    assert f"replication lag is over the plan's rpo_target of 15 min — 1 server(s): {LAGGING}" in verdict
    assert "_Recovery snapshot ages (rpo_target 15 min) take one DRS call per server: they follow" in verdict
    assert "newest recovery snapshot" not in verdict
    assert ages.startswith(":large_yellow_circle: *Readiness: WARN* for `plan-rpo`")
    assert f"WARN: newest recovery snapshot is older than 15 min — 1 server(s): {BEHIND}" in ages
    assert f"_Recovery snapshot ages of {PLAN_RPO_SERVERS:,} of {PLAN_RPO_SERVERS:,} servers read._" in ages

    channel = sandbox.new_channel()
    sandbox.command("check plan-fine", channel=channel)
    sandbox.settle()
    verdict, ages = sandbox.ephemeral(channel)
    assert verdict.startswith(":large_green_circle: *Readiness: READY* for `plan-fine`")
    assert ages.startswith(":large_green_circle: *Readiness: READY* for `plan-fine`")
    assert "recovery snapshot ages: all 2 servers have one newer than 15 min" in ages


def test_the_approval_card_shows_the_snapshot_ages_once_they_are_read(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-rpo recovery", channel=channel, user=REQUESTER)
    sandbox.settle()
    execution = _wait_for_ages(sandbox, channel)
    assert execution.status is ExecutionStatus.PENDING_APPROVAL  # nothing launched, ages read
    blocks = _wait_for_card(sandbox, channel, "newest recovery snapshot")
    assert "Readiness: WARN" in blocks
    assert f"replication lag is over the plan's rpo_target of 15 min — 1 server(s): {LAGGING}" in blocks
    assert f"newest recovery snapshot is older than 15 min — 1 server(s): {BEHIND}" in blocks
    ours = {server.source_server_id for server in execution.servers()}
    launched = {
        s["sourceServerID"]
        for c in sandbox.stack.drs.calls
        if c.operation == "StartRecovery"
        for s in c.params.get("sourceServers") or []
    }
    assert not ours & launched
    assert sandbox.stack.container is not None
    sandbox.stack.bot.use_cases.controlling.vote(execution.execution_id, Vote.REJECT, REQUESTER, "test over")
    assert sandbox.finished_execution(channel).status is ExecutionStatus.REJECTED


def test_a_drill_launches_before_its_snapshot_ages_are_read_and_reports_them_in_the_thread(
    sandbox: Sandbox,
) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    sandbox.command("execute plan-rpo drill", channel=channel)
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.COMPLETED

    # What DRS received: the checks that may hold a launch back in batches, then the first
    # StartRecovery, and only then one DescribeRecoverySnapshots per server, for snapshots taken by
    # the request (the one the launch takes itself says nothing about the data it launches from).
    calls = sandbox.stack.drs.calls[before:]
    operations = [call.operation for call in calls]
    first_start = operations.index("StartRecovery")
    assert "DescribeRecoverySnapshots" not in operations[:first_start]
    assert {"DescribeSourceServers", "DescribeJobs", "DescribeRecoveryInstances"} <= set(
        operations[:first_start]
    )
    lookups = [call for call in calls if call.operation == "DescribeRecoverySnapshots"]
    assert sorted(call.params["sourceServerID"] for call in lookups) == sorted(
        server.source_server_id for server in final.servers()
    )
    assert final.readiness is not None
    assert {_time(call.params["filters"]["toDateTime"]) for call in lookups} == {final.readiness.checked_at}

    # The thread: the verdict before launching says what is still to come; the ages follow.
    thread = [message["text"] for message in sandbox.public(channel)]
    # Readiness notes only: the report's verdict at the end repeats their findings.
    notes = [text for text in thread if text.startswith(":large_yellow_circle: Readiness: WARN")]
    (verdict,) = [text for text in notes if "replication lag is over" in text]
    assert f"replication lag is over the plan's rpo_target of 15 min — 1 server(s): {LAGGING}" in verdict
    assert (
        f"replication is BACKLOG (catching up; it would launch from older data) — 1 server(s): {BEHIND}"
        in verdict
    )
    assert (
        f"recovery snapshot ages (rpo_target 15 min): 0 of {PLAN_RPO_SERVERS} servers checked so far"
        in verdict
    )
    assert "newest recovery snapshot" not in verdict
    (ages,) = [text for text in notes if "newest recovery snapshot" in text]
    assert f"WARN: newest recovery snapshot is older than 15 min — 1 server(s): {BEHIND}" in ages
    assert thread.index(ages) > thread.index(verdict)

    # The history keeps them with the verdict.
    stored = final.readiness.snapshot_ages
    assert stored is not None and stored.done and stored.checked == PLAN_RPO_SERVERS
    assert [(f.reason, f.servers) for f in stored.findings] == [
        ("newest recovery snapshot is older than 15 min", (BEHIND,))
    ]

    # /drs status shows them too.
    sandbox.command(f"status {final.execution_id}", channel=channel)
    sandbox.settle()
    status = sandbox.ephemeral(channel)[-1]
    assert (
        "*Readiness: WARN*" in status
        and f"newest recovery snapshot is older than 15 min — 1 server(s): {BEHIND}" in status
    )


def _wait_for_ages(sandbox: Sandbox, channel: str, timeout: float = 30) -> Execution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = _store(sandbox).latest_in_channel(channel)
        note = execution.readiness if execution else None
        if execution and note and note.snapshot_ages and note.snapshot_ages.done:
            return execution
        time.sleep(0.1)
    raise AssertionError(f"the snapshot ages of the execution in {channel} were not read in {timeout} s")


def _wait_for_card(sandbox: Sandbox, channel: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cards = [str(m["blocks"]) for m in sandbox.public(channel) if not m["thread_ts"]]
        if cards and text in cards[0]:
            return cards[0]
        time.sleep(0.1)
    raise AssertionError(f"the card in {channel} never said {text!r}: {cards}")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
