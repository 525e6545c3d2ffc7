"""Gates before waves, pause and resume, over the fakes: who may, what DRS is asked, and that a repeat,
a stale click or a click racing a tick changes nothing twice."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.domain import steering
from bot.domain.approval import Vote
from bot.domain.engine import Decision
from bot.domain.events import Event
from bot.domain.execution import ActionKind, Execution, ExecutionStatus, ExecutionType, WaveStatus
from bot.domain.plans import Catalog
from bot.domain.steering import HELD_WAKE_SECONDS, Stale
from bot.services.controlling import SteerResult
from tests.fakes.store import InMemoryCatalogStore, InMemoryExecutionStore
from tests.unit.services.conftest import BOSS, CHANNEL, DB, OPS, WEB, World, plans

PASSERBY = "U0PASSERBY"


def tick_until(
    world: World, execution_id: str, done: Callable[[Execution], bool], ticks: int = 100
) -> Execution:
    ticking = world.use_cases().ticking
    for _ in range(ticks):
        result = ticking.tick(execution_id)
        execution = world.stored(execution_id)
        if done(execution):
            return execution
        world.clock.advance(min(result.wait_seconds, 30))
    raise AssertionError(f"not reached after {ticks} ticks: {world.stored(execution_id)!r}")


def gated(index: int) -> Callable[[Execution], bool]:
    return lambda execution: execution.waves[index].status is WaveStatus.GATED


def pause_before_web() -> Catalog:
    data = plans().model_dump(mode="json")
    data["plans"][0]["waves"][1]["pause_before"] = True
    return Catalog.model_validate(data)


def started(world: World) -> list[set[str]]:
    return [set(job.server_ids) for job in world.drs.started()]


def test_step_gates_every_wave_anyone_entitled_continues_and_stop_here_ends_it(world: World) -> None:
    outcome = world.use_cases().requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.DRILL,
        user_id=OPS,
        channel_id=CHANNEL,
        request_key="step-1",
        step=True,
    )
    assert outcome.execution is not None and outcome.execution.step
    execution_id = outcome.execution.execution_id
    tick_until(world, execution_id, gated(0))
    assert started(world) == []  # a gate never launches by itself
    steer = world.use_cases().controlling.steer

    # A drill's gate: anyone who may run drills continues (the default policy: everyone).
    assert steer(execution_id, PASSERBY, ActionKind.CONTINUE, 0).result is SteerResult.DONE
    again = steer(execution_id, PASSERBY, ActionKind.CONTINUE, 0)
    assert (again.result, again.stale) == (SteerResult.STALE, Stale.NO_GATE)
    assert started(world) == [set(DB)]

    tick_until(world, execution_id, gated(1))
    assert steer(execution_id, OPS, ActionKind.STOP, 1).result is SteerResult.DONE
    final = tick_until(world, execution_id, lambda e: e.status.is_terminal)
    assert final.status is ExecutionStatus.CANCELLED
    assert [w.status for w in final.waves] == [WaveStatus.COMPLETED, WaveStatus.SKIPPED]
    assert started(world) == [set(DB)]  # Web never reached DRS
    assert [(a.kind, a.user_id, a.wave) for a in final.actions] == [
        (ActionKind.CONTINUE, PASSERBY, 0),
        (ActionKind.STOP, OPS, 1),
    ]
    thread = "\n".join(world.notifier.thread(CHANNEL))
    assert "Gate before wave 1/2 Databases" in thread and "Gate before wave 2/2 Web" in thread
    assert f"<@{PASSERBY}> continued past the gate" in thread
    assert f"<@{OPS}> stopped the execution at the gate before wave 2/2 Web" in thread
    assert "Skipped Web: the execution was stopped at the gate before wave Web." in thread
    assert f"• stopped at the gate before wave Web by {OPS}" in thread  # the report's verdict says so


def test_a_recovery_gate_needs_an_approver_other_than_the_requester(world: World) -> None:
    world.catalog = InMemoryCatalogStore(pause_before_web())
    outcome = world.request(ExecutionType.RECOVERY)
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    steer = world.use_cases().controlling.steer
    early = steer(execution_id, BOSS, ActionKind.CONTINUE, 1)
    assert (early.result, early.stale) == (SteerResult.STALE, Stale.NOT_STARTED)
    world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)
    tick_until(world, execution_id, gated(1))
    assert started(world) == [set(DB)]

    assert steer(execution_id, OPS, ActionKind.CONTINUE, 1).result is SteerResult.NOT_ALLOWED
    assert steer(execution_id, PASSERBY, ActionKind.CONTINUE, 1).result is SteerResult.NOT_ALLOWED
    assert world.stored(execution_id).waves[1].status is WaveStatus.GATED
    assert steer(execution_id, BOSS, ActionKind.CONTINUE, 1).result is SteerResult.DONE
    final = tick_until(world, execution_id, lambda e: e.status.is_terminal)
    assert final.status is ExecutionStatus.COMPLETED
    assert started(world) == [set(DB), set(WEB)]
    assert [a.kind for a in final.actions] == [ActionKind.APPROVE, ActionKind.CONTINUE]


def test_a_gate_reminds_its_thread_once_per_interval_and_sleeps_between(world: World) -> None:
    world.catalog = InMemoryCatalogStore(pause_before_web())
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    tick_until(world, execution_id, gated(1))
    ticking = world.use_cases().ticking
    assert ticking.tick(execution_id).wait_seconds == HELD_WAKE_SECONDS  # held: the loop sleeps

    def reminders() -> int:
        return sum("Still waiting at the gate" in text for text in world.notifier.thread(CHANNEL))

    world.clock.advance(world.limits.gate_reminder_seconds - 1)
    ticking.tick(execution_id)
    assert reminders() == 0
    world.clock.advance(1)
    ticking.tick(execution_id)
    ticking.tick(execution_id)  # the same moment again: the reminder was saved with its time
    assert reminders() == 1
    world.clock.advance(world.limits.gate_reminder_seconds)
    ticking.tick(execution_id)
    assert reminders() == 2
    assert started(world) == [set(DB)]  # still no launch: a gate never times out into one


def test_pause_follows_running_jobs_starts_nothing_new_and_resume_goes_on(world: World) -> None:
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    ticking = world.use_cases().ticking
    ticking.tick(execution_id)  # wave 1 launching
    steer = world.use_cases().controlling.steer
    not_paused = steer(execution_id, OPS, ActionKind.RESUME)
    assert (not_paused.result, not_paused.stale) == (SteerResult.STALE, Stale.NOT_PAUSED)
    assert steer(execution_id, OPS, ActionKind.PAUSE).result is SteerResult.DONE
    twice = steer(execution_id, PASSERBY, ActionKind.PAUSE)
    assert (twice.result, twice.stale) == (SteerResult.STALE, Stale.ALREADY_PAUSED)

    paused = tick_until(world, execution_id, lambda e: e.waves[0].status.is_terminal)
    assert paused.waves[0].status is WaveStatus.COMPLETED  # the running job was followed to its end
    for _ in range(3):
        result = ticking.tick(execution_id)
        assert result.wait_seconds == HELD_WAKE_SECONDS  # nothing in DRS: the loop sleeps
        world.clock.advance(result.wait_seconds)
    assert world.stored(execution_id).waves[1].status is WaveStatus.PENDING
    assert started(world) == [set(DB)]

    assert steer(execution_id, PASSERBY, ActionKind.RESUME).result is SteerResult.DONE
    final = tick_until(world, execution_id, lambda e: e.status.is_terminal)
    assert final.status is ExecutionStatus.COMPLETED and started(world) == [set(DB), set(WEB)]
    assert [a.kind for a in final.actions] == [ActionKind.PAUSE, ActionKind.RESUME]
    thread = "\n".join(world.notifier.thread(CHANNEL))
    assert f"Paused by <@{OPS}>" in thread and "1 running job(s) are followed to their end" in thread
    assert f"Resumed by <@{PASSERBY}>" in thread


def test_continue_while_paused_asks_to_resume_first_and_changes_nothing(world: World) -> None:
    world.catalog = InMemoryCatalogStore(pause_before_web())
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    tick_until(world, execution_id, gated(1))
    steer = world.use_cases().controlling.steer
    assert steer(execution_id, OPS, ActionKind.PAUSE).result is SteerResult.DONE
    held = steer(execution_id, OPS, ActionKind.CONTINUE, 1)
    assert (held.result, held.stale) == (SteerResult.STALE, Stale.PAUSED)
    assert world.stored(execution_id).waves[1].status is WaveStatus.GATED
    assert steer(execution_id, OPS, ActionKind.RESUME).result is SteerResult.DONE
    assert world.stored(execution_id).waves[1].status is WaveStatus.GATED  # resuming passes no gate
    assert steer(execution_id, OPS, ActionKind.CONTINUE, 1).result is SteerResult.DONE
    final = tick_until(world, execution_id, lambda e: e.status.is_terminal)
    assert final.status is ExecutionStatus.COMPLETED and started(world) == [set(DB), set(WEB)]


class RacingClickStore(InMemoryExecutionStore):
    """Another person's decision is saved just before the next save: two clicks at the same moment."""

    racer: Callable[[Execution], Decision | None] | None = None

    def save(self, execution: Execution, previous: Execution, events: Sequence[Event]) -> Execution:
        if self.racer is not None:
            racer, self.racer = self.racer, None
            current = self.get(execution.execution_id)
            assert current is not None
            won = racer(current)
            assert won is not None
            super().save(won.execution, current, won.events)
        return super().save(execution, previous, events)


def test_a_continue_racing_another_is_decided_again_and_changes_nothing_twice() -> None:
    store = RacingClickStore()
    world = World(store=store)
    world.catalog = InMemoryCatalogStore(pause_before_web())
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    tick_until(world, execution_id, gated(1))

    store.racer = lambda current: steering.steer(current, ActionKind.CONTINUE, OPS, world.clock(), 1).decision
    lost = world.use_cases().controlling.steer(execution_id, PASSERBY, ActionKind.CONTINUE, 1)
    assert (lost.result, lost.stale) == (SteerResult.STALE, Stale.NO_GATE)
    final = tick_until(world, execution_id, lambda e: e.status.is_terminal)
    assert [(a.kind, a.user_id) for a in final.actions] == [(ActionKind.CONTINUE, OPS)]
    assert started(world) == [set(DB), set(WEB)]  # the gated wave launched once
