"""Steering a running execution: gates before waves (pause_before, --step) and pause/resume.

Pure decisions. The engine calls `gate_reason`, `gate`, `remind` and `wake_at` from `advance` (its single
decision point); people's controls are `steer`, saved by the service on the version read. A gate never
launches by itself: it waits for Continue or Stop here, reminding its thread."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

from bot.domain import engine, hooks
from bot.domain.events import (
    GATE_SERVERS_LISTED,
    GATE_WAVES_LISTED,
    ControlRecorded,
    WaveGated,
    WaveLine,
    WavesSkipped,
)
from bot.domain.execution import (
    Action,
    ActionKind,
    ChunkStatus,
    Execution,
    ExecutionStatus,
    Limits,
    WaveRun,
    WaveStatus,
    tally,
)
from bot.domain.transitions import move_wave

if TYPE_CHECKING:
    from bot.domain.engine import Decision, EventLog

# Held (at a gate, or paused with nothing in DRS): the executor's loop looks again this often, so that
# the work a click starts is followed soon even without DRS's events; nothing else is done meanwhile.
HELD_WAKE_SECONDS = 300


# --- called by engine.advance ---------------------------------------------------------------------


def gate_reason(execution: Execution, wave: WaveRun) -> Literal["pause_before", "step"] | None:
    if wave.options.pause_before:
        return "pause_before"
    return "step" if execution.step else None


def gate(execution: Execution, wave: WaveRun, events: EventLog, now: datetime) -> Execution:
    """Stop before `wave` (after its wait_before: the wait is part of the plan, the gate is the last
    check before launching) and post its card."""
    gated = move_wave(wave, WaveStatus.GATED, now)
    execution = execution.replace_wave(gated)
    events.add(WaveGated, **_card(execution, gated, now, reminder=False))
    return execution


def remind(execution: Execution, wave: WaveRun, events: EventLog, now: datetime, limits: Limits) -> Execution:
    """A gate still waiting reminds its thread, once per interval (saved with the reminder: never twice)."""
    if now < _reminder_due(wave, limits):
        return execution
    execution = execution.replace_wave(wave.model_copy(update={"reminded_at": now}))
    events.add(WaveGated, **_card(execution, wave, now, reminder=True))
    return execution


def wake_at(execution: Execution, now: datetime, limits: Limits) -> datetime | None:
    """When a held execution needs its next tick: the gate's next reminder, or a slow look."""
    held = now + timedelta(seconds=HELD_WAKE_SECONDS)
    wave = execution.gated_wave()
    if wave is not None:
        return min(_reminder_due(wave, limits), held)
    if execution.paused:
        return held
    return None


def _reminder_due(wave: WaveRun, limits: Limits) -> datetime:
    since = wave.reminded_at or wave.gated_at
    assert since is not None  # move_wave sets gated_at with GATED
    return since + timedelta(seconds=limits.gate_reminder_seconds)


def _card(execution: Execution, wave: WaveRun, now: datetime, *, reminder: bool) -> dict[str, object]:
    done = [w for w in execution.waves if w.status.is_terminal]
    counts = tally(execution.servers())
    servers = [server.source_server_id for server in wave.servers()]
    return {
        "at": now,
        "execution_id": execution.execution_id,
        "execution_type": execution.execution_type,
        "initiated_by": execution.initiated_by,
        "wave_index": wave.index,
        "wave_count": len(execution.waves),
        "wave_name": wave.name,
        "protection_group": wave.protection_group,
        "region": wave.region,
        "account": wave.account,
        "server_count": len(servers),
        "first_servers": servers[:GATE_SERVERS_LISTED],
        "why": gate_reason(execution, wave) or "step",
        "done": [
            WaveLine(
                name=w.name,
                protection_group=w.protection_group,
                region=w.region,
                account=w.account,
                servers=sum(len(chunk.servers) for chunk in w.chunks),
                status=w.status,
            )
            for w in done[-GATE_WAVES_LISTED:]
        ],
        "waves_done": len(done),
        "launched": counts.launched,
        "failed": counts.failed,
        "reminder": reminder,
        "gated_at": wave.gated_at,
    }


# --- people's controls ------------------------------------------------------------------------------


class Stale(StrEnum):
    """Why a control changes nothing now, said calmly with the current state."""

    NOT_STARTED = "not_started"  # still awaiting approval
    ENDED = "ended"
    CANCELLING = "cancelling"
    NO_GATE = "no_gate"  # no wave waits at a gate (passed, stopped, or never gated)
    PAUSED = "paused"  # Continue while paused: resume first
    ALREADY_PAUSED = "already_paused"
    NOT_PAUSED = "not_paused"


@dataclass(frozen=True)
class Steered:
    stale: Stale | None = None
    decision: Decision | None = None


STEERING = (ActionKind.CONTINUE, ActionKind.STOP, ActionKind.PAUSE, ActionKind.RESUME)


def steer(
    execution: Execution, kind: ActionKind, user_id: str, now: datetime, wave: int | None = None
) -> Steered:
    """One control on the execution as it stands. `wave` is the gate's wave a button was for: a click on
    the card of a gate already passed finds no gate at that wave."""
    if execution.status is ExecutionStatus.PENDING_APPROVAL:
        return Steered(stale=Stale.NOT_STARTED)
    if execution.status.is_terminal:
        return Steered(stale=Stale.ENDED)
    if execution.cancelling:
        return Steered(stale=Stale.CANCELLING)
    if kind in (ActionKind.CONTINUE, ActionKind.STOP):
        gated = execution.gated_wave()
        if gated is None or (wave is not None and gated.index != wave):
            return Steered(stale=Stale.NO_GATE)
        if kind is ActionKind.CONTINUE:
            if execution.paused:
                return Steered(stale=Stale.PAUSED)
            return Steered(decision=_continue(execution, gated, user_id, now))
        return Steered(decision=_stop(execution, gated, user_id, now))
    if kind is ActionKind.PAUSE:
        if execution.paused:
            return Steered(stale=Stale.ALREADY_PAUSED)
        return Steered(decision=_pause(execution, user_id, now))
    if kind is ActionKind.RESUME:
        if not execution.paused:
            return Steered(stale=Stale.NOT_PAUSED)
        return Steered(decision=_resume(execution, user_id, now))
    raise ValueError(f"{kind} is not a steering control")


def _recorded(
    events: EventLog,
    execution: Execution,
    kind: ActionKind,
    user_id: str,
    now: datetime,
    wave: WaveRun | None = None,
    jobs_running: int = 0,
) -> None:
    events.add(
        ControlRecorded,
        at=now,
        execution_id=execution.execution_id,
        control=kind,
        user_id=user_id,
        wave_index=wave.index if wave else None,
        wave_name=wave.name if wave else None,
        wave_count=len(execution.waves),
        jobs_running=jobs_running,
    )


def _decided(events: EventLog, before: Execution, after: Execution, now: datetime) -> Decision:
    return engine.Decision(execution=events.stamp(after, before, now), events=tuple(events.items))


def _continue(execution: Execution, gated: WaveRun, user_id: str, now: datetime) -> Decision:
    """The wave starts: the tick that follows claims its chunks."""
    events = engine.EventLog(execution)
    action = Action(user_id=user_id, kind=ActionKind.CONTINUE, at=now, wave=gated.index)
    # Its before-hooks (if any) run first, as for a wave that was never gated.
    started = hooks.begin(execution, gated, hooks.BEFORE, now, events) or move_wave(
        gated, WaveStatus.IN_PROGRESS, now
    )
    after = execution.replace_wave(started).acted(action)
    _recorded(events, execution, ActionKind.CONTINUE, user_id, now, gated)
    return _decided(events, execution, after, now)


def _stop(execution: Execution, gated: WaveRun, user_id: str, now: datetime) -> Decision:
    """The execution ends here, as a cancel does: nothing more starts, the remaining waves are SKIPPED,
    and it ends CANCELLED (a person ended it; FAILED would blame DRS, COMPLETED would hide the skip)."""
    events = engine.EventLog(execution)
    action = Action(user_id=user_id, kind=ActionKind.STOP, at=now, wave=gated.index)
    after = execution.model_copy(update={"cancel_requested_by": user_id, "cancel_requested_at": now})
    skipped = []
    for wave in execution.waves:
        if wave.status in (WaveStatus.PENDING, WaveStatus.GATED):
            after = after.replace_wave(move_wave(wave, WaveStatus.SKIPPED, now))
            skipped.append(wave.name)
    _recorded(events, execution, ActionKind.STOP, user_id, now, gated)
    events.add(
        WavesSkipped,
        at=now,
        execution_id=execution.execution_id,
        wave_names=skipped,
        reason=f"the execution was stopped at the gate before wave {gated.name}",
    )
    return _decided(events, execution, after.acted(action), now)


def _running_jobs(execution: Execution) -> int:
    return sum(
        1
        for wave in execution.waves
        for chunk in wave.chunks
        if chunk.status in (ChunkStatus.STARTING, ChunkStatus.RUNNING)
    )


def _pause(execution: Execution, user_id: str, now: datetime) -> Decision:
    """No new job and no new wave starts; jobs already in DRS are followed to their end."""
    events = engine.EventLog(execution)
    action = Action(user_id=user_id, kind=ActionKind.PAUSE, at=now)
    after = execution.model_copy(update={"paused_by": user_id, "paused_at": now}).acted(action)
    _recorded(events, execution, ActionKind.PAUSE, user_id, now, jobs_running=_running_jobs(execution))
    return _decided(events, execution, after, now)


def _resume(execution: Execution, user_id: str, now: datetime) -> Decision:
    """Continues where it stopped. A wave waiting out its wait_before waits it whole from now: the wait
    is there for what the previous wave started to settle, and a pause says nothing about that."""
    events = engine.EventLog(execution)
    action = Action(user_id=user_id, kind=ActionKind.RESUME, at=now)
    after = execution.model_copy(update={"paused_by": None, "paused_at": None}).acted(action)
    _recorded(events, execution, ActionKind.RESUME, user_id, now)
    wave = after.current_wave()
    if wave is not None and wave.status is WaveStatus.IN_PROGRESS and execution.paused_at is not None:
        # Its chunks queued behind the pause were held by a person, not by DRS: the timeout resumes too.
        held = (now - execution.paused_at).total_seconds()
        wave = wave.model_copy(update={"paused_seconds": wave.paused_seconds + held})
        after = after.replace_wave(wave)
    if wave is not None and wave.status is WaveStatus.PENDING and wave.index > 0:
        after = engine.wait_before(after, wave, events, now)
    return _decided(events, execution, after, now)
