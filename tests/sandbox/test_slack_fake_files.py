"""FakeSlack's file uploads, driven by slack_sdk's files_upload_v2: the three steps Slack takes."""

from __future__ import annotations

import struct
import zlib

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError

from sandbox.slack_fake import FakeSlack
from sandbox.transcript import render_channel
from tests.sandbox.conftest import CHANNEL


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_an_upload_into_a_thread_is_a_reply_with_the_file_and_its_comment(
    slack: FakeSlack, client: WebClient
) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="anchor")["ts"]
    data = tiny_png(3, 2)
    done = client.files_upload_v2(
        channel=CHANNEL, thread_ts=parent, file=data, filename="t.png", title="T", initial_comment="verdict"
    )
    assert done["file"]["name"] == "t.png" and done["file"]["original_w"] == 3
    assert [c["method"] for c in slack.calls][-3:] == [
        "files.getUploadURLExternal",
        "file_upload",
        "files.completeUploadExternal",
    ]
    (uploaded,) = slack.files()
    assert uploaded["data"] == data and uploaded["completed"]
    reply = slack.thread(CHANNEL, parent)[-1]
    assert reply["text"] == "verdict" and reply["via"] == "files.completeUploadExternal"
    assert reply["files"][0]["id"] == done["file"]["id"]
    assert (reply["files"][0]["original_w"], reply["files"][0]["original_h"]) == (3, 2)
    seen = client.conversations_replies(channel=CHANNEL, ts=parent)["messages"][-1]
    assert seen["files"][0]["name"] == "t.png"  # how the bot finds an upload whose answer was lost
    assert render_channel(slack.messages(), CHANNEL).splitlines()[-2:] == [
        "    ↳ verdict",
        "      [file: t.png (png, 3x2 px)]",
    ]


def test_completing_needs_the_bytes_a_writable_channel_and_a_real_thread(
    slack: FakeSlack, client: WebClient
) -> None:
    never_sent = client.files_getUploadURLExternal(filename="x.png", length=10)["file_id"]
    with pytest.raises(SlackApiError) as unsent:
        client.files_completeUploadExternal(files=[{"id": never_sent}], channel_id=CHANNEL)
    assert unsent.value.response["error"] == "file_not_found"
    with pytest.raises(SlackApiError) as missing:
        client.files_completeUploadExternal(files=[{"id": "F404"}], channel_id=CHANNEL)
    assert missing.value.response["error"] == "file_not_found"
    with pytest.raises(SlackApiError) as no_thread:
        client.files_upload_v2(channel=CHANNEL, thread_ts="1.000100", file=tiny_png(), filename="a.png")
    assert no_thread.value.response["error"] == "thread_not_found"
    slack.add_channel("C0OUTSIDE", "outside", is_member=False)
    with pytest.raises(SlackApiError) as outside:
        client.files_upload_v2(channel="C0OUTSIDE", file=tiny_png(), filename="a.png")
    assert outside.value.response["error"] == "not_in_channel"
    assert not any(m["files"] for m in slack.messages())


def test_a_failed_upload_step_shares_nothing(slack: FakeSlack, client: WebClient) -> None:
    slack.inject_fault("file_upload", "server_error")
    with pytest.raises((SlackRequestError, OSError)):
        client.files_upload_v2(channel=CHANNEL, file=tiny_png(), filename="a.png")
    assert slack.files() == [] and slack.messages() == []
    assert "files.completeUploadExternal" not in [c["method"] for c in slack.calls]
