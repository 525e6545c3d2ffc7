"""Two writers at once: the save conditioned on the version read loses, and the use case reads again,
decides again and saves; a call DRS already took is recorded on the version that won, never repeated."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.domain import engine
from bot.domain.approval import Vote, VoteResult
from bot.domain.events import Event
from bot.domain.execution import Execution, ExecutionStatus, ExecutionType, ServerStatus
from bot.errors import StaleExecution
from bot.services.controlling import CancelResult
from bot.services.unit_of_work import Outcome, UnitOfWork
from tests.fakes.store import InMemoryExecutionStore
from tests.unit.services.conftest import BOSS, OPS, World


class RacingStore(InMemoryExecutionStore):
    """Another writer (a tick, a click, a delivery) saves the execution just before a chosen save."""

    def __init__(self) -> None:
        super().__init__()
        self._countdown: int | None = None

    def race_before(self, nth: int = 1) -> None:
        """The `nth` save from now loses: someone saves the same execution just before it."""
        self._countdown = nth

    def save(self, execution: Execution, previous: Execution, events: Sequence[Event]) -> Execution:
        if self._countdown is not None:
            self._countdown -= 1
            if self._countdown == 0:
                self._countdown = None
                current = self.get(execution.execution_id)
                assert current is not None
                super().save(current, current, ())
        return super().save(execution, previous, events)


@pytest.fixture
def racing() -> World:
    return World(store=RacingStore())


def _store(world: World) -> RacingStore:
    assert isinstance(world.store, RacingStore)
    return world.store


def test_a_cancel_that_loses_a_race_is_decided_again_and_saved(racing: World) -> None:
    outcome = racing.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    racing.use_cases().ticking.tick(execution_id)

    _store(racing).race_before(1)
    cancel = racing.use_cases().controlling.cancel(execution_id, OPS)

    assert cancel.result is CancelResult.CANCELLING
    assert racing.store.conflicts == 1
    final = racing.run(execution_id)
    assert final.status is ExecutionStatus.CANCELLED
    assert len(racing.drs.started()) == 1  # the running wave was followed to its end; no other began


def test_an_approval_that_loses_a_race_still_starts_the_recovery_once(racing: World) -> None:
    outcome = racing.request(ExecutionType.RECOVERY)
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id

    _store(racing).race_before(1)
    approved = racing.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)

    assert approved.outcome.result is VoteResult.APPROVED
    assert racing.store.conflicts == 1
    final = racing.run(execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    assert [a.user_id for a in final.approvals] == [BOSS]


def test_a_started_job_is_recorded_on_the_version_that_won_and_not_started_again(racing: World) -> None:
    outcome = racing.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id

    # The tick's first save claims the wave's chunk; the second, after StartRecovery, records the job.
    _store(racing).race_before(2)
    racing.use_cases().ticking.tick(execution_id)

    assert racing.store.conflicts == 1
    [job] = racing.drs.started()
    recorded = racing.stored(execution_id)
    first_wave = recorded.waves[0]
    assert {s.recovery_job_id for c in first_wave.chunks for s in c.servers} == {job.job_id}
    final = racing.run(execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    starts = [call for call in racing.drs.calls if call[0] == "StartRecovery"]
    assert len(starts) == 2  # one per wave
    assert {s.status for s in final.servers()} == {ServerStatus.LAUNCHED}


# --- the unit of work itself --------------------------------------------------------------------------


def _started(world: World) -> Execution:
    outcome = world.request()
    assert outcome.execution is not None
    return world.stored(outcome.execution.execution_id)


def test_the_decision_is_made_again_on_the_fresh_version(racing: World) -> None:
    execution = _started(racing)
    seen: list[int] = []

    def decide(latest: Execution) -> Outcome[str]:
        seen.append(latest.version)
        decision = engine.request_cancel(latest, OPS, racing.clock())
        return Outcome("cancelled", decision.execution, decision.events)

    _store(racing).race_before(1)
    done = UnitOfWork(racing.store).run(execution.execution_id, decide)

    assert seen == [execution.version, execution.version + 1]
    assert done.saved and done.result == "cancelled"
    assert done.execution is not None and done.execution.version == execution.version + 2
    assert racing.stored(execution.execution_id).cancelling


def test_nothing_to_save_writes_nothing(world: World) -> None:
    execution = _started(world)
    done = UnitOfWork(world.store).run(execution.execution_id, lambda latest: Outcome(latest.status))

    assert not done.saved and done.result is ExecutionStatus.IN_PROGRESS
    assert world.store.saves == 0


def test_a_missing_execution_answers_missing_or_stale(world: World) -> None:
    work = UnitOfWork(world.store)
    done = work.run("nope", lambda latest: Outcome(1), missing=lambda: 0)
    assert done.result == 0 and done.execution is None and not done.saved
    with pytest.raises(StaleExecution):
        work.run("nope", lambda latest: Outcome(1))


def test_a_save_that_always_loses_gives_up_after_its_attempts() -> None:
    class AlwaysRacing(RacingStore):
        def save(self, execution: Execution, previous: Execution, events: Sequence[Event]) -> Execution:
            self.race_before(1)
            return super().save(execution, previous, events)

    world = World(store=AlwaysRacing())
    execution = _started(world)

    def decide(latest: Execution) -> Outcome[None]:
        return Outcome(None, engine.request_cancel(latest, OPS, world.clock()).execution)

    with pytest.raises(StaleExecution):
        UnitOfWork(world.store).run(execution.execution_id, decide, attempts=3)
    assert world.store.conflicts == 3
    assert not world.stored(execution.execution_id).cancelling
