"""Hostile Slack on demand: the sandbox config's `slack` section (as the README shows it) and the fake's
fault API over HTTP arm what the bot must survive."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.config import SandboxConfig
from sandbox.slack_fake import FakeSlack
from sandbox.stack import set_up_slack

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> SandboxConfig:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("**Slack's faults.**") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    return SandboxConfig.model_validate(yaml.safe_load(example.group(1)))


def refusal(call: Callable[[], object]) -> tuple[int, str, str | None]:
    with pytest.raises(SlackApiError) as caught:
        call()
    response = caught.value.response
    return response.status_code, str(response["error"]), response.headers.get("Retry-After")


def test_the_readmes_example_arms_a_war_room_an_archived_channel_a_long_retry_after_and_a_slow_form(
    slack: FakeSlack, client: WebClient
) -> None:
    set_up_slack(slack, readme_example().slack)
    for _ in range(2):
        assert refusal(lambda: client.chat_postMessage(channel="C0DRILLS", text="x")) == (
            429,
            "ratelimited",
            "40",
        )
    assert client.chat_postMessage(channel="C0DRILLS", text="third time")["ok"]
    assert refusal(lambda: client.chat_postMessage(channel="G0WARROOM", text="x"))[1] == "not_in_channel"
    assert refusal(lambda: client.conversations_history(channel="G0WARROOM"))[1] == "channel_not_found"
    assert refusal(lambda: client.chat_postMessage(channel="C0OLDDRILLS", text="x"))[1] == "is_archived"
    began = time.monotonic()
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Why?"}, "blocks": []}
    patient = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=10)
    assert patient.views_open(trigger_id="t.1", view=modal)["ok"]  # opened, answered 5 s late
    assert time.monotonic() - began >= 5


def test_a_refusal_of_any_code_through_the_fault_api(slack: FakeSlack, client: WebClient) -> None:
    fault = {"method": "chat.update", "kind": "refused", "error": "account_inactive", "count": 2}
    request = urllib.request.Request(
        slack.url + "_fake/faults",
        data=json.dumps(fault).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read()) == {"ok": True}
    ts = client.chat_postMessage(channel="C0DRILLS", text="x")["ts"]
    for _ in range(2):
        assert (
            refusal(lambda: client.chat_update(channel="C0DRILLS", ts=ts, text="y"))[1] == "account_inactive"
        )
    assert client.chat_update(channel="C0DRILLS", ts=ts, text="y")["ok"]
