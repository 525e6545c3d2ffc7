"""The fake's response_urls, posted to with plain urllib the way Bolt's respond() does."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.error import HTTPError

import pytest
from slack_sdk import WebClient

from sandbox.slack_fake import FakeSlack
from tests.sandbox.conftest import CHANNEL


def post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json;charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_default_response_is_ephemeral_to_the_user(slack: FakeSlack) -> None:
    url = slack.new_response_url(CHANNEL, "U0ALICE")
    assert post(url, {"text": "Unknown plan `plan-z`"}) == (200, {"ok": True})
    [recorded] = slack.messages()
    assert (recorded["channel"], recorded["ephemeral"], recorded["user"], recorded["via"]) == (
        CHANNEL,
        True,
        "U0ALICE",
        "response_url",
    )


def test_in_channel_response_is_visible_and_can_reply_in_a_thread(
    slack: FakeSlack, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="anchor")["ts"]
    url = slack.new_response_url(CHANNEL, "U0ALICE")
    post(url, {"text": "for everyone", "response_type": "in_channel"})
    post(url, {"text": "in thread", "response_type": "in_channel", "thread_ts": parent})
    visible = [m for m in slack.messages() if m["via"] == "response_url"]
    assert [(m["text"], m["ephemeral"], m["thread_ts"]) for m in visible] == [
        ("for everyone", False, None),
        ("in thread", False, parent),
    ]


def test_at_most_five_uses(slack: FakeSlack) -> None:
    url = slack.new_response_url(CHANNEL, "U0ALICE")
    for i in range(5):
        assert post(url, {"text": f"update {i}"})[0] == 200
    assert post(url, {"text": "one too many"}) == (404, {"ok": False, "error": "used_url"})
    assert len(slack.messages()) == 5


def test_expired_url(slack: FakeSlack) -> None:
    url = slack.new_response_url(CHANNEL, "U0ALICE", ttl_seconds=0)
    assert post(url, {"text": "late"}) == (404, {"ok": False, "error": "expired_url"})


def test_button_click_replace_original_updates_the_clicked_message(
    slack: FakeSlack, client: WebClient
) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="Approve?")["ts"]
    url = slack.new_response_url(CHANNEL, "U0BOB", message_ts=ts)
    post(url, {"text": "Approved by <@U0BOB>", "replace_original": True})
    [recorded] = slack.messages()
    assert recorded["text"] == "Approved by <@U0BOB>"
    assert recorded["updates"][0]["via"] == "response_url"


def test_replace_original_of_a_slash_command_replaces_the_last_response(slack: FakeSlack) -> None:
    url = slack.new_response_url(CHANNEL, "U0ALICE")
    post(url, {"text": "checking readiness…"})
    post(url, {"text": "ready", "replace_original": True})
    [recorded] = slack.messages()
    assert (recorded["text"], recorded["ephemeral"]) == ("ready", True)


def test_delete_original(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="Approve?")["ts"]
    post(slack.new_response_url(CHANNEL, "U0BOB", message_ts=ts), {"delete_original": True})
    assert slack.messages()[0]["deleted"] is True


def test_invalid_blocks_are_refused_with_http_400(slack: FakeSlack) -> None:
    url = slack.new_response_url(CHANNEL, "U0ALICE")
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    status, body = post(url, {"text": "t", "blocks": [header]})
    assert (status, body["error"]) == (400, "invalid_blocks")
    assert slack.messages() == []


def test_unknown_url_is_not_found(slack: FakeSlack) -> None:
    assert post(slack.url + "_fake/respond/nope", {"text": "x"})[0] == 404


@pytest.mark.parametrize("kind", ["server_error", "ambiguous"])
def test_faults_apply_to_response_urls(slack: FakeSlack, kind: str) -> None:
    slack.inject_fault("response_url", kind)
    status, _ = post(slack.new_response_url(CHANNEL, "U0ALICE"), {"text": "x"})
    assert status == 500
    assert len(slack.messages()) == (1 if kind == "ambiguous" else 0)


def test_response_url_can_be_minted_over_http(slack: FakeSlack) -> None:
    _, body = post(slack.url + "_fake/response_urls", {"channel_id": CHANNEL, "user_id": "U0ALICE"})
    assert post(body["response_url"], {"text": "hi"})[0] == 200
    assert slack.messages()[0]["user"] == "U0ALICE"
