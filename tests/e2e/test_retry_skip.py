"""/drs retry, /drs skip and their buttons, and a group's optional servers: from a plans file applied with
`drs-bot` and signed Slack requests, through the sandbox, to what DRS received and what the thread says.

The package's sandbox runs at 600x: an emulated minute is 0.1 real second, a launch ~0.9 s."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.execution import ActionKind, Execution, ExecutionStatus, ServerStatus, WaveStatus
from bot.domain.history import to_history
from bot.slack.ids import APPROVE_ACTION, RETRY_ACTION, SKIP_ACTION
from tests.e2e.conftest import APPROVER, Sandbox, apply_plans, restore_catalog
from tests.e2e.test_plan_options import servers_of, sid, starts, thread_texts
from tests.e2e.test_reports import stored_report, valid

FIVE = [sid("rt", n) for n in range(1, 6)]
FAILS_ONCE = FIVE[1], FIVE[3]  # 2 of 5 fail their first launch
STOP_DB, STOP_APP = [sid("rs", 1), sid("rs", 2)], [sid("rs", 3)]
RECOVERED = [sid("rr", 1), sid("rr", 2)]
REQUIRED, OPTIONAL, NEXT = sid("ro", 1), sid("ro", 2), sid("ro", 3)
SLOW_A, SKIPPED_B, LAST_C = sid("rk", 1), sid("rk", 2), sid("rk", 3)
TWICE = [sid("rd", 1), sid("rd", 2)]
FIRST, WAITING, THIRD = sid("rb", 1), sid("rb", 2), sid("rb", 3)
ERROR = "InsufficientInstanceCapacity: no m5.large capacity in us-east-1a"
REQUESTER = "U0RETRYREQ"

PLANS = f"""
protection_groups:
  - name: five-tier
    region: us-east-1
    source_servers: [{", ".join(FIVE)}]
  - name: stop-db
    region: us-east-1
    source_servers: [{", ".join(STOP_DB)}]
  - name: stop-app
    region: us-east-1
    source_servers: [{", ".join(STOP_APP)}]
  - name: recovered-tier
    region: us-east-1
    source_servers: [{", ".join(RECOVERED)}]
  - name: mixed-importance
    region: us-east-1
    source_servers: [{REQUIRED}, {OPTIONAL}]
    optional: [{OPTIONAL}]
  - name: next-tier
    region: us-east-1
    source_servers: [{NEXT}]
  - name: skip-a
    region: us-east-1
    source_servers: [{SLOW_A}]
  - name: skip-b
    region: us-east-1
    source_servers: [{SKIPPED_B}]
  - name: skip-c
    region: us-east-1
    source_servers: [{LAST_C}]
  - name: twice-tier
    region: us-east-1
    source_servers: [{", ".join(TWICE)}]
  - name: first-tier
    region: us-east-1
    source_servers: [{FIRST}]
  - name: waiting-tier
    region: us-east-1
    source_servers: [{WAITING}]
  - name: third-tier
    region: us-east-1
    source_servers: [{THIRD}]
plans:
  - name: plan-retry
    waves:
      - name: Five
        protection_group: five-tier
  - name: plan-retry-stop
    waves:
      - name: Databases
        protection_group: stop-db
        on_failure: stop
      - name: Apps
        protection_group: stop-app
  - name: plan-retry-recovery
    waves:
      - name: Core
        protection_group: recovered-tier
  - name: plan-optional
    waves:
      - name: Mixed
        protection_group: mixed-importance
        on_failure: stop
      - name: Next
        protection_group: next-tier
  - name: plan-skip
    waves:
      - name: A
        protection_group: skip-a
      - name: B
        protection_group: skip-b
      - name: C
        protection_group: skip-c
  - name: plan-twice
    waves:
      - name: Twice
        protection_group: twice-tier
  - name: plan-skip-button
    waves:
      - name: First
        protection_group: first-tier
      - name: Waiting
        protection_group: waiting-tier
        wait_before: 2h
      - name: Third
        protection_group: third-tier
"""


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The package's sandbox with these plans applied by `drs-bot plans apply`; the other modules'
    catalog comes back afterwards."""
    stack = sandbox.stack
    ids = [
        *FIVE,
        *STOP_DB,
        *STOP_APP,
        *RECOVERED,
        REQUIRED,
        OPTIONAL,
        NEXT,
        SLOW_A,
        SKIPPED_B,
        LAST_C,
        *TWICE,
        FIRST,
        WAITING,
        THIRD,
    ]
    stack.drs.add_source_servers("us-east-1", ids=ids)
    stack.drs.slow_conversion(SLOW_A, 3600)  # an emulated hour longer: 6 real seconds to act while A runs
    stack.drs.fail_launch(OPTIONAL, error=ERROR)  # every time
    applied = apply_plans(sandbox, PLANS, tmp_path_factory.mktemp("retry"))
    assert applied.returncode == 0, applied.stderr
    yield sandbox
    restore_catalog(sandbox)


def wait_for(
    box: Sandbox, execution_id: str, ready: Callable[[Execution], bool], timeout: float = 30
) -> Execution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        box.settle()
        execution = box.stored(execution_id)
        if ready(execution):
            return execution
        time.sleep(0.1)
    raise AssertionError(f"not reached in {timeout} s: {box.stored(execution_id)!r}")


def button(box: Sandbox, execution: Execution, action_id: str) -> dict[str, Any]:
    """The thread message carrying a button (the last one, if several)."""
    assert execution.channel_id and execution.anchor_ts
    found = [
        m
        for m in box.stack.slack.thread(execution.channel_id, execution.anchor_ts)
        if action_id in str(m.get("blocks"))
    ]
    assert found, thread_texts(box, execution)
    return found[-1]


def value_of(message: dict[str, Any], action_id: str) -> str:
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} in {message}")


def test_retry_failed_launches_exactly_the_failed_servers_from_the_same_snapshots(box: Sandbox) -> None:
    for server in FAILS_ONCE:
        box.stack.drs.fail_launch(server, error=ERROR, times=1)
    at = (box.stack.bot.clock() - timedelta(hours=3)).replace(microsecond=0)
    channel = box.new_channel()
    box.command(f"execute plan-retry drill --at {at:%Y-%m-%dT%H:%M:%SZ}", channel=channel)
    first = box.finished_execution(channel, timeout=60)
    assert first.status is ExecutionStatus.PARTIAL and first.waves[0].status is WaveStatus.PARTIAL
    snapshots = {s.source_server_id: s.snapshot_id for s in first.servers()}
    assert all(snapshots.values())

    message = button(box, first, RETRY_ACTION)
    assert "Retry failed" in str(message["blocks"])
    reply = box.click(channel, message["ts"], RETRY_ACTION, value_of(message, RETRY_ACTION), user="U0ALICE")
    assert reply.status == 200
    final = wait_for(box, first.execution_id, lambda e: e.status.is_terminal, timeout=60)
    box.finished_execution(channel)

    calls = starts(box, first.execution_id)
    assert [servers_of(call) for call in calls] == [set(FIVE), set(FAILS_ONCE)]  # one call, only those two
    retried = {
        item["sourceServerID"]: item.get("recoverySnapshotID") for item in calls[1].params["sourceServers"]
    }
    assert retried == {server: snapshots[server] for server in FAILS_ONCE}  # the same point in time
    assert final.status is ExecutionStatus.COMPLETED and final.waves[0].status is WaveStatus.COMPLETED
    servers = {s.source_server_id: s for s in final.servers()}
    assert all(s.status is ServerStatus.LAUNCHED for s in servers.values())
    history = {s["SourceServerId"]: s for s in to_history(final)["Waves"][0]["Servers"]}
    for server in FAILS_ONCE:
        (attempt,) = history[server]["Attempts"]
        assert attempt["Status"] == "FAILED" and ERROR in attempt["Error"]
        assert attempt["RecoveryJobId"] == first.waves[0].job_ids[0]
        assert history[server]["RecoveryJobId"] == final.waves[0].job_ids[-1] != attempt["RecoveryJobId"]
    assert history[FIVE[0]]["Attempts"] == []
    assert [(a.kind, a.user_id, a.wave) for a in final.actions] == [(ActionKind.RETRY, "U0ALICE", 0)]
    texts = thread_texts(box, final)
    assert any(
        "Retry of wave 1/1 Five requested by <@U0ALICE>" in t and "2 failed server(s) launch again" in t
        for t in texts
    ), texts
    assert any("The execution runs again" in t for t in texts)
    assert any("Drill of plan-retry COMPLETED" in t for t in texts), texts
    assert any("Retrying 2 failed server(s) of wave *Five*" in t for t in box.ephemeral(channel))
    # The report (JSON in the bucket, valid against its schema) keeps both attempts, and its RTO runs
    # from the request to the last launch, the retried ones included.
    report = valid(stored_report(box, final, until=lambda r: r["Status"] == "COMPLETED"))
    shown = {s["SourceServerId"]: s for s in report["Waves"][0]["Servers"]}
    assert [a["RecoveryJobId"] for a in shown[FAILS_ONCE[0]]["Attempts"]] == [first.waves[0].job_ids[0]]
    launches = {s.source_server_id: s.launch_time for s in final.servers() if s.launch_time}
    last_launch = max(launches.values())
    assert report["Rto"]["LastLaunchAt"] == last_launch.isoformat().replace("+00:00", "Z")
    assert last_launch == max(launches[s] for s in FAILS_ONCE)
    assert [d["Action"] for d in report["Decisions"]] == ["retried Five"]


def test_retry_after_on_failure_stop_reopens_the_execution_and_runs_the_skipped_wave(box: Sandbox) -> None:
    box.stack.drs.fail_launch(STOP_DB[0], error=ERROR, times=1)
    channel = box.new_channel()
    box.command("execute plan-retry-stop drill", channel=channel)
    stopped = box.finished_execution(channel, timeout=60)
    assert stopped.status is ExecutionStatus.FAILED
    assert [w.status for w in stopped.waves] == [WaveStatus.PARTIAL, WaveStatus.SKIPPED]

    box.command(f"retry {stopped.execution_id[:8]}", channel=channel)
    final = wait_for(box, stopped.execution_id, lambda e: e.status.is_terminal, timeout=60)
    calls = starts(box, stopped.execution_id)
    assert [servers_of(call) for call in calls] == [set(STOP_DB), {STOP_DB[0]}, set(STOP_APP)]
    assert final.status is ExecutionStatus.COMPLETED
    assert [w.status for w in final.waves] == [WaveStatus.COMPLETED, WaveStatus.COMPLETED]
    assert final.start_time == stopped.start_time  # the RTO counts from the first start
    texts = thread_texts(box, final)
    assert any("Apps (skipped by its on_failure: stop) will run after it" in t for t in texts), texts


def test_retry_of_a_recovery_is_an_approvers_control(box: Sandbox) -> None:
    box.stack.drs.fail_launch(RECOVERED[0], error=ERROR, times=1)
    channel = box.new_channel()
    box.command("execute plan-retry-recovery recovery", channel=channel, user=REQUESTER)
    box.settle()
    card = next(m for m in box.public(channel) if not m["thread_ts"])
    pending = box.stack.bot.store.latest_in_channel(channel)
    assert pending is not None
    box.click(channel, card["ts"], APPROVE_ACTION, pending.execution_id, user=APPROVER)
    ended = box.finished_execution(channel, timeout=60)
    assert ended.status is ExecutionStatus.PARTIAL

    box.command(f"retry {ended.execution_id} 1", channel=channel, user=REQUESTER)
    box.settle()
    assert any(
        "You may not retry waves of" in t and "only an approver (for a recovery) can" in t
        for t in box.ephemeral(channel)
    ), box.ephemeral(channel)
    assert len(starts(box, ended.execution_id)) == 1  # nothing reached DRS
    assert box.stored(ended.execution_id).status is ExecutionStatus.PARTIAL

    box.command(f"retry {ended.execution_id} Core", channel=channel, user=APPROVER)
    final = wait_for(box, ended.execution_id, lambda e: e.status.is_terminal, timeout=60)
    assert final.status is ExecutionStatus.COMPLETED
    assert [servers_of(c) for c in starts(box, ended.execution_id)] == [set(RECOVERED), {RECOVERED[0]}]


def test_an_optional_servers_failure_is_reported_but_does_not_stop_the_plan(box: Sandbox) -> None:
    channel = box.new_channel()
    box.command("execute plan-optional drill", channel=channel)
    final = box.finished_execution(channel, timeout=60)
    calls = starts(box, final.execution_id)
    assert [servers_of(call) for call in calls] == [{REQUIRED, OPTIONAL}, {NEXT}]  # Next ran despite stop
    assert [w.status for w in final.waves] == [WaveStatus.PARTIAL, WaveStatus.COMPLETED]
    assert final.status is ExecutionStatus.PARTIAL
    texts = thread_texts(box, final)
    assert any(OPTIONAL in t and "InsufficientInstanceCapacity" in t for t in texts), texts
    assert not any("Skipped" in t for t in texts)
    history = {s["SourceServerId"]: s for s in to_history(final)["Waves"][0]["Servers"]}
    assert history[OPTIONAL]["Optional"] is True and history[REQUIRED]["Optional"] is False


def test_skip_a_pending_wave_with_a_reason_and_not_a_running_one(box: Sandbox) -> None:
    channel = box.new_channel()
    box.command("execute plan-skip drill", channel=channel)
    box.settle()
    running = box.stack.bot.store.latest_in_channel(channel)
    assert running is not None
    running = wait_for(box, running.execution_id, lambda e: bool(e.waves[0].job_ids))

    box.command(f"skip {running.execution_id} A", channel=channel, user="U0BOB")
    box.command(f"skip {running.execution_id} 2 <b>not needed</b> this time", channel=channel, user="U0BOB")
    box.settle()
    answers = box.ephemeral(channel)
    assert any("Cannot skip" in t and "wave A is running" in t for t in answers), answers
    assert any("Wave *B* of" in t and "will not run" in t for t in answers), answers

    final = box.finished_execution(channel, timeout=60)
    assert [servers_of(call) for call in starts(box, final.execution_id)] == [{SLOW_A}, {LAST_C}]
    assert [w.status for w in final.waves] == [WaveStatus.COMPLETED, WaveStatus.SKIPPED, WaveStatus.COMPLETED]
    assert final.status is ExecutionStatus.PARTIAL  # not all of the plan ran
    (action,) = final.actions
    assert (action.kind, action.user_id, action.wave, action.reason) == (
        ActionKind.SKIP,
        "U0BOB",
        1,
        "<b>not needed</b> this time",
    )
    texts = thread_texts(box, final)
    assert any(
        "Wave 2/3 B skipped by <@U0BOB>" in t and "&lt;b&gt;not needed&lt;/b&gt; this time" in t
        for t in texts
    ), texts
    assert to_history(final)["Actions"][0]["Reason"] == "<b>not needed</b> this time"


def test_a_double_click_on_retry_launches_once_and_the_second_is_told(box: Sandbox) -> None:
    box.stack.drs.fail_launch(TWICE[0], error=ERROR, times=1)
    channel = box.new_channel()
    box.command("execute plan-twice drill", channel=channel)
    ended = box.finished_execution(channel, timeout=60)
    assert ended.status is ExecutionStatus.PARTIAL
    message = button(box, ended, RETRY_ACTION)
    value = value_of(message, RETRY_ACTION)

    clicks = [
        threading.Thread(
            target=box.click, args=(channel, message["ts"], RETRY_ACTION, value), kwargs={"user": who}
        )
        for who in ("U0ALICE", "U0BOB")
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    final = wait_for(box, ended.execution_id, lambda e: e.status.is_terminal, timeout=60)
    box.finished_execution(channel)
    assert [servers_of(c) for c in starts(box, ended.execution_id)] == [set(TWICE), {TWICE[0]}]
    assert final.status is ExecutionStatus.COMPLETED
    assert len([a for a in final.actions if a.kind is ActionKind.RETRY]) == 1
    answers = box.ephemeral(channel)
    assert sum("Retrying 1 failed server(s)" in t for t in answers) == 1, answers
    assert any("Cannot retry" in t and "asked for a retry of it at" in t for t in answers), answers


def test_the_skip_button_on_a_waiting_wave_skips_it_and_a_stale_click_is_told_the_state(box: Sandbox) -> None:
    channel = box.new_channel()
    box.command("execute plan-skip-button drill", channel=channel)
    box.settle()
    started = box.stack.bot.store.latest_in_channel(channel)
    assert started is not None
    # Waiting two emulated hours (12 real seconds) after First: its message carries the Skip button.
    waiting = wait_for(box, started.execution_id, lambda e: e.waves[1].not_before is not None)
    message = button(box, waiting, SKIP_ACTION)
    assert "Wave 2/3 Waiting starts at" in message["text"]
    value = value_of(message, SKIP_ACTION)
    box.click(channel, message["ts"], SKIP_ACTION, value, user="U0CAROL")
    final = box.finished_execution(channel, timeout=60)
    box.click(channel, message["ts"], SKIP_ACTION, value, user="U0DAVE")  # the same button, later
    box.settle()

    assert [servers_of(call) for call in starts(box, final.execution_id)] == [{FIRST}, {THIRD}]
    assert [w.status for w in final.waves] == [WaveStatus.COMPLETED, WaveStatus.SKIPPED, WaveStatus.COMPLETED]
    (action,) = final.actions
    assert (action.kind, action.user_id, action.reason) == (
        ActionKind.SKIP,
        "U0CAROL",
        "skipped with the thread's button",
    )
    texts = thread_texts(box, final)
    assert any("Wave 2/3 Waiting skipped by <@U0CAROL>" in t for t in texts), texts
    answers = box.ephemeral(channel)
    assert any("Wave *Waiting* of" in t and "will not run" in t for t in answers), answers
    assert any(
        "Cannot skip" in t
        and "it is PARTIAL: only a running execution's waves can be skipped" in t
        and "<@U0CAROL> asked for a skip of it at" in t
        for t in answers
    ), answers
