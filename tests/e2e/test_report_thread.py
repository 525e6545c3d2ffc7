"""The report in the thread: when an execution ends its picture comes with the report's verdict and a
short-lived link to the HTML page in the bucket; `/drs report` posts them again with a fresh link."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.execution import Execution, ExecutionStatus
from tests.e2e.conftest import FAILING_SERVER, LAUNCH_ERROR, Sandbox
from tests.e2e.test_reports import stored_page, stored_report
from tests.e2e.test_timeline_picture import shared_files, thread_of


def link_in(text: str) -> str:
    """The report's URL as Slack would open it: `<url|Open the report>`, its `&` unescaped."""
    assert text.count("|Open the report>") == 1, text
    url = text.split("|Open the report>", 1)[0].rsplit("<", 1)[1]
    return url.replace("&amp;", "&")


def hours_masked(line: str) -> str:
    return re.sub(r"\d+(\.\d+)? instance-hours", "N instance-hours", line)


def opened(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def end_post(sandbox: Sandbox, channel: str, execution: Execution) -> dict[str, Any]:
    (message,) = [
        m
        for m in shared_files(thread_of(sandbox, channel, execution))
        if m["files"][0]["name"].startswith("timeline-")
    ]
    return message


def reposts(sandbox: Sandbox, channel: str, execution: Execution) -> list[dict[str, Any]]:
    """What `/drs report` put in the thread: everything after the end post."""
    thread = thread_of(sandbox, channel, execution)
    return thread[thread.index(end_post(sandbox, channel, execution)) + 1 :]


@pytest.fixture(scope="module")
def drill(sandbox: Sandbox) -> tuple[str, Execution]:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-report drill", channel=channel)
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.COMPLETED
    stored_report(sandbox, final)
    return channel, final


@pytest.fixture
def slack_faults(sandbox: Sandbox) -> Iterator[None]:
    yield
    sandbox.stack.slack.clear_faults()


def test_a_drill_s_picture_carries_the_verdict_and_a_link_that_opens_its_report(
    sandbox: Sandbox, drill: tuple[str, Execution]
) -> None:
    channel, final = drill
    stored = stored_report(sandbox, final)
    text = end_post(sandbox, channel, final)["text"]
    lines = text.splitlines()
    assert lines[0].startswith(f":bar_chart: Timeline of drill {final.execution_id}: COMPLETED, 3/3 servers")
    assert lines[1] == "Verdict: PASSED WITH FINDINGS" == f"Verdict: {stored['Judgement']['Verdict']}"
    # Every reason of the stored report, one per line, in the report's order; the drill's instance-hours
    # grow while it runs, each counted up to when its text was made.
    reasons = [*stored["Judgement"]["Failures"], *stored["Judgement"]["Findings"]]
    assert [hours_masked(line) for line in lines[2 : 2 + len(reasons)]] == [
        hours_masked(f"• {r}") for r in reasons
    ]
    assert any("still running" in r for r in reasons)
    assert lines[-1].endswith(
        f"— the link works for 60 minutes; /drs report {final.execution_id} makes a fresh one."
    )
    url = link_in(text)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert url.startswith(sandbox.stack.moto.url) and query["X-Amz-Expires"] == ["3600"]
    assert "X-Amz-Signature" in query
    assert opened(url) == stored_page(sandbox, final)


def test_a_partial_drill_s_end_post_says_failed_with_drs_s_error(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-flaky drill", channel=channel)
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.PARTIAL
    text = end_post(sandbox, channel, final)["text"]
    lines = text.splitlines()
    assert lines[1] == "Verdict: FAILED"
    assert "• 1 of 2 server(s) did not launch (PARTIAL)" in lines
    (error,) = [line for line in lines if line.startswith(f"• {FAILING_SERVER}: ")]
    assert LAUNCH_ERROR in error  # DRS's own words
    assert "FAILED" in opened(link_in(text))


def test_report_posts_the_picture_again_in_the_thread_with_a_fresh_link(
    sandbox: Sandbox, drill: tuple[str, Execution]
) -> None:
    channel, final = drill
    first = end_post(sandbox, channel, final)
    before = len(reposts(sandbox, channel, final))
    sandbox.command(f"report {final.execution_id}", channel=channel, user="U0AUDITOR")
    sandbox.settle()
    assert end_post(sandbox, channel, final) == first  # the end post is left as it was
    (again,) = reposts(sandbox, channel, final)[before:]
    assert not again["ephemeral"] and again["thread_ts"] == final.anchor_ts  # the channel sees it
    (shared,) = again["files"]
    assert shared["name"].startswith(f"report-{final.execution_id}-") and shared["name"].endswith(".png")
    (uploaded,) = [f for f in sandbox.stack.slack.files() if f["id"] == shared["id"]]
    assert uploaded["data"].startswith(b"\x89PNG")
    lines = again["text"].splitlines()
    assert lines[0] == f":bar_chart: Report of drill {final.execution_id} (plan-report): COMPLETED."
    assert lines[1] == "Verdict: PASSED WITH FINDINGS"
    url = link_in(again["text"])
    assert opened(url) == stored_page(sandbox, final)
    # The person who asked is answered too, and told where the report went.
    reply = sandbox.ephemeral(channel)[-1]
    assert "Posted in the execution's thread with its timeline picture." in reply
    assert link_in(reply) == url


def test_without_files_write_report_posts_the_verdict_and_link_saying_why_there_is_no_picture(
    sandbox: Sandbox, drill: tuple[str, Execution], slack_faults: None
) -> None:
    channel, final = drill
    before = len(reposts(sandbox, channel, final))
    sandbox.stack.slack.inject_fault("files.getUploadURLExternal", "refused", error="missing_scope")
    sandbox.command(f"report {final.execution_id}", channel=channel)
    sandbox.settle()
    (told,) = reposts(sandbox, channel, final)[before:]
    assert told["files"] == [] and not told["ephemeral"]
    assert told["text"].startswith(f":bar_chart: Report of drill {final.execution_id} (plan-report)")
    assert "The timeline picture was not posted: Slack answered missing_scope" in told["text"]
    assert opened(link_in(told["text"])) == stored_page(sandbox, final)
    assert "Posted in the execution's thread" in sandbox.ephemeral(channel)[-1]


def test_report_in_a_channel_slack_refuses_still_answers_the_person_with_the_link(
    sandbox: Sandbox, drill: tuple[str, Execution], slack_faults: None
) -> None:
    channel, final = drill
    before = len(reposts(sandbox, channel, final))
    # The bot was removed from the channel: Slack refuses the picture and the message alike.
    sandbox.stack.slack.inject_fault("files.getUploadURLExternal", "not_in_channel")
    sandbox.stack.slack.inject_fault("chat.postMessage", "not_in_channel")
    sandbox.command(f"report {final.execution_id}", channel=channel)
    sandbox.settle()
    assert reposts(sandbox, channel, final)[before:] == []
    reply = sandbox.ephemeral(channel)[-1]
    assert "could not be posted in the execution's thread (Slack answered `not_in_channel`)" in reply
    assert opened(link_in(reply)) == stored_page(sandbox, final)
