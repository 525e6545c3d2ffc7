"""Steering a running execution from its thread: gates before waves (pause_before, --step) with
Continue / Stop here, and pause / resume, through signed commands and real clicks.

The package's sandbox runs at 600x: an emulated minute is 0.1 real second, a launch ~0.9 s, and a gate's
30-minute reminder interval 3 real seconds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.execution import ActionKind, Execution, ExecutionStatus, WaveStatus
from bot.domain.history import to_history
from bot.slack.ids import (
    APPROVE_ACTION,
    CONTINUE_ACTION,
    PAUSE_ACTION,
    RESUME_ACTION,
    SKIP_ACTION,
    STOP_ACTION,
)
from tests.e2e.conftest import APPROVER, LEAD_MEMBERS, Sandbox, apply_plans, restore_catalog


def sid(prefix: str, n: int) -> str:
    return f"s-{prefix}{n:0{17 - len(prefix)}d}"


FIRST = [sid("9a", 1)]
GATED = [sid("9b", n) for n in range(1, 8)]  # 7 servers: the card lists the first 5 and counts the rest
SLOW = sid("9c", 1)  # converts 30 emulated minutes longer: time to pause while it launches
AFTER_WAIT = sid("9d", 1)
STEP = [sid("9e", 1), sid("9e", 2)]
REQUESTER = "U0REQUESTER"
BOTH = ("U0BOB", "U0DAVE")
WAIT = timedelta(minutes=30)

PLANS = f"""
protection_groups:
  - name: first-tier
    region: us-east-1
    source_servers: [{", ".join(FIRST)}]
  - name: gated-tier
    region: us-east-1
    source_servers: [{", ".join(GATED)}]
  - name: slow-tier
    region: us-east-1
    source_servers: [{SLOW}]
  - name: waiting-tier
    region: us-east-1
    source_servers: [{AFTER_WAIT}]
  - name: step-tier
    region: us-east-1
    source_servers: [{", ".join(STEP)}]
plans:
  - name: plan-gate
    waves:
      - name: Databases
        protection_group: first-tier
      - name: Apps
        protection_group: gated-tier
        pause_before: true
  - name: plan-gate-recovery
    waves:
      - name: Databases
        protection_group: step-tier
      - name: Apps
        protection_group: gated-tier
        pause_before: true
  - name: plan-pause
    waves:
      - name: Slow
        protection_group: slow-tier
      - name: Web
        protection_group: waiting-tier
        wait_before: 30m
  - name: plan-step
    waves:
      - name: Databases
        protection_group: step-tier
      - name: Apps
        protection_group: first-tier
"""


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The package's sandbox with these plans applied as a user applies them (`drs-bot plans apply`);
    the other modules' catalog comes back afterwards."""
    stack = sandbox.stack
    stack.drs.add_source_servers("us-east-1", ids=[*FIRST, *GATED, SLOW, AFTER_WAIT, *STEP])
    stack.drs.slow_conversion(SLOW, 1800)
    applied = apply_plans(sandbox, PLANS, tmp_path_factory.mktemp("steering"))
    assert applied.returncode == 0, applied.stderr
    yield sandbox
    restore_catalog(sandbox)


# --- what a person sees and does ------------------------------------------------------------------


def starts(box: Sandbox, execution_id: str) -> list[Any]:
    """The StartRecovery calls DRS received for one execution, in order."""
    return [
        call
        for call in box.stack.drs.calls
        if call.operation == "StartRecovery"
        and (call.params.get("tags") or {}).get("drs-chatops:execution") == execution_id
    ]


def servers_of(call: Any) -> set[str]:
    return {item["sourceServerID"] for item in call.params["sourceServers"]}


def wait_for(
    box: Sandbox, channel: str, reached: Callable[[Execution], bool], timeout: float = 30
) -> Execution:
    store = box.stack.bot.store
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        box.settle()
        execution = store.latest_in_channel(channel)
        if execution is not None and reached(execution):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout} s: {store.latest_in_channel(channel)!r}")


def gated(index: int) -> Callable[[Execution], bool]:
    return lambda execution: execution.waves[index].status is WaveStatus.GATED


def delivered(box: Sandbox, execution: Execution) -> None:
    """Until every event saved so far is in Slack."""
    deadline = time.monotonic() + 15
    while box.stack.bot.store.pending_events(execution.execution_id):
        assert time.monotonic() < deadline
        box.settle()
        time.sleep(0.05)


def latest(message: dict[str, Any]) -> dict[str, Any]:
    return message["updates"][-1] if message.get("updates") else message


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action id -> value of the buttons a message shows now."""
    return {
        element["action_id"]: element["value"]
        for block in latest(message).get("blocks") or []
        if block["type"] == "actions"
        for element in block["elements"]
    }


def thread(box: Sandbox, execution: Execution) -> list[dict[str, Any]]:
    channel, anchor = execution.channel_id, execution.anchor_ts
    assert channel and anchor
    return [
        m for m in box.stack.slack.thread(channel, anchor) if m["ts"] != anchor and not m.get("ephemeral")
    ]


def anchor_of(box: Sandbox, execution: Execution) -> dict[str, Any]:
    assert execution.channel_id
    return latest(next(m for m in box.public(execution.channel_id) if m["ts"] == execution.anchor_ts))


def gate_card(box: Sandbox, execution: Execution, wave: str) -> dict[str, Any]:
    (card,) = [m for m in thread(box, execution) if "Gate before wave" in m["text"] and wave in m["text"]]
    return card


def texts(box: Sandbox, execution: Execution) -> str:
    return "\n".join(m["text"] for m in thread(box, execution))


def click(box: Sandbox, execution: Execution, message: dict[str, Any], action_id: str, user: str) -> None:
    assert execution.channel_id
    value = buttons(message)[action_id]
    reply = box.click(execution.channel_id, message["ts"], action_id, value, user=user)
    assert reply.status == 200, reply.body
    box.settle()


def told(box: Sandbox, channel: str, user: str) -> list[str]:
    """The ephemeral answers one person got."""
    return [m["text"] for m in box.messages(channel) if m.get("ephemeral") and m.get("user") == user]


# --- gates -------------------------------------------------------------------------------------------


def test_a_drills_gate_holds_its_wave_reminds_the_thread_and_anyone_entitled_continues(box: Sandbox) -> None:
    channel = box.new_channel()
    box.command("execute plan-gate drill", channel=channel, user="U0ALICE")
    execution = wait_for(box, channel, gated(1))
    delivered(box, execution)
    # Wave 1 ran; the gated wave never reached DRS.
    assert [servers_of(call) for call in starts(box, execution.execution_id)] == [set(FIRST)]
    card = gate_card(box, execution, "Apps")
    text = card["text"]
    assert "Gate before wave 2/2 Apps (its pause_before)" in text
    assert "Ran: :white_check_mark: Databases — 1 launched, 0 failed" in text
    assert f"Next: gated-tier in us-east-1: 7 servers ({', '.join(GATED[:5])} and 2 more)" in text
    assert "Continue needs anyone who may run drills" in text
    value = f"{execution.execution_id}:1"
    assert buttons(card) == {CONTINUE_ACTION: value, SKIP_ACTION: value, STOP_ACTION: value}
    anchor = anchor_of(box, execution)
    assert "*Gated*: waiting for Continue before wave Apps" in str(anchor["blocks"])
    assert set(buttons(anchor)) == {PAUSE_ACTION}
    box.command(f"status {execution.execution_id}", channel=channel, user="U0ALICE")
    box.settle()
    assert "*Gated* before wave 2/2 Apps" in told(box, channel, "U0ALICE")[-1]

    # The anchor's Pause holds it (at a gate too); /drs resume lets it go on, still at its gate.
    click(box, execution, anchor, PAUSE_ACTION, user="U0ALICE")
    assert box.stored(execution.execution_id).paused_by == "U0ALICE"
    box.command(f"resume {execution.execution_id[:8]}", channel=channel, user="U0ALICE")
    box.settle()
    assert (
        "Resumed" in told(box, channel, "U0ALICE")[-1]
        and "at wave 2/2 Apps (GATED)" in told(box, channel, "U0ALICE")[-1]
    )
    assert box.stored(execution.execution_id).waves[1].status is WaveStatus.GATED

    # A gate never launches by itself: an hour later it has reminded the thread, and still waits.
    box.stack.advance(3600)
    held = wait_for(box, channel, lambda e: any("Still waiting" in m["text"] for m in thread(box, e)))
    assert starts(box, execution.execution_id)[1:] == []
    reminders = [
        m for m in thread(box, held) if "Still waiting at the gate before wave 2/2 Apps" in m["text"]
    ]
    gated_at = held.waves[1].gated_at
    assert gated_at is not None
    waited = box.stack.bot.clock() - gated_at
    # Each reminder saved with its time, once per 30 minutes of waiting: never doubled.
    assert 1 <= len(reminders) <= waited // timedelta(minutes=30)
    assert buttons(reminders[0]) == {CONTINUE_ACTION: value, SKIP_ACTION: value, STOP_ACTION: value}

    # Two people who may run drills click Continue at once: one decision, the other is told calmly.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda user: click(box, execution, card, CONTINUE_ACTION, user=user), BOTH))
    final = box.finished_execution(channel)
    assert final.status is ExecutionStatus.COMPLETED
    assert [servers_of(call) for call in starts(box, execution.execution_id)] == [set(FIRST), set(GATED)]
    paused, resumed, continued = final.actions
    assert [(paused.kind, paused.user_id), (resumed.kind, resumed.user_id)] == [
        (ActionKind.PAUSE, "U0ALICE"),
        (ActionKind.RESUME, "U0ALICE"),
    ]
    assert (continued.kind, continued.wave) == (ActionKind.CONTINUE, 1) and continued.user_id in BOTH
    (loser,) = set(BOTH) - {continued.user_id}
    assert told(box, channel, continued.user_id) == []  # the thread says it, to everyone
    assert (
        f"No wave of `{execution.execution_id}` (plan-gate) waits at that gate any more"
        in told(box, channel, loser)[-1]
    )
    assert f"<@{continued.user_id}> continued past the gate" in texts(box, final)
    history = to_history(final)["Actions"]
    assert [(a["What"], a["Wave"]) for a in history] == [
        ("PAUSE", None),
        ("RESUME", None),
        ("CONTINUE", "Apps"),
    ]

    # The reminder's button, now that the execution has ended: calm, and nothing changes.
    click(box, execution, reminders[0], STOP_ACTION, user="U0CAROL")
    assert "already ended (COMPLETED); nothing to do. Nothing changed." in told(box, channel, "U0CAROL")[-1]
    assert len(starts(box, execution.execution_id)) == 2
    assert len(box.stored(execution.execution_id).actions) == 3  # pause, resume, continue: no more


def test_skip_on_a_gates_card_skips_that_wave_and_it_never_reaches_drs(box: Sandbox) -> None:
    channel = box.new_channel()
    box.command("execute plan-gate drill", channel=channel, user="U0ALICE")
    execution = wait_for(box, channel, gated(1))
    delivered(box, execution)
    card = gate_card(box, execution, "Apps")
    click(box, execution, card, SKIP_ACTION, user="U0ERIN")
    final = box.finished_execution(channel)
    # Not all of its plan ran: PARTIAL at best; the gated wave's servers never reached DRS.
    assert final.status is ExecutionStatus.PARTIAL
    assert [w.status for w in final.waves] == [WaveStatus.COMPLETED, WaveStatus.SKIPPED]
    assert [servers_of(call) for call in starts(box, execution.execution_id)] == [set(FIRST)]
    assert "Wave 2/2 Apps skipped by <@U0ERIN>" in texts(box, execution)
    (skip,) = [a for a in final.actions if a.kind is ActionKind.SKIP]
    assert (skip.user_id, skip.wave, skip.reason) == ("U0ERIN", 1, "skipped with the thread's button")
    # The card's Continue, clicked after the skip: calm, and nothing launches.
    click(box, execution, card, CONTINUE_ACTION, user="U0ERIN")
    assert "Nothing changed." in told(box, channel, "U0ERIN")[-1]
    assert len(starts(box, execution.execution_id)) == 1


def test_a_recovery_gate_needs_an_approver_other_than_the_requester(box: Sandbox) -> None:
    channel = box.new_channel()
    box.command("execute plan-gate-recovery recovery", channel=channel, user=REQUESTER)
    pending = wait_for(box, channel, lambda e: e.anchor_ts is not None)
    request_card = next(m for m in box.public(channel) if m["ts"] == pending.anchor_ts)
    box.click(channel, request_card["ts"], APPROVE_ACTION, pending.execution_id, user=APPROVER)
    execution = wait_for(box, channel, gated(1))
    delivered(box, execution)
    card = gate_card(box, execution, "Apps")
    assert f"Continue needs an approver other than <@{REQUESTER}>" in card["text"]

    # The requester cannot pass the gate alone, even though they asked for the recovery.
    click(box, execution, card, CONTINUE_ACTION, user=REQUESTER)
    click(box, execution, card, CONTINUE_ACTION, user="U0BYSTANDER")
    refusal = told(box, channel, REQUESTER)[-1]
    assert "You may not continue it past a gate" in refusal
    assert f"only an approver other than its requester (<@{REQUESTER}>) may, for a recovery" in refusal
    assert "You may not continue it past a gate" in told(box, channel, "U0BYSTANDER")[-1]
    assert box.stored(execution.execution_id).waves[1].status is WaveStatus.GATED
    assert len(starts(box, execution.execution_id)) == 1

    # A member of the approvers' user group passes it.
    click(box, execution, card, CONTINUE_ACTION, user=LEAD_MEMBERS[7])
    final = box.finished_execution(channel)
    assert final.status is ExecutionStatus.COMPLETED
    calls = starts(box, execution.execution_id)
    assert [servers_of(call) for call in calls] == [set(STEP), set(GATED)]
    assert all(call.params["isDrill"] is False for call in calls)
    assert [(a.kind, a.user_id) for a in final.actions] == [
        (ActionKind.APPROVE, APPROVER),
        (ActionKind.CONTINUE, LEAD_MEMBERS[7]),
    ]


def test_step_gates_the_first_wave_and_stop_here_ends_the_execution_launching_nothing(box: Sandbox) -> None:
    channel = box.new_channel()
    reply = box.command("execute plan-step drill --step", channel=channel, user="U0ALICE")
    assert reply.status == 200
    execution = wait_for(box, channel, gated(0))
    delivered(box, execution)
    assert execution.step
    card = gate_card(box, execution, "Databases")
    assert "Gate before wave 1/2 Databases (--step)" in card["text"]
    assert "Ran: nothing yet" in card["text"]
    (stop,) = [
        e
        for b in card["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == STOP_ACTION
    ]
    assert stop["confirm"]["title"]["text"] == "Stop here?"  # Slack asks before it sends the click

    click(box, execution, card, STOP_ACTION, user="U0ALICE")
    final = box.finished_execution(channel)
    assert final.status is ExecutionStatus.CANCELLED
    assert [w.status for w in final.waves] == [WaveStatus.SKIPPED, WaveStatus.SKIPPED]
    assert starts(box, execution.execution_id) == []  # nothing reached DRS
    said = texts(box, final)
    assert "<@U0ALICE> stopped the execution at the gate before wave 1/2 Databases" in said
    assert "Skipped Databases, Apps: the execution was stopped at the gate before wave Databases." in said
    assert [(a.kind, a.wave) for a in final.actions] == [(ActionKind.STOP, 0)]
    assert buttons(anchor_of(box, final)) == {}  # ended: nothing left to steer


# --- pause and resume ---------------------------------------------------------------------------------


def test_pause_follows_the_running_job_holds_the_next_wave_and_its_wait_counts_from_resume(
    box: Sandbox,
) -> None:
    channel = box.new_channel()
    box.command("execute plan-pause drill", channel=channel, user="U0ALICE")
    execution = wait_for(box, channel, lambda e: bool(e.waves[0].job_ids))
    box.command(f"pause {execution.execution_id[:8]}", channel=channel, user="U0BOB")
    box.settle()
    assert f"Paused `{execution.execution_id}` (plan-pause)" in told(box, channel, "U0BOB")[-1]
    # The job already in DRS is followed to its end and reported; the next wave does not start.
    paused = wait_for(box, channel, lambda e: e.waves[0].status is WaveStatus.COMPLETED, timeout=60)
    assert paused.paused_by == "U0BOB"
    box.stack.advance(2 * 3600)  # far past the next wave's 30-minute wait_before
    box.settle()
    assert [servers_of(call) for call in starts(box, execution.execution_id)] == [{SLOW}]
    delivered(box, paused)
    said = texts(box, paused)
    assert "Paused by <@U0BOB>" in said and "1 running job(s) are followed to their end" in said
    anchor = anchor_of(box, paused)
    assert set(buttons(anchor)) == {RESUME_ACTION} and "Paused" in str(anchor["blocks"])
    box.command(f"status {execution.execution_id}", channel=channel, user="U0BOB")
    box.settle()
    assert "Paused* by <@U0BOB>" in told(box, channel, "U0BOB")[-1]
    # A stale Pause (the anchor as it was) and a second pause change nothing.
    box.command(f"pause {execution.execution_id}", channel=channel, user="U0ALICE")
    box.settle()
    assert "is already paused" in told(box, channel, "U0ALICE")[-1]

    click(box, paused, anchor, RESUME_ACTION, user="U0ALICE")
    final = box.finished_execution(channel, timeout=60)
    assert final.status is ExecutionStatus.COMPLETED
    _, second = starts(box, execution.execution_id)
    assert servers_of(second) == {AFTER_WAIT}
    resumed = final.actions[-1]
    assert (resumed.kind, resumed.user_id) == (ActionKind.RESUME, "U0ALICE")
    # The whole wait_before counts from the resume, not from the end of the wave before the pause.
    assert second.time - resumed.at >= WAIT, (second.time, resumed.at)
    assert second.time - resumed.at < WAIT + timedelta(minutes=60)
    assert "Resumed by <@U0ALICE>" in texts(box, final)
    assert [a.kind for a in final.actions] == [ActionKind.PAUSE, ActionKind.RESUME]
    # Resume on a running-then-ended execution: calm.
    box.command(f"resume {execution.execution_id}", channel=channel, user="U0ALICE")
    box.settle()
    assert "already ended (COMPLETED)" in told(box, channel, "U0ALICE")[-1]
