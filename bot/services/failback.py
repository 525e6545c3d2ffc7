"""Failback as the executor performs it: reverse replication, wait for sync, and re-protect.

The launch in the origin region between them is the wave engine's, as for any execution."""

from __future__ import annotations

import logging

from bot.domain import failback
from bot.domain.execution import Execution, FailbackPhase, Limits
from bot.errors import DrsConflict, DrsRefused, DrsUnavailable
from bot.services.ports import Clock, Drs, ExecutionStore

logger = logging.getLogger(__name__)


class Failbacker:
    def __init__(self, store: ExecutionStore, drs: Drs, clock: Clock, limits: Limits) -> None:
        self._store = store
        self._drs = drs
        self._clock = clock
        self._limits = limits

    def before_launch(self, execution: Execution) -> Execution:
        """One idempotent step of reversing or syncing; raises StaleExecution if another tick won, and
        DrsError when DRS does not answer (the next tick tries again)."""
        run = execution.failback
        if run is None or not run.phase.before_launch:
            return execution
        if execution.cancelling:
            return self._store.save(failback.cancel_before_launch(execution), execution, ())
        if run.phase is FailbackPhase.REVERSING:
            execution = self._reverse(execution)
        run = execution.failback
        if run is not None and run.phase is FailbackPhase.SYNCING:
            execution = self._sync(execution)
        return execution

    def _reverse(self, execution: Execution) -> Execution:
        arns: dict[str, str] = {}
        refused: dict[str, str] = {}
        for server in failback.to_reverse(execution):
            instance = server.recovery_instance_id
            try:
                arns[instance] = self._drs.reverse_replication(server.recovery_region, instance)
            except (DrsRefused, DrsConflict) as error:
                refused[instance] = str(error)
            except DrsUnavailable as error:
                logger.warning("ReverseReplication of %s deferred: %s", instance, error)
        decision = failback.record_reversals(
            execution, arns, refused, self._clock(), self._limits.servers_per_job
        )
        if decision.execution == execution:
            return execution
        return self._store.save(decision.execution, execution, decision.events)

    def _sync(self, execution: Execution) -> Execution:
        states: dict[str, str | None] = {}
        for region, ids in failback.to_sync(execution).items():
            for info in self._drs.source_servers(region, ids):
                states[info.source_server_id] = info.replication_state
        decision = failback.record_sync(execution, states, self._clock(), self._limits.servers_per_job)
        if decision.execution == execution:
            return execution
        return self._store.save(decision.execution, execution, decision.events)

    def reprotect(self, execution: Execution) -> Execution:
        """After the launch: ReverseReplication on each new recovery instance in the origin region."""
        run = execution.failback
        if run is None or run.phase is not FailbackPhase.REPROTECTING:
            return execution
        done: dict[str, str] = {}
        refused: dict[str, str] = {}
        busy: dict[str, str] = {}
        for region, instance in failback.to_reprotect(execution):
            try:
                done[instance] = self._drs.reverse_replication(region, instance)
            except DrsConflict as error:
                busy[instance] = str(error)  # e.g. its launch job has not closed yet: try again
            except DrsRefused as error:
                refused[instance] = str(error)
            except DrsUnavailable as error:
                logger.warning("re-protect of %s deferred: %s", instance, error)
        now = self._clock()
        decision = failback.record_reprotect(execution, done, refused, now)
        updated = decision.execution
        current = updated.failback
        if busy and current is not None:
            attempts = current.reprotect_attempts + 1
            if attempts >= failback.REPROTECT_ATTEMPTS:
                decision = failback.record_reprotect(
                    execution,
                    done,
                    refused | {i: f"{e} (still after {attempts} tries)" for i, e in busy.items()},
                    now,
                )
                updated = decision.execution
            else:
                updated = updated.model_copy(
                    update={"failback": current.model_copy(update={"reprotect_attempts": attempts})}
                )
        if updated == execution:
            return execution
        return self._store.save(updated, execution, decision.events)
