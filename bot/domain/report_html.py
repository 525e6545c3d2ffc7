"""The report as one self-contained HTML page: inline CSS, an inline SVG timeline, no external assets.

Pure. Every value that is not the bot's own words goes through `html.escape` (`h`): plan and wave names,
DRS's error texts, rejection reasons. The page fits 1280 px and A4 without horizontal scrolling (fixed
table layouts, long ids wrap) and prints one section per page.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime
from typing import LiteralString

from bot.domain.report import Report, ServerReport, Verdict, WaveReport
from bot.domain.timeline import ServerMark, Timeline, WaveBar

# Beyond this many servers a wave's launch marks would blur into one line; the table lists them all.
MARKS_PER_WAVE = 200
WAVE_LABEL_CHARS = 22


class Html(str):
    """Markup the page may contain as is: built by `h` from the bot's own template."""

    __slots__ = ()


def h(template: LiteralString, *values: object) -> Html:
    """`template` with `{}` filled by `values`, each escaped unless it is Html already."""
    return Html(template.format(*(v if isinstance(v, Html) else html.escape(str(v)) for v in values)))


def join(parts: list[Html], separator: LiteralString = "") -> Html:
    return Html(separator.join(parts))


_CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;color:#1d1d1f;margin:0;
background:#fff}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d4da;
padding-bottom:4px}
.sub{color:#55595f;margin:0 0 16px}
.verdict{border-radius:6px;padding:14px 18px;margin:12px 0 8px;border:2px solid}
.verdict b{font-size:20px;letter-spacing:.5px}
.PASSED{background:#e8f6ec;border-color:#2e8540}.FINDINGS{background:#fff6e0;border-color:#c98a00}
.FAILED{background:#fdecea;border-color:#c62828}
.verdict ul{margin:6px 0 0;padding-left:20px}
table{width:100%;border-collapse:collapse;table-layout:fixed;margin:6px 0}
th,td{text-align:left;vertical-align:top;padding:4px 6px;border-bottom:1px solid #e3e6ea;
overflow-wrap:anywhere;word-break:break-word}
th{background:#f3f5f7;font-weight:600}
tr{break-inside:avoid}
.kv th{width:28%}
code{font:12px/1.3 "DejaVu Sans Mono",Menlo,Consolas,monospace}
.ok{color:#2e8540}.bad{color:#c62828}.warn{color:#9a6700}
svg.timeline{display:block;width:100%;height:auto}
.timeline text{font:11px "DejaVu Sans",Arial,sans-serif;fill:#1d1d1f}
.legend{color:#55595f;font-size:12px}
footer{color:#55595f;font-size:12px;margin-top:28px}
@page{size:A4;margin:14mm}
@media print{main{max-width:none;padding:0}body{font-size:11px}section.page{break-before:page}
h2{break-after:avoid}}
"""


def render(report: Report, chart: Timeline) -> str:
    """The whole page; `chart` is the same execution's timeline (bot/domain/timeline.py)."""
    title = h("{} report — {} {}", report.plan_id, report.execution_type.value, report.execution_id)
    body = join(
        [
            _header(report),
            _verdict(report),
            _who(report),
            _rto(report),
            _timeline(chart),
            _servers(report),
            _cleanup(report),
            h(
                "<footer>Report schema {} · generated {} from the stored execution · JSON beside this page"
                "</footer>",
                report.schema_version,
                _time(report.generated_at),
            ),
        ]
    )
    return h(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{}</title><style>{}</style></head><body><main>{}</main></body></html>\n",
        title,
        Html(_CSS),
        body,
    )


def _time(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _header(report: Report) -> Html:
    description = h(" — {}", report.plan_description) if report.plan_description else Html("")
    return h(
        "<h1>{} of plan <code>{}</code>{}</h1>"
        '<p class="sub">Execution <code>{}</code> · {} · requested {} by <code>{}</code></p>',
        report.execution_type.value.title(),
        report.plan_id,
        description,
        report.execution_id,
        report.status.value,
        _time(report.created_time),
        report.initiated_by,
    )


def _verdict(report: Report) -> Html:
    judgement = report.judgement
    css = {Verdict.PASSED: "PASSED", Verdict.PASSED_WITH_FINDINGS: "FINDINGS", Verdict.FAILED: "FAILED"}
    lines = [h('<li class="bad">{}</li>', reason) for reason in judgement.failures]
    lines += [h('<li class="warn">{}</li>', reason) for reason in judgement.findings]
    reasons = (
        h("<ul>{}</ul>", join(lines)) if lines else h("<div>{}</div>", "Every target met; nothing to note.")
    )
    return h(
        '<div class="verdict {}" id="verdict"><b>{}</b>{}</div>',
        css[judgement.verdict],
        judgement.verdict.value,
        reasons,
    )


def _who(report: Report) -> Html:
    rows = [
        h(
            "<tr><th>Requested by</th><td><code>{}</code> at {}</td></tr>",
            report.initiated_by,
            _time(report.created_time),
        )
    ]
    for decision in report.decisions:
        reason = h(": {}", decision.reason) if decision.reason else Html("")
        rows.append(
            h(
                "<tr><th>{}</th><td><code>{}</code> at {}{}</td></tr>",
                decision.action.capitalize() + " by",
                decision.user_id,
                _time(decision.at),
                reason,
            )
        )
    if report.point_in_time is not None:
        rows.append(h("<tr><th>Point in time (--at)</th><td>{}</td></tr>", _time(report.point_in_time)))
    readiness = report.readiness
    if readiness is not None:
        forced = " (started with --force)" if readiness.forced else ""
        reasons = join([h("<li>{}</li>", line) for line in readiness.reasons])
        rows.append(
            h(
                "<tr><th>Readiness at the start</th><td><b>{}</b>{} · checked {}<ul>{}</ul></td></tr>",
                readiness.level,
                forced,
                _time(readiness.checked_at),
                reasons,
            )
        )
    else:
        rows.append(h("<tr><th>Readiness at the start</th><td>{}</td></tr>", "not recorded"))
    return h('<section><h2>Who and when</h2><table class="kv">{}</table></section>', join(rows))


def _met(met: bool | None) -> Html:
    if met is None:
        return h("{}", "—")
    return h('<span class="ok">{}</span>', "met") if met else h('<span class="bad">{}</span>', "missed")


def _rto(report: Report) -> Html:
    rto = report.rto
    target = _duration(rto.target_seconds) if rto.target_seconds is not None else "none (rto_target not set)"
    rpo_target = (
        _duration(report.rpo_target_seconds)
        if report.rpo_target_seconds is not None
        else "none (rpo_target not set)"
    )
    summary = h(
        '<table class="kv"><tr><th>Requested</th><td>{}</td></tr><tr><th>Approved</th><td>{}</td></tr>'
        "<tr><th>First launch</th><td>{}</td></tr><tr><th>Last launch</th><td>{}</td></tr>"
        "<tr><th>RTO (request → last launch)</th><td><b>{}</b> against {} · {}</td></tr>"
        "<tr><th>RPO target</th><td>{}</td></tr></table>",
        _time(rto.requested_at),
        _time(rto.approved_at) if rto.approved_at else "no approval needed",
        _time(rto.first_launch_at),
        _time(rto.last_launch_at),
        _duration(rto.seconds) if rto.seconds is not None else "not reached: not every server launched",
        target,
        _met(rto.met),
        rpo_target,
    )
    rows = [
        h(
            "<tr><td>{}. {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} / {}</td></tr>",
            wave.index + 1,
            wave.wave_name,
            wave.status.value,
            _time(wave.start_time),
            _time(wave.last_launch_at),
            _duration(wave.seconds),
            _duration(wave.since_request_seconds),
            wave.launched,
            len(wave.servers),
        )
        for wave in report.waves
    ]
    waves = h(
        "<table><tr><th>Wave</th><th>Status</th><th>Started</th><th>Last launch</th><th>Start → last launch</th>"
        "<th>Request → last launch</th><th>Launched</th></tr>{}</table>",
        join(rows),
    )
    return h("<section><h2>Recovery time</h2>{}{}</section>", summary, waves)


def _timeline(chart: Timeline) -> Html:
    """bot/domain/timeline.py's model, the one the Slack picture draws, as inline SVG: waves as bars on
    a time axis, each launch a tick (a failure a red one at the wave's end), waits hatched, decisions
    as dashed lines."""
    left, width, row, top = 190, 760, 34, 34
    height = top + row * len(chart.waves) + 30

    def x(moment: datetime) -> float:
        return round(left + width * chart.fraction(moment), 1)

    parts: list[Html] = []
    for tick in chart.ticks():
        at_x = x(tick.at)
        parts.append(
            h(
                '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e3e6ea"/>'
                '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                at_x,
                top - 6,
                at_x,
                height - 24,
                at_x,
                height - 10,
                tick.label,
            )
        )
    for decision in chart.decisions:
        at_x = x(decision.at)
        parts.append(
            h(
                '<line class="decision" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#6a1b9a" '
                'stroke-dasharray="3 2"><title>{} by {} at {}</title></line>'
                '<text x="{}" y="{}" fill="#6a1b9a" text-anchor="{}">{}</text>',
                at_x,
                top - 6,
                at_x,
                height - 24,
                decision.kind.value.lower().replace("_", " "),
                decision.user_id,
                _time(decision.at),
                at_x,
                top - 10,
                "end" if at_x > left + width * 0.8 else "start",
                decision.kind.value.lower().replace("_", " "),
            )
        )
    for position, bar in enumerate(chart.waves):
        parts.append(_wave_row(bar, top + row * position, row, x))
    legend = h(
        '<p class="legend">Bars: each wave from its start to its end; ticks: servers launched (red: failed, '
        "at the wave's end); hatched: waiting (wait_before); dashed lines: decisions. Times in UTC, from "
        "the request ({}) to {}.</p>",
        _time(chart.axis.start),
        _time(chart.axis.end),
    )
    # The hatch for waits is defined inside the chart: a separate hidden <svg> would still take a width.
    defs = Html(
        '<defs><pattern id="wait" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#b0b6bd"/></pattern></defs>'
    )
    svg = h(
        '<svg class="timeline" viewBox="0 0 {} {}" role="img" aria-label="timeline of the waves">{}{}</svg>',
        left + width + 20,
        height,
        defs,
        join(parts),
    )
    return h("<section><h2>Timeline</h2>{}{}</section>", svg, legend)


_BAR_COLOURS = {"COMPLETED": "#2e8540", "PARTIAL": "#c98a00", "FAILED": "#c62828", "SKIPPED": "#9aa0a6"}


def _wave_row(bar: WaveBar, y: int, row: int, x: Callable[[datetime], float]) -> Html:
    name = bar.name if len(bar.name) <= WAVE_LABEL_CHARS else bar.name[: WAVE_LABEL_CHARS - 1] + "…"
    parts = [
        h('<text x="4" y="{}"><title>{}</title>{}. {}</text>', y + row / 2 + 4, bar.name, bar.index + 1, name)
    ]
    if bar.wait is not None and bar.wait.seconds > 0:
        x0, x1 = x(bar.wait.start), x(bar.wait.end)
        parts.append(
            h(
                '<rect class="wait" x="{}" y="{}" width="{}" height="{}" fill="url(#wait)">'
                "<title>waited until {} (wait_before)</title></rect>",
                x0,
                y + 10,
                max(1.0, x1 - x0),
                row - 20,
                _time(bar.wait.end),
            )
        )
    if bar.span is None:
        parts.append(
            h('<text x="{}" y="{}" fill="#55595f">{}</text>', 196, y + row / 2 + 4, bar.status.value.lower())
        )
        return join(parts)
    x0, x1 = x(bar.span.start), x(bar.span.end)
    parts.append(
        h(
            '<rect class="wave-bar" data-wave="{}" x="{}" y="{}" width="{}" height="{}" rx="3" fill="{}">'
            "<title>{} ({}): {} → {}</title></rect>",
            bar.index,
            x0,
            y + 6,
            max(2.0, x1 - x0),
            row - 12,
            _BAR_COLOURS.get(bar.status.value, "#1565c0"),
            bar.name,
            bar.status.value,
            _time(bar.span.start),
            _time(bar.span.end),
        )
    )
    parts += [_mark(mark, y, row, x) for mark in bar.marks[:MARKS_PER_WAVE]]
    return join(parts)


def _mark(mark: ServerMark, y: int, row: int, x: Callable[[datetime], float]) -> Html:
    at_x = x(mark.at)
    what = "launched" if mark.ok else "failed: " + (mark.error or "")
    return h(
        '<line class="{}" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2">'
        "<title>{} {} ({})</title></line>",
        "launch" if mark.ok else "launch-failed",
        at_x,
        y + 3,
        at_x,
        y + row - 3,
        "#0d47a1" if mark.ok else "#c62828",
        mark.source_server_id,
        what,
        _time(mark.at),
    )


def _error_and_attempts(server: ServerReport) -> Html:
    """DRS's error, then each earlier attempt a retry followed (its job and error), and optional."""
    parts = [h("{}", server.error or "")]
    if server.optional:
        parts.append(h(" <small>(optional)</small>"))
    for number, attempt in enumerate(server.attempts, start=1):
        parts.append(
            h(
                "<br><small>attempt {}: job <code>{}</code>, retried {}: {}</small>",
                number,
                attempt.recovery_job_id or "none",
                _time(attempt.retried_at),
                attempt.error or "",
            )
        )
    return join(parts)


def _servers(report: Report) -> Html:
    sections: list[Html] = []
    for wave in report.waves:
        rows = [
            h(
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td>"
                "<td>{}</td><td>{}</td></tr>",
                s.source_server_id,
                s.status.value,
                s.recovery_job_id or "—",
                _time(s.launch_time),
                s.instance_id or "—",
                _rpo_text(s),
                _error_and_attempts(s),
            )
            for s in wave.servers
        ]
        sections.append(
            h(
                "<h3>{}. {} <small>({} in {}, jobs {})</small></h3>"
                '<table><colgroup><col style="width:15%"><col style="width:9%"><col style="width:16%">'
                '<col style="width:14%"><col style="width:13%"><col style="width:14%"><col style="width:19%">'
                "</colgroup><tr><th>Source server</th><th>Result</th><th>Job</th><th>Launched</th>"
                "<th>Instance</th><th>RPO</th><th>DRS error</th></tr>{}</table>",
                wave.index + 1,
                wave.wave_name,
                wave.protection_group_id,
                f"{wave.account_id}/{wave.region}" if wave.account_id else wave.region,
                ", ".join(wave.job_ids) or "none",
                join(rows),
            )
        )
        if wave.hooks:
            sections.append(_hooks(wave))
    note = h(
        '<p class="legend">{}</p>',
        'RPO: the age of the data at the request. "latest data": DRS launched from the latest replicated '
        "data, whose lag readiness checked against the rpo_target before the launch.",
    )
    return h('<section class="page"><h2>Servers</h2>{}{}</section>', note, join(sections))


def _hooks(wave: WaveReport) -> Html:
    """hooks (#15): the wave's before- and after-hooks, in the order they ran."""
    rows = [
        h(
            "<tr><td>{}</td><td>{} <code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td>"
            "<td>{}</td></tr>",
            hook.phase,
            hook.kind,
            hook.target,
            hook.status,
            _time(hook.start_time),
            _time(hook.end_time),
            hook.run_id or "—",
            hook.error or hook.output or "",
        )
        for hook in wave.hooks
    ]
    return h(
        "<table><tr><th>Hook</th><th>What</th><th>Outcome</th><th>Started</th><th>Ended</th><th>Id</th>"
        "<th>Output or error</th></tr>{}</table>",
        join(rows),
    )


def _rpo_text(server: ServerReport) -> Html:
    rpo = server.rpo
    if rpo.basis == "POINT_IN_TIME":
        return h(
            "snapshot <code>{}</code> of {}: {} old {}",
            rpo.snapshot_id or "",
            _time(rpo.snapshot_time),
            _duration(rpo.seconds),
            _met(rpo.met),
        )
    return h("{}", "latest data")


def _cleanup(report: Report) -> Html:
    proof = report.cleanup
    if proof is None:
        return Html("")
    if proof.status == "NONE":
        body = h(
            "<p>{} Drill instances' running hours so far: <b>{}</b>.</p>",
            "Not cleaned up: the drill's recovery instances are still running (DRS never terminates them).",
            proof.running_hours,
        )
        return h('<section class="page"><h2>Cleanup</h2>{}</section>', body)
    by = "the plan's cleanup_after" if proof.requested_by == "cleanup_after" else proof.requested_by or ""
    rows = [
        h(
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            i.instance_id,
            i.source_server_id or "—",
            _time(i.launch_time),
            "—" if i.running_hours is None else i.running_hours,
        )
        for i in proof.instances
    ]
    failures = join([h('<li class="bad">{}</li>', f) for f in proof.failures])
    return h(
        '<section class="page"><h2>Cleanup</h2><table class="kv">'
        "<tr><th>Status</th><td>{}</td></tr><tr><th>By</th><td>{}</td></tr><tr><th>Due</th><td>{}</td></tr>"
        "<tr><th>Terminating started</th><td>{}</td></tr><tr><th>Done</th><td>{}</td></tr>"
        "<tr><th>TERMINATE jobs</th><td>{}</td></tr><tr><th>Already gone</th><td>{}</td></tr>"
        "<tr><th>Running hours (all instances)</th><td><b>{}</b></td></tr></table>"
        "<table><tr><th>Instance terminated</th><th>Source server</th><th>Launched</th><th>Hours up</th></tr>{}"
        "</table><ul>{}</ul></section>",
        proof.status,
        by,
        _time(proof.due_at),
        _time(proof.started_at),
        _time(proof.ended_at),
        ", ".join(proof.terminate_job_ids) or "—",
        proof.already_gone,
        proof.running_hours,
        join(rows),
        failures,
    )
