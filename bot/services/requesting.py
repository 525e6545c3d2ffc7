"""Asking for an execution: a drill, a recovery (to approve), a failback; and /drs check before."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain import approval, engine, failback, snapshot_ages
from bot.domain import readiness as readiness_domain
from bot.domain.execution import (
    Execution,
    ExecutionStatus,
    ExecutionType,
    Limits,
    ReadinessNote,
    new_execution,
)
from bot.domain.limits import plan_problems
from bot.domain.plans import Catalog, RecoveryPlan
from bot.domain.readiness import Verdict
from bot.errors import DrsError, ExecutionExists, PlanBusy, StaleExecution
from bot.services.access import Access
from bot.services.outbox import DeliveryReport, Outbox
from bot.services.ports import (
    CatalogStore,
    Clock,
    Drs,
    ExecutionIds,
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
from bot.services.unit_of_work import Outcome, UnitOfWork

logger = logging.getLogger(__name__)

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


def execution_id_for(request_key: str | None) -> str:
    """The same Slack request always maps to the same execution, so a repeated delivery is harmless."""
    if not request_key:
        return uuid.uuid4().hex[:16]
    return uuid.uuid5(uuid.NAMESPACE_URL, f"drs-chatops:{request_key}").hex[:16]


class Requesting:
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
        access: Access,
        readiness: Readiness,
        execution_ids: ExecutionIds,
        log_keys: LogKeys | None = None,
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._work = UnitOfWork(store)
        self._drs = drs
        self._outbox = outbox
        self._trigger = trigger
        self._clock = clock
        self._limits = limits
        self._access = access
        self._policy = access.policy
        self._readiness = readiness
        self._execution_ids = execution_ids
        self._log_keys = log_keys or NoLogKeys()

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
        step: bool = False,
    ) -> ExecutionRequest:
        """Check who asks where; create the execution (a drill starts, a recovery awaits approval);
        start the executor; post the anchor message."""
        with self._log_keys.scope():
            return self._request(plan_name, execution_type, user_id, channel_id, request_key, force, at, step)

    def _request(
        self,
        plan_name: str,
        execution_type: ExecutionType,
        user_id: str,
        channel_id: str,
        request_key: str | None,
        force: bool,
        at: datetime | None,
        step: bool = False,
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
        execution_id = self._execution_ids(request_key)
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
            servers_per_job=self._limits.servers_per_job_in,
            resolved=report.servers,
            snapshots=snapshots,
            point_in_time=at,
            step=step,
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

        def decide(execution: Execution) -> Outcome[None]:
            if execution.status is not ExecutionStatus.PENDING_APPROVAL:
                return Outcome(None)  # decided meanwhile (it cannot have been approved: nobody saw the card)
            decision = engine.request_cancel(execution, execution.initiated_by, self._clock())
            return Outcome(None, decision.execution, decision.events)

        with contextlib.suppress(StaleExecution):
            if self._work.run(created.execution_id, decide, missing=lambda: None).saved:
                self._outbox.deliver(created.execution_id)  # blocked: retires it
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
                servers_per_job=self._limits.servers_per_job_in,
                sync_timeout_seconds=self._limits.failback_sync_timeout_seconds,
            )
        )
        if execution is None:
            return ExecutionRequest(result=RequestResult.NO_RECOVERY)
        return self._create(approval.request_approval(execution, self._policy, now))

    def _latest_recovery(self, plan_name: str) -> Execution | None:
        """The plan's newest RECOVERY that launched something (COMPLETED or PARTIAL), unless a failback
        of the plan came after it (that recovery was failed back already)."""
        for summary in self._store.history_of_plan(plan_name, FAILBACK_LOOKBACK):
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
            (catalog.group(wave.protection_group).where, sid)
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

    def _refusal(self, execution_type: ExecutionType, user_id: str, channel_id: str) -> RequestResult | None:
        policy = self._policy
        if not policy.channel_allowed(channel_id):
            return RequestResult.CHANNEL_NOT_ALLOWED
        groups = self._access.groups(user_id)
        if execution_type.is_drill:
            return None if policy.may_run_drill(user_id, groups) else RequestResult.NOT_ALLOWED
        if not policy.approvers:
            return RequestResult.NO_APPROVERS
        return None if policy.may_request_recovery(user_id, groups) else RequestResult.NOT_ALLOWED
