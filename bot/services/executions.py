"""Use cases around executions: start one from Slack, and the executor's tick."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bot.domain import approval, engine, failback, snapshot_ages
from bot.domain import cleanup as cleanup_domain
from bot.domain import readiness as readiness_domain
from bot.domain.approval import Vote, VoteOutcome, VoteResult
from bot.domain.cleanup import CleanupRefusal
from bot.domain.engine import JobSnapshot, Observation
from bot.domain.execution import (
    ChunkRef,
    ChunkStatus,
    CleanupStatus,
    Execution,
    ExecutionStatus,
    ExecutionSummary,
    ExecutionType,
    Limits,
    ReadinessNote,
    new_execution,
)
from bot.domain.limits import plan_problems
from bot.domain.plans import Catalog, RecoveryPlan
from bot.domain.policy import AccessPolicy
from bot.domain.readiness import Verdict
from bot.errors import (
    AmbiguousExecution,
    DrsConflict,
    DrsError,
    DrsQuotaExceeded,
    DrsRefused,
    DrsUnavailable,
    ExecutionExists,
    PlanBusy,
    StaleExecution,
)
from bot.services.cleanup import Cleaner
from bot.services.failback import Failbacker
from bot.services.outbox import DeliveryReport, Outbox
from bot.services.ports import (
    CatalogStore,
    Clock,
    Directory,
    Drs,
    ExecutionStore,
    ExecutorTrigger,
    LogKeys,
    NoLogKeys,
)
from bot.services.readiness import (
    SNAPSHOT_AGES_PER_TICK,
    SNAPSHOT_LOOKUPS_AT_ONCE,
    Readiness,
    ReadinessReport,
)
from bot.services.report import Reports

logger = logging.getLogger(__name__)

TAG_PREFIX = "drs-chatops"
MIN_PREFIX = 6
# Concurrent clicks each retry after losing a race; 60 covers a whole channel clicking at once.
VOTE_ATTEMPTS = 60
NOT_STARTED = "not started: the execution was cancelled"
# How far before a wave started to look for a job a crashed tick may have created.
FIND_JOB_SLACK = timedelta(minutes=5)
# A launch job runs minutes to hours; one older than this is not holding quota any more.
ACTIVE_JOB_WINDOW = timedelta(hours=24)
# A quota that stays full this many tries means the configured quota is above the account's.
QUOTA_RETRIES = 20
# How far back in a plan's history a failback looks for the recovery it undoes.
FAILBACK_LOOKBACK = 50
# A request whose first delivery a tick took over waits this many tenths of a second for its outcome.
FIRST_DELIVERY_WAIT_STEPS = 30
_LAUNCHED_SOMETHING = (ExecutionStatus.COMPLETED, ExecutionStatus.PARTIAL)
# Real seconds /drs check spends on snapshot ages before answering with those it has.
CHECK_AGES_SECONDS = 40.0


class RequestResult(StrEnum):
    STARTED = "started"
    APPROVAL_REQUESTED = "approval_requested"
    ALREADY_STARTED = "already_started"
    UNKNOWN_PLAN = "unknown_plan"
    PLAN_BUSY = "plan_busy"
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    NOT_ALLOWED = "not_allowed"
    NO_APPROVERS = "no_approvers"
    NO_RECOVERY = "no_recovery"  # a failback, and the plan has no recovery that launched anything
    NOT_READY = "not_ready"  # a drill whose readiness verdict is BLOCKED, without --force
    NO_SNAPSHOT = "no_snapshot"  # --at: some servers have no recovery snapshot that old
    FUTURE_TIME = "future_time"
    DRS_UNAVAILABLE = "drs_unavailable"
    # A recovery or failback whose approval card Slack refuses for good (the bot is not in the channel…):
    # nobody could approve it, so it ended at once and the plan is free.
    CARD_NOT_POSTED = "card_not_posted"
    TOO_LARGE = "too_large"  # the plan exceeds bot.domain.limits (a catalog applied before them, or tags)


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


class ExecutionRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    result: RequestResult
    execution: Execution | None = None
    known_plans: tuple[str, ...] = ()
    slack_error: str | None = None  # why the anchor message could not be posted yet
    slack_blocked: bool = False  # ...and Slack refuses the channel for good (see SlackBlocked)
    card_posted: bool = False  # the anchor (a recovery's approval card) is in the channel
    busy_with: Execution | None = None  # the plan's execution that has not ended
    verdict: Verdict | None = None
    without_snapshot: tuple[str, ...] = ()  # --at: the servers with no snapshot at or before it
    error: str | None = None


class VoteReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: VoteOutcome
    execution: Execution | None = None


class CleanupOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    refusal: CleanupRefusal | None
    execution: Execution | None


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


def execution_id_for(request_key: str | None) -> str:
    """The same Slack request always maps to the same execution, so a repeated delivery is harmless."""
    if not request_key:
        return uuid.uuid4().hex[:16]
    return uuid.uuid5(uuid.NAMESPACE_URL, f"drs-chatops:{request_key}").hex[:16]


def job_tags(execution: Execution, ref: ChunkRef) -> dict[str, str]:
    return {
        f"{TAG_PREFIX}:execution": execution.execution_id,
        f"{TAG_PREFIX}:plan": execution.plan_name,
        f"{TAG_PREFIX}:wave": str(ref.wave),
        f"{TAG_PREFIX}:chunk": str(ref.chunk),
    }


class Executions:
    def __init__(
        self,
        *,
        catalog: CatalogStore,
        store: ExecutionStore,
        drs: Drs,
        outbox: Outbox,
        trigger: ExecutorTrigger,
        clock: Clock,
        limits: Limits,
        poll_seconds: float,
        policy: AccessPolicy | None = None,
        directory: Directory | None = None,
        readiness: Readiness | None = None,
        log_keys: LogKeys | None = None,
        reports: Reports | None = None,
    ) -> None:
        self._catalog = catalog
        self._reports = reports
        self._log_keys = log_keys or NoLogKeys()
        self._store = store
        self._drs = drs
        self._outbox = outbox
        self._trigger = trigger
        self._clock = clock
        self._limits = limits
        self._poll_seconds = poll_seconds
        self._policy = policy or AccessPolicy()
        self._directory = directory
        self._readiness = readiness or Readiness(drs, clock, limits)
        self._cleaner = Cleaner(store, drs, clock, timedelta(seconds=limits.claim_timeout_seconds))
        self._failbacker = Failbacker(store, drs, clock, limits)

    # --- requests from Slack -------------------------------------------------------------------

    def request(
        self,
        *,
        plan_name: str,
        execution_type: ExecutionType,
        user_id: str,
        channel_id: str,
        request_key: str | None,
        force: bool = False,
        at: datetime | None = None,
    ) -> ExecutionRequest:
        """Check who asks where; create the execution (a drill starts, a recovery awaits approval);
        start the executor; post the anchor message."""
        with self._log_keys.scope():
            return self._request(plan_name, execution_type, user_id, channel_id, request_key, force, at)

    def _request(
        self,
        plan_name: str,
        execution_type: ExecutionType,
        user_id: str,
        channel_id: str,
        request_key: str | None,
        force: bool,
        at: datetime | None,
    ) -> ExecutionRequest:
        refused = self._refusal(execution_type, user_id, channel_id)
        if refused is not None:
            return ExecutionRequest(result=refused)
        catalog = self._catalog.load()
        plan = catalog.plan(plan_name)
        if plan is None:
            return ExecutionRequest(
                result=RequestResult.UNKNOWN_PLAN, known_plans=tuple(catalog.plan_names())
            )
        execution_id = execution_id_for(request_key)
        self._log_keys.add(execution_id=execution_id, plan=plan.name, execution_type=execution_type.value)
        holder = self._store.plan_holder(plan.name)
        if holder == execution_id:  # Lambda delivered this request's lazy work twice
            return ExecutionRequest(result=RequestResult.ALREADY_STARTED, execution=self._store.get(holder))
        if holder is not None:
            # Checked before readiness: the plan's running execution is why its servers look busy.
            return ExecutionRequest(result=RequestResult.PLAN_BUSY, busy_with=self._store.get(holder))
        if at is not None and at > self._clock():
            return ExecutionRequest(result=RequestResult.FUTURE_TIME)
        if execution_type is ExecutionType.FAILBACK:
            return self._request_failback(plan, execution_id, user_id, channel_id)
        listed = {group.name: len(group.source_servers) for group in catalog.protection_groups}
        if too_large := plan_problems(plan, lambda group: listed.get(group, 0)):
            return ExecutionRequest(result=RequestResult.TOO_LARGE, error="; ".join(map(str, too_large)))
        report = self._readiness.check(catalog, plan, at=at)
        verdict = report.verdict
        if too_large := plan_problems(plan, lambda group: len(report.servers.get(group, ()))):
            # Tag selectors resolved to more servers than a plan can launch.
            return ExecutionRequest(result=RequestResult.TOO_LARGE, error="; ".join(map(str, too_large)))
        if execution_type.is_drill and verdict.blocked and not force:
            return ExecutionRequest(result=RequestResult.NOT_READY, verdict=verdict)
        snapshots: dict[str, tuple[str, datetime]] = {}
        if at is not None:
            try:
                snapshots, missing = self._snapshots_at(catalog, plan, report.servers, at)
            except DrsError as error:
                return ExecutionRequest(result=RequestResult.DRS_UNAVAILABLE, error=str(error))
            if missing:
                return ExecutionRequest(result=RequestResult.NO_SNAPSHOT, without_snapshot=tuple(missing))
            chosen = {sid: taken for sid, (_, taken) in snapshots.items()}
            verdict = verdict.with_findings(
                readiness_domain.chosen_snapshot_findings(chosen, plan.options.rpo_target, verdict.checked_at)
            )
        now = self._clock()
        execution = new_execution(
            execution_id=execution_id,
            plan=plan,
            catalog=catalog,
            execution_type=execution_type,
            initiated_by=user_id,
            channel_id=channel_id,
            now=now,
            servers_per_job=self._limits.servers_per_job,
            resolved=report.servers,
            snapshots=snapshots,
            point_in_time=at,
        )
        note = ReadinessNote(
            level=verdict.level.value,
            lines=tuple(verdict.summary_lines()),
            checked_at=verdict.checked_at,
            forced=verdict.blocked and execution_type.is_drill,
            # Read by the executor's ticks once the execution exists: they never delay its launches.
            snapshot_ages=report.snapshot_ages,
        )
        noted = engine.note_readiness(execution, note, now)
        if execution_type.is_drill:
            started = engine.start_execution(noted.execution, now)
        else:
            started = approval.request_approval(noted.execution, self._policy, now)
        decision = started.model_copy(update={"events": (*noted.events, *started.events)})
        return self._create(decision, verdict=verdict)

    def _create(self, decision: engine.Decision, verdict: Verdict | None = None) -> ExecutionRequest:
        execution_id = decision.execution.execution_id
        is_drill = decision.execution.execution_type.is_drill
        try:
            created = self._store.create(decision.execution, decision.events)
        except ExecutionExists:
            existing = self._store.get(execution_id)
            return ExecutionRequest(result=RequestResult.ALREADY_STARTED, execution=existing)
        except PlanBusy as taken:
            running = self._store.get(taken.execution_id) if taken.execution_id else None
            return ExecutionRequest(result=RequestResult.PLAN_BUSY, busy_with=running)
        delivery = self._first_delivery(created.execution_id)
        if delivery.blocked and not is_drill:
            return self._withdraw_unposted(created, delivery.error)
        return ExecutionRequest(
            verdict=verdict,
            result=RequestResult.STARTED if is_drill else RequestResult.APPROVAL_REQUESTED,
            execution=self._store.get(created.execution_id),
            slack_error=delivery.error,
            slack_blocked=delivery.blocked,
            card_posted=delivery.anchor_ts is not None,
        )

    def _first_delivery(self, execution_id: str) -> DeliveryReport:
        """Post the anchor (or approval card) now, to tell the requester whether Slack took it. A tick
        may have taken the delivery over meanwhile: then its outcome is awaited briefly."""
        try:
            report = self._outbox.deliver(execution_id)
        finally:
            self._trigger.start(execution_id)  # after: the loop's first tick would race this delivery
        for _ in range(FIRST_DELIVERY_WAIT_STEPS):
            if report.anchor_ts or report.error:
                break
            time.sleep(0.1)
            execution = self._store.get(execution_id)
            if execution is None:
                break
            if execution.anchor_ts or execution.slack_blocked:
                block = execution.slack_blocked
                return report.model_copy(
                    update={
                        "anchor_ts": execution.anchor_ts,
                        "error": block.error if block else None,
                        "blocked": block is not None,
                    }
                )
        return report

    def _withdraw_unposted(self, created: Execution, error: str | None) -> ExecutionRequest:
        """Nobody can approve a card Slack will not show: end the request at once, on its requester's
        behalf, so that it does not hold the plan until it expires. The history keeps the attempt."""
        for _ in range(5):
            execution = self._store.get(created.execution_id)
            if execution is None or execution.status is not ExecutionStatus.PENDING_APPROVAL:
                break  # decided meanwhile (it cannot have been approved: nobody saw the card)
            decision = engine.request_cancel(execution, execution.initiated_by, self._clock())
            try:
                self._store.save(decision.execution, execution, decision.events)
            except StaleExecution:
                continue
            self._outbox.deliver(created.execution_id)  # blocked: retires it
            break
        return ExecutionRequest(
            result=RequestResult.CARD_NOT_POSTED,
            execution=self._store.get(created.execution_id),
            slack_error=error,
            slack_blocked=True,
        )

    def _request_failback(
        self, plan: RecoveryPlan, execution_id: str, user_id: str, channel_id: str
    ) -> ExecutionRequest:
        """Fail back what the plan's latest recovery launched: the same waves, approval as for a recovery."""
        recovery = self._latest_recovery(plan.name)
        now = self._clock()
        execution = (
            None
            if recovery is None
            else failback.plan_failback(
                recovery,
                execution_id=execution_id,
                initiated_by=user_id,
                channel_id=channel_id,
                now=now,
                servers_per_job=self._limits.servers_per_job,
                sync_timeout_seconds=self._limits.failback_sync_timeout_seconds,
            )
        )
        if execution is None:
            return ExecutionRequest(result=RequestResult.NO_RECOVERY)
        return self._create(approval.request_approval(execution, self._policy, now))

    def _latest_recovery(self, plan_name: str) -> Execution | None:
        """The plan's newest RECOVERY that launched something (COMPLETED or PARTIAL), unless a failback
        of the plan came after it (that recovery was failed back already)."""
        for summary in self._store.history(plan_name=plan_name, channel_id=None, limit=FAILBACK_LOOKBACK):
            if summary.execution_type is ExecutionType.FAILBACK and summary.status in _LAUNCHED_SOMETHING:
                return None
            if summary.execution_type is ExecutionType.RECOVERY and summary.status in _LAUNCHED_SOMETHING:
                return self._store.get(summary.execution_id)
        return None

    def _snapshots_at(
        self, catalog: Catalog, plan: RecoveryPlan, servers: dict[str, list[str]], at: datetime
    ) -> tuple[dict[str, tuple[str, datetime]], list[str]]:
        """Each server's newest recovery snapshot at or before `at`, and the servers that have none."""
        wanted = [
            (catalog.group(wave.protection_group).region, sid)
            for wave in plan.waves
            for sid in servers.get(wave.protection_group, [])
        ]
        with ThreadPoolExecutor(SNAPSHOT_LOOKUPS_AT_ONCE) as pool:
            found = list(pool.map(lambda item: self._drs.snapshot_at_or_before(item[0], item[1], at), wanted))
        chosen = {sid: snapshot for (_, sid), snapshot in zip(wanted, found, strict=True) if snapshot}
        missing = sorted(sid for (_, sid), snapshot in zip(wanted, found, strict=True) if snapshot is None)
        return chosen, missing

    def check(self, plan_name: str) -> ReadinessReport | None:
        catalog = self._catalog.load()
        plan = catalog.plan(plan_name)
        return None if plan is None else self._readiness.check(catalog, plan)

    def check_snapshot_ages(self, report: ReadinessReport) -> snapshot_ages.SnapshotAges | None:
        """/drs check's second answer: every server's recovery snapshot age, read after the first."""
        ages = report.snapshot_ages
        if ages is None:
            return None
        # The Slack function has a minute (cfn/template.yaml): stop in time to answer with what is known.
        deadline = time.monotonic() + CHECK_AGES_SECONDS
        while not ages.done and ages.unavailable is None:
            if time.monotonic() > deadline:
                stopped = f"the rest could not be read within the {CHECK_AGES_SECONDS:g} s an answer may take"
                return ages.model_copy(update={"unavailable": stopped})
            batch = report.targets[ages.checked : ages.checked + SNAPSHOT_AGES_PER_TICK]
            found, unavailable = self._readiness.read_snapshot_ages(batch, ages.taken_by)
            ages = snapshot_ages.record(ages, found, unavailable)
        return ages

    def known_plans(self) -> tuple[str, ...]:
        return tuple(self._catalog.load().plan_names())

    def _refusal(self, execution_type: ExecutionType, user_id: str, channel_id: str) -> RequestResult | None:
        policy = self._policy
        if not policy.channel_allowed(channel_id):
            return RequestResult.CHANNEL_NOT_ALLOWED
        groups = self._groups(user_id)
        if execution_type.is_drill:
            return None if policy.may_run_drill(user_id, groups) else RequestResult.NOT_ALLOWED
        if not policy.approvers:
            return RequestResult.NO_APPROVERS
        return None if policy.may_request_recovery(user_id, groups) else RequestResult.NOT_ALLOWED

    def _groups(self, user_id: str) -> set[str]:
        candidates = self._policy.groups()
        if not candidates or self._directory is None:
            return set()
        return self._directory.groups_of(user_id, candidates)

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
            return self._vote(execution_id, choice, user_id, reason, channel_id)

    def _vote(
        self, execution_id: str, choice: Vote, user_id: str, reason: str, channel_id: str | None
    ) -> VoteReport:
        groups = self._groups(user_id)
        for _ in range(VOTE_ATTEMPTS):
            execution = self._store.get(execution_id)
            if execution is None:
                return VoteReport(outcome=VoteOutcome(result=VoteResult.ALREADY_DECIDED))
            self._describe(execution)
            outcome = approval.vote(
                execution,
                choice,
                user_id=user_id,
                groups=groups,
                policy=self._policy,
                now=self._clock(),
                reason=reason,
                channel_id=channel_id,
            )
            if outcome.decision is None:
                return VoteReport(outcome=outcome, execution=execution)
            try:
                saved = self._store.save(outcome.decision.execution, execution, outcome.decision.events)
            except StaleExecution:
                continue
            if outcome.result is VoteResult.APPROVED:
                self._trigger.start(execution_id)
                self.tick(execution_id)
            elif saved.status.is_terminal:
                self.tick(execution_id)  # rejected: delivered and reported by the tick of an ended one
            else:
                self._outbox.deliver(execution_id)
            return VoteReport(outcome=outcome.model_copy(update={"decision": None}), execution=saved)
        raise StaleExecution(execution_id)

    def get(self, execution_id: str) -> Execution | None:
        return self._store.get(execution_id)

    def find(self, ref: str, channel_id: str | None = None) -> Execution | None:
        """An execution by its id, or by a unique prefix among this channel's recent ones; a prefix that
        several share raises AmbiguousExecution."""
        exact = self._store.get(ref)
        if exact is not None or channel_id is None or len(ref) < MIN_PREFIX:
            return exact
        recent = self._store.recent_ids(index="ByChannel", key="ChannelId", value=channel_id, limit=100)
        matches = [execution_id for execution_id in recent if execution_id.startswith(ref)]
        if len(matches) > 1:
            raise AmbiguousExecution(ref, matches)
        return self._store.get(matches[0]) if matches else None

    def history(self, plan_name: str | None, channel_id: str, limit: int) -> list[ExecutionSummary]:
        return self._store.history(plan_name=plan_name, channel_id=channel_id, limit=limit)

    def may_control(self, execution: Execution, user_id: str) -> bool:
        """Cancel and clean up: the requester, an approver, or (for a drill) anyone who may run drills."""
        if user_id == execution.initiated_by:
            return True
        groups = self._groups(user_id)
        if self._policy.may_approve(user_id, groups):
            return True
        return execution.execution_type.is_drill and self._policy.may_run_drill(user_id, groups)

    def cancel(self, execution_id: str, user_id: str) -> CancelOutcome:
        """No new chunk or wave starts; jobs already running are followed to their end and reported."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)
            return self._cancel(execution_id, user_id)

    def _cancel(self, execution_id: str, user_id: str) -> CancelOutcome:
        for _ in range(5):
            execution = self._store.get(execution_id)
            if execution is None:
                return CancelOutcome(result=CancelResult.NOT_FOUND)
            self._describe(execution)
            if not self.may_control(execution, user_id):
                return CancelOutcome(result=CancelResult.NOT_ALLOWED, execution=execution)
            if execution.status.is_terminal:
                return CancelOutcome(result=CancelResult.ALREADY_ENDED, execution=execution)
            if execution.cancelling:
                return CancelOutcome(result=CancelResult.ALREADY_CANCELLING, execution=execution)
            decision = engine.request_cancel(execution, user_id, self._clock())
            try:
                saved = self._store.save(decision.execution, execution, decision.events)
            except StaleExecution:
                continue  # a tick saved meanwhile: read again and retry
            self._trigger.start(execution_id)
            self.tick(execution_id)
            return CancelOutcome(
                result=CancelResult.CANCELLING, execution=self._store.get(execution_id) or saved
            )
        raise StaleExecution(execution_id)

    def latest_in_channel(self, channel_id: str) -> Execution | None:
        return self._store.latest_in_channel(channel_id)

    # --- the executor ----------------------------------------------------------------------------

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
            decision = engine.advance(execution, observation, now, self._limits)
            if regions := engine.regions_starting(execution, decision):
                since = now - ACTIVE_JOB_WINDOW
                load = {region: self._drs.load(region, since) for region in regions}
                observation = observation.model_copy(update={"load": load})
                decision = engine.advance(execution, observation, now, self._limits)
            wake_at = decision.wake_at
            if decision.execution != execution:
                execution = self._store.save(decision.execution, execution, decision.events)
                if decision.events:
                    logger.info("tick saved %s", ", ".join(event.kind for event in decision.events))
            if decision.starts or decision.reconcile:
                execution = self._start_chunks(execution, decision.starts, decision.reconcile)
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

    def on_launch_results(self, jobs: Iterable[tuple[str, str]]) -> LaunchResultsOutcome:
        """DRS says servers' launches ended: tick their executions now rather than at the next poll.

        `jobs` are (region, job id) pairs from a batch of events, repeats included: each execution they
        concern is ticked once, after one DescribeJobs per region for the jobs' tags. Events are best
        effort and may be for jobs that are not ours: those change nothing."""
        by_region: dict[str, set[str]] = defaultdict(set)
        for region, job_id in jobs:
            by_region[region].add(job_id)
        execution_ids: dict[str, None] = {}  # in order, once each
        for region, job_ids in sorted(by_region.items()):
            for tags in self._drs.jobs_tags(region, sorted(job_ids)).values():
                if execution_id := tags.get(f"{TAG_PREFIX}:execution"):
                    execution_ids.setdefault(execution_id)
        outcome = LaunchResultsOutcome()
        for execution_id in execution_ids:
            try:
                outcome.ticked.append(self.tick(execution_id))
            except Exception as error:  # one execution's failure must not hold back the others' ticks
                logger.warning("early tick of %s failed", execution_id, exc_info=True)
                outcome.failed[execution_id] = f"{type(error).__name__}: {error}"
        return outcome

    def _describe(self, execution: Execution) -> None:
        self._log_keys.add(plan=execution.plan_name, execution_type=execution.execution_type.value)

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

    def cleanup(self, execution_id: str, user_id: str) -> CleanupOutcome:
        """Terminate the recovery instances this drill launched. Idempotent: a second cleanup, or one
        racing another, terminates nothing twice and reports what was already gone."""
        with self._log_keys.scope():
            self._log_keys.add(execution_id=execution_id)
            return self._cleanup(execution_id, user_id)

    def _cleanup(self, execution_id: str, user_id: str) -> CleanupOutcome:
        for _ in range(5):
            execution = self._store.get(execution_id)
            if execution is None:
                return CleanupOutcome(refusal=None, execution=None)
            self._describe(execution)
            if not self.may_control(execution, user_id):
                return CleanupOutcome(refusal=CleanupRefusal.NOT_ALLOWED, execution=execution)
            asked = cleanup_domain.request(execution, user_id, self._clock())
            if asked.decision is None:
                return CleanupOutcome(refusal=asked.refusal, execution=execution)
            try:
                self._store.save(asked.decision.execution, execution, asked.decision.events)
            except StaleExecution:
                continue
            self._store.reactivate(execution_id)
            self._trigger.start(execution_id)
            self.tick(execution_id)
            return CleanupOutcome(refusal=None, execution=self._store.get(execution_id))
        raise StaleExecution(execution_id)

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
        for _ in range(5):
            decision = readiness_domain.record_snapshot_ages(execution, found, unavailable, self._clock())
            if decision.execution == execution:
                return None
            try:
                return self._store.save(decision.execution, execution, decision.events)
            except StaleExecution:
                latest = self._store.get(execution.execution_id)
                now_ages = latest.readiness.snapshot_ages if latest and latest.readiness else None
                if latest is None or now_ages is None or now_ages.checked != ages.checked:
                    return None  # recorded by another tick meanwhile
                execution = latest
        return None

    def _wait(self, execution: Execution, wake_at: datetime | None) -> float:
        if wake_at is None or engine.job_ids_to_follow(execution):
            return self._poll_seconds
        # Nothing runs: sleep until the waiting wave is due (a cancel is handled then too).
        return max(1.0, (wake_at - self._clock()).total_seconds())

    def _observe(self, execution: Execution) -> Observation:
        regions = {wave.index: wave.region for wave in execution.waves}
        to_follow: dict[str, list[str]] = defaultdict(list)
        for wave in execution.waves:
            for chunk in wave.chunks:
                if chunk.status is ChunkStatus.RUNNING and chunk.job_id:
                    to_follow[regions[wave.index]].append(chunk.job_id)
        jobs: dict[str, JobSnapshot] = {}
        for region, job_ids in to_follow.items():
            for job in self._drs.describe_jobs(region, job_ids):
                jobs[job.job_id] = job
        reasons: dict[str, str] = {}
        job_region = {job_id: region for region, ids in to_follow.items() for job_id in ids}
        failed_by_job: dict[str, list[str]] = defaultdict(list)
        for job_id, server_id in engine.newly_failed(execution, jobs):
            failed_by_job[job_id].append(server_id)
        for job_id, server_ids in failed_by_job.items():
            reasons.update(self._drs.failure_reasons(job_region[job_id], job_id, server_ids))
        return Observation(jobs=jobs, failure_reasons=reasons)

    def _start_chunks(
        self, execution: Execution, refs: Sequence[ChunkRef], reconcile: Sequence[ChunkRef] = ()
    ) -> Execution:
        started: list[tuple[ChunkRef, str]] = []
        refused: list[tuple[ChunkRef, str]] = []
        retry_later: list[ChunkRef] = []
        for ref in reconcile:
            # Cancelled: such a chunk must not start now, but a crashed tick may have started it.
            job_id = self._find_job(execution, ref)
            if job_id:
                started.append((ref, job_id))
            else:
                refused.append((ref, NOT_STARTED))
        for ref in refs:
            wave = execution.waves[ref.wave]
            chunk = wave.chunks[ref.chunk]
            try:
                # A retried chunk may have started before a crash: find it by its tags first.
                job_id = self._find_job(execution, ref) if chunk.attempts > 1 else None
                if job_id is None:
                    job_id = self._drs.start_recovery(
                        wave.region,
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
            except DrsUnavailable as error:
                logger.warning("StartRecovery for %s %s deferred: %s", execution.execution_id, ref, error)
                retry_later.append(ref)
        return self._record_starts(execution, started, refused, retry_later)

    def _find_job(self, execution: Execution, ref: ChunkRef) -> str | None:
        wave = execution.waves[ref.wave]
        since = (wave.start_time or execution.created_at) - FIND_JOB_SLACK
        return self._drs.find_job(wave.region, job_tags(execution, ref), since)

    def _record_starts(
        self,
        execution: Execution,
        started: list[tuple[ChunkRef, str]],
        refused: list[tuple[ChunkRef, str]],
        retry_later: list[ChunkRef],
    ) -> Execution:
        for _ in range(5):
            now = self._clock()
            decision = engine.record_jobs_started(execution, started, now)
            updated = decision.execution
            for ref, error in refused:
                if error == NOT_STARTED:
                    updated = engine.record_not_started(updated, ref, error)
                else:
                    updated = engine.record_start_refused(updated, ref, error, now)
            for ref in retry_later:
                updated = engine.release_chunk(updated, ref)
            try:
                return self._store.save(updated, execution, decision.events)
            except StaleExecution:
                # Another tick saved meanwhile; what we started must still be recorded.
                latest = self._store.get(execution.execution_id)
                if latest is None:
                    raise
                execution = latest
        raise StaleExecution(execution.execution_id)
