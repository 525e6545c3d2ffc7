"""Finding executions as people name them: an id, a prefix in the channel, the latest, the history."""

from __future__ import annotations

import pytest

from bot.domain.execution import ExecutionStatus
from bot.errors import AmbiguousExecution
from tests.unit.services.conftest import CHANNEL, World

FIRST, SECOND = "5eed01aa00000001", "5eed01bb00000002"


@pytest.fixture
def world() -> World:
    ids = {"trigger-a": FIRST, "trigger-b": SECOND}
    return World(execution_ids=lambda key: ids[key or ""])


def _two_drills(world: World) -> None:
    for key in ("trigger-a", "trigger-b"):
        outcome = world.request(key=key)
        assert outcome.execution is not None
        world.run(outcome.execution.execution_id)


def test_an_execution_is_found_by_id_or_by_a_prefix_only_its_own(world: World) -> None:
    _two_drills(world)
    queries = world.use_cases().queries

    found = queries.find("5eed01a", CHANNEL)
    assert found is not None and found.execution_id == FIRST
    exact = queries.find(SECOND)
    assert exact is not None and exact.execution_id == SECOND
    assert queries.find("5eed01a", "C0ELSEWHERE") is None  # a prefix is looked up in its channel only
    assert queries.find("5eed0", CHANNEL) is None  # too short to be a prefix
    with pytest.raises(AmbiguousExecution):
        queries.find("5eed01", CHANNEL)


def test_the_history_lists_newest_first_by_plan_or_by_channel(world: World) -> None:
    _two_drills(world)
    queries = world.use_cases().queries

    by_plan = queries.history("plan-x", CHANNEL, 10)
    by_channel = queries.history(None, CHANNEL, 10)

    assert [s.execution_id for s in by_plan] == [SECOND, FIRST]
    assert [s.execution_id for s in by_channel] == [SECOND, FIRST]
    assert [s.execution_id for s in queries.history(None, CHANNEL, 1)] == [SECOND]
    assert {s.status for s in by_plan} == {ExecutionStatus.COMPLETED}
    assert queries.history(None, "C0ELSEWHERE", 10) == []
    latest = queries.latest_in_channel(CHANNEL)
    assert latest is not None and latest.execution_id == SECOND
    assert queries.known_plans() == ("plan-x",)
