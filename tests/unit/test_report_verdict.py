"""The report's verdict as the thread shows it: DRS's words escaped and clipped, the link's `&` escaped,
and a report S3 refused said so instead of a link."""

from __future__ import annotations

from bot.domain import report
from bot.domain.execution import ExecutionStatus
from bot.services.ports import Message, ReportNote
from bot.slack import thread_messages
from bot.slack.layout import message, section
from bot.slack.mrkdwn import Mrkdwn
from tests.unit.builders import at, execution
from tests.unit.test_report import launched

HEAD = message(Mrkdwn(":bar_chart: Timeline"), [section(Mrkdwn(":bar_chart: Timeline"))])


def partial(errors: dict[int, str]) -> report.Report:
    ex = execution(6, 8)
    servers = [s.source_server_id for s in ex.servers()]
    ex = launched(ex, status=ExecutionStatus.PARTIAL, failed={servers[i]: e for i, e in errors.items()})
    return report.build(ex, now=at(3600))


def section_text(posted: Message) -> str:
    (block,) = posted.blocks
    return str(block["text"]["text"])


def test_drs_s_error_is_escaped_and_clipped_and_the_link_s_ampersand_escaped() -> None:
    built = partial({0: "Denied <!channel> & " + "x" * 600})
    url = "https://b.s3.amazonaws.com/reports/p/e.html?X-Amz-Expires=3600&X-Amz-Signature=ab"
    text = section_text(thread_messages.report_verdict(HEAD, ReportNote(built, url=url, link_seconds=3600)))
    lines = text.splitlines()
    assert lines[1] == "*Verdict: FAILED*"
    (error,) = [line for line in lines if "Denied" in line]
    assert "&lt;!channel&gt; &amp; " in error and "<!channel>" not in text
    assert error.endswith("…") and len(error) < thread_messages.REASON_CHARS + 40
    assert lines[-1] == (
        "<https://b.s3.amazonaws.com/reports/p/e.html?X-Amz-Expires=3600&amp;X-Amz-Signature=ab|Open the report>"
        f" — the link works for 60 minutes; `/drs report {built.execution_id}` makes a fresh one."
    )


def test_many_failures_are_cut_to_a_count_and_a_refused_report_says_why_there_is_no_link() -> None:
    built = partial({i: f"error {i}" for i in range(12)})
    text = section_text(
        thread_messages.report_verdict(HEAD, ReportNote(built, unavailable="AccessDenied <x>"))
    )
    lines = text.splitlines()
    bullets = [line for line in lines if line.startswith("•")]
    assert len(bullets) == thread_messages.SHOWN_REASONS - 1
    assert lines[-2].startswith("…and ") and lines[-2].endswith(" more (in the report)")
    assert "Open the report" not in text
    assert lines[-1] == (
        "_The report could not be stored just now (AccessDenied &lt;x&gt;); it is written on a later tick, "
        f"and `/drs report {built.execution_id}` links it._"
    )
