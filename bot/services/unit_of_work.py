"""Read → decide → save → retry: the one loop every use case that changes an execution goes through.

The decision is the caller's (a pure domain function, given the version read); the save is conditioned
on that version (`ExecutionStore.save`), and writes the decision's events in the same transaction (the
outbox). When another writer saved in between, the execution is read again and decided again. Side
effects (a tick, a delivery, StartRecovery) belong after `run` returns, never inside `decide`: a
decision may be made several times, but only the one saved counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.domain.events import Event
from bot.domain.execution import Execution
from bot.errors import StaleExecution
from bot.services.ports import ExecutionStore

# Most races are one tick against one click: a few attempts settle them.
ATTEMPTS = 5


@dataclass(frozen=True)
class Outcome[T]:
    """What `decide` returns: the answer for the caller and, to change the execution, its new state
    with the events it causes (`save` None: nothing to save, the answer stands as it is)."""

    result: T
    save: Execution | None = None
    events: Sequence[Event] = ()


@dataclass(frozen=True)
class Done[T]:
    result: T
    execution: Execution | None  # as saved (its new version), or as last read when nothing was saved
    saved: bool


class UnitOfWork:
    def __init__(self, store: ExecutionStore) -> None:
        self._store = store

    def run[T](
        self,
        execution_id: str,
        decide: Callable[[Execution], Outcome[T]],
        *,
        missing: Callable[[], T] | None = None,
        attempts: int = ATTEMPTS,
    ) -> Done[T]:
        """Read the execution, decide, save; again from a fresh read while another save wins.

        An execution that does not exist answers `missing()` (StaleExecution without it); one still
        contended after `attempts` raises StaleExecution."""
        return self._loop(execution_id, self._store.get(execution_id), decide, missing, attempts)

    def run_from[T](
        self,
        execution: Execution,
        decide: Callable[[Execution], Outcome[T]],
        *,
        missing: Callable[[], T] | None = None,
        attempts: int = ATTEMPTS,
    ) -> Done[T]:
        """As `run`, deciding first on the version in hand (a tick's, which has just acted on it)."""
        return self._loop(execution.execution_id, execution, decide, missing, attempts)

    def _loop[T](
        self,
        execution_id: str,
        execution: Execution | None,
        decide: Callable[[Execution], Outcome[T]],
        missing: Callable[[], T] | None,
        attempts: int,
    ) -> Done[T]:
        for _ in range(attempts):
            if execution is None:
                if missing is None:
                    raise StaleExecution(execution_id)
                return Done(result=missing(), execution=None, saved=False)
            outcome = decide(execution)
            if outcome.save is None:
                return Done(result=outcome.result, execution=execution, saved=False)
            try:
                saved = self._store.save(outcome.save, execution, outcome.events)
            except StaleExecution:
                execution = self._store.get(execution_id)
                continue
            return Done(result=outcome.result, execution=saved, saved=True)
        raise StaleExecution(execution_id)
