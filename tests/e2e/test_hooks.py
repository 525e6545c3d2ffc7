"""Hooks before and after a wave (#15), from a plans file applied with `drs-bot` to what SSM Automation
(the DRS emulator), Lambda (the fake Lambda) and DRS received, and what the thread says.

The package's sandbox runs at 600x: an emulated minute is 0.1 real second. The sandbox's hook functions
and runbooks (sandbox/hook_functions.py): drs-hook-ok / -fail / -hang, DrsHook-Ok / -Fail / -Hang."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.domain.execution import Execution, ExecutionStatus, HookStatus, WaveStatus
from bot.domain.history import to_history
from bot.slack.ids import APPROVE_ACTION
from sandbox.hook_functions import HookFunctions
from tests.e2e.conftest import APPROVER, Sandbox, apply_plans, restore_catalog


def sid(n: int) -> str:
    return f"s-hk{n:015d}"


DB, APPS, EDGE = [sid(1), sid(2)], [sid(3)], [sid(4)]
ROLE = "arn:aws:iam::123456789012:role/drs-hook-automation"
PLANS = f"""
protection_groups:
  - name: hook-db
    region: us-east-1
    source_servers: [{", ".join(DB)}]
  - name: hook-apps
    region: us-east-1
    source_servers: [{", ".join(APPS)}]
  - name: hook-edge
    region: us-east-1
    source_servers: [{", ".join(EDGE)}]
plans:
  - name: plan-hooks
    waves:
      - name: Databases
        protection_group: hook-db
        before:
          - automation:
              document: DrsHook-Ok
              parameters: {{Database: ledger}}
              role: {ROLE}
          - lambda: {{function: drs-hook-ok, payload: {{step: warm-up}}}}
        after:
          - lambda: {{function: drs-hook-ok, payload: {{step: dns-flip}}}}
          - automation: {{document: DrsHook-Ok}}
      - name: Apps
        protection_group: hook-apps
  - name: plan-hook-stop
    waves:
      - name: Databases
        protection_group: hook-db
        before:
          - lambda: {{function: drs-hook-fail}}
      - name: Apps
        protection_group: hook-apps
  - name: plan-hook-continue
    waves:
      - name: Databases
        protection_group: hook-db
        after:
          - automation: {{document: DrsHook-Fail}}
            on_failure: continue
      - name: Apps
        protection_group: hook-apps
  - name: plan-hook-hang
    waves:
      - name: Databases
        protection_group: hook-db
        before:
          - lambda: {{function: drs-hook-hang}}
            timeout: 1s
            on_failure: continue
          - automation: {{document: DrsHook-Hang}}
            timeout: 10m
      - name: Apps
        protection_group: hook-apps
  - name: plan-hook-dns
    waves:
      - name: Edge
        protection_group: hook-edge
        after:
          - lambda: {{function: drs-hook-ok, payload: {{record: www}}}}
            drill: false
"""


def drs_bot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drs_cli.main", *args], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The package's sandbox with these plans applied as a user applies them (`drs-bot plans apply`);
    the other modules' catalog comes back afterwards."""
    stack = sandbox.stack
    stack.drs.add_source_servers("us-east-1", ids=[*DB, *APPS, *EDGE])
    applied = apply_plans(sandbox, PLANS, tmp_path_factory.mktemp("hooks"))
    assert applied.returncode == 0, applied.stderr
    yield sandbox
    restore_catalog(sandbox)


def functions(box: Sandbox) -> HookFunctions:
    assert box.stack.hook_functions is not None
    return box.stack.hook_functions


def lambda_calls(box: Sandbox, execution: Execution) -> list[Any]:
    return [c for c in functions(box).calls if c.payload.get("execution_id") == execution.execution_id]


def drs_calls(box: Sandbox, execution: Execution, operation: str) -> list[Any]:
    """The emulator's calls of one kind made while this execution ran, in order."""
    end = execution.end_time or datetime.max.replace(tzinfo=UTC)
    return [
        c for c in box.stack.drs.calls if c.operation == operation and execution.created_at <= c.time <= end
    ]


def starts(box: Sandbox, execution: Execution) -> list[Any]:
    return [
        c
        for c in box.stack.drs.calls
        if c.operation == "StartRecovery"
        and (c.params.get("tags") or {}).get("drs-chatops:execution") == execution.execution_id
    ]


def thread_texts(box: Sandbox, execution: Execution) -> list[str]:
    channel, anchor = execution.channel_id, execution.anchor_ts
    assert channel and anchor
    return [m["text"] for m in box.stack.slack.thread(channel, anchor) if m["ts"] != anchor]


def run(box: Sandbox, plan: str, kind: str = "drill") -> Execution:
    channel = box.new_channel()
    reply = box.command(f"execute {plan} {kind}", channel=channel)
    assert reply.status == 200, reply.body
    if kind != "drill":
        box.settle()
        card = next(m for m in box.public(channel) if not m["thread_ts"])
        execution = box.stack.bot.store.latest_in_channel(channel)
        assert execution is not None
        assert (
            box.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=APPROVER).status
            == 200
        )
    return box.finished_execution(channel, timeout=90)


def test_before_and_after_hooks_of_each_kind_run_in_order_around_the_waves_start_recovery(
    box: Sandbox,
) -> None:
    execution = run(box, "plan-hooks")

    assert execution.status is ExecutionStatus.COMPLETED
    db_start, apps_start = starts(box, execution)
    automations = [c for c in drs_calls(box, execution, "StartAutomationExecution")]
    assert [c.params["DocumentName"] for c in automations] == ["DrsHook-Ok", "DrsHook-Ok"]
    before_automation, after_automation = automations
    assert before_automation.params["Parameters"] == {"Database": ["ledger"], "AutomationAssumeRole": [ROLE]}
    assert "Parameters" not in after_automation.params
    before_lambda, after_lambda = lambda_calls(box, execution)
    # In order: the automation (2 emulated minutes), the Lambda, the wave's StartRecovery; once its
    # servers launched, the Lambda then the automation; only then the next wave's StartRecovery.
    launched = box.stack.drs.server_launch_times()
    assert (
        before_automation.seq < db_start.seq and before_automation.time <= before_lambda.at <= db_start.time
    )
    assert max(launched[s] for s in DB) <= after_lambda.at <= after_automation.time
    assert after_automation.seq < apps_start.seq
    assert (
        before_lambda.payload["payload"] == {"step": "warm-up"} and before_lambda.payload["phase"] == "before"
    )
    assert sorted(before_lambda.payload["source_server_ids"]) == sorted(DB)
    assert before_lambda.payload["recovery_instance_ids"] == []  # nothing launched yet
    instances = {s.instance_id for s in execution.waves[0].servers()}
    assert set(after_lambda.payload["recovery_instance_ids"]) == instances and None not in instances
    assert after_lambda.payload["plan"] == "plan-hooks" and after_lambda.payload["execution_type"] == "DRILL"

    texts = thread_texts(box, execution)
    hooks = [t for t in texts if re.search(r"(Before|After)-hook \d", t)]
    assert len(hooks) == 4, texts
    assert hooks[0].startswith(
        ":white_check_mark: Before-hook 1/2 of wave 1/2 Databases: automation DrsHook-Ok"
    )
    assert "systems-manager/automation/execution/" in hooks[0]
    assert "db.example.internal -&gt; 10.0.8.12" in hooks[0]  # its output, escaped
    assert hooks[1].startswith(":white_check_mark: Before-hook 2/2 of wave 1/2 Databases: Lambda drs-hook-ok")
    assert '"step": "warm-up"' in hooks[1]
    assert hooks[2].startswith(":white_check_mark: After-hook 1/2 of wave 1/2 Databases: Lambda drs-hook-ok")
    # The history keeps each hook: outcome, timing, output.
    history = to_history(execution)["Waves"][0]["Hooks"]
    assert [(h["Phase"], h["Kind"], h["Status"]) for h in history] == [
        ("before", "automation", "SUCCEEDED"),
        ("before", "lambda", "SUCCEEDED"),
        ("after", "lambda", "SUCCEEDED"),
        ("after", "automation", "SUCCEEDED"),
    ]
    assert all(h["StartTime"] and h["EndTime"] and h["RunId"] for h in history)
    assert "Hooks" not in to_history(execution)["Waves"][1]  # a wave without hooks keeps its shape


def test_a_failing_hook_with_on_failure_stop_stops_the_plan_before_drs_hears_of_it(box: Sandbox) -> None:
    execution = run(box, "plan-hook-stop")

    assert starts(box, execution) == []  # nothing launched
    assert execution.status is ExecutionStatus.FAILED
    assert [w.status for w in execution.waves] == [WaveStatus.FAILED, WaveStatus.SKIPPED]
    texts = thread_texts(box, execution)
    failed = next(t for t in texts if "Before-hook 1/1" in t)
    assert failed.startswith(":x: Before-hook 1/1 of wave 1/2 Databases: Lambda drs-hook-fail failed")
    # The function's own error, escaped, and what happens next.
    assert "RuntimeError: Route 53 refused the change: &lt;zone&gt; is not authorized &amp; locked" in failed
    assert "its on_failure is stop: the plan stops here" in failed
    assert any(
        "Skipped Apps: before-hook 1 (drs-hook-fail) of wave Databases failed and its on_failure is stop."
        in t
        for t in texts
    ), texts


def test_a_failing_hook_with_on_failure_continue_is_reported_and_the_plan_goes_on(box: Sandbox) -> None:
    execution = run(box, "plan-hook-continue")

    assert len(starts(box, execution)) == 2
    assert execution.status is ExecutionStatus.COMPLETED  # every server launched
    run_ = execution.waves[0].hooks[0]
    assert run_.status is HookStatus.FAILED and run_.error == "Step flip failed: Route 53 refused the change"
    assert any(
        "After-hook 1/1 of wave 1/2 Databases: automation DrsHook-Fail failed" in t
        and "its on_failure is continue: the plan goes on" in t
        for t in thread_texts(box, execution)
    )


def test_hanging_hooks_time_out(box: Sandbox) -> None:
    execution = run(box, "plan-hook-hang")

    lambda_hook, automation_hook = execution.waves[0].hooks
    # The Lambda did not answer within its 1s (continue: the next hook ran)...
    assert lambda_hook.status is HookStatus.TIMED_OUT
    assert lambda_hook.error == "no answer within 1s (the function may still be running)"
    # ...the automation ran past its 10 minutes (stop: nothing launched, the plan failed).
    assert automation_hook.status is HookStatus.TIMED_OUT and automation_hook.error == "timed out after 10m"
    assert automation_hook.ended_at and automation_hook.started_at
    assert (automation_hook.ended_at - automation_hook.started_at).total_seconds() >= 600
    assert starts(box, execution) == []
    assert execution.status is ExecutionStatus.FAILED
    texts = thread_texts(box, execution)
    assert any(":alarm_clock: Before-hook 2/2" in t and "timed out" in t for t in texts), texts


def test_drill_false_is_skipped_in_a_drill_and_run_in_a_recovery(box: Sandbox) -> None:
    drill = run(box, "plan-hook-dns")
    assert lambda_calls(box, drill) == []
    assert drill.status is ExecutionStatus.COMPLETED
    assert drill.waves[0].hooks[0].status is HookStatus.SKIPPED
    assert any(
        "After-hook 1/1 of wave 1/1 Edge: Lambda drs-hook-ok skipped: drill: false" in t
        for t in thread_texts(box, drill)
    )

    recovery = run(box, "plan-hook-dns", "recovery")
    [call] = lambda_calls(box, recovery)
    assert call.payload["execution_type"] == "RECOVERY" and call.payload["payload"] == {"record": "www"}
    assert recovery.waves[0].hooks[0].status is HookStatus.SUCCEEDED
