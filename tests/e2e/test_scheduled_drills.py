"""Scheduled drills through the sandbox: EventBridge Scheduler's invocation at a plan's time starts
its drill as `scheduler`, announced in the plan's channel, or skips it there with the reason."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.domain.execution import CleanupStatus, ExecutionStatus
from sandbox.stack import REGION, TABLES
from tests.e2e.conftest import Sandbox, restore_catalog
from tests.e2e.test_home import open_home, texts


def sid(n: int) -> str:
    return f"s-sd{n:015d}"


READY = [sid(1), sid(2)]
STALLED = [sid(3)]
ON_TIME = "C0SCHED001"
BLOCKED = "C0SCHED002"
PLANS = f"""
protection_groups:
  - name: sched-ready
    region: us-east-1
    source_servers: [{", ".join(READY)}]
  - name: sched-stalled
    region: us-east-1
    source_servers: [{", ".join(STALLED)}]
plans:
  - name: monthly
    channel: {ON_TIME}
    cleanup_after: 30m
    schedule: {{expression: "cron(0 9 ? * MON#1 *)", timezone: Europe/Paris}}
    waves:
      - name: All
        protection_group: sched-ready
  - name: stuck
    channel: {BLOCKED}
    cleanup_after: 1h
    schedule: {{expression: "rate(30 days)"}}
    waves:
      - name: All
        protection_group: sched-stalled
"""


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    stack = sandbox.stack
    stack.drs.add_source_servers("us-east-1", ids=READY)
    stack.drs.add_source_servers("us-east-1", ids=STALLED, replication_state="STALLED")
    applied = apply(stack.moto.url, tmp_path_factory.mktemp("scheduled"), PLANS)
    assert applied.returncode == 0, applied.stderr
    assert "schedules: created monthly, stuck; updated none; deleted none" in applied.stdout
    yield sandbox
    restore_catalog(sandbox)
    # The sandbox fires stored schedules at their time: these plans are gone, so are their schedules.
    scheduler = boto3.client("scheduler", region_name=REGION, endpoint_url=stack.moto.url)
    for schedule in scheduler.list_schedules(GroupName="drs-chatops")["Schedules"]:
        scheduler.delete_schedule(Name=schedule["Name"], GroupName="drs-chatops")


TARGET = "arn:aws:lambda:us-east-1:123456789012:function:drs-chatops-scheduled-drill"
ROLE = "arn:aws:iam::123456789012:role/drs-chatops-scheduler"


def apply(moto_url: str, directory: Path, text: str, **more: str) -> subprocess.CompletedProcess[str]:
    """`drs-bot plans apply` as an operator runs it, with the stack's CliEnvironment (Scheduler on moto)."""
    plans = directory / "plans.yml"
    plans.write_text(text)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "AWS_ENDPOINT_URL_SCHEDULER": moto_url,
        "DRS_BOT_REGION": REGION,
        "DRS_BOT_CATALOG_TABLE": TABLES["CatalogTable"],
        "DRS_BOT_EXECUTIONS_TABLE": TABLES["ExecutionsTable"],
        "DRS_BOT_SCHEDULED_DRILL_ARN": TARGET,
        "DRS_BOT_SCHEDULER_ROLE_ARN": ROLE,
        **more,
    }
    env = {name: value for name, value in env.items() if value}
    return subprocess.run(
        [sys.executable, "-m", "drs_cli.main", "plans", "apply", str(plans)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def starts(box: Sandbox, since: int) -> list[Any]:
    return [c for c in box.stack.drs.calls[since:] if c.operation == "StartRecovery"]


def test_a_scheduled_drill_starts_at_its_time_as_scheduler_and_a_second_one_meanwhile_is_skipped(
    box: Sandbox,
) -> None:
    before = len(box.stack.drs.calls)
    run = box.stack.fire_schedule("monthly", "2026-12-07T08:00:00Z")
    assert run["started"] and run["execution_id"]
    # Scheduler delivers at least once: the same scheduled time again starts nothing new.
    assert box.stack.fire_schedule("monthly", "2026-12-07T08:00:00Z")["execution_id"] == run["execution_id"]
    # Another schedule's time while the drill runs: skipped, and the channel is told why.
    busy = box.stack.fire_schedule("monthly", "2026-12-07T08:00:01Z")
    assert not busy["started"] and run["execution_id"] in busy["skipped_because"][0]
    drill = box.finished_execution(ON_TIME)
    assert drill.execution_id == run["execution_id"] and drill.status is ExecutionStatus.COMPLETED
    assert drill.initiated_by == "scheduler"
    (start,) = starts(box, before)
    assert {item["sourceServerID"] for item in start.params["sourceServers"]} == set(READY)
    assert start.params["isDrill"] is True
    texts = [m["text"] for m in box.public(ON_TIME)]
    assert any("Scheduled drill of `monthly` skipped" in text and "is running" in text for text in texts)
    # cleanup_after (30 emulated minutes, 3 real seconds): the scheduled drill leaves nothing running.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        drill = box.stored(drill.execution_id)
        if drill.cleanup is not None and drill.cleanup.status is CleanupStatus.DONE:
            break
        time.sleep(0.2)
    assert drill.cleanup is not None and drill.cleanup.status is CleanupStatus.DONE
    instances = {s.instance_id for s in drill.servers()}
    assert [
        c
        for c in box.stack.drs.calls[before:]
        if c.operation == "TerminateRecoveryInstances" and set(c.params["recoveryInstanceIDs"]) == instances
    ]


def test_a_blocked_plans_scheduled_drill_is_skipped_with_the_reason(box: Sandbox) -> None:
    before = len(box.stack.drs.calls)
    run = box.stack.fire_schedule("stuck", "2026-12-01T00:00:00Z")
    assert not run["started"]
    box.settle()
    assert starts(box, before) == []
    (told,) = [m["text"] for m in box.public(BLOCKED)]
    assert told.startswith(
        ":fast_forward: *Scheduled drill of `stuck` skipped* (scheduled for 2026-12-01T00:00:00Z)"
    )
    assert "readiness is BLOCKED" in told and "replication is STALLED" in told and STALLED[0] in told
    # Repeated delivery of the same schedule: told once.
    box.stack.fire_schedule("stuck", "2026-12-01T00:00:00Z")
    box.settle()
    assert len(box.public(BLOCKED)) == 1


def test_plans_apply_keeps_the_schedules_equal_to_the_catalog(box: Sandbox, tmp_path: Path) -> None:
    scheduler = boto3.client("scheduler", region_name=REGION, endpoint_url=box.stack.moto.url)

    def schedules() -> dict[str, dict[str, Any]]:
        names = [s["Name"] for s in scheduler.list_schedules(GroupName="drs-chatops")["Schedules"]]
        return {name: scheduler.get_schedule(Name=name, GroupName="drs-chatops") for name in names}

    found = schedules()
    assert set(found) == {"monthly", "stuck"}
    monthly = found["monthly"]
    assert (monthly["ScheduleExpression"], monthly["ScheduleExpressionTimezone"]) == (
        "cron(0 9 ? * MON#1 *)",
        "Europe/Paris",
    )
    assert monthly["Target"]["Arn"] == TARGET and monthly["Target"]["RoleArn"] == ROLE
    assert json.loads(monthly["Target"]["Input"]) == {
        "plan": "monthly",
        "scheduled_time": "<aws.scheduler.scheduled-time>",
    }
    # Applied again unchanged: nothing to do.
    again = apply(box.stack.moto.url, tmp_path, PLANS)
    assert "schedules: created none; updated none; deleted none" in again.stdout, again.stderr
    # One schedule changed, one plan's schedule removed.
    changed = PLANS.replace("cron(0 9 ? * MON#1 *)", "rate(7 days)").replace(
        '    schedule: {expression: "rate(30 days)"}\n', ""
    )
    applied = apply(box.stack.moto.url, tmp_path, changed)
    assert "schedules: created none; updated monthly; deleted stuck" in applied.stdout, applied.stderr
    assert {name: s["ScheduleExpression"] for name, s in schedules().items()} == {"monthly": "rate(7 days)"}
    # Without the stack's target, a file with schedules is refused whole: the catalog stays as it was.
    refused = apply(box.stack.moto.url, tmp_path, PLANS, DRS_BOT_SCHEDULED_DRILL_ARN="")
    assert refused.returncode == 2 and "DRS_BOT_SCHEDULED_DRILL_ARN" in refused.stderr
    assert set(schedules()) == {"monthly"}
    restored = apply(box.stack.moto.url, tmp_path, PLANS)
    assert "created stuck; updated monthly; deleted none" in restored.stdout, restored.stderr


def test_the_home_tab_says_when_each_scheduled_drill_next_starts(box: Sandbox) -> None:
    shown = texts(open_home(box, "U0HOMESCHED"))
    monthly = next(part for part in shown.split("\n*") if part.startswith("monthly*"))
    found = re.search(
        r"Next scheduled drill: (\d{4}-\d\d-\d\d) (\d\d):00 UTC \(`cron\(0 9 \? \* MON#1 \*\)` in Europe/Paris\)",
        monthly,
    )
    assert found, monthly
    day = datetime.strptime(found.group(1), "%Y-%m-%d")
    assert day.weekday() == 0 and day.day <= 7 and found.group(2) in ("07", "08")  # 9:00 in Paris
    stuck = next(part for part in shown.split("\n*") if part.startswith("stuck*"))
    assert "Scheduled drills: `rate(30 days)` (UTC)" in stuck
