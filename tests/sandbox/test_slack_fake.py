"""FakeSlack driven by the real slack_sdk WebClient: the rules it enforces and its faults."""

from __future__ import annotations

import functools
import json
import re
import threading
import urllib.request
from http.client import RemoteDisconnected
from typing import Any
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import (
    ConnectionErrorRetryHandler,
    FixedValueRetryIntervalCalculator,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from sandbox.slack_fake import FakeSlack
from tests.sandbox.conftest import CHANNEL

TS = re.compile(r"^\d{10}\.\d{6}$")
NO_WAIT = FixedValueRetryIntervalCalculator(0)


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str = "Approve", value: str = "v") -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "approve",
                "text": {"type": "plain_text", "text": text},
                "value": value,
            },
        ],
    }


# -- auth and basics -------------------------------------------------------------------------
def test_auth_test_identifies_the_bot(client: WebClient) -> None:
    reply = client.auth_test()
    assert (reply["user_id"], reply["team_id"], reply["bot_id"]) == ("U0BOT", "T0SANDBOX", "B0BOT")


def test_wrong_or_missing_token_is_refused(slack: FakeSlack) -> None:
    assert error_of(WebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test) == "invalid_auth"
    assert error_of(WebClient(base_url=slack.api_url).auth_test) == "not_authed"


def test_unknown_method(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("chat.explode")) == "unknown_method"


def test_post_message_returns_unique_increasing_slack_timestamps(client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel=CHANNEL, text=f"m{i}")["ts"] for i in range(5)]
    assert all(TS.match(ts) for ts in stamps)
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 5


def test_concurrent_posts_all_land_with_distinct_ts(slack: FakeSlack, client: WebClient) -> None:
    def post(i: int) -> None:
        client.chat_postMessage(channel=CHANNEL, text=f"m{i}")

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({m["ts"] for m in slack.messages()}) == 20


def test_post_message_is_recorded_with_everything_sent(slack: FakeSlack, client: WebClient) -> None:
    metadata = {"event_type": "drs_execution", "event_payload": {"execution_id": "ex-1"}}
    reply = client.chat_postMessage(
        channel=CHANNEL,
        text="fallback",
        blocks=[section("*Drill* started")],
        metadata=metadata,
        unfurl_links=False,
    )
    assert reply["channel"] == CHANNEL and reply["message"]["metadata"] == metadata
    [recorded] = slack.messages()
    assert recorded["blocks"] == [section("*Drill* started")]
    assert (recorded["metadata"], recorded["via"], recorded["unfurl_links"]) == (
        metadata,
        "chat.postMessage",
        False,
    )
    assert recorded["ephemeral"] is False and recorded["updates"] == []


def test_form_encoded_blocks_are_decoded(slack: FakeSlack, client: WebClient) -> None:
    client.api_call(
        "chat.postMessage",
        data={
            "channel": CHANNEL,
            "text": "t",
            "blocks": json.dumps([section("x")]),
        },
    )
    assert slack.messages()[0]["blocks"] == [section("x")]


# -- threads ------------------------------------------------------------------------------------
def test_thread_replies_and_broadcast(slack: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(
        channel=CHANNEL, text="anchor", metadata={"event_type": "e", "event_payload": {"k": 1}}
    )["ts"]
    client.chat_postMessage(channel=CHANNEL, text="wave 1", thread_ts=parent)
    client.chat_postMessage(channel=CHANNEL, text="done", thread_ts=parent, reply_broadcast=True)

    plain = client.conversations_replies(channel=CHANNEL, ts=parent)["messages"]
    assert [m["text"] for m in plain] == ["anchor", "wave 1", "done"]
    assert plain[0]["reply_count"] == 2 and "metadata" not in plain[0]
    assert plain[2]["subtype"] == "thread_broadcast"
    with_meta = client.conversations_replies(channel=CHANNEL, ts=parent, include_all_metadata=True)
    assert with_meta["messages"][0]["metadata"] == {"event_type": "e", "event_payload": {"k": 1}}
    assert [m["text"] for m in slack.thread(CHANNEL, parent)] == ["anchor", "wave 1", "done"]
    history = client.conversations_history(channel=CHANNEL)["messages"]
    assert [m["text"] for m in history] == ["done", "anchor"]  # newest first, broadcast included


def test_thread_ts_must_name_an_existing_top_level_message(client: WebClient) -> None:
    assert (
        error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1700000000.000100"))
        == "thread_not_found"
    )
    parent = client.chat_postMessage(channel=CHANNEL, text="anchor")["ts"]
    reply = client.chat_postMessage(channel=CHANNEL, text="r", thread_ts=parent)["ts"]
    assert (
        error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x", thread_ts=reply))
        == "thread_not_found"
    )


# -- content rules --------------------------------------------------------------------------------
def test_message_needs_text_or_blocks(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("chat.postMessage", json={"channel": CHANNEL})) == "no_text"


def test_text_over_40000_characters_is_too_long(client: WebClient) -> None:
    client.chat_postMessage(channel=CHANNEL, text="x" * 40_000)
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x" * 40_001)) == "msg_too_long"


@pytest.mark.parametrize(
    ("ok_blocks", "bad_blocks"),
    [
        ([section("x")] * 50, [section("x")] * 51),
        ([section("x" * 3000)], [section("x" * 3001)]),
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 150}}],
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
        ),
        ([button(text="b" * 75)], [button(text="b" * 76)]),
        ([button(value="v" * 2000)], [button(value="v" * 2001)]),
        ([section("x")], [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]),
        (
            [{"type": "divider", "block_id": "a"}],
            [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}],
        ),
        ([{"type": "divider"}], [{"type": "sparkles"}]),
    ],
    ids=[
        "50-blocks",
        "section-3000",
        "header-150",
        "button-text-75",
        "button-value-2000",
        "empty-text",
        "duplicate-block-id",
        "unknown-type",
    ],
)
def test_block_kit_limits(client: WebClient, ok_blocks: list[Any], bad_blocks: list[Any]) -> None:
    client.chat_postMessage(channel=CHANNEL, text="t", blocks=ok_blocks)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=CHANNEL, text="t", blocks=bad_blocks)
    assert caught.value.response["error"] == "invalid_blocks"
    assert caught.value.response["errors"]  # says which field, like Slack


def test_metadata_needs_event_type_and_payload(client: WebClient) -> None:
    assert (
        error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="t", metadata={"event_type": "x"}))
        == "invalid_metadata_format"
    )


# -- channels -------------------------------------------------------------------------------------------
def test_bot_must_be_in_the_channel(slack: FakeSlack, client: WebClient) -> None:
    slack.add_channel("C0OUTSIDE", "outside", is_member=False)
    assert error_of(lambda: client.chat_postMessage(channel="C0OUTSIDE", text="x")) == "not_in_channel"
    assert slack.messages() == []


def test_chat_write_public_allows_public_channels_only() -> None:
    with FakeSlack(chat_write_public=True) as fake:
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        fake.add_channel("C0PUBLIC", is_member=False)
        fake.add_channel("G0PRIVATE", is_member=False, is_private=True)
        client.chat_postMessage(channel="C0PUBLIC", text="x")
        assert error_of(lambda: client.chat_postMessage(channel="G0PRIVATE", text="x")) == "not_in_channel"


def test_channel_names_resolve_and_unknown_names_do_not(slack: FakeSlack, client: WebClient) -> None:
    slack.add_channel("C0OPS", "dr-ops")
    assert client.chat_postMessage(channel="#dr-ops", text="x")["channel"] == "C0OPS"
    assert error_of(lambda: client.chat_postMessage(channel="#nope", text="x")) == "channel_not_found"


# -- updates, ephemerals, deletes ------------------------------------------------------------------------
def test_update_keeps_a_history_of_versions(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="v1", blocks=[button()])["ts"]
    client.chat_update(channel=CHANNEL, ts=ts, text="v2", blocks=[section("approved")])
    [recorded] = slack.messages()
    assert recorded["text"] == "v2" and recorded["blocks"] == [section("approved")]
    assert recorded["original"]["blocks"] == [button()]
    assert [u["text"] for u in recorded["updates"]] == ["v2"]


def test_update_only_the_bots_own_visible_messages(slack: FakeSlack, client: WebClient) -> None:
    human = slack.post_user_message(CHANNEL, "U0ALICE", "hello")
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts=human, text="x")) == "cant_update_message"
    assert (
        error_of(lambda: client.chat_update(channel=CHANNEL, ts="1700000000.000100", text="x"))
        == "message_not_found"
    )
    eph = client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="only you")["message_ts"]
    assert error_of(lambda: client.chat_update(channel=CHANNEL, ts=eph, text="x")) == "message_not_found"


def test_ephemeral_is_recorded_for_its_user(slack: FakeSlack, client: WebClient) -> None:
    client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="bad plan name")
    [recorded] = slack.messages()
    assert (recorded["ephemeral"], recorded["user"], recorded["via"]) == (
        True,
        "U0ALICE",
        "chat.postEphemeral",
    )
    assert client.conversations_history(channel=CHANNEL)["messages"] == []


def test_delete_hides_the_message(slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    client.chat_delete(channel=CHANNEL, ts=ts)
    assert slack.messages()[0]["deleted"] is True
    assert client.conversations_history(channel=CHANNEL)["messages"] == []


# -- directory ----------------------------------------------------------------------------------------
def test_usergroups_users_and_channels(slack: FakeSlack, client: WebClient) -> None:
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == ["U0ALICE", "U0BOB"]
    assert error_of(lambda: client.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"
    slack.add_user("U0ALICE", "alice", real_name="Alice Example")
    assert client.users_info(user="U0ALICE")["user"]["real_name"] == "Alice Example"
    assert error_of(lambda: client.users_info(user="nobody")) == "user_not_found"
    assert client.conversations_info(channel=CHANNEL)["channel"]["is_member"] is True


# -- faults ----------------------------------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after(slack: FakeSlack, client: WebClient) -> None:
    slack.inject_fault("chat.postMessage", "ratelimited", retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.response["error"] == "ratelimited"
    assert slack.messages() == []


def test_rate_limit_handler_retries_and_posts_once(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    # The handler sleeps Retry-After plus up to 1 s of jitter; take the jitter out.
    monkeypatch.setattr("slack_sdk.http_retry.builtin_handlers.random.random", lambda: 0.0)
    client = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    slack.inject_fault("chat.postMessage", "ratelimited", count=2, retry_after=0)
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]
    assert [c["outcome"] for c in slack.calls] == ["fault:ratelimited", "fault:ratelimited", "ok"]
    assert len(slack.messages()) == 1


def test_server_error_then_retry(slack: FakeSlack) -> None:
    slack.inject_fault("chat.update", "server_error", status=503)
    plain = WebClient(token=slack.bot_token, base_url=slack.api_url)
    ts = plain.chat_postMessage(channel=CHANNEL, text="x")["ts"]
    with pytest.raises(SlackApiError) as caught:
        plain.chat_update(channel=CHANNEL, ts=ts, text="y")
    assert caught.value.response.status_code == 503
    retrying = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[ServerErrorRetryHandler(interval_calculator=NO_WAIT)],
    )
    slack.inject_fault("chat.update", "server_error")
    assert retrying.chat_update(channel=CHANNEL, ts=ts, text="y")["ok"]


def test_ambiguous_failure_records_the_message_but_the_client_sees_an_error(
    slack: FakeSlack, client: WebClient
) -> None:
    slack.inject_fault("chat.postMessage", "ambiguous")
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=CHANNEL, text="wave 1 launched")
    assert caught.value.response.status_code == 500
    assert [m["text"] for m in slack.messages()] == ["wave 1 launched"]
    assert slack.calls[-1]["outcome"] == "fault:ambiguous(ok)"


def test_ambiguous_dropped_connection_and_a_naive_retry_posts_twice(slack: FakeSlack) -> None:
    no_retry = WebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
    slack.inject_fault("chat.postMessage", "ambiguous", drop=True)
    with pytest.raises((RemoteDisconnected, URLError, ConnectionError)):
        no_retry.chat_postMessage(channel=CHANNEL, text="once")
    assert len(slack.messages()) == 1

    # slack_sdk's default connection-error retry re-sends the post: Slack would show it twice.
    retrying = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[ConnectionErrorRetryHandler(interval_calculator=NO_WAIT)],
    )
    slack.inject_fault("chat.postMessage", "ambiguous", drop=True)
    retrying.chat_postMessage(channel=CHANNEL, text="twice")
    assert [m["text"] for m in slack.messages()] == ["once", "twice", "twice"]


def test_timeout_fault_holds_the_request_and_records_nothing(slack: FakeSlack) -> None:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[], timeout=0.2)  # type: ignore[arg-type]  # float seconds work; the stub says int
    slack.inject_fault("chat.postMessage", "timeout", delay=1.0)
    with pytest.raises((TimeoutError, URLError)):
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert slack.messages() == []


def test_not_in_channel_fault_and_wildcard_and_clear(slack: FakeSlack, client: WebClient) -> None:
    slack.inject_fault("*", "not_in_channel", count=2)
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x")) == "not_in_channel"
    slack.clear_faults()
    assert client.chat_postMessage(channel=CHANNEL, text="x")["ok"]


def test_unknown_fault_kind_is_refused(slack: FakeSlack) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        slack.inject_fault("chat.postMessage", "gremlins")


# -- admin HTTP ---------------------------------------------------------------------------------------------
def http(method: str, url: str, body: object = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_admin_http_faults_messages_and_reset(slack: FakeSlack, client: WebClient) -> None:
    http("POST", slack.url + "_fake/faults", {"method": "chat.postMessage", "kind": "not_in_channel"})
    assert http("GET", slack.url + "_fake/faults")[0]["kind"] == "not_in_channel"
    assert error_of(lambda: client.chat_postMessage(channel=CHANNEL, text="x")) == "not_in_channel"
    client.chat_postMessage(channel=CHANNEL, text="hello")
    assert [m["text"] for m in http("GET", slack.url + "_fake/messages")] == ["hello"]
    assert http("GET", slack.url + f"_fake/messages?channel={CHANNEL}")[0]["channel"] == CHANNEL
    assert [c["method"] for c in http("GET", slack.url + "_fake/calls")] == ["chat.postMessage"] * 2
    http("POST", slack.url + "_fake/reset", {})
    assert slack.messages() == [] and slack.calls == []


def test_views_publish_keeps_each_users_home_tab_and_refuses_what_slack_would(
    slack: FakeSlack, client: WebClient
) -> None:
    client.views_publish(user_id="U0HOMEA", view={"type": "home", "blocks": [section("first")]})
    client.views_publish(user_id="U0HOMEA", view={"type": "home", "blocks": [section("second")]})
    client.views_publish(user_id="U0HOMEB", view={"type": "home", "blocks": [section("other")]})
    home = slack.home_view("U0HOMEA")
    assert home is not None and home["blocks"] == [section("second")]
    assert slack.home_view("U0HOMEB") is not None and slack.home_view("U0HOMEC") is None
    # A view holds 100 blocks (a message 50); a modal is not a Home tab; the user must exist.
    client.views_publish(user_id="U0HOMEA", view={"type": "home", "blocks": [section("x")] * 100})
    for user, view, error in (
        ("U0HOMEA", {"type": "home", "blocks": [section("x")] * 101}, "invalid_arguments"),
        ("U0HOMEA", {"type": "modal", "blocks": []}, "invalid_arguments"),
        ("U0HOMEA", {"type": "home", "blocks": [{"type": "section"}]}, "invalid_arguments"),
        ("nobody", {"type": "home", "blocks": []}, "user_not_found"),
    ):
        publish = functools.partial(client.views_publish, user_id=user, view=view)
        assert error_of(publish) == error, view
    home = slack.home_view("U0HOMEA")
    assert home is not None and len(home["blocks"]) == 100
