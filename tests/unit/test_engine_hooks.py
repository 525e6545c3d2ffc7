"""Hooks before and after a wave (#15), decided from plain data: order, claims, failure, drills."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import engine, hooks, steering
from bot.domain.events import HookFinished, WaveFinished, WavesSkipped
from bot.domain.execution import (
    ActionKind,
    Execution,
    ExecutionStatus,
    ExecutionType,
    HookStatus,
    Limits,
    WaveStatus,
)
from bot.domain.hooks import HookRef, HookResult
from bot.domain.plans import Hook, WaveOptions
from tests.unit.builders import at, execution, job, observe

LIMITS = Limits()
AUTOMATION = {"automation": {"document": "Promote-Database"}}
LAMBDA = {"lambda": {"function": "dns-flip"}}


def hook(kind: dict[str, Any], **options: Any) -> Hook:
    return Hook.model_validate({**kind, **options})


def with_hooks(ex: Execution, **options: Any) -> Execution:
    wave = ex.waves[0]
    return ex.replace_wave(wave.model_copy(update={"options": WaveOptions(**options)}))


def launched(ex: Execution, now_s: float) -> engine.Decision:
    """Start the current wave's chunk and report every server LAUNCHED."""
    d = engine.advance(ex, observe(), at(now_s), LIMITS)
    refs = [(ref, f"job-{ref.wave}") for ref in d.starts]
    ex = engine.record_jobs_started(d.execution, refs, at(now_s)).execution
    wave = ex.current_wave()
    assert wave is not None
    servers = {s.source_server_id: "LAUNCHED" for s in wave.servers()}
    return engine.advance(
        ex, observe(job(f"job-{wave.index}", "COMPLETED", **servers)), at(now_s + 540), LIMITS
    )


class Log(list[Any]):
    def add(self, kind: type[Any], **fields: Any) -> None:
        self.append(kind(seq=len(self) + 1, **fields))


def test_a_pause_lets_the_running_hook_end_and_starts_the_next_only_after_the_resume() -> None:
    ex = with_hooks(execution(2, 1), before=(hook(AUTOMATION), hook(AUTOMATION)))
    d = engine.advance(ex, observe(), at(0), LIMITS)
    ex = hooks.record_started(d.execution, d.hook_starts[0], "auto-1", at(1))
    paused = steering.steer(ex, ActionKind.PAUSE, "U0OPS", at(30))
    assert paused.decision is not None
    done = observe().model_copy(update={"hooks": {"auto-1": HookResult(status=HookStatus.SUCCEEDED)}})
    held = engine.advance(paused.decision.execution, done, at(120), LIMITS)
    assert held.execution.waves[0].hooks[0].status is HookStatus.SUCCEEDED  # followed to its end
    assert held.hook_starts == () and held.starts == ()  # the next hook waits for the resume
    resumed = steering.steer(held.execution, ActionKind.RESUME, "U0OPS", at(600))
    assert resumed.decision is not None
    d = engine.advance(resumed.decision.execution, observe(), at(601), LIMITS)
    assert d.hook_starts == (HookRef(wave=0, phase="before", index=1),)


def test_before_hooks_run_in_order_and_the_launch_waits_for_them() -> None:
    ex = with_hooks(execution(2, 1), before=(hook(AUTOMATION), hook(LAMBDA)))
    d = engine.advance(ex, observe(), at(0), LIMITS)
    assert d.execution.waves[0].status is WaveStatus.PREPARING
    assert d.starts == () and d.hook_starts == (HookRef(wave=0, phase="before", index=0),)
    ex = hooks.record_started(d.execution, d.hook_starts[0], "auto-1", at(1))
    running = observe().model_copy(update={"hooks": {"auto-1": HookResult(status=HookStatus.RUNNING)}})
    d = engine.advance(ex, running, at(60), LIMITS)
    assert d.starts == () and d.hook_starts == ()  # the second waits for the first
    done = observe().model_copy(
        update={"hooks": {"auto-1": HookResult(status=HookStatus.SUCCEEDED, output="ok")}}
    )
    d = engine.advance(ex, done, at(120), LIMITS)
    assert d.starts == () and d.hook_starts == (HookRef(wave=0, phase="before", index=1),)
    finished = [e for e in d.events if isinstance(e, HookFinished)]
    assert [(e.target, e.status, e.output, e.duration_seconds) for e in finished] == [
        ("Promote-Database", "SUCCEEDED", "ok", 119.0)
    ]
    log = Log()
    answer = HookResult(status=HookStatus.SUCCEEDED, run_id="req-1", output='{"changed": true}')
    ex = hooks.record_answer(d.execution, d.hook_starts[0], answer, at(121), log)
    assert [e.status for e in log] == ["SUCCEEDED"]
    d = engine.advance(ex, observe(), at(130), LIMITS)
    assert d.execution.waves[0].status is WaveStatus.IN_PROGRESS
    assert len(d.starts) == 1 and d.execution.waves[0].start_time == at(130)


def test_after_hooks_run_once_launched_and_the_next_wave_waits_for_them() -> None:
    ex = with_hooks(execution(1, 1), after=(hook(LAMBDA),))
    d = launched(ex, 0)
    assert d.execution.waves[0].status is WaveStatus.FINISHING
    assert d.hook_starts == (HookRef(wave=0, phase="after", index=0),)
    assert d.starts == ()  # wave 2 waits for the after-hook
    context = hooks.context(d.execution, d.hook_starts[0])
    assert context["recovery_instance_ids"] == [f"i-{s.source_server_id[2:]}" for s in ex.waves[0].servers()]
    assert (
        context["phase"] == "after" and context["plan"] == "plan-x" and context["execution_type"] == "DRILL"
    )
    ex = hooks.record_answer(
        d.execution, d.hook_starts[0], HookResult(status=HookStatus.SUCCEEDED), at(600), Log()
    )
    d = engine.advance(ex, observe(), at(610), LIMITS)
    assert d.execution.waves[0].status is WaveStatus.COMPLETED
    assert d.execution.waves[1].status is WaveStatus.IN_PROGRESS and len(d.starts) == 1


@pytest.mark.parametrize("phase", ["before", "after"])
def test_a_failed_stop_hook_fails_its_wave_and_skips_the_rest(phase: str) -> None:
    ex = with_hooks(execution(1, 1), **{phase: (hook(LAMBDA), hook(AUTOMATION))})
    d = launched(ex, 0) if phase == "after" else engine.advance(ex, observe(), at(0), LIMITS)
    failed = HookResult(status=HookStatus.FAILED, run_id="req", error="Route53 said no")
    ex = hooks.record_answer(d.execution, d.hook_starts[0], failed, at(700), Log())
    d = engine.advance(ex, observe(), at(710), LIMITS)
    assert d.hook_starts == ()  # the second hook never runs
    assert [w.status for w in d.execution.waves] == [WaveStatus.FAILED, WaveStatus.SKIPPED]
    assert d.execution.status is ExecutionStatus.FAILED
    skipped = next(e for e in d.events if isinstance(e, WavesSkipped))
    assert skipped.reason == f"{phase}-hook 1 (dns-flip) of wave Wave 1 failed and its on_failure is stop"
    assert next(e for e in d.events if isinstance(e, WaveFinished)).status is WaveStatus.FAILED
    assert d.starts == ()


def test_on_failure_continue_reports_and_goes_on() -> None:
    ex = with_hooks(execution(1), before=(hook(LAMBDA, on_failure="continue"),))
    d = engine.advance(ex, observe(), at(0), LIMITS)
    ex = hooks.record_answer(
        d.execution, d.hook_starts[0], HookResult(status=HookStatus.FAILED, error="x"), at(1), Log()
    )
    d = engine.advance(ex, observe(), at(2), LIMITS)
    assert d.execution.waves[0].status is WaveStatus.IN_PROGRESS and len(d.starts) == 1


def test_a_hook_past_its_timeout_times_out() -> None:
    ex = with_hooks(execution(1), before=(hook(AUTOMATION, timeout="5m"),))
    d = engine.advance(ex, observe(), at(0), LIMITS)
    ex = hooks.record_started(d.execution, d.hook_starts[0], "auto-1", at(1))
    running = observe().model_copy(update={"hooks": {"auto-1": HookResult(status=HookStatus.RUNNING)}})
    assert engine.advance(ex, running, at(300), LIMITS).execution.waves[0].status is WaveStatus.PREPARING
    d = engine.advance(ex, running, at(301), LIMITS)
    run = d.execution.waves[0].hooks[0]
    assert run.status is HookStatus.TIMED_OUT and run.error == "timed out after 5m"
    assert d.execution.status is ExecutionStatus.FAILED


def test_drill_false_is_skipped_in_a_drill_and_run_in_a_recovery() -> None:
    options = {"before": (hook(LAMBDA, drill=False),)}
    drill = with_hooks(execution(1), **options)
    d = engine.advance(drill, observe(), at(0), LIMITS)
    assert d.hook_starts == () and len(d.starts) == 1
    skipped = next(e for e in d.events if isinstance(e, HookFinished))
    assert skipped.status == "SKIPPED" and "drill: false" in (skipped.error or "")
    recovery = with_hooks(execution(1, kind=ExecutionType.RECOVERY), **options)
    recovery = engine.start_execution(recovery, at(0)).execution
    d = engine.advance(recovery, observe(), at(0), LIMITS)
    assert d.hook_starts == (HookRef(wave=0, phase="before", index=0),) and d.starts == ()


def test_a_stale_claim_starts_an_automation_again_but_never_a_lambda() -> None:
    ex = with_hooks(execution(1), before=(hook(AUTOMATION), hook(LAMBDA, on_failure="continue")))
    d = engine.advance(ex, observe(), at(0), LIMITS)
    # The tick died after its claim: a later tick claims the automation again (same client token).
    assert engine.advance(d.execution, observe(), at(60), LIMITS).hook_starts == ()
    again = engine.advance(d.execution, observe(), at(121), LIMITS)
    assert again.hook_starts == d.hook_starts and again.execution.waves[0].hooks[0].attempts == 2
    ex = hooks.record_started(again.execution, again.hook_starts[0], "auto-1", at(122))
    ok = observe().model_copy(update={"hooks": {"auto-1": HookResult(status=HookStatus.SUCCEEDED)}})
    d = engine.advance(ex, ok, at(130), LIMITS)
    assert d.hook_starts == (HookRef(wave=0, phase="before", index=1),)
    d = engine.advance(d.execution, observe(), at(260), LIMITS)
    run = d.execution.waves[0].hooks[1]
    assert d.hook_starts == () and run.status is HookStatus.FAILED and run.error == hooks.UNKNOWN
    assert len(d.starts) == 1  # on_failure continue: the launch goes on


def test_the_client_token_is_the_same_for_every_attempt_and_differs_by_hook() -> None:
    ref = HookRef(wave=0, phase="before", index=0)
    assert hooks.client_token("ex-1", ref) == hooks.client_token("ex-1", ref)
    assert hooks.client_token("ex-1", ref) != hooks.client_token("ex-1", ref.model_copy(update={"index": 1}))
    assert hooks.client_token("ex-1", ref) != hooks.client_token("ex-2", ref)


def test_a_cancel_lets_a_running_hook_end_starts_no_other_and_launches_nothing() -> None:
    ex = with_hooks(execution(1, 1), before=(hook(AUTOMATION), hook(LAMBDA)))
    d = engine.advance(ex, observe(), at(0), LIMITS)
    ex = hooks.record_started(d.execution, d.hook_starts[0], "auto-1", at(1))
    ex = engine.request_cancel(ex, "U1", at(2)).execution
    running = observe().model_copy(update={"hooks": {"auto-1": HookResult(status=HookStatus.RUNNING)}})
    assert engine.advance(ex, running, at(30), LIMITS).execution.status is ExecutionStatus.IN_PROGRESS
    done = observe().model_copy(update={"hooks": {"auto-1": HookResult(status=HookStatus.SUCCEEDED)}})
    d = engine.advance(ex, done, at(60), LIMITS)
    assert d.hook_starts == () and d.starts == ()
    assert [r.status for r in d.execution.waves[0].hooks] == [HookStatus.SUCCEEDED, HookStatus.SKIPPED]
    assert [w.status for w in d.execution.waves] == [WaveStatus.SKIPPED, WaveStatus.SKIPPED]
    assert d.execution.status is ExecutionStatus.CANCELLED
