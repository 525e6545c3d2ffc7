"""What people do to an execution once it exists: approve or reject it, cancel it, clean up a drill.

Each is a domain decision saved on the version read (`UnitOfWork`), then the executor is woken to act
on it: also continue and stop at a gate, pause and resume (`steer`); the future home of retry and skip."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain import approval, engine, steering
from bot.domain import cleanup as cleanup_domain
from bot.domain import retry as retry_domain
from bot.domain.approval import Vote, VoteOutcome, VoteResult
from bot.domain.cleanup import CleanupRefusal
from bot.domain.engine import JobSnapshot
from bot.domain.execution import ActionKind, Execution, Limits, WaveRun
from bot.domain.steering import Stale
from bot.errors import PlanBusy
from bot.services.access import Access
from bot.services.outbox import Outbox
from bot.services.ports import Clock, Drs, ExecutionStore, ExecutorTrigger, LogKeys, NoLogKeys
from bot.services.ticking import Ticking
from bot.services.unit_of_work import Outcome, UnitOfWork

# Concurrent clicks each retry after losing a race; 60 covers a whole channel clicking at once.
VOTE_ATTEMPTS = 60


class CancelResult(StrEnum):
    NOT_ALLOWED = "not_allowed"
    CANCELLING = "cancelling"
    ALREADY_CANCELLING = "already_cancelling"
    ALREADY_ENDED = "already_ended"
    NOT_FOUND = "not_found"


class CancelOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    result: CancelResult
    execution: Execution | None = None


class VoteReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: VoteOutcome
    execution: Execution | None = None


class SteerResult(StrEnum):
    DONE = "done"
    NOT_ALLOWED = "not_allowed"
    STALE = "stale"  # nothing to do now: `stale` says why, `execution` how it stands
    NOT_FOUND = "not_found"


class SteerOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    result: SteerResult
    stale: Stale | None = None
    execution: Execution | None = None


class CleanupOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    refusal: CleanupRefusal | None
    execution: Execution | None


class ControlResult(StrEnum):
    DONE = "done"
    NOT_ALLOWED = "not_allowed"
    REFUSED = "refused"  # not possible now: `refusal` says why
    NOT_FOUND = "not_found"


class ControlOutcome(BaseModel):
    """A retry or a skip: done, or why not, with the execution as it is now."""

    model_config = ConfigDict(frozen=True)

    result: ControlResult
    refusal: str | None = None
    wave: WaveRun | None = None
    reopened: bool = False  # the execution had ended PARTIAL or FAILED and runs again
    execution: Execution | None = None


class Controlling:
    def __init__(
        self,
        *,
        store: ExecutionStore,
        outbox: Outbox,
        trigger: ExecutorTrigger,
        clock: Clock,
        access: Access,
        ticking: Ticking,
        log_keys: LogKeys | None = None,
        limits: Limits | None = None,
        drs: Drs | None = None,
    ) -> None:
        self._limits = limits or Limits()
        self._drs = drs
        self._store = store
        self._work = UnitOfWork(store)
        self._outbox = outbox
        self._trigger = trigger
        self._clock = clock
        self._access = access
        self._ticking = ticking
        self._log_keys = log_keys or NoLogKeys()

    def vote(
        self,
        execution_id: str,
        choice: Vote,
        user_id: str,
        reason: str = "",
        *,
        channel_id: str | None = None,
    ) -> VoteReport:
        """An Approve or Reject click (in `channel_id`). The first valid decision wins: every save is
        conditioned on the version read, and a click that lost the race reads again and finds the
        request decided."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)
            groups = self._access.groups(user_id)

            def decide(execution: Execution) -> Outcome[VoteReport]:
                self._describe(execution)
                outcome = approval.vote(
                    execution,
                    choice,
                    user_id=user_id,
                    groups=groups,
                    policy=self._access.policy,
                    now=self._clock(),
                    reason=reason,
                    channel_id=channel_id,
                )
                if outcome.decision is None:
                    return Outcome(VoteReport(outcome=outcome, execution=execution))
                undecided = VoteReport(outcome=outcome.model_copy(update={"decision": None}))
                return Outcome(undecided, outcome.decision.execution, outcome.decision.events)

            done = self._work.run(
                execution_id,
                decide,
                missing=lambda: VoteReport(outcome=VoteOutcome(result=VoteResult.ALREADY_DECIDED)),
                attempts=VOTE_ATTEMPTS,
            )
            if not done.saved:
                return done.result
            if done.result.outcome.result is VoteResult.APPROVED:
                self._trigger.start(execution_id)
                self._ticking.tick(execution_id)
            elif done.execution is not None and done.execution.status.is_terminal:
                # Rejected: delivered and reported by the tick of an ended execution.
                self._ticking.tick(execution_id)
            else:
                self._outbox.deliver(execution_id)
            return done.result.model_copy(update={"execution": done.execution})

    def cancel(self, execution_id: str, user_id: str) -> CancelOutcome:
        """No new chunk or wave starts; jobs already running are followed to their end and reported."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)

            def decide(execution: Execution) -> Outcome[CancelOutcome]:
                self._describe(execution)
                if not self._access.may_control(execution, user_id, ActionKind.CANCEL):
                    return Outcome(CancelOutcome(result=CancelResult.NOT_ALLOWED, execution=execution))
                if execution.status.is_terminal:
                    return Outcome(CancelOutcome(result=CancelResult.ALREADY_ENDED, execution=execution))
                if execution.cancelling:
                    return Outcome(CancelOutcome(result=CancelResult.ALREADY_CANCELLING, execution=execution))
                decision = engine.request_cancel(execution, user_id, self._clock())
                cancelling = CancelOutcome(result=CancelResult.CANCELLING)
                return Outcome(cancelling, decision.execution, decision.events)

            done = self._work.run(
                execution_id, decide, missing=lambda: CancelOutcome(result=CancelResult.NOT_FOUND)
            )
            if not done.saved:
                return done.result
            self._trigger.start(execution_id)
            self._ticking.tick(execution_id)
            return done.result.model_copy(
                update={"execution": self._store.get(execution_id) or done.execution}
            )

    def cleanup(self, execution_id: str, user_id: str) -> CleanupOutcome:
        """Terminate the recovery instances this drill launched. Idempotent: a second cleanup, or one
        racing another, terminates nothing twice and reports what was already gone."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)
            loop_closed = False

            def decide(execution: Execution) -> Outcome[CleanupOutcome]:
                nonlocal loop_closed
                # Nothing left to tick before this request: the execution's loop has ended.
                loop_closed = not execution.needs_ticks()
                self._describe(execution)
                if not self._access.may_control(execution, user_id, ActionKind.CLEANUP):
                    return Outcome(CleanupOutcome(refusal=CleanupRefusal.NOT_ALLOWED, execution=execution))
                asked = cleanup_domain.request(execution, user_id, self._clock())
                if asked.decision is None:
                    return Outcome(CleanupOutcome(refusal=asked.refusal, execution=execution))
                started = CleanupOutcome(refusal=None, execution=None)
                return Outcome(started, asked.decision.execution, asked.decision.events)

            done = self._work.run(
                execution_id, decide, missing=lambda: CleanupOutcome(refusal=None, execution=None)
            )
            if not done.saved:
                return done.result
            self._store.reactivate(execution_id)
            # A closed Step Functions execution's name cannot be used again: the cleanup's TERMINATE jobs
            # are followed by a loop of their own (one per cleanup request), or by the loop still running.
            requests = (
                sum(1 for a in done.execution.actions if a.kind is ActionKind.CLEANUP)
                if done.execution
                else 0
            )
            self._trigger.start(execution_id, run=f"cleanup-{requests}" if loop_closed else "")
            self._ticking.tick(execution_id)
            return CleanupOutcome(refusal=None, execution=self._store.get(execution_id))

    def steer(
        self, execution_id: str, user_id: str, kind: ActionKind, wave: int | None = None
    ) -> SteerOutcome:
        """Continue or Stop here at a gate (`wave`: the gate's, from its card), Pause or Resume. Saved on
        the version read: of two clicks racing each other or a tick, the loser reads again and is told
        how it stands now (a gate already passed, an execution already paused)."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)

            def decide(execution: Execution) -> Outcome[SteerOutcome]:
                self._describe(execution)
                if not self._access.may_control(execution, user_id, kind):
                    return Outcome(SteerOutcome(result=SteerResult.NOT_ALLOWED, execution=execution))
                steered = steering.steer(execution, kind, user_id, self._clock(), wave)
                if steered.decision is None:
                    stale = SteerOutcome(result=SteerResult.STALE, stale=steered.stale, execution=execution)
                    return Outcome(stale)
                return Outcome(
                    SteerOutcome(result=SteerResult.DONE), steered.decision.execution, steered.decision.events
                )

            done = self._work.run(
                execution_id,
                decide,
                missing=lambda: SteerOutcome(result=SteerResult.NOT_FOUND),
                attempts=VOTE_ATTEMPTS,
            )
            if not done.saved:
                return done.result
            if kind is ActionKind.PAUSE:
                self._outbox.deliver(execution_id)  # nothing to start: the thread and anchor say it
            else:
                self._trigger.start(execution_id)
                self._ticking.tick(execution_id)  # the wave starts (or the stop ends it) now
            return done.result.model_copy(
                update={"execution": self._store.get(execution_id) or done.execution}
            )

    def retry(self, execution_id: str, user_id: str, wave_ref: str | None = None) -> ControlOutcome:
        """Launch a wave's failed servers again (bot/domain/retry.py). A second click finds the wave
        running again and is told so: the servers are launched once."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)

            jobs: dict[str, JobSnapshot] = {}

            def decide(execution: Execution) -> Outcome[ControlOutcome]:
                self._describe(execution)
                if not self._access.may_control(execution, user_id, ActionKind.RETRY):
                    return Outcome(ControlOutcome(result=ControlResult.NOT_ALLOWED, execution=execution))
                # Read once per version read: the jobs its failed servers were in.
                for region, job_ids in retry_domain.previous_jobs(execution).items():
                    missing = [job_id for job_id in job_ids if job_id not in jobs]
                    if missing and self._drs is not None:
                        jobs.update((job.job_id, job) for job in self._drs.describe_jobs(region, missing))
                ruling = retry_domain.retry(
                    execution, wave_ref, user_id, self._clock(), self._limits.servers_per_job_in, jobs
                )
                return self._ruled(execution, ruling)

            try:
                done = self._work.run(
                    execution_id, decide, missing=lambda: ControlOutcome(result=ControlResult.NOT_FOUND)
                )
            except PlanBusy as busy:
                # Ended, it had freed its plan, and another execution of the plan runs now.
                refusal = f"plan {busy.plan_name} is running again as {busy.execution_id}; retry once that one has ended"
                return ControlOutcome(
                    result=ControlResult.REFUSED, refusal=refusal, execution=self._store.get(execution_id)
                )
            if not done.saved:
                return done.result
            saved = done.execution
            if done.result.reopened:
                self._store.reactivate(execution_id)  # an ended execution left the active ones
            retries = sum(1 for action in saved.actions if action.kind is ActionKind.RETRY) if saved else 0
            # An ended execution's loop has closed: a re-opened one needs a loop of its own.
            self._trigger.start(execution_id, run=f"retry-{retries}" if done.result.reopened else "")
            self._ticking.tick(execution_id)
            return done.result.model_copy(
                update={"execution": self._store.get(execution_id) or done.execution}
            )

    def skip(self, execution_id: str, user_id: str, wave_ref: str, reason: str = "") -> ControlOutcome:
        """A pending wave will not run; the thread says who and why."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)

            def decide(execution: Execution) -> Outcome[ControlOutcome]:
                self._describe(execution)
                if not self._access.may_control(execution, user_id, ActionKind.SKIP):
                    return Outcome(ControlOutcome(result=ControlResult.NOT_ALLOWED, execution=execution))
                return self._ruled(
                    execution, retry_domain.skip(execution, wave_ref, user_id, reason, self._clock())
                )

            done = self._work.run(
                execution_id, decide, missing=lambda: ControlOutcome(result=ControlResult.NOT_FOUND)
            )
            if not done.saved:
                return done.result
            self._ticking.tick(execution_id)
            return done.result.model_copy(
                update={"execution": self._store.get(execution_id) or done.execution}
            )

    @staticmethod
    def _ruled(execution: Execution, ruling: retry_domain.Ruling) -> Outcome[ControlOutcome]:
        if ruling.decision is None:
            refused = ControlOutcome(
                result=ControlResult.REFUSED, refusal=ruling.refusal, wave=ruling.wave, execution=execution
            )
            return Outcome(refused)
        done = ControlOutcome(
            result=ControlResult.DONE, wave=ruling.wave, reopened=execution.status.is_terminal
        )
        return Outcome(done, ruling.decision.execution, ruling.decision.events)

    def _describe(self, execution: Execution) -> None:
        self._log_keys.add(plan=execution.plan_name, execution_type=execution.execution_type.value)
