"""The report's HTML page: self-contained, every foreign text escaped, one bar per wave."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.domain import report, report_html
from bot.domain.execution import ExecutionStatus, HookRun, HookStatus, Rejection
from bot.domain.timeline import timeline
from tests.unit.builders import at, execution
from tests.unit.test_report import launched

HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def page(**changes: object) -> str:
    ex = execution(3, 2, 1)
    failing = next(ex.servers()).source_server_id
    ex = launched(ex, status=ExecutionStatus.PARTIAL, failed={failing: HOSTILE})
    ex = ex.model_copy(update={"plan_description": HOSTILE, **changes})
    return report_html.render(report.build(ex, now=at(7200)), timeline(ex, at(7200)))


def test_foreign_text_is_escaped_everywhere_it_appears() -> None:
    text = page(rejection=Rejection(user_id="U9", at=at(30), reason=HOSTILE))
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;img" in text
    assert [tag for tag, _ in tags(text) if tag in ("script", "img", "iframe", "object", "embed")] == []


def test_the_page_needs_nothing_from_outside() -> None:
    text = page()
    for tag, attrs in tags(text):
        for name in ("src", "href", "srcset", "action"):
            assert name not in attrs or str(attrs[name]).startswith("#"), (tag, attrs)
    assert not re.search(r"url\((?!#)", text), "CSS may only refer to the page's own SVG patterns"
    assert "@import" not in text and "@media print" in text and "@page" in text


def test_the_timeline_draws_one_bar_per_wave_and_a_mark_per_launched_server() -> None:
    text = page()
    bars = [attrs for tag, attrs in tags(text) if tag == "rect" and attrs.get("class") == "wave-bar"]
    assert [attrs["data-wave"] for attrs in bars] == ["0", "1", "2"]
    marks = [
        str(attrs.get("class"))
        for tag, attrs in tags(text)
        if tag == "line" and "launch" in str(attrs.get("class"))
    ]
    assert sorted(marks) == ["launch"] * 5 + ["launch-failed"]  # six servers, one failed


def test_the_verdict_and_its_reasons_come_first() -> None:
    text = page()
    verdict = text.index('id="verdict"')
    assert verdict < text.index("<h2>")
    assert "FAILED" in text[verdict : verdict + 200]
    assert "1 of 6 server(s) did not launch (PARTIAL)" in text


def test_a_waves_hooks_are_listed_with_their_outcome_and_escaped_output() -> None:
    ex = launched(execution(2), status=ExecutionStatus.COMPLETED)
    hook = HookRun(
        phase="after",
        index=0,
        kind="lambda",
        target="drs-hook-dns",
        status=HookStatus.FAILED,
        claimed_at=at(600),
        ended_at=at(605),
        run_id="req-1",
        error=HOSTILE,
    )
    ex = ex.replace_wave(ex.waves[0].model_copy(update={"hooks": (hook,)}))
    built = report.build(ex, now=at(7200))
    assert [(h.phase, h.status, h.error) for h in built.waves[0].hooks] == [("after", "FAILED", HOSTILE)]
    text = report_html.render(built, timeline(ex, at(7200)))
    assert "<td>after</td><td>lambda <code>drs-hook-dns</code></td><td>FAILED</td>" in text
    assert "<script" not in text and "&lt;script&gt;" in text
