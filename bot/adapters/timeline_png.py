"""The timeline as a PNG, drawn with Pillow: Slack shows a PNG inline in the thread (not an SVG).

Pillow rather than matplotlib: a fifth of the size in the Lambda artifact and a tenth of the import
time, for a chart of bars, marks and labels (benchmarks/README.md, "The timeline picture"). Imported only
where a picture is posted, never by the Slack ack path.
"""

from __future__ import annotations

import io
from datetime import datetime

from PIL import Image, ImageDraw, ImageFont

from bot.domain.execution import WaveStatus
from bot.domain.timeline import DecisionKind, Timeline, WaveBar

WIDTH = 1200
_LEFT = 230  # wave names
_RIGHT = 40
_TOP = 96  # title, subtitle and the decisions' labels
_ROW = 46
_BAR = 26
_AXIS = 44
_LEGEND = 44
_PAD = 16

_BACKGROUND = (255, 255, 255)
_INK = (29, 28, 29)
_MUTED = (97, 96, 97)
_GRID = (221, 221, 221)
_WAIT = (200, 200, 200)
_DECISION = (18, 100, 163)
_REJECTED = (224, 30, 90)
_LAUNCHED = (0, 90, 50)
_FAILED = (204, 0, 0)
_STATUS_COLOURS = {
    WaveStatus.COMPLETED: (46, 182, 125),
    WaveStatus.PARTIAL: (236, 178, 46),
    WaveStatus.FAILED: (224, 30, 90),
    WaveStatus.IN_PROGRESS: (54, 197, 240),
    WaveStatus.PREPARING: (54, 197, 240),  # hooks (#15)
    WaveStatus.FINISHING: (54, 197, 240),  # hooks (#15)
    WaveStatus.PENDING: (221, 221, 221),
    WaveStatus.GATED: (221, 221, 221),  # held at its gate: nothing launched yet
    WaveStatus.SKIPPED: (221, 221, 221),
}
_DECISION_WORDS = {
    DecisionKind.REQUESTED: "requested",
    DecisionKind.APPROVED: "approved",
    DecisionKind.REJECTED: "rejected",
    DecisionKind.CANCEL_REQUESTED: "cancel",
}


def height_for(timeline: Timeline) -> int:
    return _TOP + _ROW * max(1, len(timeline.waves)) + _AXIS + _LEGEND


def render_png(timeline: Timeline, title: str) -> bytes:
    """The picture: `title` on top (the verdict line), one row per wave, the time axis, a legend."""
    height = height_for(timeline)
    image = Image.new("RGB", (WIDTH, height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    fonts = _Fonts()
    chart = _Chart(timeline, top=_TOP, bottom=_TOP + _ROW * max(1, len(timeline.waves)))
    draw.text((_PAD, 12), _fit(draw, title, fonts.title, WIDTH - 2 * _PAD), fill=_INK, font=fonts.title)
    kind = timeline.execution_type.value.lower()
    subtitle = f"{timeline.plan_name} · {kind} {timeline.execution_id} · times in UTC"
    if not timeline.ended:
        subtitle += " · still running"
    draw.text((_PAD, 42), _fit(draw, subtitle, fonts.small, WIDTH - 2 * _PAD), fill=_MUTED, font=fonts.small)
    _grid(draw, chart, fonts)
    for row, bar in enumerate(timeline.waves):
        _wave(draw, chart, row, bar, fonts)
    _decisions(draw, chart, timeline, fonts)
    _legend(draw, height - _LEGEND + 10, fonts)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


class _Fonts:
    """Pillow's bundled scalable font (FreeType): no font files on the Lambda image needed."""

    def __init__(self) -> None:
        self.title = ImageFont.load_default(size=22)
        self.text = ImageFont.load_default(size=16)
        self.small = ImageFont.load_default(size=14)


class _Chart:
    def __init__(self, timeline: Timeline, *, top: int, bottom: int) -> None:
        self.timeline = timeline
        self.top = top
        self.bottom = bottom
        self.left = _LEFT
        self.right = WIDTH - _RIGHT

    def x(self, moment: datetime) -> int:
        return round(self.left + self.timeline.fraction(moment) * (self.right - self.left))

    def row_middle(self, row: int) -> int:
        return self.top + row * _ROW + _ROW // 2


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> str:
    """The text, cut with an ellipsis to fit `width` pixels (names are the users' own, of any length)."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _grid(draw: ImageDraw.ImageDraw, chart: _Chart, fonts: _Fonts) -> None:
    for tick in chart.timeline.ticks():
        x = chart.x(tick.at)
        draw.line([(x, chart.top - 6), (x, chart.bottom)], fill=_GRID, width=1)
        width = draw.textlength(tick.label, font=fonts.small)
        left = min(max(x - width / 2, chart.left - width / 2), WIDTH - width - 4)
        draw.text((left, chart.bottom + 8), tick.label, fill=_MUTED, font=fonts.small)
    draw.line([(chart.left, chart.bottom), (chart.right, chart.bottom)], fill=_MUTED, width=1)


def _wave(draw: ImageDraw.ImageDraw, chart: _Chart, row: int, bar: WaveBar, fonts: _Fonts) -> None:
    middle = chart.row_middle(row)
    name = _fit(draw, f"{bar.index + 1}. {bar.name}", fonts.text, _LEFT - 2 * _PAD)
    draw.text((_PAD, middle - 17), name, fill=_INK, font=fonts.text)
    launched = sum(1 for mark in bar.marks if mark.ok)
    counts = f"{bar.status.value.lower().replace('_', ' ')} · {launched}/{bar.servers} launched"
    if bar.failed:
        counts += f", {bar.failed} failed"
    draw.text(
        (_PAD, middle + 3), _fit(draw, counts, fonts.small, _LEFT - 2 * _PAD), fill=_MUTED, font=fonts.small
    )
    top, bottom = middle - _BAR // 2, middle + _BAR // 2
    if bar.wait is not None:
        left, right = chart.x(bar.wait.start), chart.x(bar.wait.end)
        draw.rectangle([left, top + 5, max(right, left + 1), bottom - 5], fill=_WAIT)
    if bar.span is None:
        if bar.status is WaveStatus.SKIPPED:
            draw.text((chart.left + 6, middle - 9), "skipped", fill=_MUTED, font=fonts.small)
        return
    left, right = chart.x(bar.span.start), chart.x(bar.span.end)
    right = max(right, left + 3)  # a wave that ended at once still shows
    draw.rectangle([left, top, right, bottom], fill=_STATUS_COLOURS[bar.status])
    # Launches in the bar's upper half, failures in its lower half, so that neither hides the other when
    # they happened in the same minute (a wave's launches often end together).
    for mark in sorted(bar.marks, key=lambda mark: not mark.ok):
        x = chart.x(mark.at)
        if mark.ok:
            y = top + 7
            draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=_LAUNCHED, outline=_BACKGROUND)
        else:
            _cross(draw, x, bottom - 7, 6, _FAILED)


def _cross(draw: ImageDraw.ImageDraw, x: int, y: int, size: int, colour: tuple[int, int, int]) -> None:
    draw.line([(x - size, y - size), (x + size, y + size)], fill=colour, width=3)
    draw.line([(x - size, y + size), (x + size, y - size)], fill=colour, width=3)


def _decisions(draw: ImageDraw.ImageDraw, chart: _Chart, timeline: Timeline, fonts: _Fonts) -> None:
    """People's decisions as dashed lines across the waves, labelled above them (left to right, each
    label moved right of the one before so none overlaps)."""
    free_from = 0.0
    for decision in timeline.decisions:
        x = chart.x(decision.at)
        colour = _REJECTED if decision.kind is DecisionKind.REJECTED else _DECISION
        for y in range(chart.top - 4, chart.bottom, 8):
            draw.line([(x, y), (x, min(y + 4, chart.bottom))], fill=colour, width=2)
        label = f"{_DECISION_WORDS[decision.kind]} {decision.user_id}"
        width = draw.textlength(label, font=fonts.small)
        left = min(max(float(x) - 2, free_from), WIDTH - width - 4)
        draw.text((left, chart.top - 26), label, fill=colour, font=fonts.small)
        free_from = left + width + 12


def _legend(draw: ImageDraw.ImageDraw, y: int, fonts: _Fonts) -> None:
    x = float(_PAD)

    def caption(text: str) -> None:
        nonlocal x
        draw.text((x, y - 2), text, fill=_MUTED, font=fonts.small)
        x += draw.textlength(text, font=fonts.small) + 22

    for status in (WaveStatus.COMPLETED, WaveStatus.PARTIAL, WaveStatus.FAILED, WaveStatus.IN_PROGRESS):
        draw.rectangle([x, y, x + 22, y + 14], fill=_STATUS_COLOURS[status])
        x += 28
        caption(status.value.lower().replace("_", " "))
    draw.rectangle([x, y + 4, x + 22, y + 10], fill=_WAIT)
    x += 28
    caption("wait_before")
    draw.ellipse([x, y + 2, x + 10, y + 12], fill=_LAUNCHED)
    x += 16
    caption("server launched")
    _cross(draw, round(x) + 6, y + 7, 6, _FAILED)
    x += 18
    caption("server failed (at its wave's end)")
    for yy in range(y, y + 14, 6):
        draw.line([(x + 4, yy), (x + 4, yy + 3)], fill=_DECISION, width=2)
    x += 12
    caption("decision")


class PillowPictures:
    """The Pictures port (bot/services/ports.py)."""

    def png(self, timeline: Timeline, title: str) -> bytes:
        return render_png(timeline, title)
