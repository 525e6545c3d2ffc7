"""Use cases around executions: start one from Slack, and the executor's tick."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from bot.domain import engine
from bot.domain.engine import JobSnapshot, Observation
from bot.domain.execution import ChunkRef, ChunkStatus, Execution, ExecutionType, Limits, new_execution
from bot.errors import DrsConflict, DrsError, DrsRefused, DrsUnavailable, ExecutionExists, StaleExecution
from bot.services.outbox import Outbox
from bot.services.ports import CatalogStore, Clock, Drs, ExecutionStore, ExecutorTrigger

logger = logging.getLogger(__name__)

TAG_PREFIX = "drs-chatops"
DESCRIBE_JOBS_MAX_IDS = 1000
# How far before a wave started to look for a job a crashed tick may have created.
FIND_JOB_SLACK = timedelta(minutes=5)


class RequestResult(StrEnum):
    STARTED = "started"
    ALREADY_STARTED = "already_started"
    UNKNOWN_PLAN = "unknown_plan"


class ExecutionRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    result: RequestResult
    execution: Execution | None = None
    known_plans: tuple[str, ...] = ()
    slack_error: str | None = None  # why the anchor message could not be posted yet


class TickResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution_id: str
    finished: bool
    wait_seconds: float


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
    ) -> None:
        self._catalog = catalog
        self._store = store
        self._drs = drs
        self._outbox = outbox
        self._trigger = trigger
        self._clock = clock
        self._limits = limits
        self._poll_seconds = poll_seconds

    # --- requests from Slack -------------------------------------------------------------------

    def request(
        self,
        *,
        plan_name: str,
        execution_type: ExecutionType,
        user_id: str,
        channel_id: str,
        request_key: str | None,
    ) -> ExecutionRequest:
        """Create the execution, start the executor, and post the anchor message."""
        catalog = self._catalog.load()
        plan = catalog.plan(plan_name)
        if plan is None:
            return ExecutionRequest(
                result=RequestResult.UNKNOWN_PLAN, known_plans=tuple(catalog.plan_names())
            )
        now = self._clock()
        execution = new_execution(
            execution_id=execution_id_for(request_key),
            plan=plan,
            catalog=catalog,
            execution_type=execution_type,
            initiated_by=user_id,
            channel_id=channel_id,
            now=now,
            servers_per_job=self._limits.servers_per_job,
        )
        decision = engine.start_execution(execution, now)
        try:
            created = self._store.create(decision.execution, decision.events)
        except ExecutionExists:
            existing = self._store.get(execution.execution_id)
            return ExecutionRequest(result=RequestResult.ALREADY_STARTED, execution=existing)
        self._trigger.start(created.execution_id)
        report = self._outbox.deliver(created.execution_id)
        return ExecutionRequest(
            result=RequestResult.STARTED,
            execution=self._store.get(created.execution_id),
            slack_error=report.error,
        )

    def get(self, execution_id: str) -> Execution | None:
        return self._store.get(execution_id)

    def latest_in_channel(self, channel_id: str) -> Execution | None:
        return self._store.latest_in_channel(channel_id)

    # --- the executor ----------------------------------------------------------------------------

    def active(self) -> list[str]:
        return self._store.active_ids()

    def tick(self, execution_id: str) -> TickResult:
        """One idempotent step: observe DRS, decide, save, start chunks, save, notify."""
        execution = self._store.get(execution_id)
        if execution is None:
            logger.warning("tick for unknown execution %s", execution_id)
            return TickResult(execution_id=execution_id, finished=True, wait_seconds=0)
        if execution.status.is_terminal:
            self._outbox.deliver(execution_id)
            return TickResult(execution_id=execution_id, finished=True, wait_seconds=0)
        before = execution
        try:
            observation = self._observe(execution)
        except DrsError as error:
            logger.warning("could not observe DRS for %s: %s", execution_id, error)
            return TickResult(execution_id=execution_id, finished=False, wait_seconds=self._poll_seconds)
        decision = engine.advance(execution, observation, self._clock(), self._limits)
        try:
            if decision.execution != execution:
                execution = self._store.save(decision.execution, execution, decision.events)
            if decision.starts:
                execution = self._start_chunks(execution, decision.starts)
        except StaleExecution:
            logger.info("execution %s was saved by another tick; leaving this one", execution_id)
        self._outbox.deliver(execution_id, refresh_anchor=_progress_changed(before, execution))
        return TickResult(
            execution_id=execution_id,
            finished=execution.status.is_terminal,
            wait_seconds=0 if execution.status.is_terminal else self._poll_seconds,
        )

    def _observe(self, execution: Execution) -> Observation:
        regions = {wave.index: wave.region for wave in execution.waves}
        to_follow: dict[str, list[str]] = defaultdict(list)
        for wave in execution.waves:
            for chunk in wave.chunks:
                if chunk.status is ChunkStatus.RUNNING and chunk.job_id:
                    to_follow[regions[wave.index]].append(chunk.job_id)
        jobs: dict[str, JobSnapshot] = {}
        for region, job_ids in to_follow.items():
            for start in range(0, len(job_ids), DESCRIBE_JOBS_MAX_IDS):
                for job in self._drs.describe_jobs(region, job_ids[start : start + DESCRIBE_JOBS_MAX_IDS]):
                    jobs[job.job_id] = job
        reasons: dict[str, str] = {}
        job_region = {job_id: region for region, ids in to_follow.items() for job_id in ids}
        failed_by_job: dict[str, list[str]] = defaultdict(list)
        for job_id, server_id in engine.newly_failed(execution, jobs):
            failed_by_job[job_id].append(server_id)
        for job_id, server_ids in failed_by_job.items():
            reasons.update(self._drs.failure_reasons(job_region[job_id], job_id, server_ids))
        return Observation(jobs=jobs, failure_reasons=reasons)

    def _start_chunks(self, execution: Execution, refs: Sequence[ChunkRef]) -> Execution:
        started: list[tuple[ChunkRef, str]] = []
        refused: list[tuple[ChunkRef, str]] = []
        retry_later: list[ChunkRef] = []
        for ref in refs:
            wave = execution.waves[ref.wave]
            chunk = wave.chunks[ref.chunk]
            tags = job_tags(execution, ref)
            since = (wave.start_time or execution.created_at) - FIND_JOB_SLACK
            try:
                # A retried chunk may have started before a crash: find it by its tags first.
                job_id = self._drs.find_job(wave.region, tags, since) if chunk.attempts > 1 else None
                if job_id is None:
                    job_id = self._drs.start_recovery(
                        wave.region, chunk.server_ids, is_drill=execution.execution_type.is_drill, tags=tags
                    )
                started.append((ref, job_id))
            except DrsConflict as error:
                job_id = self._drs.find_job(wave.region, tags, since)
                if job_id:
                    started.append((ref, job_id))
                else:
                    refused.append((ref, str(error)))
            except DrsRefused as error:
                refused.append((ref, str(error)))
            except DrsUnavailable as error:
                logger.warning("StartRecovery for %s %s deferred: %s", execution.execution_id, ref, error)
                retry_later.append(ref)
        return self._record_starts(execution, started, refused, retry_later)

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


def _progress_changed(before: Execution, after: Execution) -> bool:
    return engine.progress(before) != engine.progress(after)
