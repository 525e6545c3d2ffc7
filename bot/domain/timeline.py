"""The timeline of one execution: what happened when, as a picture draws it.

A projection of the stored `Execution` (never a second record): the time axis, one bar per wave, each
server's launch as a mark, the people's decisions and the `wait_before` waits where they happened. The
Slack PNG (bot/adapters/timeline_png.py) and the HTML report's SVG draw this same model, so it stays
plain data (pydantic + stdlib) and takes `now` for an execution still running.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain.execution import (
    Execution,
    ExecutionStatus,
    ExecutionType,
    ServerStatus,
    WaveRun,
    WaveStatus,
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Span(_Model):
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


class ServerMark(_Model):
    """One server's launch: LAUNCHED at its launch time, or FAILED.

    DRS's failure time is not stored; a failed server is marked when its wave ended (its last moment
    as a failure), or at `now` while the wave still runs — `at_wave_end` says so."""

    source_server_id: str
    at: datetime
    ok: bool
    at_wave_end: bool = False
    error: str | None = None


class WaveBar(_Model):
    index: int
    name: str
    status: WaveStatus
    span: Span | None  # None: never started (SKIPPED, or still PENDING)
    running: bool = False  # the span ends at `now`, not at the wave's end
    wait: Span | None = None  # wait_before: from the previous wave's end to this one's start
    marks: tuple[ServerMark, ...] = ()
    servers: int = 0  # in the wave; servers not yet launched have no mark

    @property
    def failed(self) -> int:
        return sum(1 for mark in self.marks if not mark.ok)


class DecisionKind(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCEL_REQUESTED = "CANCEL_REQUESTED"


class Decision(_Model):
    """What a person did, and when: the request, each approval, a rejection, a cancel."""

    kind: DecisionKind
    user_id: str
    at: datetime
    reason: str | None = None


class Tick(_Model):
    at: datetime
    label: str  # "09:05" (UTC), or "09:05:30" when the axis steps in seconds


class Timeline(_Model):
    execution_id: str
    plan_name: str
    execution_type: ExecutionType
    status: ExecutionStatus
    axis: Span
    ended: bool  # False: the axis ends at `now`
    waves: tuple[WaveBar, ...]
    decisions: tuple[Decision, ...]

    def fraction(self, moment: datetime) -> float:
        """Where `moment` falls on the axis, 0.0 (start) to 1.0 (end), clamped."""
        total = self.axis.seconds
        if total <= 0:
            return 0.0
        return min(1.0, max(0.0, (moment - self.axis.start).total_seconds() / total))

    def ticks(self, most: int = 8) -> tuple[Tick, ...]:
        """Round times (UTC) along the axis, at most `most` of them, for labels and grid lines."""
        return axis_ticks(self.axis, most)


# Steps a person reads at a glance: seconds, minutes, hours.
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def axis_ticks(axis: Span, most: int = 8) -> tuple[Tick, ...]:
    total = max(axis.seconds, 1.0)
    step = next((s for s in _STEPS if total / s <= max(most - 1, 1)), _STEPS[-1])
    epoch = axis.start.timestamp()
    first = -(-epoch // step) * step  # the first multiple of the step at or after the start
    ticks = []
    moment = axis.start + timedelta(seconds=first - epoch)
    while moment <= axis.end:
        label = moment.astimezone(UTC).strftime("%H:%M:%S" if step < 60 else "%H:%M")
        ticks.append(Tick(at=moment, label=label))
        moment += timedelta(seconds=step)
    return tuple(ticks)


def timeline(execution: Execution, now: datetime) -> Timeline:
    """The execution as a timeline; `now` ends the axis and the running bars while it runs."""
    ended = execution.status.is_terminal and execution.end_time is not None
    start = execution.created_at
    end = execution.end_time if ended and execution.end_time is not None else max(now, start)
    decisions = _decisions(execution)
    # Stored times past the end (a cancel requested as it ended) still show: the axis takes them in.
    latest = max([end, *(d.at for d in decisions)])
    waves = []
    previous_end: datetime | None = None
    for wave in execution.waves:
        waves.append(_bar(wave, previous_end, now))
        previous_end = wave.end_time
    for bar in waves:
        for moment in _moments(bar):
            latest = max(latest, moment)
    return Timeline(
        execution_id=execution.execution_id,
        plan_name=execution.plan_name,
        execution_type=execution.execution_type,
        status=execution.status,
        axis=Span(start=start, end=latest),
        ended=ended,
        waves=tuple(waves),
        decisions=decisions,
    )


def _moments(bar: WaveBar) -> list[datetime]:
    moments = [mark.at for mark in bar.marks]
    if bar.span is not None:
        moments.append(bar.span.end)
    if bar.wait is not None:
        moments.append(bar.wait.end)
    return moments


def _bar(wave: WaveRun, previous_end: datetime | None, now: datetime) -> WaveBar:
    span = None
    running = False
    if wave.start_time is not None:
        running = wave.end_time is None
        span = Span(start=wave.start_time, end=wave.end_time or max(now, wave.start_time))
    wait = None
    if wave.not_before is not None and previous_end is not None:
        # Waited until the wave started (a tick may start it a little after not_before), or still waits.
        until = wave.start_time or wave.not_before
        wait = Span(start=previous_end, end=max(until, previous_end))
    marks = []
    for server in wave.servers():
        if server.status is ServerStatus.LAUNCHED and server.launch_time is not None:
            marks.append(ServerMark(source_server_id=server.source_server_id, at=server.launch_time, ok=True))
        elif server.status is ServerStatus.FAILED and span is not None:
            marks.append(
                ServerMark(
                    source_server_id=server.source_server_id,
                    at=span.end,
                    ok=False,
                    at_wave_end=True,
                    error=server.error,
                )
            )
    return WaveBar(
        index=wave.index,
        name=wave.name,
        status=wave.status,
        span=span,
        running=running,
        wait=wait,
        marks=tuple(sorted(marks, key=lambda mark: mark.at)),
        servers=sum(1 for _ in wave.servers()),
    )


def _decisions(execution: Execution) -> tuple[Decision, ...]:
    found = [Decision(kind=DecisionKind.REQUESTED, user_id=execution.initiated_by, at=execution.created_at)]
    found += [Decision(kind=DecisionKind.APPROVED, user_id=a.user_id, at=a.at) for a in execution.approvals]
    if execution.rejection is not None:
        rejection = execution.rejection
        found.append(
            Decision(
                kind=DecisionKind.REJECTED,
                user_id=rejection.user_id,
                at=rejection.at,
                reason=rejection.reason,
            )
        )
    if execution.cancel_requested_by is not None and execution.cancel_requested_at is not None:
        found.append(
            Decision(
                kind=DecisionKind.CANCEL_REQUESTED,
                user_id=execution.cancel_requested_by,
                at=execution.cancel_requested_at,
            )
        )
    return tuple(sorted(found, key=lambda decision: decision.at))


def headline(t: Timeline) -> str:
    """The picture's title line: the outcome, counted from the timeline itself (plain text)."""
    launched = sum(1 for bar in t.waves for mark in bar.marks if mark.ok)
    total = sum(bar.servers for bar in t.waves)
    minutes = round(t.axis.seconds / 60)
    span = f"{minutes} min" if minutes else f"{round(t.axis.seconds)} s"
    state = t.status.value.replace("_", " ")
    kind = t.execution_type.value.lower()
    return f"{state} · {kind} of {t.plan_name} · {launched}/{total} servers launched · {span} from request to end"
