"""The timeline picture: when an execution ends its thread gets a PNG (files.uploadV2) and the verdict
line, once, whatever Slack does to the upload."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from bot.adapters.timeline_png import WIDTH, height_for
from bot.domain.execution import Execution, ExecutionStatus
from bot.domain.timeline import timeline
from tests.e2e.conftest import FAILING_SERVER, Sandbox

FAILED_RED = (204, 0, 0)


@pytest.fixture
def slack_faults(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.stack.slack.clear_faults()


def thread_of(sandbox: Sandbox, channel: str, execution: Execution) -> list[dict[str, Any]]:
    assert execution.anchor_ts is not None
    return [
        m for m in sandbox.stack.slack.thread(channel, execution.anchor_ts) if m["ts"] != execution.anchor_ts
    ]


def shared_files(thread: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in thread if m["files"]]


def completions(sandbox: Sandbox, channel: str) -> list[str]:
    calls = sandbox.stack.slack.calls
    return [
        c["outcome"]
        for c in calls
        if c["method"] == "files.completeUploadExternal" and c["params"].get("channel_id") == channel
    ]


def test_a_partial_drill_ends_with_its_picture_and_verdict_in_the_thread(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-flaky drill", channel=channel)
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.PARTIAL
    thread = thread_of(sandbox, channel, final)
    (message,) = shared_files(thread)
    finished = next(i for i, m in enumerate(thread) if "Drill of plan-flaky PARTIAL" in m["text"])
    assert thread.index(message) == finished + 1  # right after the end, in the thread
    assert message["text"].startswith(
        f":bar_chart: Timeline of drill {final.execution_id}: PARTIAL, 1/2 servers launched"
    )
    (shared,) = message["files"]
    assert shared["name"].startswith(f"timeline-{final.execution_id}-") and shared["name"].endswith(".png")
    assert shared["filetype"] == "png"
    (asked,) = [
        c
        for c in sandbox.stack.slack.calls
        if c["method"] == "files.getUploadURLExternal" and c["params"].get("filename") == shared["name"]
    ]
    assert asked["params"]["alt_txt"].startswith("PARTIAL · drill of plan-flaky · 1/2 servers launched")
    (uploaded,) = [f for f in sandbox.stack.slack.files() if f["id"] == shared["id"]]
    image = Image.open(io.BytesIO(uploaded["data"]))
    image.load()
    assert image.format == "PNG"
    expected_height = height_for(timeline(final, final.end_time or final.created_at))
    assert image.size == (WIDTH, expected_height) == (shared["original_w"], shared["original_h"])
    colours = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 20) or []}
    assert FAILED_RED in colours  # the failed server's mark
    assert any(s.source_server_id == FAILING_SERVER for s in final.servers())


def test_an_upload_slack_fails_is_tried_again_on_a_later_tick_and_shared_once(
    sandbox: Sandbox, slack_faults: None
) -> None:
    sandbox.stack.slack.inject_fault("files.completeUploadExternal", "server_error")
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x drill", channel=channel)
    final = sandbox.finished_execution(channel)
    assert completions(sandbox, channel) == ["fault:server_error", "ok"]
    (message,) = shared_files(thread_of(sandbox, channel, final))
    assert "COMPLETED, 5/5 servers launched" in message["text"]


def test_an_upload_whose_answer_was_lost_is_found_in_the_thread_not_shared_again(
    sandbox: Sandbox, slack_faults: None
) -> None:
    sandbox.stack.slack.inject_fault("files.completeUploadExternal", "ambiguous")
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x drill", channel=channel)
    final = sandbox.finished_execution(channel)
    assert completions(sandbox, channel) == ["fault:ambiguous(ok)"]  # done once; the retry found it
    assert len(shared_files(thread_of(sandbox, channel, final))) == 1


def test_without_files_write_the_verdict_line_says_why_there_is_no_picture(
    sandbox: Sandbox, slack_faults: None
) -> None:
    sandbox.stack.slack.inject_fault("files.getUploadURLExternal", "refused", error="missing_scope")
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x drill", channel=channel)
    final = sandbox.finished_execution(channel)  # nothing left pending: the end is not held back
    thread = thread_of(sandbox, channel, final)
    assert shared_files(thread) == []
    told = thread[-1]["text"]
    assert told.startswith(f":bar_chart: Timeline of drill {final.execution_id}: COMPLETED")
    assert "The timeline picture was not posted: Slack answered missing_scope" in told
    assert final.slack_blocked is None  # the channel itself is fine
