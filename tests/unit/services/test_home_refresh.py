"""When the outbox republishes the Home tab: after delivering what the tab shows (a start, an end, a
request awaiting approval, its decision), once per delivery, and never for a tick that delivers nothing
of it. The HomeTab here only counts; what a refresh publishes is tests/unit/test_home.py's and the
e2e package's (tests/e2e/test_home_current.py)."""

from __future__ import annotations

from bot.domain.approval import Vote
from bot.domain.execution import ExecutionStatus, ExecutionType
from bot.services.ports import RefreshResult
from tests.unit.services.conftest import BOSS, OPS, World


class CountingHome:
    def __init__(self) -> None:
        self.refreshes = 0

    def refresh(self) -> RefreshResult:
        self.refreshes += 1
        return RefreshResult()

    def refresh_if_catalog_changed(self) -> RefreshResult:
        raise AssertionError("the outbox never looks at the catalog")


def test_a_drill_republishes_at_its_start_and_its_end_not_per_tick() -> None:
    home = CountingHome()
    world = World(home=home)
    outcome = world.request()
    assert outcome.execution is not None
    assert home.refreshes == 1  # the start, delivered by the request
    ticking = world.use_cases().ticking
    ticks = 0
    while not (result := ticking.tick(outcome.execution.execution_id)).finished:
        world.clock.advance(result.wait_seconds)
        ticks += 1
    assert ticks > 5 and world.stored(outcome.execution.execution_id).status is ExecutionStatus.COMPLETED
    assert home.refreshes == 2  # and the end: waves, progress and the picture changed nothing it shows
    ticking.tick(outcome.execution.execution_id)  # an ended execution's tick delivers nothing
    assert home.refreshes == 2


def test_a_recovery_republishes_when_it_awaits_approval_and_when_it_is_approved() -> None:
    home = CountingHome()
    world = World(home=home)
    outcome = world.request(ExecutionType.RECOVERY, user=OPS)
    assert outcome.execution is not None and home.refreshes == 1
    execution_id = outcome.execution.execution_id
    world.use_cases().ticking.tick(execution_id)  # waiting for a decision: nothing new to show
    assert home.refreshes == 1
    world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)
    assert world.stored(execution_id).status is ExecutionStatus.IN_PROGRESS
    assert home.refreshes == 2
