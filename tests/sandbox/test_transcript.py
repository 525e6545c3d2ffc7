"""render_channel: what a person in the channel reads, from the fake's recorded messages."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from slack_sdk import WebClient

from sandbox.slack_fake import FakeSlack
from sandbox.transcript import clean_mrkdwn, render_blocks, render_channel
from tests.sandbox.conftest import CHANNEL

APPROVAL_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": {"type": "plain_text", "text": "RECOVERY of plan-x requested"}},
    {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "Requested by <@U0ALICE>. Approvers: <!subteam^S0APP|@dr-approvers>",
        },
        "fields": [
            {"type": "mrkdwn", "text": "*Waves*\n3"},
            {"type": "mrkdwn", "text": "*Region*\nus-east-1"},
        ],
    },
    {"type": "divider"},
    {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": "Expires in 30 min"},
            {"type": "mrkdwn", "text": "<https://console.aws.amazon.com/drs|DRS console>"},
        ],
    },
    {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "approve", "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": "reject", "text": {"type": "plain_text", "text": "Reject"}},
        ],
    },
]


def respond(url: str, payload: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=5).close()


def test_a_recovery_conversation_reads_like_slack(slack: FakeSlack, client: WebClient) -> None:
    respond(slack.new_response_url(CHANNEL, "U0ALICE"), {"text": "Unknown plan `plan-z`."})
    anchor = client.chat_postMessage(channel=CHANNEL, text="RECOVERY requested", blocks=APPROVAL_BLOCKS)["ts"]
    client.chat_postMessage(channel=CHANNEL, text="Wave 1: 2/2 launched &amp; healthy", thread_ts=anchor)
    slack.post_user_message(CHANNEL, "U0BOB", "on it", thread_ts=anchor)
    approved = [
        *APPROVAL_BLOCKS[:4],
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Approved by <@U0BOB|bob>"}]},
    ]
    client.chat_update(channel=CHANNEL, ts=anchor, text="approved", blocks=approved)
    client.chat_postMessage(
        channel=CHANNEL, text="*COMPLETED* in 14m\nRTO met", thread_ts=anchor, reply_broadcast=True
    )
    client.chat_postMessage(channel="C0ELSEWHERE", text="not this channel")

    assert render_channel(slack.messages(), CHANNEL) == "\n".join(
        [
            f"#{CHANNEL}",
            "",
            "(only visible to you)",
            "Unknown plan `plan-z`.",
            "",
            "== RECOVERY of plan-x requested ==",
            "Requested by @U0ALICE. Approvers: @dr-approvers",
            "*Waves* 3",
            "*Region* us-east-1",
            "-" * 40,
            "Expires in 30 min · DRS console",
            "Approved by @bob",
            "    ↳ Wave 1: 2/2 launched & healthy",
            "    ↳ @U0BOB: on it",
            "    ↳ (also sent to the channel) *COMPLETED* in 14m",
            "      RTO met",
            "",
        ]
    )


def test_buttons_show_as_labels_in_brackets() -> None:
    assert render_blocks([APPROVAL_BLOCKS[-1]]) == ["[Approve] [Reject]"]


def test_viewer_sees_only_their_own_ephemerals(slack: FakeSlack, client: WebClient) -> None:
    client.chat_postEphemeral(channel=CHANNEL, user="U0ALICE", text="for alice")
    client.chat_postEphemeral(channel=CHANNEL, user="U0BOB", text="for bob")
    rendered = render_channel(slack.messages(), CHANNEL, viewer="U0BOB")
    assert "for bob" in rendered and "for alice" not in rendered


def test_deleted_parent_leaves_its_replies_under_a_placeholder(slack: FakeSlack, client: WebClient) -> None:
    anchor = client.chat_postMessage(channel=CHANNEL, text="anchor")["ts"]
    client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=anchor)
    client.chat_delete(channel=CHANNEL, ts=anchor)
    assert render_channel(slack.messages(), CHANNEL) == f"#{CHANNEL}\n\n(message deleted)\n    ↳ reply\n"


def test_rich_text_and_unknown_blocks() -> None:
    rich = {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "ping "},
                    {"type": "user", "user_id": "U1"},
                    {"type": "link", "url": "https://x", "text": "docs"},
                ],
            }
        ],
    }
    assert render_blocks([rich, {"type": "video"}]) == ["ping @U1docs", "[video]"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("<@U123>", "@U123"),
        ("<@U123|alice>", "@alice"),
        ("<#C1|drills>", "#drills"),
        ("<!here>", "@here"),
        ("<!subteam^S1>", "@S1"),
        ("<https://a.b|label>", "label"),
        ("<https://a.b>", "https://a.b"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("*bold*", "*bold*"),
    ],
)
def test_mrkdwn_cleanup(raw: str, shown: str) -> None:
    assert clean_mrkdwn(raw) == shown


def test_slack_shaped_parents_with_their_own_thread_ts_stay_top_level(client: WebClient) -> None:
    anchor = client.chat_postMessage(channel=CHANNEL, text="anchor")["ts"]
    client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=anchor)
    read_back = client.conversations_replies(channel=CHANNEL, ts=anchor)["messages"]
    messages = [{**m, "channel": CHANNEL} for m in read_back]
    assert render_channel(messages, CHANNEL) == f"#{CHANNEL}\n\nanchor\n    ↳ reply\n"
