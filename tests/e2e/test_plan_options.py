"""Every option plans.yml accepts, from the file to what DRS received and what the thread says.

The package's sandbox runs at 600x: an emulated minute is 0.1 real second, a launch ~0.9 s."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.execution import Execution, ExecutionStatus, ServerStatus, WaveStatus
from bot.domain.history import to_history
from bot.slack.ids import APPROVE_ACTION
from tests.e2e.conftest import APPROVER, Sandbox, apply_plans, restore_catalog


def sid(prefix: str, n: int) -> str:
    return f"s-{prefix}{n:0{17 - len(prefix)}d}"


FAILING = sid("fa", 1)
HEALTHY = sid("fa", 2)
APPS = [sid("ap", 1), sid("ap", 2)]
SLOW, QUICK = sid("s1", 1), sid("s1", 2)
TAGGED = [sid("ta", 1), sid("ta", 2)]
OTHER_TIER = sid("ta", 3)  # tagged app=payments but tier=db: not selected
WEST = sid("we", 1)
FB_DB = [sid("fd", 1), sid("fd", 2)]
FB_APP = [sid("fp", 1)]
LAUNCH_ERROR = "Failed to launch recovery instance: You are not authorized to perform: ec2:RunInstances"
REQUESTER = "U0REQUESTER"
WAIT = timedelta(minutes=30)

PLANS = f"""
protection_groups:
  - name: mixed-tier
    region: us-east-1
    source_servers: [{FAILING}, {HEALTHY}]
  - name: app-tier
    region: us-east-1
    source_servers: [{", ".join(APPS)}]
  - name: slow-tier
    region: us-east-1
    source_servers: [{SLOW}, {QUICK}]
  - name: tagged-tier
    region: us-east-1
    source_server_tags: {{app: payments, tier: web}}
  - name: west-tier
    region: us-west-2
    source_servers: [{WEST}]
  - name: fb-db
    region: us-east-1
    source_servers: [{", ".join(FB_DB)}]
  - name: fb-app
    region: us-east-1
    source_servers: [{", ".join(FB_APP)}]
plans:
  - name: plan-stop
    waves:
      - name: Databases
        protection_group: mixed-tier
        on_failure: stop
      - name: Apps
        protection_group: app-tier
  - name: plan-continue
    waves:
      - name: Databases
        protection_group: mixed-tier
      - name: Apps
        protection_group: app-tier
  - name: plan-wait
    waves:
      - name: Apps
        protection_group: app-tier
      - name: Web
        protection_group: tagged-tier
        wait_before: 30m
  - name: plan-timeout
    waves:
      - name: Slow
        protection_group: slow-tier
        timeout: 20m
      - name: Apps
        protection_group: app-tier
  - name: plan-west
    description: Payments in the west
    rpo_target: 15m
    rto_target: 2h
    cleanup_after: 30m
    waves:
      - name: West
        protection_group: west-tier
  - name: plan-failback
    waves:
      - name: Databases
        protection_group: fb-db
        timeout: 45m
        on_failure: stop
      - name: Apps
        protection_group: fb-app
        wait_before: 30m
"""


def drs_bot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drs_cli.main", *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The package's sandbox, with these plans applied as a user applies them: `drs-bot plans apply`
    against the deployment's catalog table. The other modules' catalog comes back afterwards."""
    stack = sandbox.stack
    drs = stack.drs
    # The servers exist in DRS whatever the plans say; the tag selector's carry their tags.
    drs.add_source_servers("us-east-1", ids=[FAILING, HEALTHY, *APPS, SLOW, QUICK, *FB_DB, *FB_APP])
    drs.initialize_region("us-west-2")  # DRS is set up in the second region (and failback's origin)
    drs.add_source_servers("us-west-2", ids=[WEST])
    drs.add_source_servers("us-east-1", ids=TAGGED, tags={"app": "payments", "tier": "web"})
    drs.add_source_servers("us-east-1", ids=[OTHER_TIER], tags={"app": "payments", "tier": "db"})
    drs.fail_launch(FAILING, error=LAUNCH_ERROR)
    # Converts an emulated hour longer than the others: launched only ~70 minutes in.
    drs.slow_conversion(SLOW, 3600)
    applied = apply_plans(sandbox, PLANS, tmp_path_factory.mktemp("options"))
    assert applied.returncode == 0, applied.stderr
    yield sandbox
    restore_catalog(sandbox)


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


def thread_texts(box: Sandbox, execution: Execution) -> list[str]:
    """The replies under the execution's anchor message."""
    channel, anchor = execution.channel_id, execution.anchor_ts
    assert channel and anchor
    return [m["text"] for m in box.stack.slack.thread(channel, anchor) if m["ts"] != anchor]


def drill(box: Sandbox, plan: str) -> Execution:
    channel = box.new_channel()
    reply = box.command(f"execute {plan} drill", channel=channel)
    assert reply.status == 200, reply.body
    return box.finished_execution(channel, timeout=90)


def test_on_failure_stop_keeps_the_next_wave_from_drs_and_the_thread_says_why(box: Sandbox) -> None:
    execution = drill(box, "plan-stop")
    calls = starts(box, execution.execution_id)
    assert [servers_of(call) for call in calls] == [{FAILING, HEALTHY}]  # wave 2 never reached DRS
    assert execution.status is ExecutionStatus.FAILED
    assert [w.status for w in execution.waves] == [WaveStatus.PARTIAL, WaveStatus.SKIPPED]
    texts = thread_texts(box, execution)
    assert any(
        "Skipped Apps: wave Databases ended PARTIAL and its on_failure is stop." in t for t in texts
    ), texts
    assert any(FAILING in t and "ec2:RunInstances" in t for t in texts)
    assert to_history(execution)["Waves"][0]["Options"]["OnFailure"] == "stop"


def test_on_failure_continue_the_default_runs_the_next_wave_anyway(box: Sandbox) -> None:
    execution = drill(box, "plan-continue")
    calls = starts(box, execution.execution_id)
    assert [servers_of(call) for call in calls] == [{FAILING, HEALTHY}, set(APPS)]
    assert execution.status is ExecutionStatus.PARTIAL
    assert not any("Skipped" in t for t in thread_texts(box, execution))


def test_wait_before_holds_the_next_start_recovery_back_and_tags_select_its_servers(box: Sandbox) -> None:
    execution = drill(box, "plan-wait")
    first, second = starts(box, execution.execution_id)
    assert servers_of(first) == set(APPS)
    # The second wave is the tag selector's servers, and only those.
    assert servers_of(second) == set(TAGGED)
    wave1_ended = max(box.stack.drs.server_launch_times()[s] for s in APPS)
    assert second.time - wave1_ended >= WAIT, (second.time, wave1_ended)
    # Started once due, not held for anything else (generous: at 600x a loaded machine's second is
    # ten emulated minutes).
    assert execution.waves[0].end_time is not None
    assert second.time - execution.waves[0].end_time < WAIT + timedelta(minutes=60)
    texts = thread_texts(box, execution)
    assert any(
        "Wave 2/2 Web starts at" in t and "(waits 30m 00s after the previous wave)" in t for t in texts
    ), texts
    assert execution.status is ExecutionStatus.COMPLETED
    assert to_history(execution)["Waves"][1]["Options"]["WaitBefore"] == 1800


def test_timeout_fails_a_slow_server_at_the_timeout_and_the_next_wave_goes_on(box: Sandbox) -> None:
    execution = drill(box, "plan-timeout")
    first, second = starts(box, execution.execution_id)
    assert servers_of(first) == {SLOW, QUICK} and servers_of(second) == set(APPS)
    # The next wave starts at the 20-minute timeout, before DRS launched the slow server (~70 minutes).
    assert second.time - first.time >= timedelta(minutes=20)
    slow_launched = box.stack.drs.server_launch_times().get(SLOW)
    assert slow_launched is None or slow_launched > second.time
    slow_wave = execution.waves[0]
    servers = {s.source_server_id: s for s in slow_wave.servers()}
    assert servers[QUICK].status is ServerStatus.LAUNCHED
    assert servers[SLOW].status is ServerStatus.FAILED
    assert servers[SLOW].error == "timed out: not launched 20 min after the wave started"
    assert slow_wave.status is WaveStatus.PARTIAL
    texts = thread_texts(box, execution)
    assert any(SLOW in t and "timed out: not launched 20 min after the wave started" in t for t in texts), (
        texts
    )


def test_a_groups_region_and_the_plans_rpo_target_cleanup_after_and_description(box: Sandbox) -> None:
    # Replication 40 minutes behind: over the plan's 15-minute rpo_target.
    box.stack.drs.set_replication_state(WEST, "CONTINUOUS", lag="PT40M")
    channel = box.new_channel()
    box.command("plan plan-west", channel=channel)
    box.settle()
    (shown,) = box.ephemeral(channel)
    assert "Payments in the west" in shown
    assert "`west-tier`: 1 servers in us-west-2" in shown
    assert "Readiness warns beyond an RPO of 15m 00s (rpo_target)" in shown
    assert "Drills are cleaned up 30m 00s after they end (cleanup_after)" in shown
    assert "from request to the last launch against 2h 00m (rto_target)" in shown

    box.command("execute plan-west drill", channel=channel)
    execution = box.finished_execution(channel, timeout=90)
    (call,) = starts(box, execution.execution_id)
    assert call.region == "us-west-2" and servers_of(call) == {WEST}  # the group's region
    texts = thread_texts(box, execution)
    assert any("replication lag is over the plan's rpo_target of 15 min" in t for t in texts), texts
    assert any("will be terminated automatically" in t for t in texts), texts

    store = box.stack.bot.store
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = store.get(execution.execution_id)
        if done and done.cleanup and not done.cleanup.status.active:
            break
        time.sleep(0.2)
    instances = [s.instance_id for s in execution.servers()]
    (terminate,) = [
        c
        for c in box.stack.drs.calls
        if c.operation == "TerminateRecoveryInstances"
        and set(c.params["recoveryInstanceIDs"]) & set(instances)
    ]
    assert terminate.region == "us-west-2" and terminate.params["recoveryInstanceIDs"] == instances
    assert execution.end_time is not None
    assert terminate.time - execution.end_time >= timedelta(minutes=30)
    assert any("Cleanup by the plan's cleanup_after" in t for t in thread_texts(box, execution))
    assert to_history(execution)["PlanOptions"] == {"RpoTarget": 900, "RtoTarget": 7200, "CleanupAfter": 1800}


def approve(box: Sandbox, channel: str, execution_id: str) -> None:
    box.settle()
    card = next(
        m
        for m in reversed(box.public(channel))
        if not m["thread_ts"] and execution_id in str(m.get("blocks"))
    )
    reply = box.click(channel, card["ts"], APPROVE_ACTION, execution_id, user=APPROVER)
    assert reply.status == 200


def latest(box: Sandbox, channel: str) -> Execution:
    box.settle()
    execution = box.stack.bot.store.latest_in_channel(channel)
    assert execution is not None
    return execution


def test_a_failback_runs_its_waves_with_the_recovery_plans_options(box: Sandbox) -> None:
    channel = box.new_channel()
    box.command("execute plan-failback recovery", channel=channel, user=REQUESTER)
    recovery = latest(box, channel)
    approve(box, channel, recovery.execution_id)
    recovery = box.finished_execution(channel, timeout=90)
    assert recovery.status is ExecutionStatus.COMPLETED
    # The recovery itself ran the plan's options: Apps waited its 30 minutes.
    first, second = starts(box, recovery.execution_id)
    assert servers_of(first) == set(FB_DB) and servers_of(second) == set(FB_APP)
    launched = box.stack.drs.server_launch_times()
    assert second.time - max(launched[s] for s in FB_DB) >= WAIT

    box.command("execute plan-failback failback", channel=channel, user=REQUESTER)
    failback = latest(box, channel)
    assert failback.execution_id != recovery.execution_id
    approve(box, channel, failback.execution_id)
    failback = box.finished_execution(channel, timeout=120)
    assert failback.status is ExecutionStatus.COMPLETED, failback

    first, second = starts(box, failback.execution_id)
    assert first.region == second.region == "us-west-2"  # the origin region
    launched = box.stack.drs.server_launch_times()
    wave1_ended = max(launched[s] for s in servers_of(first))
    assert second.time - wave1_ended >= WAIT, (second.time, wave1_ended)
    texts = thread_texts(box, failback)
    assert any("Wave 2/2 Apps starts at" in t and "waits 30m 00s" in t for t in texts), texts
    # What the engine applied to each wave of the failback, as the history keeps it.
    assert [w["Options"] for w in to_history(failback)["Waves"]] == [
        {"WaitBefore": 0, "Timeout": 2700, "OnFailure": "stop"},
        {"WaitBefore": 1800, "Timeout": 7200, "OnFailure": "continue"},
    ]
