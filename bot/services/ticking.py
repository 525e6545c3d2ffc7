"""The executor's tick: observe DRS, decide with the engine, save, start what was claimed, record,
deliver the messages. Called by the Step Functions loop, by DRS launch-result events, after a click, and
by the sandbox's runner."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from bot.domain import approval, engine, hooks
from bot.domain import readiness as readiness_domain
from bot.domain.accounts import AccountRegion
from bot.domain.engine import JobSnapshot, Observation, RegionLoad
from bot.domain.execution import ChunkRef, ChunkStatus, CleanupStatus, Execution, ExecutionStatus, Limits
from bot.errors import (
    AccountUnreachable,
    DrsConflict,
    DrsError,
    DrsQuotaExceeded,
    DrsRefused,
    DrsUnavailable,
    HookRefused,
    HookUnavailable,
    StaleExecution,
)
from bot.services.cleanup import Cleaner
from bot.services.failback import Failbacker
from bot.services.health import HealthObserver
from bot.services.outbox import DeliveryReport, Outbox
from bot.services.ports import Clock, Drs, ExecutionStore, Hooks, LogKeys, NoLogKeys
from bot.services.readiness import SNAPSHOT_AGES_PER_TICK, Readiness
from bot.services.report import Reports
from bot.services.unit_of_work import Outcome, UnitOfWork

logger = logging.getLogger(__name__)

TAG_PREFIX = "drs-chatops"
NOT_STARTED = "not started: the execution was cancelled"
# How far before a wave started to look for a job a crashed tick may have created.
FIND_JOB_SLACK = timedelta(minutes=5)
# A launch job runs minutes to hours; one older than this is not holding quota any more.
ACTIVE_JOB_WINDOW = timedelta(hours=24)
# A quota that stays full this many tries means the configured quota is above the account's.
QUOTA_RETRIES = 20


class TickResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution_id: str
    finished: bool
    wait_seconds: float


class LaunchResultsOutcome(BaseModel):
    """What a batch of DRS launch-result events did: the ticks it ran, and the executions whose tick
    failed (their loop's next poll does the same work)."""

    ticked: list[TickResult] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)
    # Regions whose jobs' tags DRS did not give (throttled, unavailable): their executions' loops see
    # the launches at their next poll.
    unresolved: dict[str, str] = Field(default_factory=dict)


def job_tags(execution: Execution, ref: ChunkRef) -> dict[str, str]:
    return {
        f"{TAG_PREFIX}:execution": execution.execution_id,
        f"{TAG_PREFIX}:plan": execution.plan_name,
        f"{TAG_PREFIX}:wave": str(ref.wave),
        f"{TAG_PREFIX}:chunk": str(ref.chunk),
    }


class NoHooks:
    """A deployment without hook clients: a plan's hooks fail, saying so, rather than being skipped."""

    def start_automation(
        self, where: AccountRegion, document: str, parameters: object, client_token: str
    ) -> str:
        raise HookRefused("NotConfigured", "hooks are not wired in this deployment")

    def automations(self, where: AccountRegion, execution_ids: Sequence[str]) -> dict[str, hooks.HookResult]:
        return {}

    def invoke(
        self, where: AccountRegion, function: str, payload: object, timeout_seconds: int
    ) -> hooks.HookResult:
        raise HookRefused("NotConfigured", "hooks are not wired in this deployment")


class Ticking:
    def __init__(
        self,
        *,
        store: ExecutionStore,
        drs: Drs,
        outbox: Outbox,
        clock: Clock,
        limits: Limits,
        poll_seconds: float,
        readiness: Readiness,
        cleaner: Cleaner,
        failbacker: Failbacker,
        log_keys: LogKeys | None = None,
        reports: Reports | None = None,
        health: HealthObserver | None = None,
        hook_runner: Hooks | None = None,
    ) -> None:
        self._store = store
        self._health = health
        self._hooks = hook_runner or NoHooks()
        self._reports = reports
        self._work = UnitOfWork(store)
        self._drs = drs
        self._outbox = outbox
        self._clock = clock
        self._limits = limits
        self._poll_seconds = poll_seconds
        self._readiness = readiness
        self._cleaner = cleaner
        self._failbacker = failbacker
        self._log_keys = log_keys or NoLogKeys()

    def active(self) -> list[str]:
        return self._store.active_ids()

    def tick(self, execution_id: str) -> TickResult:
        """One idempotent step: observe DRS, decide, save, start chunks, save, notify.

        Safe to run twice at once: every save is conditioned on the version read, and only the tick
        whose save claimed a chunk calls StartRecovery for it."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)
            return self._tick(execution_id)

    def _tick(self, execution_id: str) -> TickResult:
        execution = self._store.get(execution_id)
        if execution is None:
            logger.warning("tick for unknown execution %s", execution_id)
            return TickResult(execution_id=execution_id, finished=True, wait_seconds=0)
        self._describe(execution)
        if execution.status.is_terminal:
            if execution.needs_ticks():
                try:
                    execution = self._cleaner.step(execution)
                    execution = self._failbacker.reprotect(execution)
                except (DrsError, StaleExecution) as error:
                    logger.warning("post-step of %s deferred: %s", execution_id, error)
            return self._finish_delivery(execution)
        if execution.status is ExecutionStatus.PENDING_APPROVAL:
            return self._tick_pending(execution)
        wake_at = None
        saved_by_us = True
        try:
            execution = self._failbacker.before_launch(execution)
            observation = self._observe(execution)
            now = self._clock()
            if self._health is not None:  # health (#15): the CHECKING waves' checks
                observation = observation.model_copy(update={"health": self._health.observe(execution, now)})
            decision = engine.advance(execution, observation, now, self._limits)
            down: dict[str | None, AccountUnreachable] = {}
            if places := engine.regions_starting(execution, decision):
                load, held = self._loads(places, now, down)
                observation = observation.model_copy(update={"load": load, "held": held})
                decision = engine.advance(execution, observation, now, self._limits)
            wake_at = decision.wake_at
            if decision.execution != execution:
                execution = self._store.save(decision.execution, execution, decision.events)
                if decision.events:
                    logger.info("tick saved %s", ", ".join(event.kind for event in decision.events))
            # Claimed hooks first: a DRS error below must not leave a Lambda hook's claim uncalled (a
            # stale one is reported "outcome unknown", never invoked again).
            if decision.hook_starts:
                execution = self._run_hooks(execution, decision.hook_starts)
            if decision.starts or decision.reconcile:
                execution = self._start_chunks(execution, decision.starts, decision.reconcile, down)
            if self._health is not None:  # health_check.ssm_command: claim, send, record
                execution = self._health.send_commands(execution, now, self._claim, self._record)
        except DrsError as error:
            logger.warning("DRS unavailable during the tick of %s: %s", execution_id, error)
        except StaleExecution:
            logger.info("execution %s was saved by another tick; leaving this one", execution_id)
            saved_by_us = False
        report = self._outbox.deliver(execution_id, execution if saved_by_us else None)
        if saved_by_us and (noted := self._read_snapshot_ages(execution)) is not None:
            execution = noted
            report = self._outbox.deliver(execution_id, execution)
        if execution.status.is_terminal:
            return self._finish_delivery(execution, report)
        return TickResult(
            execution_id=execution_id, finished=False, wait_seconds=self._wait(execution, wake_at)
        )

    def on_launch_results(self, jobs: Iterable[tuple[AccountRegion, str]]) -> LaunchResultsOutcome:
        """DRS says servers' launches ended: tick their executions now rather than at the next poll.

        `jobs` are (account and region, job id) pairs from a batch of events, repeats included: each
        execution they concern is ticked once, after one DescribeJobs per account and region for the
        jobs' tags. Events are best
        effort and may be for jobs that are not ours: those change nothing."""
        by_region: dict[AccountRegion, set[str]] = defaultdict(set)
        for where, job_id in jobs:
            by_region[where].add(job_id)
        execution_ids: dict[str, None] = {}  # in order, once each
        outcome = LaunchResultsOutcome()
        for region, job_ids in sorted(by_region.items(), key=lambda item: item[0].sort_key()):
            try:
                found = self._drs.jobs_tags(region, sorted(job_ids))
            except DrsError as error:
                # An early tick is a shortcut: without the tags, the loop's next poll sees these launches.
                logger.warning(
                    "DRS did not give the tags of %d job(s) in %s (%s): their executions' next poll will "
                    "see these launches",
                    len(job_ids),
                    region,
                    error,
                    extra={"region": str(region), "job_ids": sorted(job_ids)},
                )
                outcome.unresolved[str(region)] = f"{type(error).__name__}: {error}"
                continue
            for tags in found.values():
                if execution_id := tags.get(f"{TAG_PREFIX}:execution"):
                    execution_ids.setdefault(execution_id)
        for execution_id in execution_ids:
            try:
                outcome.ticked.append(self.tick(execution_id))
            except Exception as error:  # one execution's failure must not hold back the others' ticks
                logger.warning("early tick of %s failed", execution_id, exc_info=True)
                outcome.failed[execution_id] = f"{type(error).__name__}: {error}"
        return outcome

    def _tick_pending(self, execution: Execution) -> TickResult:
        """Awaiting approval: nothing to observe; expire the request when its time is up."""
        now = self._clock()
        expired = approval.expire_if_due(execution, now)
        if expired is not None:
            with contextlib.suppress(StaleExecution):  # decided meanwhile: the next tick sees it
                execution = self._store.save(expired.execution, execution, expired.events)
        # The approvers weigh the snapshot ages too: read them while the card waits.
        execution = self._read_snapshot_ages(execution) or execution
        self._outbox.deliver(execution.execution_id)
        if execution.status.is_terminal:
            return self._finish_delivery(execution)
        due = execution.approval_expires_at or now
        ages = execution.readiness.snapshot_ages if execution.readiness else None
        poll = self._poll_seconds if ages is not None and not ages.done else self._poll_seconds * 4
        wait = min(poll, max(1.0, (due - now).total_seconds()))
        return TickResult(execution_id=execution.execution_id, finished=False, wait_seconds=wait)

    def _finish_delivery(self, execution: Execution, report: DeliveryReport | None = None) -> TickResult:
        """An ended execution keeps being ticked until every message is in Slack (and a drill's
        cleanup, if any, is done)."""
        # The report first: delivering the last message retires the execution from the active ones.
        reported = self._reports is None or self._reports.keep_up(execution)
        report = report or self._outbox.deliver(execution.execution_id)
        # A channel Slack refuses for good is not waited for: the history is complete without it.
        pending = not report.all_delivered and not report.blocked
        work = execution.needs_ticks() or not reported
        if not reported:
            self._store.reactivate(execution.execution_id)  # ticked again until the report is written
        wait = self._poll_seconds
        run = execution.cleanup
        if not pending and run is not None and run.status is CleanupStatus.SCHEDULED and run.due_at:
            wait = max(1.0, (run.due_at - self._clock()).total_seconds())  # nothing to do until then
        return TickResult(
            execution_id=execution.execution_id,
            finished=not (pending or work),
            wait_seconds=wait if pending or work else 0,
        )

    def _describe(self, execution: Execution) -> None:
        self._log_keys.add(plan=execution.plan_name, execution_type=execution.execution_type.value)

    def _read_snapshot_ages(self, execution: Execution) -> Execution | None:
        """The next servers' recovery snapshot ages, after this tick's launches (the saved execution,
        or None when there was nothing to read or another tick recorded the same servers first)."""
        note = execution.readiness
        ages = note.snapshot_ages if note else None
        if ages is None or ages.done or execution.status.is_terminal:
            return None
        targets = readiness_domain.snapshot_targets(execution)[
            ages.checked : ages.checked + SNAPSHOT_AGES_PER_TICK
        ]
        found, unavailable = self._readiness.read_snapshot_ages(targets, ages.taken_by)
        if unavailable:
            logger.warning("snapshot ages of %s deferred: %s", execution.execution_id, unavailable)
        first, checked = execution, ages.checked

        def decide(latest: Execution) -> Outcome[None]:
            if latest is not first:
                now_ages = latest.readiness.snapshot_ages if latest.readiness else None
                if now_ages is None or now_ages.checked != checked:
                    return Outcome(None)  # recorded by another tick meanwhile
            decision = readiness_domain.record_snapshot_ages(latest, found, unavailable, self._clock())
            if decision.execution == latest:
                return Outcome(None)
            return Outcome(None, decision.execution, decision.events)

        try:
            done = self._work.run_from(execution, decide, missing=lambda: None)
        except StaleExecution:
            return None
        return done.execution if done.saved else None

    def _wait(self, execution: Execution, wake_at: datetime | None) -> float:
        if wake_at is None or engine.job_ids_to_follow(execution):
            return self._poll_seconds
        # Nothing runs: sleep until the waiting wave is due (a cancel is handled then too).
        return max(1.0, (wake_at - self._clock()).total_seconds())

    def _loads(
        self, places: Sequence[AccountRegion], now: datetime, down: dict[str | None, AccountUnreachable]
    ) -> tuple[dict[AccountRegion, RegionLoad], frozenset[AccountRegion]]:
        """DRS's load where chunks would start, one call per account and region. A place DRS does not
        answer for is held (nothing new starts there this tick); the others go on. An account whose role
        cannot be assumed is not held: its starts fail the same way, and are counted (`_start_chunks`)."""
        since = now - ACTIVE_JOB_WINDOW
        load: dict[AccountRegion, RegionLoad] = {}
        held: set[AccountRegion] = set()
        for where in places:
            try:
                load[where] = self._drs.load(where, since)
            except AccountUnreachable as error:
                logger.warning("DRS load in %s unknown: %s", where, error, extra={"where": str(where)})
                down[where.account] = error  # its starts fail with it, without asking STS again
            except DrsError as error:
                logger.warning("DRS load in %s unknown, no start there: %s", where, error)
                held.add(where)
        return load, frozenset(held)

    def _observe(self, execution: Execution) -> Observation:
        """DRS's jobs, per account and region. One that does not answer (throttled, its role not
        assumed) holds back only its own waves: its jobs are followed at the next tick, the others now."""
        to_follow: dict[AccountRegion, list[str]] = defaultdict(list)
        for wave in execution.waves:
            for chunk in wave.chunks:
                if chunk.status is ChunkStatus.RUNNING and chunk.job_id:
                    to_follow[wave.where].append(chunk.job_id)
        jobs: dict[str, JobSnapshot] = {}
        reasons: dict[str, str] = {}
        unreachable: dict[AccountRegion, str] = {}
        unobserved: set[AccountRegion] = set()
        for where, job_ids in to_follow.items():
            try:
                found = {job.job_id: job for job in self._drs.describe_jobs(where, job_ids)}
                # DRS's reason for each newly failed server, read before the failure is recorded.
                failed_by_job: dict[str, list[str]] = defaultdict(list)
                for job_id, server_id in engine.newly_failed(execution, found):
                    failed_by_job[job_id].append(server_id)
                for job_id, server_ids in failed_by_job.items():
                    reasons.update(self._drs.failure_reasons(where, job_id, server_ids))
            except DrsError as error:
                logger.warning(
                    "jobs in %s not followed this tick: %s", where, error, extra={"where": str(where)}
                )
                if isinstance(error, AccountUnreachable) and not error.transient:
                    unreachable[where] = str(error)
                else:
                    unobserved.add(where)
                continue
            jobs.update(found)
        return Observation(
            jobs=jobs,
            failure_reasons=reasons,
            hooks=self._observe_hooks(execution),
            unreachable=unreachable,
            unobserved=frozenset(unobserved),
        )

    def _observe_hooks(self, execution: Execution) -> dict[str, hooks.HookResult]:
        """hooks (#15): the running automations, as SSM reports them (an account or region that does
        not answer is asked again next tick)."""
        by_region: dict[AccountRegion, list[str]] = defaultdict(list)
        for region, run_id in hooks.running(execution):
            by_region[region].append(run_id)
        results: dict[str, hooks.HookResult] = {}
        for region, run_ids in by_region.items():
            try:
                results.update(self._hooks.automations(region, run_ids))
            except (HookUnavailable, DrsUnavailable) as error:
                logger.warning("automations in %s not followed this tick: %s", region, error)
        return results

    def _claim(self, claimed: Execution, read: Execution) -> Execution:
        """Saved only on the version read: another tick that saved meanwhile claims in its stead."""
        return self._store.save(claimed, read, ())

    def _record(self, execution: Execution, apply: Callable[[Execution], Execution]) -> Execution:
        """What was called is recorded even if another tick saved meanwhile, on its version."""
        done = self._work.run_from(execution, lambda latest: Outcome(None, apply(latest), ()))
        assert done.execution is not None
        return done.execution

    def _run_hooks(self, execution: Execution, refs: Sequence[hooks.HookRef]) -> Execution:
        """hooks (#15): call the claimed hooks (saved as STARTING), then record what happened."""
        started: list[tuple[hooks.HookRef, str]] = []
        answered: list[tuple[hooks.HookRef, hooks.HookResult]] = []
        released: list[hooks.HookRef] = []
        for ref in refs:
            hook = hooks.hook_of(execution, ref)
            region = execution.waves[ref.wave].where
            try:
                if hook.automation is not None:
                    run_id = self._hooks.start_automation(
                        region,
                        hook.automation.document,
                        hooks.parameters(hook),
                        hooks.client_token(execution.execution_id, ref),
                    )
                    started.append((ref, run_id))
                else:
                    assert hook.lambda_ is not None
                    answer = self._hooks.invoke(
                        region, hook.lambda_.function, hooks.context(execution, ref), hook.timeout_seconds
                    )
                    answered.append((ref, answer))
            except HookRefused as error:
                answered.append((ref, hooks.HookResult(status=hooks.HookStatus.FAILED, error=str(error))))
            except (HookUnavailable, AccountUnreachable) as error:
                # An unreachable account: nothing was called there; the hook is tried again.
                logger.warning("hook %s of %s deferred: %s", ref, execution.execution_id, error)
                released.append(ref)

        def decide(latest: Execution) -> Outcome[None]:
            now = self._clock()
            log = engine.EventLog(latest)
            updated = latest
            for ref, run_id in started:
                updated = hooks.record_started(updated, ref, run_id, now)
            for ref, answer in answered:
                updated = hooks.record_answer(updated, ref, answer, now, log)
            for ref in released:
                updated = hooks.release(updated, ref, now)
            updated = log.stamp(updated, latest, now)
            return Outcome(None, updated, tuple(log.items))

        # Another tick may save meanwhile; what was called must still be recorded, on its version.
        done = self._work.run_from(execution, decide)
        assert done.execution is not None
        return done.execution

    def _start_chunks(
        self,
        execution: Execution,
        refs: Sequence[ChunkRef],
        reconcile: Sequence[ChunkRef] = (),
        down: dict[str | None, AccountUnreachable] | None = None,
    ) -> Execution:
        started: list[tuple[ChunkRef, str]] = []
        refused: list[tuple[ChunkRef, str]] = []
        retry_later: list[ChunkRef] = []
        unreachable: list[tuple[ChunkRef, str]] = []
        # Accounts found unreachable this tick: their chunks wait without another AssumeRole.
        down = dict(down or {})
        for ref in reconcile:
            # Cancelled: such a chunk must not start now, but a crashed tick may have started it.
            try:
                job_id = self._find_job(execution, ref)
            except DrsError as error:
                # Not looked for: the claim stays, and is looked for again at the next tick.
                logger.warning("cancelled chunk %s not looked for: %s", ref, error)
                continue
            if job_id:
                started.append((ref, job_id))
            else:
                refused.append((ref, NOT_STARTED))
        for ref in refs:
            wave = execution.waves[ref.wave]
            chunk = wave.chunks[ref.chunk]
            try:
                if (known := down.get(wave.account)) is not None:
                    raise known
                # A retried chunk may have started before a crash: find it by its tags first.
                job_id = self._find_job(execution, ref) if chunk.attempts > 1 else None
                if job_id is None:
                    job_id = self._drs.start_recovery(
                        wave.where,
                        chunk.server_ids,
                        is_drill=execution.execution_type.is_drill,
                        tags=job_tags(execution, ref),
                        snapshots={s.source_server_id: s.snapshot_id for s in chunk.servers if s.snapshot_id},
                    )
                started.append((ref, job_id))
            except DrsConflict as error:
                # One active job per source server: if it is ours, this chunk already started. If not,
                # another job holds the servers (DRS keeps a launch job open a little after its last
                # server launched): wait for it, and give up only if it does not end.
                job_id = self._find_job(execution, ref)
                if job_id:
                    started.append((ref, job_id))
                elif chunk.attempts >= QUOTA_RETRIES:
                    refused.append((ref, f"{error} (still after {chunk.attempts} tries)"))
                else:
                    retry_later.append(ref)
            except DrsQuotaExceeded as error:
                if chunk.attempts >= QUOTA_RETRIES:
                    refused.append((ref, f"{error} (still after {chunk.attempts} tries; check the quotas)"))
                else:
                    retry_later.append(ref)
            except DrsRefused as error:
                refused.append((ref, str(error)))
            except AccountUnreachable as error:
                down[wave.account] = error
                if error.transient:  # STS throttled: like DRS throttling, tried again, not counted
                    retry_later.append(ref)
                else:
                    unreachable.append((ref, str(error)))
            except DrsUnavailable as error:
                logger.warning("StartRecovery for %s %s deferred: %s", execution.execution_id, ref, error)
                retry_later.append(ref)
        return self._record_starts(execution, started, refused, retry_later, unreachable)

    def _find_job(self, execution: Execution, ref: ChunkRef) -> str | None:
        wave = execution.waves[ref.wave]
        since = (wave.start_time or execution.created_at) - FIND_JOB_SLACK
        return self._drs.find_job(wave.where, job_tags(execution, ref), since)

    def _record_starts(
        self,
        execution: Execution,
        started: list[tuple[ChunkRef, str]],
        refused: list[tuple[ChunkRef, str]],
        retry_later: list[ChunkRef],
        unreachable: Sequence[tuple[ChunkRef, str]] = (),
    ) -> Execution:
        def decide(latest: Execution) -> Outcome[None]:
            now = self._clock()
            decision = engine.record_jobs_started(latest, started, now)
            updated = decision.execution
            for ref, error in refused:
                if error == NOT_STARTED:
                    updated = engine.record_not_started(updated, ref, error)
                else:
                    updated = engine.record_start_refused(updated, ref, error, now)
            for ref in retry_later:
                updated = engine.release_chunk(updated, ref)
            for ref, error in unreachable:
                updated = engine.release_unreachable(updated, ref, error, self._limits.unreachable_retries)
            return Outcome(None, updated, decision.events)

        # Another tick may save meanwhile; what was started must still be recorded, on its version.
        done = self._work.run_from(execution, decide)
        assert done.execution is not None  # saved: run_from raises otherwise
        return done.execution
