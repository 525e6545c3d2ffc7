"""The engine's gates and pause, decided from plain data (bot/domain/steering.py)."""

from __future__ import annotations

from datetime import timedelta

from bot.domain import engine, steering
from bot.domain.events import ControlRecorded, ProgressUpdated, WaveGated, WaveScheduled, WavesSkipped
from bot.domain.execution import ActionKind, Execution, ExecutionStatus, Limits, ServerStatus, WaveStatus
from bot.domain.plans import WaveOptions
from bot.domain.steering import Stale
from bot.slack import thread_messages
from bot.slack.ids import PAUSE_ACTION, RESUME_ACTION
from tests.unit.builders import at, execution
from tests.unit.test_engine_options import complete_wave, started, with_wave

LIMITS = Limits(gate_reminder_seconds=600)


def test_a_gate_comes_after_the_wait_before_and_starts_nothing() -> None:
    ex = with_wave(execution(1, 2), 1, options=WaveOptions(wait_before=300, pause_before=True))
    ex = started(ex, 0)
    ended = complete_wave(ex, 0, 540)
    assert ended.execution.waves[1].status is WaveStatus.PENDING  # waiting out wait_before first
    early = engine.advance(ended.execution, engine.Observation(), at(839), LIMITS)
    assert early.execution.waves[1].status is WaveStatus.PENDING and not early.starts
    due = engine.advance(early.execution, engine.Observation(), at(840), LIMITS)
    assert due.execution.waves[1].status is WaveStatus.GATED and not due.starts
    (card,) = [e for e in due.events if isinstance(e, WaveGated)]
    assert (card.why, card.server_count, card.reminder) == ("pause_before", 2, False)
    assert due.wake_at == at(840) + timedelta(seconds=steering.HELD_WAKE_SECONDS)


def test_a_gate_reminds_once_per_interval_and_a_cancel_skips_it() -> None:
    ex = with_wave(execution(1, 1), 1, options=WaveOptions(pause_before=True))
    ex = complete_wave(started(ex, 0), 0, 540).execution
    assert ex.waves[1].status is WaveStatus.GATED
    quiet = engine.advance(ex, engine.Observation(), at(1139), LIMITS)
    assert not [e for e in quiet.events if isinstance(e, WaveGated)]
    reminded = engine.advance(quiet.execution, engine.Observation(), at(1140), LIMITS)
    (reminder,) = [e for e in reminded.events if isinstance(e, WaveGated)]
    assert reminder.reminder and reminder.gated_at == at(540)
    again = engine.advance(reminded.execution, engine.Observation(), at(1141), LIMITS)
    assert not [e for e in again.events if isinstance(e, WaveGated)]
    # The next reminder is at 1740: the held look (every 5 minutes) comes first.
    assert again.wake_at == at(1141 + steering.HELD_WAKE_SECONDS)
    cancelled = engine.request_cancel(again.execution, "U0OPS", at(1200)).execution
    ended = engine.advance(cancelled, engine.Observation(), at(1200), LIMITS)
    assert ended.execution.status is ExecutionStatus.CANCELLED
    assert ended.execution.waves[1].status is WaveStatus.SKIPPED and not ended.starts


def test_paused_starts_no_wave_and_resume_waits_the_whole_wait_before_again() -> None:
    ex = with_wave(execution(1, 1), 1, options=WaveOptions(wait_before=300))
    ex = started(ex, 0)
    paused = steering.steer(ex, ActionKind.PAUSE, "U0OPS", at(60))
    assert paused.decision is not None
    (said,) = [e for e in paused.decision.events if isinstance(e, ControlRecorded)]
    assert (said.control, said.jobs_running) == (ActionKind.PAUSE, 1)
    ended = complete_wave(paused.decision.execution, 0, 540)
    assert ended.execution.waves[0].status is WaveStatus.COMPLETED  # the running job was followed
    later = engine.advance(ended.execution, engine.Observation(), at(5000), LIMITS)
    assert later.execution.waves[1].status is WaveStatus.PENDING and not later.starts
    assert later.wake_at == at(5000) + timedelta(seconds=steering.HELD_WAKE_SECONDS)
    assert steering.steer(later.execution, ActionKind.PAUSE, "U0OPS", at(5000)).stale is Stale.ALREADY_PAUSED

    resumed = steering.steer(later.execution, ActionKind.RESUME, "U0BOB", at(6000))
    assert resumed.decision is not None
    ex = resumed.decision.execution
    assert ex.waves[1].not_before == at(6300)
    assert any(isinstance(e, WaveScheduled) and e.starts_at == at(6300) for e in resumed.decision.events)
    assert not engine.advance(ex, engine.Observation(), at(6299), LIMITS).starts
    assert engine.advance(ex, engine.Observation(), at(6300), LIMITS).starts
    assert [(a.kind, a.user_id) for a in ex.actions] == [
        (ActionKind.PAUSE, "U0OPS"),
        (ActionKind.RESUME, "U0BOB"),
    ]


def test_time_paused_does_not_count_toward_a_waves_timeout() -> None:
    """Chunks queued behind a pause were held by a person, not by DRS: after the resume they still have
    the wave's whole timeout, less only the time the wave ran unpaused."""
    one_job = Limits(servers_per_job=1, concurrent_jobs=1)
    ex = with_wave(execution(2, servers_per_job=1), 0, options=WaveOptions(timeout=600))
    first = engine.advance(ex, engine.Observation(), at(0), one_job)
    assert len(first.starts) == 1  # the second chunk waits for the first job (quota)
    ex = engine.record_jobs_started(first.execution, [(first.starts[0], "drsjob-w0c0")], at(0)).execution
    paused = steering.steer(ex, ActionKind.PAUSE, "U0OPS", at(100))
    assert paused.decision is not None
    resumed = steering.steer(paused.decision.execution, ActionKind.RESUME, "U0OPS", at(5100))
    assert resumed.decision is not None
    ex = resumed.decision.execution
    assert ex.waves[0].paused_seconds == 5000
    # 5,499 s after the start, 499 s of them unpaused: the queued chunk has not timed out.
    kept = engine.advance(ex, engine.Observation(), at(5599), one_job).execution
    queued = kept.waves[0].chunks[1]
    assert all(s.status is ServerStatus.PENDING for s in queued.servers)
    # At 600 s unpaused it has: DRS capacity, not a person, kept it waiting that long.
    late = engine.advance(kept, engine.Observation(), at(5700), one_job).execution
    (server,) = late.waves[0].chunks[1].servers
    assert server.status is ServerStatus.FAILED and "waiting 10 min for DRS capacity" in (server.error or "")


def test_stop_here_skips_the_rest_and_the_next_advance_ends_it_cancelled() -> None:
    ex = execution(1, 1, 1).model_copy(update={"step": True})
    ex = engine.advance(ex, engine.Observation(), at(0), LIMITS).execution
    assert ex.waves[0].status is WaveStatus.GATED
    wrong_gate = steering.steer(ex, ActionKind.STOP, "U0OPS", at(10), wave=1)
    assert wrong_gate.stale is Stale.NO_GATE
    stopped = steering.steer(ex, ActionKind.STOP, "U0OPS", at(10), wave=0)
    assert stopped.decision is not None
    (skipped,) = [e for e in stopped.decision.events if isinstance(e, WavesSkipped)]
    assert skipped.wave_names == [w.name for w in ex.waves]
    final = engine.advance(stopped.decision.execution, engine.Observation(), at(11), LIMITS).execution
    assert final.status is ExecutionStatus.CANCELLED
    assert steering.steer(final, ActionKind.CONTINUE, "U0OPS", at(12), wave=0).stale is Stale.ENDED


def anchor_buttons(ex: Execution) -> list[str]:
    view = ProgressUpdated(seq=1, **engine.progress_fields(ex, at(0)))
    blocks = thread_messages.anchor(view, at(0)).blocks
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_the_anchor_shows_only_the_steering_button_possible_now() -> None:
    running = started(execution(1, 1), 0)
    assert anchor_buttons(running) == [PAUSE_ACTION]
    paused = steering.steer(running, ActionKind.PAUSE, "U0OPS", at(1)).decision
    assert paused is not None and anchor_buttons(paused.execution) == [RESUME_ACTION]
    cancelling = engine.request_cancel(running, "U0OPS", at(1)).execution
    assert anchor_buttons(cancelling) == []
    ended = complete_wave(started(execution(1), 0), 0, 540).execution
    assert ended.status is ExecutionStatus.COMPLETED and anchor_buttons(ended) == []
