"""The report in the thread: when an execution ends its picture comes with the report's verdict and a
short-lived link to the HTML page in the bucket; `/drs report` posts them again with a fresh link."""

from __future__ import annotations

import urllib.parse
import urllib.request
from typing import Any

from bot.domain.execution import Execution, ExecutionStatus
from tests.e2e.conftest import FAILING_SERVER, LAUNCH_ERROR, Sandbox
from tests.e2e.test_reports import stored_page, stored_report
from tests.e2e.test_timeline_picture import shared_files, thread_of


def link_in(text: str) -> str:
    """The report's URL as Slack would open it: `<url|Open the report>`, its `&` unescaped."""
    assert text.count("|Open the report>") == 1, text
    url = text.split("|Open the report>", 1)[0].rsplit("<", 1)[1]
    return url.replace("&amp;", "&")


def opened(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def end_post(sandbox: Sandbox, channel: str, execution: Execution) -> dict[str, Any]:
    (message,) = shared_files(thread_of(sandbox, channel, execution))
    return message


def test_a_drill_s_picture_carries_the_verdict_and_a_link_that_opens_its_report(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-report drill", channel=channel)
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.COMPLETED
    stored = stored_report(sandbox, final)
    text = end_post(sandbox, channel, final)["text"]
    lines = text.splitlines()
    assert lines[0].startswith(f":bar_chart: Timeline of drill {final.execution_id}: COMPLETED, 3/3 servers")
    assert lines[1] == "Verdict: PASSED WITH FINDINGS" == f"Verdict: {stored['Judgement']['Verdict']}"
    # Every reason of the stored report, one per line, in the report's order.
    reasons = [*stored["Judgement"]["Failures"], *stored["Judgement"]["Findings"]]
    assert lines[2 : 2 + len(reasons)] == [f"• {r}" for r in reasons]
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


def test_report_posts_the_picture_again_in_the_thread_with_a_fresh_link(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-report drill", channel=channel)
    final = sandbox.finished_execution(channel)
    stored_report(sandbox, final)
    first = end_post(sandbox, channel, final)
    sandbox.command(f"report {final.execution_id}", channel=channel, user="U0AUDITOR")
    sandbox.settle()
    files = shared_files(thread_of(sandbox, channel, final))
    assert len(files) == 2 and files[0] == first  # the end post is left as it was
    again = files[1]
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
