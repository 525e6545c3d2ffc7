"""The readiness watch through the sandbox: plans applied with `drs-bot plans apply`, DRS's servers
stalling and healing on the emulator, the watch function run by its schedule's event or by DRS's
replication-stalled event, and what the plans' channels and `/drs plans` say."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Sandbox, apply_plans, restore_catalog


def sid(n: int) -> str:
    return f"s-wa{n:015d}"


DB = [sid(1), sid(2)]
WEB = [sid(3)]
QUIET = [sid(4)]
CADENCED = [sid(5)]
FAR = [sid(6)]  # in a region where DRS was never initialized
CHANNEL = "C0WATCH001"
DRILLS = "C0WATCH002"
ELSEWHERE = "C0WATCH003"
PLANS = f"""
protection_groups:
  - name: watch-db
    region: us-east-1
    source_servers: [{", ".join(DB)}]
  - name: watch-web
    region: us-east-1
    source_servers: [{", ".join(WEB)}]
  - name: watch-quiet
    region: us-east-1
    source_servers: [{", ".join(QUIET)}]
  - name: watch-cadenced
    region: us-east-1
    source_servers: [{", ".join(CADENCED)}]
  - name: watch-far
    region: eu-west-2
    source_servers: [{", ".join(FAR)}]
plans:
  - name: watched
    channel: {CHANNEL}
    rpo_target: 15m
    waves:
      - name: Databases
        protection_group: watch-db
      - name: Web
        protection_group: watch-web
  - name: unannounced
    waves:
      - name: Quiet
        protection_group: watch-quiet
  - name: cadenced
    channel: {DRILLS}
    drill_every: 30d
    waves:
      - name: Only
        protection_group: watch-cadenced
  - name: far-away
    channel: {ELSEWHERE}
    waves:
      - name: Far
        protection_group: watch-far
"""


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """These plans, applied as a user applies them; the package's catalog comes back afterwards."""
    stack = sandbox.stack
    stack.drs.add_source_servers("us-east-1", ids=[*DB, *WEB, *QUIET, *CADENCED])
    applied = apply_plans(sandbox, PLANS, tmp_path_factory.mktemp("watch"))
    assert applied.returncode == 0, applied.stderr
    # The first round: every plan's verdict stored, and `cadenced` (never drilled) reminded.
    stack.run_watch()
    yield sandbox
    restore_catalog(sandbox)


def news(box: Sandbox, channel: str = CHANNEL) -> list[str]:
    return [m["text"] for m in box.public(channel)]


def wait_for_news(box: Sandbox, count: int, timeout: float = 15) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        box.settle()
        if len(news(box)) >= count:
            return news(box)
        time.sleep(0.05)
    errors = [i.error for i in box.stack.lambdas.invocations if i.error]
    raise AssertionError(f"{count} messages expected in {CHANNEL}, got {news(box)}; lambda errors {errors}")


def test_the_watch_posts_when_a_stall_blocks_the_plan_and_when_it_heals_once_each(box: Sandbox) -> None:
    drs = box.stack.drs
    told = len(news(box))
    before = len(drs.calls)
    first = box.stack.run_watch()
    # Every plan, from one DescribeSourceServers pass per region (not one per plan or server).
    assert first["plans_checked"] == 4 and first["news_posted"] == 0
    # (Executions of other modules may still be ticking: only this listing is the watch's.)
    calls = [c for c in drs.calls[before:] if c.operation == "DescribeSourceServers"]
    assert calls and not [c for c in calls if (c.params.get("filters") or {}).get("sourceServerIDs")]
    # One pass per region (us-east-1, eu-west-2): a first page, then the following pages of it.
    assert len([c for c in calls if not c.params.get("nextToken")]) == 2
    assert len(news(box)) == told  # nothing changed: nothing to say

    # DRS reports the stall as an EventBridge event; the watch rule runs a round at once.
    drs.set_replication_state(DB[1], "STALLED")
    (blocked,) = wait_for_news(box, told + 1)[told:]
    assert blocked.startswith(":red_circle: *Readiness of `watched` changed: READY → BLOCKED*")
    assert "Now: BLOCKED: replication is STALLED" in blocked and DB[1] in blocked

    # Rounds that find the same verdict post nothing, whatever else they store.
    for _ in range(2):
        assert box.stack.run_watch()["news_posted"] == 0
    box.settle()
    assert len(news(box)) == told + 1

    drs.set_replication_state(DB[1], "CONTINUOUS")
    (healed,) = wait_for_news(box, told + 2)[told + 1 :]
    assert healed.startswith(":large_green_circle: *Readiness of `watched` changed: BLOCKED → READY*")
    assert "Resolved: BLOCKED: replication is STALLED" in healed
    assert box.stack.run_watch()["news_posted"] == 0
    box.settle()
    assert len(news(box)) == told + 2


def test_two_rounds_at_once_tell_the_news_once(box: Sandbox) -> None:
    # Lag over the plan's rpo_target sends no DRS event: only the schedule's rounds see it.
    told = len(news(box))
    box.stack.drs.set_replication_state(WEB[0], "CONTINUOUS", lag="PT40M")
    results: list[dict[str, Any]] = []
    rounds = [threading.Thread(target=lambda: results.append(box.stack.run_watch())) for _ in range(3)]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join()
    box.settle()
    assert sum(result["news_posted"] for result in results) == 1
    (warned,) = news(box)[told:]
    assert "READY → WARN" in warned and "rpo_target of 15 min" in warned and WEB[0] in warned
    box.stack.drs.set_replication_state(WEB[0], "CONTINUOUS", lag="P0D")
    box.stack.run_watch()
    assert "WARN → READY" in news(box)[-1]


def test_a_plan_without_a_channel_is_watched_and_shown_but_announces_nothing(box: Sandbox) -> None:
    box.stack.drs.set_replication_state(QUIET[0], "DISCONNECTED")
    box.stack.run_watch()
    box.settle()
    assert [text for text in news(box) if "unannounced" in text] == []
    channel = box.new_channel()
    box.command("plans", channel=channel)
    box.settle()
    (listing,) = box.ephemeral(channel)
    assert "• `unannounced`" in listing and "Readiness: :red_circle: BLOCKED since " in listing
    assert "• `watched`" in listing and "Readiness: :large_green_circle: READY since " in listing
    # The sandbox's clock runs 600x: a real second is ten minutes.
    assert re.search(r"READY since \d{4}-\d\d-\d\d \d\d:\d\d UTC, checked \d+ (min|h) ago", listing)
    box.command("check unannounced", channel=channel)
    box.settle()
    checked = box.ephemeral(channel)[-1]
    assert "BLOCKED: replication is DISCONNECTED" in checked
    assert "_Readiness watch: :red_circle: BLOCKED since " in checked
    box.stack.drs.set_replication_state(QUIET[0], "CONTINUOUS")


def test_an_overdue_plan_is_reminded_once_and_a_drill_ends_it(box: Sandbox) -> None:
    (reminder,) = news(box, DRILLS)  # by the module's first round
    assert reminder.startswith(":alarm_clock: *`cadenced` is due for a drill*: it has no successful drill")
    assert "drill_every is 30d" in reminder and "`/drs execute cadenced drill`" in reminder
    for _ in range(2):
        box.stack.run_watch()
    box.settle()
    assert len(news(box, DRILLS)) == 1
    channel = box.new_channel()
    box.command("plans", channel=channel)
    box.settle()
    (listing,) = box.ephemeral(channel)
    line = next(part for part in listing.split("• ") if part.startswith("`cadenced`"))
    assert "Last drill: no drill yet · *overdue* (drill_every 30d)" in line

    box.command("execute cadenced drill", channel=channel)
    drill = box.finished_execution(channel)
    assert drill.status.value == "COMPLETED"
    box.stack.run_watch()
    box.settle()
    assert len(news(box, DRILLS)) == 1
    box.command("plans", channel=channel)
    box.settle()
    listing = box.ephemeral(channel)[-1]
    line = next(part for part in listing.split("• ") if part.startswith("`cadenced`"))
    assert re.search(
        r"Last drill: COMPLETED \d{4}-\d\d-\d\d \d\d:\d\d UTC, (\d+h )?\d+m \d+s \(RTO\) · drill_every 30d",
        line,
    ), line
    assert "overdue" not in line


def test_plans_validate_refuses_what_scheduler_or_the_watch_could_not_use(tmp_path: Path) -> None:
    bad = PLANS.replace(
        "    drill_every: 30d\n",
        '    drill_every: 30d\n    schedule: {expression: "cron(0 9 * * MON *)", timezone: Europe/Paris}\n',
    ).replace(f"channel: {CHANNEL}", "channel: '#dr-drills'")
    plans = tmp_path / "plans.yml"
    plans.write_text(bad)
    checked = subprocess.run(
        [sys.executable, "-m", "drs_cli.main", "plans", "validate", str(plans)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode != 0
    assert "plans[0].channel: '#dr-drills' is not a Slack channel id" in checked.stderr
    assert (
        "plans[2].schedule.expression: cron: exactly one of day-of-month and day-of-week must be ?"
        in checked.stderr
    )


def test_a_region_drs_refuses_blocks_its_plans_once(box: Sandbox) -> None:
    # DRS was never initialized in eu-west-2: nothing there could launch, and the module's first round
    # said so once.
    (told,) = news(box, ELSEWHERE)
    assert told.startswith(":red_circle: *Readiness of `far-away`: BLOCKED*")
    assert "eu-west-2: DRS refused" in told
    box.stack.run_watch()
    box.settle()
    assert len(news(box, ELSEWHERE)) == 1


def test_news_slack_lost_the_answer_to_is_found_not_posted_again(box: Sandbox) -> None:
    told = len(news(box))
    # Slack records the message but the answer is lost: the round cannot know it was posted.
    box.stack.slack.inject_fault("chat.postMessage", "ambiguous")
    box.stack.drs.set_replication_state(WEB[0], "CONTINUOUS", lag="PT50M")
    assert box.stack.run_watch()["news_posted"] == 0
    assert len(news(box)) == told + 1
    # The next round takes the news up again, finds the message by its key, and posts nothing more.
    assert box.stack.run_watch()["news_posted"] == 1
    box.settle()
    (warned,) = news(box)[told:]
    assert "READY → WARN" in warned
    box.stack.drs.set_replication_state(WEB[0], "CONTINUOUS", lag="P0D")
    box.stack.run_watch()
    assert "WARN → READY" in news(box)[-1]
