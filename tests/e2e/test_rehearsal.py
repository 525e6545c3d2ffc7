"""Rehearsing "always ready" in the sandbox by moving its time (`SandboxStack.advance`, what
`drs-bot sandbox advance` asks a running sandbox for): schedules `drs-bot plans apply` stored fire at
their time by themselves, the watch runs every `watch_minutes`, and nothing waits for real time.

The package's stack runs its clock 600x (a real second is 10 minutes), so assertions on times allow for
the real seconds that pass; what moves the clock by days here is `advance`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from bot.adapters.dynamodb import DynamoCatalogStore
from bot.domain.execution import CleanupStatus, ExecutionStatus
from bot.domain.schedule import next_start
from bot.wiring import moved_time
from sandbox.stack import REGION, TABLES
from tests.e2e.conftest import Sandbox
from tests.e2e.test_scheduled_drills import apply

HOUR = 3600
DAY = 24 * HOUR


def sid(n: int) -> str:
    return f"s-rh{n:015d}"


DRILLED = [sid(1), sid(2)]
CADENCED = [sid(3)]
# Plan names unlike other files' too: the watch's state of a plan outlives its catalog in the shared stack.
WATCHED = [sid(4), sid(5)]
CALENDAR = [sid(6), sid(7), sid(8)]  # stalled: their plans' scheduled drills are skipped, saying when due


@pytest.fixture(scope="module")
def box(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The package's stack with the watch on a 30-minute schedule, as the stack's default."""
    stack = sandbox.stack
    stack.drs.add_source_servers("us-east-1", ids=DRILLED + CADENCED + WATCHED)
    stack.drs.add_source_servers("us-east-1", ids=CALENDAR, replication_state="STALLED")
    stack.watch_every(30)
    yield sandbox
    stack.watch_every(None)
    catalog = DynamoCatalogStore(
        boto3.client("dynamodb", region_name=REGION, endpoint_url=stack.moto.url), TABLES["CatalogTable"]
    )
    catalog.replace(stack.catalog, applied_by="sandbox", now=stack.bot.clock())
    scheduler = boto3.client("scheduler", region_name=REGION, endpoint_url=stack.moto.url)
    for schedule in scheduler.list_schedules(GroupName="drs-chatops")["Schedules"]:
        scheduler.delete_schedule(Name=schedule["Name"], GroupName="drs-chatops")


def eventually(check: Callable[[], Any], timeout: float = 20) -> Any:
    """What the executor's runner (real-time ticks) does after a move of time."""
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def texts(box: Sandbox, channel: str) -> list[str]:
    box.settle()
    return [m["text"] for m in box.public(channel)]


def test_a_scheduled_drill_starts_at_its_time_not_before_runs_and_is_cleaned_up(
    box: Sandbox, tmp_path: Path
) -> None:
    stack = box.stack
    # Due a day and a half from now, written in Paris time as an operator there would.
    due = (stack.bot.clock() + timedelta(days=1, hours=12)).replace(second=0, microsecond=0)
    paris = due.astimezone(ZoneInfo("Europe/Paris"))
    channel = "C0REHEARS1"
    plans = f"""
protection_groups:
  - name: rh-drilled
    region: us-east-1
    source_servers: [{", ".join(DRILLED)}]
plans:
  - name: rh-scheduled
    channel: {channel}
    cleanup_after: 30m
    schedule: {{expression: "cron({paris.minute} {paris.hour} {paris.day} {paris.month} ? {paris.year})",
                timezone: Europe/Paris}}
    waves:
      - name: All
        protection_group: rh-drilled
"""
    applied = apply(stack.moto.url, tmp_path, plans)
    assert applied.returncode == 0 and "schedules: created rh-scheduled" in applied.stdout, applied.stderr
    before = len(stack.drs.calls)

    assert stack.advance((due - stack.bot.clock()).total_seconds() - HOUR) == []
    assert [c for c in stack.drs.calls[before:] if c.operation == "StartRecovery"] == []
    assert texts(box, channel) == []

    (run,) = stack.advance(2 * HOUR)
    assert run["started"] and run["execution_id"]
    (start,) = [c for c in stack.drs.calls[before:] if c.operation == "StartRecovery"]
    # Started at its time by DRS's clock (the jump stopped there; the clock runs on meanwhile),
    # as `scheduler`, a drill.
    assert due <= start.time < due + timedelta(minutes=20)
    assert start.params["isDrill"] is True
    assert {s["sourceServerID"] for s in start.params["sourceServers"]} == set(DRILLED)
    drill = box.stored(run["execution_id"])
    assert drill.initiated_by == "scheduler"
    assert any("rh-scheduled" in text for text in texts(box, channel))

    # Each move lets DRS's launch finish; the executor's ticks carry the drill to its end.
    def finished() -> bool:
        stack.advance(5 * 60)
        return box.stored(run["execution_id"]).status.is_terminal

    assert eventually(finished)
    drill = box.stored(run["execution_id"])
    assert drill.status is ExecutionStatus.COMPLETED
    assert drill.cleanup is None or drill.cleanup.status is not CleanupStatus.DONE
    # cleanup_after (30m) passes: the instances are terminated, nothing is left running.
    stack.advance(31 * 60)

    def cleaned() -> bool:
        cleanup = box.stored(run["execution_id"]).cleanup
        return cleanup is not None and cleanup.status is CleanupStatus.DONE

    assert eventually(cleaned)
    instances = {s.instance_id for s in box.stored(run["execution_id"]).servers()}
    assert [
        c
        for c in stack.drs.calls[before:]
        if c.operation == "TerminateRecoveryInstances" and set(c.params["recoveryInstanceIDs"]) == instances
    ]
    # The schedule's year is over: moving on starts nothing more.
    stack.advance(60 * DAY)
    assert len([c for c in stack.drs.calls[before:] if c.operation == "StartRecovery"]) == 1


def test_an_overdue_plan_is_reminded_once_then_weekly_and_not_after_a_successful_drill(
    box: Sandbox, tmp_path: Path
) -> None:
    stack = box.stack
    channel = "C0REHEARS2"
    plans = f"""
protection_groups:
  - name: rh-cadenced
    region: us-east-1
    source_servers: [{", ".join(CADENCED)}]
plans:
  - name: rh-overdue
    channel: {channel}
    drill_every: 30d
    waves:
      - name: All
        protection_group: rh-cadenced
"""
    applied = apply(stack.moto.url, tmp_path, plans)
    assert applied.returncode == 0, applied.stderr

    def reminders() -> list[str]:
        return [t for t in texts(box, channel) if "is due for a drill" in t]

    # Never drilled: overdue at once. A jump's rounds are one round, and a round that tells the plan's
    # first verdict leaves the reminder to the next: two jumps, two rounds.
    stack.advance(HOUR)
    stack.advance(HOUR)
    assert len(reminders()) == 1 and "`rh-overdue` is due for a drill" in reminders()[0]
    stack.advance(6 * DAY)
    assert len(reminders()) == 1
    stack.advance(DAY + HOUR)
    assert len(reminders()) == 2

    # A successful drill: no reminder after it, however long (within drill_every).
    reply = box.command("execute rh-overdue drill", channel=channel)
    assert reply.status == 200, reply.body

    def drilled() -> bool:
        stack.advance(5 * 60)
        execution = stack.bot.store.latest_in_channel(channel)
        return execution is not None and execution.status.is_terminal

    assert eventually(drilled)
    execution = stack.bot.store.latest_in_channel(channel)
    assert execution is not None and execution.status is ExecutionStatus.COMPLETED
    stack.advance(14 * DAY)
    assert len(reminders()) == 2


def test_a_stall_and_its_healing_post_once_each_with_the_watch_on_its_own_schedule(
    box: Sandbox, tmp_path: Path
) -> None:
    stack = box.stack
    channel = "C0REHEARS3"
    plans = f"""
protection_groups:
  - name: rh-watched
    region: us-east-1
    source_servers: [{", ".join(WATCHED)}]
plans:
  - name: rh-guarded
    channel: {channel}
    waves:
      - name: All
        protection_group: rh-watched
"""
    assert apply(stack.moto.url, tmp_path, plans).returncode == 0
    stack.advance(HOUR)
    baseline = len(texts(box, channel))
    rounds = len([c for c in stack.drs.calls if c.operation == "DescribeSourceServers"])

    # DRS's event may run a round at once; the schedule's rounds that follow find nothing new.
    stack.drs.set_replication_state(WATCHED[1], "STALLED")
    stack.advance(31 * 60)
    (blocked,) = texts(box, channel)[baseline:]
    assert "Now: BLOCKED: replication is STALLED" in blocked and WATCHED[1] in blocked
    stack.advance(3 * HOUR)
    assert len(texts(box, channel)) == baseline + 1

    stack.drs.set_replication_state(WATCHED[1], "CONTINUOUS")
    stack.advance(31 * 60)
    (healed,) = texts(box, channel)[baseline + 1 :]
    assert "Resolved: BLOCKED: replication is STALLED" in healed
    stack.advance(3 * HOUR)
    assert len(texts(box, channel)) == baseline + 2
    # The rounds were the schedule's, as time moved: each asked DRS for the region's servers.
    assert len([c for c in stack.drs.calls if c.operation == "DescribeSourceServers"]) >= rounds + 4


def test_w_l_and_hash_schedules_fire_exactly_when_the_domain_says(box: Sandbox, tmp_path: Path) -> None:
    """The sandbox's scheduler reads cron as the bot does (the Home tab's "next scheduled drill"):
    each schedule fires at the domain's next_start, not before (the clock runs 600x: an hour is 6 real
    seconds of margin), and Scheduler's input names that time to the second. Their plans are BLOCKED,
    so each firing is a skip message naming the time it was scheduled for."""
    stack = box.stack
    schedules = {
        "rh-nearest": ("C0REHEARS4", "cron(0 9 1W * ? *)", "Europe/Paris"),
        "rh-last": ("C0REHEARS5", "cron(30 22 L * ? *)", "UTC"),
        "rh-third": ("C0REHEARS6", "cron(0 7 ? * TUE#3 *)", "America/New_York"),
    }
    groups = "".join(
        f"""
  - name: {name}-group
    region: us-east-1
    source_servers: [{server}]"""
        for name, server in zip(schedules, CALENDAR, strict=True)
    )
    plans = "".join(
        f"""
  - name: {name}
    channel: {channel}
    cleanup_after: 1h
    schedule: {{expression: "{expression}", timezone: {zone}}}
    waves:
      - name: All
        protection_group: {name}-group"""
        for name, (channel, expression, zone) in schedules.items()
    )
    applied = apply(stack.moto.url, tmp_path, f"protection_groups:{groups}\nplans:{plans}\n")
    assert applied.returncode == 0, applied.stderr
    stack.advance(60)  # the scheduler sees the new schedules: they count from here
    now = stack.bot.clock()
    dues = {name: next_start(expression, zone, now) for name, (_, expression, zone) in schedules.items()}
    for name in sorted(dues, key=lambda n: dues[n] or now):
        due = dues[name]
        assert due is not None
        channel = schedules[name][0]
        stack.advance((due - stack.bot.clock()).total_seconds() - HOUR)
        assert not [t for t in texts(box, channel) if "skipped" in t], name
        stack.advance(2 * HOUR)
        stamp = due.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert [t for t in texts(box, channel) if "skipped" in t and f"(scheduled for {stamp})" in t], (
            name,
            stamp,
            texts(box, channel),
        )


def test_drs_bot_sandbox_advance_moves_a_running_sandbox_and_refuses_bad_durations(box: Sandbox) -> None:
    stack = box.stack
    moved_before = moved_time.offset(stack.clock_origin)
    before, drs_before = stack.bot.clock(), stack.drs.now()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "drs_cli.main", "sandbox", "advance", *args, "--url", stack.admin_url],
            capture_output=True,
            text=True,
            timeout=60,
        )

    moved = cli("2d3h")
    assert moved.returncode == 0, moved.stderr
    # Moved to 2d3h after the request (real seconds of the 600x clock count towards it).
    moved_after = moved_time.offset(stack.clock_origin)
    assert timedelta(days=2) < moved_after - moved_before <= timedelta(days=2, hours=3)
    now = datetime.fromisoformat(moved.stdout.split("sandbox time is now ")[1].split()[0])
    assert now - before >= timedelta(days=2, hours=3)
    # DRS's clock (and Slack's, which reads it) moved by as much as the bot's.
    drift = (stack.drs.now() - drs_before) - (stack.bot.clock() - before)
    assert abs(drift) < timedelta(seconds=30)

    for bad in ("7", "3w", "1h2d", "1.5d", ""):
        refused = cli(bad)
        assert refused.returncode == 2 and "is not a duration (like 7d" in refused.stderr, (
            bad,
            refused.stderr,
        )
    zero = cli("0d")
    assert zero.returncode == 2 and "time moves forward only" in zero.stderr
    gone = subprocess.run(
        [
            sys.executable,
            "-m",
            "drs_cli.main",
            "sandbox",
            "advance",
            "1h",
            "--url",
            "http://127.0.0.1:9/_sandbox",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone.returncode == 1 and "no sandbox answers at http://127.0.0.1:9/_sandbox" in gone.stderr

    def post(body: bytes) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(stack.admin_url + "/advance", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    for body in (b"nope", b"{}", b'{"seconds": -5}', b'{"seconds": true}', b'{"seconds": 1, "x": 2}'):
        status, answer = post(body)
        assert status == 400 and answer["error"], body
    # What was refused moved nothing.
    assert moved_time.offset(stack.clock_origin) == moved_after
