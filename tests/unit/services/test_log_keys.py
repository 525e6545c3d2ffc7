"""Every save a use case makes is logged with the execution's keys, and none outlive the use case."""

from __future__ import annotations

from collections.abc import Sequence

from bot.adapters.telemetry import PowertoolsLogKeys
from bot.domain.approval import Vote
from bot.domain.events import Event
from bot.domain.execution import Execution, ExecutionType
from handlers.observability import logger
from tests.fakes.store import InMemoryExecutionStore
from tests.unit.services.conftest import BOSS, World


def current() -> dict[str, object]:
    return dict(logger.thread_safe_get_current_keys())


class KeyedStore(InMemoryExecutionStore):
    """Remembers the log keys in force at each save."""

    def __init__(self) -> None:
        super().__init__()
        self.keys_at_saves: list[dict[str, object]] = []

    def save(self, execution: Execution, previous: Execution, events: Sequence[Event]) -> Execution:
        self.keys_at_saves.append(current())
        return super().save(execution, previous, events)


def test_an_approval_and_its_tick_save_under_the_executions_keys() -> None:
    logger.thread_safe_clear_keys()
    store = KeyedStore()
    world = World(store=store, log_keys=PowertoolsLogKeys())
    outcome = world.request(ExecutionType.RECOVERY)
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    assert current() == {}

    world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)
    world.run(execution_id)

    expected = {"execution_id": execution_id, "plan": "plan-x", "execution_type": "RECOVERY"}
    assert len(store.keys_at_saves) > 3
    assert all(keys == expected for keys in store.keys_at_saves)
    assert current() == {}
