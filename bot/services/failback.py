"""Failback as the executor performs it: reverse replication, wait for sync, and re-protect.

The launch in the origin region between them is the wave engine's, as for any execution.
ReverseReplication is claimed before it is called and recorded after (bot.domain.failback): two ticks at
once call it once, and after a crash or a lost answer DRS is asked what happened instead of calling again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from datetime import timedelta

from bot.domain import failback
from bot.domain.accounts import AccountRegion
from bot.domain.engine import Decision
from bot.domain.execution import Execution, FailbackPhase, Limits
from bot.errors import DrsConflict, DrsError, DrsRefused, DrsUnavailable
from bot.services.ports import Clock, Drs, ExecutionStore
from bot.services.unit_of_work import Outcome, UnitOfWork

logger = logging.getLogger(__name__)

# DRS answers these while a recovery instance cannot replicate back yet (not running, its agent not
# checked in, the origin region not initialized): ask again until the deadline.
NOT_READY_CODES = frozenset({"ConflictException", "UninitializedAccountException"})
RECORD_ATTEMPTS = 5


class Failbacker:
    def __init__(
        self,
        store: ExecutionStore,
        drs: Drs,
        clock: Clock,
        limits: Limits,
        target_accounts: Collection[str] = (),
    ) -> None:
        self._target_accounts = tuple(target_accounts)  # where a reversed server may be followed
        self._store = store
        self._work = UnitOfWork(store)
        self._drs = drs
        self._clock = clock
        self._limits = limits
        self._claim_timeout = timedelta(seconds=limits.claim_timeout_seconds)

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
        claim = failback.claim_reversals(execution, self._clock(), self._claim_timeout)
        if claim is None:
            return execution  # nothing to reverse, or another tick is calling for what is left
        execution = self._store.save(claim.execution, execution, ())  # StaleExecution: another tick won
        arns: dict[str, str] = {}
        refused: dict[str, str] = {}
        not_ready: dict[str, str] = {}
        for server in claim.servers:
            instance = server.recovery_instance_id
            recovery = AccountRegion(server.recovery_account, server.recovery_region)
            try:
                # A claim taken again may follow a call that took effect: ask DRS before calling.
                arn = None
                if server.reverse_attempts > 1:
                    arn = self._reversed_arn(recovery, server.source_server_id, instance)
                arns[instance] = arn or self._drs.reverse_replication(recovery, instance)
            except DrsUnavailable as error:
                logger.warning("ReverseReplication of %s deferred: %s", instance, error)
            except DrsError as error:
                if error.code not in NOT_READY_CODES:
                    refused[instance] = str(error)
                    continue
                # Already reversing (a repeat that reached DRS), or not ready yet: DRS's state tells.
                try:
                    arn = self._reversed_arn(recovery, server.source_server_id, instance)
                except DrsUnavailable:
                    arn = None
                if arn is not None:
                    arns[instance] = arn
                else:
                    not_ready[instance] = str(error)
        now = self._clock()
        claimed = [s.recovery_instance_id for s in claim.servers]
        return self._record(
            execution,
            lambda latest: failback.record_reversals(
                latest,
                arns,
                refused,
                now,
                self._limits.servers_per_job_in,
                not_ready=not_ready,
                released=claimed,
                target_accounts=self._target_accounts,
            ),
        )

    def _reversed_arn(self, region: AccountRegion, source_server_id: str, instance_id: str) -> str | None:
        """The source server an earlier ReverseReplication of this instance created, if it took
        effect: the instance replicates back, and its source server names its reversed counterpart."""
        instances = self._drs.recovery_instances(region, [source_server_id])
        mine = next((i for i in instances if i.recovery_instance_id == instance_id), None)
        if mine is None or mine.replication_state is None:
            return None
        servers = self._drs.source_servers(region, [source_server_id])
        return next((s.reversed_source_server_arn for s in servers if s.reversed_source_server_arn), None)

    def _sync(self, execution: Execution) -> Execution:
        states: dict[str, str | None] = {}
        for region, ids in failback.to_sync(execution).items():
            for info in self._drs.source_servers(region, ids):
                states[info.source_server_id] = info.replication_state
        decision = failback.record_sync(execution, states, self._clock(), self._limits.servers_per_job_in)
        if decision.execution == execution:
            return execution
        return self._store.save(decision.execution, execution, decision.events)

    def reprotect(self, execution: Execution) -> Execution:
        """After the launch: ReverseReplication on each new recovery instance in the origin region."""
        run = execution.failback
        if run is None or run.phase is not FailbackPhase.REPROTECTING:
            return execution
        claimed = failback.claim_reprotects(execution, self._clock(), self._claim_timeout)
        if claimed is None:
            if failback.to_reprotect(execution):
                return execution  # another tick is calling for them
            now = self._clock()  # nothing launched to re-protect: the failback is done
            return self._record(execution, lambda latest: failback.record_reprotect(latest, {}, {}, now))
        execution = self._store.save(claimed[0], execution, ())  # StaleExecution: another tick won
        done: dict[str, str] = {}
        refused: dict[str, str] = {}
        busy: dict[str, str] = {}
        for claim in claimed[1]:
            instance, region = claim.instance_id, claim.where
            reversed_id = claim.server.reversed_source_server_id or ""
            try:
                if claim.server.reprotect_attempts > 1 and self._replicating(region, reversed_id, instance):
                    done[instance] = "already"
                    continue
                done[instance] = self._drs.reverse_replication(region, instance)
            except DrsConflict as error:
                # Already re-protected (a repeat), or busy: e.g. its launch job has not closed yet.
                try:
                    replicating = self._replicating(region, reversed_id, instance)
                except DrsUnavailable:
                    replicating = False
                if replicating:
                    done[instance] = "already"
                else:
                    busy[instance] = str(error)
            except DrsRefused as error:
                refused[instance] = str(error)
            except DrsUnavailable as error:
                logger.warning("re-protect of %s deferred: %s", instance, error)
        now = self._clock()
        instances = [claim.instance_id for claim in claimed[1]]
        return self._record(
            execution,
            lambda latest: failback.record_reprotect(
                latest, done, refused, now, busy=busy, released=instances
            ),
        )

    def _replicating(self, region: AccountRegion, source_server_id: str, instance_id: str) -> bool:
        """The instance replicates (to the recovery region): an earlier re-protect took effect."""
        return any(
            i.recovery_instance_id == instance_id and i.replication_state is not None
            for i in self._drs.recovery_instances(region, [source_server_id])
        )

    def _record(self, execution: Execution, decide: Callable[[Execution], Decision]) -> Execution:
        """Save what DRS answered; if another tick saved meanwhile, apply it to the latest version:
        a call that was made must be recorded."""

        def changed(latest: Execution) -> Outcome[None]:
            decision = decide(latest)
            if decision.execution == latest:
                return Outcome(None)
            return Outcome(None, decision.execution, decision.events)

        done = self._work.run_from(execution, changed, attempts=RECORD_ATTEMPTS)
        assert done.execution is not None  # run_from raises when it is gone
        return done.execution
