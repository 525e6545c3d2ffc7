"""Hooks before and after a wave (#15): pure decisions, called from engine.advance.

A wave with `before:` hooks is PREPARING until they ran, in order, before its first StartRecovery; one
with `after:` hooks is FINISHING after its servers launched. Each hook is a side effect claimed like a
chunk: PENDING → STARTING (saved) → the service calls SSM or Lambda → RUNNING (an automation's id) or
its end (a Lambda's answer). A claim older than the claim timeout belongs to a tick that died: an
automation is started again with the same client token (SSM returns the same execution); a Lambda
invocation cannot be looked up, so it is not repeated blindly: it fails as "outcome unknown".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.domain.accounts import AccountRegion
from bot.domain.events import HookFinished
from bot.domain.execution import (
    Execution,
    ExecutionType,
    HookRun,
    HookStatus,
    Limits,
    WaveRun,
    WaveStatus,
    clip_error,
)
from bot.domain.frozen import Frozen
from bot.domain.plans import Hook, OnFailure, duration_text
from bot.domain.transitions import move_hook, move_wave

BEFORE, AFTER = "before", "after"
# What the thread and the history keep of a hook's output.
OUTPUT_LIMIT = 1000
UNKNOWN = (
    "outcome unknown: the tick that invoked it stopped before recording its answer; not invoked again, "
    "so that it does not run twice"
)
_TOKENS = uuid.UUID("5d1c1f55-6f0e-4c44-9a8e-7f7b0b2a6b15")


__all__ = ["HookStatus"]


class HookRef(Frozen):
    wave: int
    phase: str
    index: int


class HookResult(Frozen):
    """What SSM or Lambda said of one hook call."""

    status: HookStatus  # RUNNING, SUCCEEDED, FAILED or TIMED_OUT
    run_id: str | None = None
    output: str | None = None
    error: str | None = None


class Step(Frozen):
    wave: WaveRun
    starts: tuple[HookRef, ...] = ()
    done: bool = False  # every hook of the phase ended (or was skipped), none stopping the plan
    stopped_by: str | None = None  # why the plan stops: a hook with on_failure stop failed


def clip_output(text: str | None) -> str | None:
    if not text:
        return None
    return text if len(text) <= OUTPUT_LIMIT else text[: OUTPUT_LIMIT - 1] + "…"


def client_token(execution_id: str, ref: HookRef) -> str:
    """StartAutomationExecution's idempotency token: the same for every attempt of one hook."""
    return str(uuid.uuid5(_TOKENS, f"{execution_id}/{ref.wave}/{ref.phase}/{ref.index}"))


def hook_of(execution: Execution, ref: HookRef) -> Hook:
    return execution.waves[ref.wave].options.hooks(ref.phase)[ref.index]


def run_of(wave: WaveRun, phase: str, index: int) -> HookRun:
    return next(run for run in wave.hooks if run.phase == phase and run.index == index)


def begin(execution: Execution, wave: WaveRun, phase: str, now: datetime, events: Any) -> WaveRun | None:
    """The wave enters PREPARING (before) or FINISHING (after) with its hooks laid out; None when it
    has none for this phase. `drill: false` hooks of a drill are skipped at once, and the thread says so."""
    hooks = wave.options.hooks(phase)
    if not hooks:
        return None
    runs = []
    for index, hook in enumerate(hooks):
        run = HookRun(phase=phase, index=index, kind=hook.kind, target=hook.target)
        if execution.execution_type is ExecutionType.DRILL and not hook.drill:
            reason = "drill: false — it runs in a recovery or failback, never in a drill"
            run = HookRun(
                phase=phase,
                index=index,
                kind=hook.kind,
                target=hook.target,
                status=HookStatus.SKIPPED,
                error=reason,
                ended_at=now,
            )
            _finished(events, execution, wave, run, len(hooks), hook, now)
        runs.append(run)
    to = WaveStatus.PREPARING if phase == BEFORE else WaveStatus.FINISHING
    moved = move_wave(wave, to, now)
    return moved.model_copy(update={"hooks": (*wave.hooks, *runs)})


def step(
    execution: Execution,
    wave: WaveRun,
    observed: Mapping[str, HookResult],
    now: datetime,
    limits: Limits,
    events: Any,
) -> Step:
    """Follow the phase's hooks in order: apply what was observed, time out, claim the next one."""
    phase = BEFORE if wave.status is WaveStatus.PREPARING else AFTER
    hooks = wave.options.hooks(phase)
    stale_before = now - timedelta(seconds=limits.claim_timeout_seconds)
    for index, hook in enumerate(hooks):
        run = run_of(wave, phase, index)
        before = run
        ref = HookRef(wave=wave.index, phase=phase, index=index)
        if run.status is HookStatus.RUNNING and run.run_id in observed:
            result = observed[run.run_id or ""]
            if result.status is not HookStatus.RUNNING:
                run = move_hook(
                    run, result.status, now, output=clip_output(result.output), error=_error(result)
                )
        # Only a hook known to run times out here: a Lambda's wait is the call itself (its read timeout).
        if run.status is HookStatus.RUNNING and _timed_out(run, hook, now):
            run = move_hook(
                run, HookStatus.TIMED_OUT, now, error=f"timed out after {duration_text(hook.timeout_seconds)}"
            )
        if run.status is HookStatus.STARTING and run.claimed_at is not None and run.claimed_at < stale_before:
            if hook.lambda_ is not None:
                run = move_hook(run, HookStatus.FAILED, now, error=UNKNOWN)
            elif execution.paused:
                return Step(wave=wave)  # started again after the resume, with the same token
            elif not execution.cancelling:
                run = move_hook(run, HookStatus.STARTING, now)  # started again with the same token
                wave = _replace(wave, run)
                return Step(wave=wave, starts=(ref,))
        if run.status is HookStatus.PENDING:
            if execution.cancelling:
                run = move_hook(run, HookStatus.SKIPPED, now, error="the execution was cancelled")
            elif execution.paused:
                return Step(wave=wave)  # paused: the hook running is followed; the next waits for the resume
            else:
                run = move_hook(run, HookStatus.STARTING, now)
                return Step(wave=_replace(wave, run), starts=(ref,))
        if run != before:
            wave = _replace(wave, run)
            if run.status.is_terminal:
                _finished(events, execution, wave, run, len(hooks), hook, now)
        if not run.status.is_terminal:
            return Step(wave=wave)
        if run.status.failed and hook.on_failure is OnFailure.STOP:
            why = "timed out" if run.status is HookStatus.TIMED_OUT else "failed"
            return Step(
                wave=wave,
                done=True,
                stopped_by=f"{phase}-hook {index + 1} ({hook.target}) of wave {wave.name} {why} and its "
                "on_failure is stop",
            )
    return Step(wave=wave, done=True)


def after_launch(execution: Execution, wave: WaveRun, now: datetime, events: Any) -> WaveRun | None:
    """The trigger for after-hooks: call it once the wave is done launching (and, with health checks,
    once it is healthy). The wave, FINISHING; or None when it has no after-hooks (or was cancelled
    before launching anything)."""
    if not wave.job_ids:
        return None
    return begin(execution, wave, AFTER, now, events)


def stopped(wave: WaveRun) -> bool:
    """A hook of this wave with on_failure stop failed: the wave is FAILED whatever its servers did."""
    for run in wave.hooks:
        hook = wave.options.hooks(run.phase)[run.index]
        if run.status.failed and hook.on_failure is OnFailure.STOP:
            return True
    return False


def record_started(execution: Execution, ref: HookRef, run_id: str, now: datetime) -> Execution:
    """An automation execution exists for the claimed hook."""
    wave = execution.waves[ref.wave]
    run = run_of(wave, ref.phase, ref.index)
    if run.status is not HookStatus.STARTING:
        return execution  # recorded by another tick
    return execution.replace_wave(_replace(wave, move_hook(run, HookStatus.RUNNING, now, run_id=run_id)))


def record_answer(
    execution: Execution, ref: HookRef, result: HookResult, now: datetime, events: Any
) -> Execution:
    """A call answered with the hook's end (a Lambda's answer) or was refused for good."""
    wave = execution.waves[ref.wave]
    run = run_of(wave, ref.phase, ref.index)
    if run.status is not HookStatus.STARTING or result.status is HookStatus.RUNNING:
        return execution
    ended = move_hook(
        run,
        result.status,
        now,
        run_id=result.run_id,
        started_at=run.claimed_at,
        output=clip_output(result.output),
        error=_error(result),
    )
    wave = _replace(wave, ended)
    hooks = wave.options.hooks(ref.phase)
    _finished(events, execution, wave, ended, len(hooks), hooks[ref.index], now)
    return execution.replace_wave(wave)


def release(execution: Execution, ref: HookRef, now: datetime) -> Execution:
    """AWS was unavailable: the hook is claimed again by a later tick (an automation with the same token)."""
    wave = execution.waves[ref.wave]
    run = run_of(wave, ref.phase, ref.index)
    if run.status is not HookStatus.STARTING:
        return execution
    return execution.replace_wave(_replace(wave, move_hook(run, HookStatus.PENDING, now)))


def running(execution: Execution) -> list[tuple[AccountRegion, str]]:
    """(account and region, automation execution id) of the hooks to ask about this tick."""
    return [
        (wave.where, run.run_id)
        for wave in execution.waves
        if wave.status in (WaveStatus.PREPARING, WaveStatus.FINISHING)
        for run in wave.hooks
        if run.status is HookStatus.RUNNING and run.run_id and run.kind == "automation"
    ]


def context(execution: Execution, ref: HookRef) -> dict[str, object]:
    """What a Lambda hook is invoked with: the execution's context, and the hook's own payload."""
    wave = execution.waves[ref.wave]
    hook = hook_of(execution, ref)
    return {
        "plan": execution.plan_name,
        "execution_id": execution.execution_id,
        "execution_type": execution.execution_type.value,
        "wave": wave.name,
        "wave_index": wave.index,
        "phase": ref.phase,
        "region": wave.region,
        # Before the launch: the servers about to launch; after it: their recovery instances.
        "source_server_ids": [server.source_server_id for server in wave.servers()],
        "recovery_instance_ids": [s.instance_id for s in wave.servers() if s.instance_id],
        "payload": dict(hook.lambda_.payload) if hook.lambda_ else {},
    }


def parameters(hook: Hook) -> dict[str, Sequence[str]]:
    """StartAutomationExecution's Parameters: the plan's, and the role as AutomationAssumeRole."""
    assert hook.automation is not None
    values: dict[str, Sequence[str]] = {key: list(value) for key, value in hook.automation.parameters.items()}
    if hook.automation.role:
        values["AutomationAssumeRole"] = [hook.automation.role]
    return values


def _timed_out(run: HookRun, hook: Hook, now: datetime) -> bool:
    since = run.started_at or run.claimed_at
    return since is not None and now >= since + timedelta(seconds=hook.timeout_seconds)


def _error(result: HookResult) -> str | None:
    if result.error:
        return clip_error(result.error)
    if result.status.failed:
        return "failed without saying why"
    return None


def _replace(wave: WaveRun, run: HookRun) -> WaveRun:
    hooks = tuple(
        run if (existing.phase, existing.index) == (run.phase, run.index) else existing
        for existing in wave.hooks
    )
    return wave.model_copy(update={"hooks": hooks})


def _finished(
    events: Any, execution: Execution, wave: WaveRun, run: HookRun, count: int, hook: Hook, now: datetime
) -> None:
    since = run.started_at or run.claimed_at
    events.add(
        HookFinished,
        at=now,
        execution_id=execution.execution_id,
        wave_index=wave.index,
        wave_count=len(execution.waves),
        wave_name=wave.name,
        phase=run.phase,
        hook_index=run.index,
        hook_count=count,
        hook_kind=run.kind,
        target=run.target,
        region=wave.region,
        status=run.status.value,
        run_id=run.run_id,
        output=run.output,
        error=run.error,
        stops=run.status.failed and hook.on_failure is OnFailure.STOP,
        duration_seconds=(now - since).total_seconds() if since else None,
    )
