"""The timeline model, projected from executions the engine produced from plain data."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain import engine
from bot.domain.execution import (
    Approval,
    Execution,
    ExecutionStatus,
    ExecutionType,
    Limits,
    Rejection,
    WaveStatus,
)
from bot.domain.plans import OnFailure, WaveOptions
from bot.domain.timeline import DecisionKind, Span, axis_ticks, timeline
from tests.unit.builders import at, execution, job, observe

LIMITS = Limits()


def with_wave(ex: Execution, index: int, **changes: object) -> Execution:
    return ex.replace_wave(ex.waves[index].model_copy(update=changes))


def step(
    ex: Execution, now_s: float, *jobs: engine.JobSnapshot, reasons: dict[str, str] | None = None
) -> Execution:
    d = engine.advance(ex, observe(*jobs, reasons=reasons), at(now_s), LIMITS)
    started = [(ref, f"drsjob-w{ref.wave}c{ref.chunk}") for ref in d.starts]
    return engine.record_jobs_started(d.execution, started, at(now_s)).execution if started else d.execution


def finish(ex: Execution, wave: int, now_s: float, **states: str) -> Execution:
    servers = {
        s.source_server_id: states.get(s.source_server_id, "LAUNCHED") for s in ex.waves[wave].servers()
    }
    return step(
        ex,
        now_s,
        job(f"drsjob-w{wave}c0", "COMPLETED", **servers),
        reasons={
            sid: "DRS: the launch template is invalid" for sid, state in servers.items() if state == "FAILED"
        },
    )


def test_a_drill_of_two_waves_has_a_bar_per_wave_and_a_mark_per_server() -> None:
    ex = step(execution(2, 1), 0)
    ex = finish(ex, 0, 540)
    ex = finish(ex, 1, 1140)
    assert ex.status is ExecutionStatus.COMPLETED
    t = timeline(ex, now=at(5000))
    assert t.ended and t.axis == Span(start=at(0), end=at(1140))
    assert [(w.name, w.status, w.span) for w in t.waves] == [
        ("Wave 1", WaveStatus.COMPLETED, Span(start=at(0), end=at(540))),
        ("Wave 2", WaveStatus.COMPLETED, Span(start=at(540), end=at(1140))),
    ]
    assert [len(w.marks) for w in t.waves] == [2, 1] and [w.servers for w in t.waves] == [2, 1]
    assert all(m.ok and m.at == at(540) for m in t.waves[0].marks)
    assert not any(w.running for w in t.waves)
    assert [(d.kind, d.user_id, d.at) for d in t.decisions] == [(DecisionKind.REQUESTED, "U1", at(0))]


def test_a_failed_server_is_marked_failed_at_its_wave_end_with_drs_error() -> None:
    ex = step(execution(2), 0)
    bad = ex.waves[0].chunks[0].servers[1].source_server_id
    ex = finish(ex, 0, 600, **{bad: "FAILED"})
    t = timeline(ex, now=at(9999))
    wave = t.waves[0]
    assert wave.status is WaveStatus.PARTIAL and wave.failed == 1
    failed = next(m for m in wave.marks if not m.ok)
    assert failed.source_server_id == bad and failed.at == at(600) and failed.at_wave_end
    assert failed.error == "DRS: the launch template is invalid"


def test_a_running_execution_ends_its_axis_and_running_bar_at_now() -> None:
    ex = step(execution(1, 1), 0)
    t = timeline(ex, now=at(300))
    assert not t.ended and t.axis.end == at(300)
    assert t.waves[0].running and t.waves[0].span == Span(start=at(0), end=at(300))
    assert t.waves[1].span is None and t.waves[1].status is WaveStatus.PENDING
    assert t.waves[0].marks == ()


def test_wait_before_is_shown_from_the_previous_wave_end_to_the_next_start() -> None:
    ex = with_wave(execution(1, 1), 1, options=WaveOptions(wait_before=300))
    ex = step(ex, 0)
    ex = finish(ex, 0, 540)
    waiting = timeline(ex, now=at(600))
    assert waiting.waves[1].wait == Span(start=at(540), end=at(840))
    assert waiting.axis.end == at(840)  # the planned end of the wait is on the axis
    ex = step(ex, 845)  # the tick after the wait starts the wave
    ex = finish(ex, 1, 1400)
    done = timeline(ex, now=at(2000))
    assert done.waves[1].wait == Span(start=at(540), end=at(845))
    assert done.waves[0].wait is None


def test_skipped_waves_have_no_bar() -> None:
    ex = with_wave(execution(1, 1), 0, options=WaveOptions(on_failure=OnFailure.STOP))
    ex = step(ex, 0)
    only = ex.waves[0].chunks[0].servers[0].source_server_id
    ex = finish(ex, 0, 600, **{only: "FAILED"})
    t = timeline(ex, now=at(700))
    assert t.status is ExecutionStatus.FAILED
    assert t.waves[1].status is WaveStatus.SKIPPED and t.waves[1].span is None and t.waves[1].marks == ()


def test_approvals_rejections_and_cancels_are_decisions_in_time_order() -> None:
    ex = execution(1, kind=ExecutionType.RECOVERY).model_copy(
        update={
            "approvals_required": 2,
            "approvals": (Approval(user_id="U3", at=at(120)), Approval(user_id="U2", at=at(60))),
        }
    )
    t = timeline(ex, now=at(200))
    assert [(d.kind, d.user_id, d.at) for d in t.decisions] == [
        (DecisionKind.REQUESTED, "U1", at(0)),
        (DecisionKind.APPROVED, "U2", at(60)),
        (DecisionKind.APPROVED, "U3", at(120)),
    ]
    rejected = ex.model_copy(
        update={
            "approvals": (),
            "status": ExecutionStatus.REJECTED,
            "end_time": at(90),
            "rejection": Rejection(user_id="U4", at=at(90), reason="not <now>"),
        }
    )
    r = timeline(rejected, now=at(500))
    assert r.ended and r.axis == Span(start=at(0), end=at(90))
    assert r.decisions[-1].kind is DecisionKind.REJECTED and r.decisions[-1].reason == "not <now>"
    cancelled = ex.model_copy(update={"cancel_requested_by": "U5", "cancel_requested_at": at(150)})
    assert timeline(cancelled, now=at(160)).decisions[-1].kind is DecisionKind.CANCEL_REQUESTED


def test_fraction_places_moments_on_the_axis_and_clamps() -> None:
    ex = step(execution(1), 0)
    ex = finish(ex, 0, 600)
    t = timeline(ex, now=at(700))
    assert t.fraction(at(0)) == 0.0 and t.fraction(at(300)) == 0.5 and t.fraction(at(600)) == 1.0
    assert t.fraction(at(-10)) == 0.0 and t.fraction(at(900)) == 1.0


def test_ticks_are_round_utc_times_within_the_axis() -> None:
    start = datetime(2026, 11, 29, 9, 3, 20, tzinfo=UTC)
    ticks = axis_ticks(Span(start=start, end=datetime(2026, 11, 29, 9, 41, tzinfo=UTC)))
    assert [t.label for t in ticks] == ["09:10", "09:20", "09:30", "09:40"]
    short = axis_ticks(Span(start=start, end=datetime(2026, 11, 29, 9, 4, 0, tzinfo=UTC)))
    assert [t.label for t in short] == ["09:03:20", "09:03:30", "09:03:40", "09:03:50", "09:04:00"]
    hours = axis_ticks(Span(start=start, end=datetime(2026, 11, 29, 20, 0, tzinfo=UTC)))
    assert [t.label for t in hours] == ["10:00", "12:00", "14:00", "16:00", "18:00", "20:00"]
    assert len(axis_ticks(Span(start=start, end=start))) == 1  # a zero-length axis still has a label
