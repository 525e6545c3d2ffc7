"""The Home tab kept current through the sandbox: a user opens it once; a stall DRS reports, a drill's
start and its end reach that user's tab by views.publish (read from the fake Slack's records) without
the user opening it again; what changes nothing publishes nothing; a Slack refusal fails nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack.ids import APPROVE_ACTION
from tests.e2e.conftest import APPROVER, Sandbox, apply_plans, restore_catalog
from tests.e2e.test_approvals import REQUESTER, request_recovery
from tests.e2e.test_home import open_home, texts
from tests.e2e.test_observability import Metrics, metrics, values

__all__ = ["metrics"]  # the fixture: EMF documents the functions print


def sid(n: int) -> str:
    return f"s-hl{n:015d}"


SERVERS = [sid(1), sid(2)]
ADDED = [sid(3)]
CHANNEL = "C0HOMELIV1"
VIEWER = "U0HOMELIV1"
PLANS = f"""
protection_groups:
  - name: home-live
    region: us-east-1
    source_servers: [{", ".join(SERVERS)}]
plans:
  - name: home-live
    channel: {CHANNEL}
    waves:
      - name: All
        protection_group: home-live
"""


def apply(box: Sandbox, directory: Path, text: str) -> None:
    """`drs-bot plans apply` as an operator runs it: DynamoDB only, no Slack."""
    applied = apply_plans(box, text, directory)
    assert applied.returncode == 0, applied.stderr


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """These plans, applied as an operator applies them; the package's catalog comes back afterwards."""
    stack = sandbox.stack
    stack.drs.add_source_servers("us-east-1", ids=SERVERS + ADDED)
    apply(sandbox, tmp_path_factory.mktemp("home"), PLANS)
    stack.run_watch()  # the plan's first verdict
    # Executions other modules left running would republish every viewer's tab as they end.
    eventually(lambda: not stack.bot.store.active_ids(), timeout=60)
    yield sandbox
    restore_catalog(sandbox)


def eventually(check: Callable[[], Any], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def publishes(box: Sandbox, user: str) -> list[dict[str, Any]]:
    """The views.publish calls Slack received for `user`'s tab, in order."""
    return [
        call
        for call in box.stack.slack.calls
        if call["method"] == "views.publish" and call["params"].get("user_id") == user
    ]


def published(call: dict[str, Any]) -> dict[str, Any]:
    """The view a views.publish call sent (slack_sdk sends it as JSON text in a form field)."""
    view = call["params"]["view"]
    return json.loads(view) if isinstance(view, str) else dict(view)


def plan_line(view: dict[str, Any] | None) -> str:
    assert view is not None
    return next(line for line in texts(view).split("\n*") if line.lstrip("*").startswith("home-live*"))


def tab(box: Sandbox, user: str = VIEWER) -> dict[str, Any] | None:
    return box.stack.slack.home_view(user)


def test_a_stall_reaches_the_open_tab_without_reopening_it_and_a_round_that_changes_nothing_does_not(
    box: Sandbox,
) -> None:
    assert "Readiness: :large_green_circle: READY since " in plan_line(open_home(box, VIEWER))
    opened = len(publishes(box, VIEWER))

    # DRS's event runs a round at once (the watch rule); its verdict changes: the tab follows.
    box.stack.drs.set_replication_state(SERVERS[1], "STALLED")
    assert eventually(lambda: "BLOCKED since" in plan_line(tab(box))), plan_line(tab(box))
    box.settle()
    after_stall = len(publishes(box, VIEWER))
    assert after_stall > opened
    view = tab(box)
    assert view is not None and view["type"] == "home" and len(view["blocks"]) <= 100  # Slack took it

    # Rounds that find the same verdicts publish nothing.
    for _ in range(2):
        assert box.stack.run_watch()["home_changed"] is False
    box.settle()
    assert len(publishes(box, VIEWER)) == after_stall

    box.stack.drs.set_replication_state(SERVERS[1], "CONTINUOUS")
    assert eventually(lambda: "READY since" in plan_line(tab(box))), plan_line(tab(box))


def test_a_drill_appears_on_the_tab_with_a_link_while_it_runs_and_leaves_it_when_it_ends(
    box: Sandbox,
) -> None:
    open_home(box, VIEWER)
    before = len(publishes(box, VIEWER))
    calls = len(box.stack.drs.calls)
    reply = box.command("execute home-live drill", channel=CHANNEL, user="U0HOMELIV2")
    assert reply.status == 200, reply.body
    ended = box.finished_execution(CHANNEL)
    box.settle()

    def listing(view: dict[str, Any] | None) -> str | None:
        shown = texts(view) if view else ""
        return next((line for line in shown.splitlines() if ended.execution_id in line), None)

    # What Slack received for the viewer, in order (read from its records: the drill may end before
    # anyone looks): the start listed it running with a link to its channel, the end took it off.
    # The end's republish follows the delivery of its last message: wait for it, then for any more.
    eventually(lambda: len(publishes(box, VIEWER)) >= before + 2)
    box.settle()
    during = publishes(box, VIEWER)[before:]
    assert len(during) == 2, [listing(published(call)) for call in during]
    started, finished = (published(call) for call in during)
    line = listing(started)
    assert line and "*Drill* of `home-live`" in line and "IN_PROGRESS" in line, texts(started)
    assert "started by <@U0HOMELIV2>" in line
    assert f"<https://slack.com/app_redirect?channel={CHANNEL}|open its channel>" in line
    assert listing(finished) is None and listing(tab(box)) is None
    assert f"Last drill: {ended.status.value} " in plan_line(finished)
    # Many ticks ran the drill (launches, progress, the picture); the tab was published for what it
    # shows, the start and the end, not per tick.
    ticks = [c for c in box.stack.drs.calls[calls:] if c.operation == "DescribeJobs"]
    assert len(ticks) > len(during)


def test_a_slack_refusal_of_the_tab_is_counted_and_fails_nothing(box: Sandbox, metrics: Metrics) -> None:
    open_home(box, VIEWER)

    def refused() -> list[dict[str, Any]]:
        return [c for c in publishes(box, VIEWER) if c["outcome"] == "fault:refused"]

    box.stack.slack.inject_fault("views.publish", "refused", count=50, error="invalid_arguments")
    try:
        reply = box.command("execute home-live drill", channel=CHANNEL, user="U0HOMELIV2")
        assert reply.status == 200, reply.body
        # The drill runs to its end and its thread is told, whatever Slack says of the Home tab.
        ended = box.finished_execution(CHANNEL)
        assert ended.status.is_terminal
        anchor = [m for m in box.public(CHANNEL) if m["ts"] == ended.anchor_ts]
        assert anchor
        eventually(lambda: len(refused()) >= 2)  # the end's republish follows its last message
        box.settle()
    finally:
        box.stack.slack.clear_faults()
    assert len(refused()) == 2  # the start and the end, each tried once and let go
    # Counted once per refusal Slack answered (other tests' users have the tab too).
    every = [
        c for c in box.stack.slack.calls if c["method"] == "views.publish" and c["outcome"] == "fault:refused"
    ]
    documents = metrics.documents()
    assert values(documents, "HomePublishFailures", ErrorCode="invalid_arguments") == [1] * len(every)


def test_plans_apply_reaches_the_tab_at_the_next_round_and_a_removed_plans_watch_state_goes(
    box: Sandbox, tmp_path: Path
) -> None:
    open_home(box, VIEWER)
    added = PLANS.replace(
        "plans:\n",
        f"""  - name: home-added
    region: us-east-1
    source_servers: [{ADDED[0]}]
plans:
  - name: home-added
    description: Ledger & <cache>
    waves:
      - name: All
        protection_group: home-added
""",
    )
    apply(box, tmp_path, added)
    before = len(publishes(box, VIEWER))
    box.stack.run_watch()  # a new plan: its first verdict changes the tab
    assert "*home-added* — Ledger &amp; &lt;cache&gt;" in texts(tab(box) or {"blocks": []})
    assert len(publishes(box, VIEWER)) == before + 1

    # A definition changed, no verdict did: the round sees the catalog differ from the tab's.
    apply(box, tmp_path, added.replace("Ledger & <cache>", "Ledger only"))
    box.stack.run_watch()
    assert "*home-added* — Ledger only" in texts(tab(box) or {"blocks": []})
    assert len(publishes(box, VIEWER)) == before + 2
    box.stack.run_watch()  # nothing changed since
    assert len(publishes(box, VIEWER)) == before + 2

    apply(box, tmp_path, PLANS)
    assert "home-added" in box.stack.bot.watch_store.states()
    result = box.stack.run_watch()
    assert result["forgotten"] == ["home-added"]
    assert "home-added" not in box.stack.bot.watch_store.states()
    assert "home-added" not in texts(tab(box) or {"blocks": []})
    assert len(publishes(box, VIEWER)) == before + 3


def test_a_recovery_shows_awaiting_approval_then_running_once_approved_then_leaves(box: Sandbox) -> None:
    open_home(box, VIEWER)
    channel = box.new_channel()
    execution, card = request_recovery(box, channel, plan="home-live")

    def line() -> str:
        view = tab(box)
        shown = texts(view) if view else ""
        return next((ln for ln in shown.splitlines() if execution.execution_id in ln), "")

    assert eventually(lambda: "PENDING_APPROVAL" in line()), line()
    assert "*Recovery* of `home-live`" in line()
    before = len(publishes(box, VIEWER))
    box.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=APPROVER)
    box.finished_execution(channel)
    assert eventually(lambda: line() == ""), line()
    # Between: the views published once it was approved listed it running, until it ended.
    lines = [
        ln
        for call in publishes(box, VIEWER)[before:]
        for ln in texts(published(call)).splitlines()
        if execution.execution_id in ln
    ]
    assert lines and all("IN_PROGRESS" in ln for ln in lines), lines


def test_a_recovery_cancelled_while_awaiting_approval_leaves_the_tab(box: Sandbox) -> None:
    open_home(box, VIEWER)
    channel = box.new_channel()
    execution, _ = request_recovery(box, channel, plan="home-live")

    def listed() -> bool:
        view = tab(box)
        return view is not None and execution.execution_id in texts(view)

    assert eventually(listed)
    # Ended at once (CANCELLED), with no other event than the cancel: the cancel's delivery republishes.
    reply = box.command(f"cancel {execution.execution_id}", channel=channel, user=REQUESTER)
    assert reply.status == 200, reply.body
    assert eventually(lambda: not listed()), texts(tab(box) or {"blocks": []})
    assert box.stored(execution.execution_id).status.value == "CANCELLED"
