"""The App Home tab through the sandbox: Slack's signed app_home_opened event through the real Lambda
handler, the view published with views.publish and validated by the fake Slack as Slack would."""

from __future__ import annotations

import json
import time
from typing import Any

from sandbox.stack import slack_signature
from tests.e2e.conftest import Reply, Sandbox


def signed_event(box: Sandbox, payload: dict[str, Any], *, secret: str | None = None) -> Reply:
    """An Events API request as Slack sends it: a JSON body, signed like a command."""
    body = json.dumps(payload)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(secret or box.secret, timestamp, body),
    }
    return box.post(body.encode(), headers)


def home_opened(user: str, tab: str = "home") -> dict[str, Any]:
    return {
        "token": "deprecated-verification-token",
        "team_id": "T0SANDBOX",
        "api_app_id": "A0SANDBOX",
        "type": "event_callback",
        "event_id": f"Ev{time.time_ns()}",
        "event_time": int(time.time()),
        "event": {
            "type": "app_home_opened",
            "user": user,
            "channel": "D0HOME0001",
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        },
    }


def open_home(box: Sandbox, user: str) -> dict[str, Any]:
    reply = signed_event(box, home_opened(user))
    assert reply.status == 200, reply
    box.settle()
    view = box.stack.slack.home_view(user)
    errors = [i.error for i in box.stack.lambdas.invocations if i.error]
    assert view is not None, f"no Home tab published for {user}; lambda errors {errors}"
    return view


def texts(view: dict[str, Any]) -> str:
    found: list[str] = []
    for block in view["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found.extend(element.get("text", "") for element in block.get("elements", []))
    return "\n".join(found)


def test_slack_s_url_verification_challenge_is_answered(sandbox: Sandbox) -> None:
    reply = signed_event(
        sandbox,
        {
            "token": "deprecated",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        },
    )
    assert reply.status == 200
    assert reply.body == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_the_home_tab_shows_verdicts_last_drills_schedules_and_what_runs(sandbox: Sandbox) -> None:
    sandbox.stack.run_watch()  # every plan's verdict stored, as the watch's schedule does
    # plan-slow's conversion takes an emulated hour (6 real seconds): still running when the tab opens,
    # while plan-flaky's drill ends.
    running_in = sandbox.new_channel()
    sandbox.command("execute plan-slow drill", channel=running_in, user="U0HOME0002")
    channel = sandbox.new_channel()
    sandbox.command("execute plan-flaky drill", channel=channel, user="U0HOME0001")
    drilled = sandbox.finished_execution(channel)
    view = open_home(sandbox, "U0HOME0003")

    assert view["type"] == "home"
    assert len(view["blocks"]) <= 100
    shown = texts(view)
    running = sandbox.stack.bot.store.latest_in_channel(running_in)
    assert running is not None
    running_line = next(line for line in shown.splitlines() if running.execution_id in line)
    assert "*Drill* of `plan-slow`" in running_line and "started by <@U0HOME0002>" in running_line
    assert f"<https://slack.com/app_redirect?channel={running_in}|open its channel>" in running_line
    flaky = next(
        block["text"]["text"]
        for block in view["blocks"]
        if block.get("text", {}).get("text", "").startswith("*plan-flaky*")
    )
    # Its verdict is the watch's: a failed launch in an earlier test of the package makes it WARN.
    level = sandbox.stack.bot.watch_store.states()["plan-flaky"].level.value
    assert f" {level} since " in flaky.split("Readiness: ")[1]
    assert f"Last drill: {drilled.status.value} " in flaky
    assert "No scheduled drills" in flaky
    fine = next(
        block["text"]["text"]
        for block in view["blocks"]
        if block.get("text", {}).get("text", "").startswith("*plan-fine*")
    )
    assert "Readiness: :large_green_circle: READY since " in fine
    stalled = next(
        block["text"]["text"]
        for block in view["blocks"]
        if block.get("text", {}).get("text", "").startswith("*plan-stalled*")
    )
    assert "Readiness: :red_circle: BLOCKED since " in stalled
    payments = next(
        block["text"]["text"]
        for block in view["blocks"]
        if block.get("text", {}).get("text", "").startswith("*plan-report*")
    )
    assert payments.startswith("*plan-report* — Payments &lt;core&gt; &amp; ledger")  # escaped

    sandbox.finished_execution(running_in)
    # Opened again once it ended: it is no longer listed (other tests' executions may be).
    assert running.execution_id not in texts(open_home(sandbox, "U0HOME0003"))


def test_a_forged_event_publishes_nothing(sandbox: Sandbox) -> None:
    reply = signed_event(sandbox, home_opened("U0HOME0009"), secret="not-the-signing-secret")
    sandbox.settle()
    assert reply.status == 401
    assert sandbox.stack.slack.home_view("U0HOME0009") is None
    assert not [
        call
        for call in sandbox.stack.slack.calls
        if call["method"] == "views.publish" and "U0HOME0009" in json.dumps(call)
    ]


def post_raw(box: Sandbox, body: str) -> Reply:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": slack_signature(box.secret, timestamp, body),
    }
    return box.post(body.encode(), headers)


def test_the_messages_tab_publishes_nothing(sandbox: Sandbox) -> None:
    assert signed_event(sandbox, home_opened("U0HOME0010", tab="messages")).status == 200
    sandbox.settle()
    assert sandbox.stack.slack.home_view("U0HOME0010") is None


def test_a_signed_json_body_that_is_not_one_event_is_refused_and_publishes_nothing(sandbox: Sandbox) -> None:
    cut = '{"type": "event_callback", "event": '
    twice = (
        json.dumps(home_opened("U0HOME0011"))[:-1]
        + ', "event": '
        + json.dumps(home_opened("U0HOME0012")["event"])
        + "}"
    )
    command = json.dumps({"command": "/drs", "text": "plans", "user_id": "U0HOME0011"})
    for body, error in (
        (cut, "the application/json body is refused: not valid JSON"),
        (twice, "the application/json body is refused: event: written twice"),
        (command, "the Content-Type is application/json, which Slack sends only for events"),
        ("[]", "the Content-Type is application/json, which Slack sends only for events"),
    ):
        reply = post_raw(sandbox, body)
        assert reply.status == 400 and reply.body["error"].startswith(error), (body, reply)
    sandbox.settle()
    assert sandbox.stack.slack.home_view("U0HOME0011") is None
    assert sandbox.stack.slack.home_view("U0HOME0012") is None
