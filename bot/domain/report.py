"""The execution report: the evidence an auditor asks for, per drill, recovery or failback.

Pure: a projection of one stored Execution at a given `now`, never a second source of truth. The
verdict judges the execution against its plan's targets (`rto_target`, `rpo_target`, as the plan had
them when the execution was requested); every reason is one line.

The JSON keeps the stored history's names for what the history already has (ExecutionId, PlanId,
Waves[].Servers[].RecoveryJobId, ...), with times as ISO-8601 UTC. `docs/report.schema.json` is
generated from this model (`report_schema`); raise REPORT_SCHEMA when a field changes meaning or goes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_pascal

from bot.domain import health
from bot.domain.execution import (
    Execution,
    ExecutionStatus,
    ExecutionType,
    ServerRun,
    ServerStatus,
    WaveRun,
    WaveStatus,
)

REPORT_SCHEMA = 1
SCHEMA_ID = f"urn:drs-chatops:execution-report:{REPORT_SCHEMA}"


class Verdict(StrEnum):
    PASSED = "PASSED"
    PASSED_WITH_FINDINGS = "PASSED WITH FINDINGS"
    FAILED = "FAILED"


class _Part(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_pascal,
        validate_by_name=True,
        validate_by_alias=True,
        # The published schema lists every key as present (None where there is nothing), as written.
        json_schema_serialization_defaults_required=True,
    )


class Judgement(_Part):
    verdict: Verdict
    failures: tuple[str, ...] = ()  # each makes the verdict FAILED
    findings: tuple[str, ...] = ()  # each makes a pass PASSED WITH FINDINGS


class Decision(_Part):
    """An approval, a rejection or a control, by a Slack user id."""

    action: str  # approved, rejected, cancelled, paused, retried <wave>…
    user_id: str
    at: datetime | None
    reason: str | None = None


class Readiness(_Part):
    level: str  # READY, WARN or BLOCKED, with what the snapshot ages added since
    checked_at: datetime
    forced: bool
    reasons: tuple[str, ...]


class Rto(_Part):
    """Request → approval → first launch → last launch, and its length against the target."""

    requested_at: datetime
    approved_at: datetime | None
    first_launch_at: datetime | None
    last_launch_at: datetime | None
    seconds: float | None  # request to last launch; None while a server is not launched
    target_seconds: int | None
    met: bool | None  # None: no target, or not every server launched
    # With health checks: the execution's start to its last server recovered (healthy where checked).
    launch_seconds: float | None = None  # start to last launch
    healthy_seconds: float | None = None


class Rpo(_Part):
    """The age of the data a server launched from, at the request."""

    basis: str  # POINT_IN_TIME (a chosen snapshot) or LATEST (the replicated data at launch)
    snapshot_id: str | None = None
    snapshot_time: datetime | None = None
    seconds: float | None = None  # known for a chosen snapshot; LATEST: readiness checked the lag
    met: bool | None = None


class CheckReport(_Part):
    """One health check's last result for one server."""

    check: str  # ec2_status, ssm_online, alarms
    passed: bool
    detail: str
    at: datetime


class AttemptReport(_Part):
    """An earlier launch of the server, failed, then retried (/drs retry)."""

    recovery_job_id: str | None
    started_at: datetime | None
    retried_at: datetime
    error: str | None


class ServerReport(_Part):
    source_server_id: str
    status: ServerStatus
    recovery_job_id: str | None
    instance_id: str | None
    launch_time: datetime | None
    error: str | None  # DRS's own text for a failed launch, or the health check that failed
    rpo: Rpo
    healthy_at: datetime | None = None  # passed every health check of its wave
    checks: tuple[CheckReport, ...] = ()
    optional: bool = False  # the group marks it optional: its failure never failed the wave
    attempts: tuple[AttemptReport, ...] = ()  # earlier launches, oldest first; the fields above: the last


class HookReport(_Part):
    """hooks (#15): one before- or after-hook of a wave, as it ended."""

    phase: str  # before | after
    index: int
    kind: str  # automation | lambda
    target: str  # the SSM document or Lambda function
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | SKIPPED (or PENDING / RUNNING if it never ended)
    run_id: str | None  # the automation execution id, or the Lambda request id
    start_time: datetime | None
    end_time: datetime | None
    output: str | None  # truncated
    error: str | None  # why it failed, timed out or was skipped


class WaveReport(_Part):
    index: int
    wave_name: str
    protection_group_id: str
    region: str
    account_id: str | None = None  # the account it recovered in (#18); None: the bot's own
    status: WaveStatus
    not_before: datetime | None  # waited for wait_before until then
    start_time: datetime | None
    end_time: datetime | None
    first_launch_at: datetime | None
    last_launch_at: datetime | None
    seconds: float | None  # start to last launch, when every server launched
    since_request_seconds: float | None  # request to this wave's last launch
    job_ids: tuple[str, ...]
    launched: int
    failed: int
    servers: tuple[ServerReport, ...]
    health_checks: tuple[str, ...] = ()  # the wave's health_check, by name
    healthy: int | None = None  # servers that passed them
    healthy_seconds: float | None = None  # start to last server healthy (RTO to healthy)
    hooks: tuple[HookReport, ...] = ()  # hooks (#15), in the order they ran


class TerminatedInstance(_Part):
    instance_id: str
    source_server_id: str | None
    launch_time: datetime | None
    running_hours: float | None


class CleanupProof(_Part):
    status: str  # SCHEDULED, REQUESTED, TERMINATING, DONE, or NONE (never cleaned up)
    requested_by: str | None  # a Slack user id, or "cleanup_after"
    due_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    terminate_job_ids: tuple[str, ...]
    instances: tuple[TerminatedInstance, ...]
    already_gone: int
    failures: tuple[str, ...]
    running_hours: float  # the drill instances' hours up: launch to termination (or `now` if still up)


class Report(_Part):
    schema_version: int = REPORT_SCHEMA
    generated_at: datetime
    execution_id: str
    plan_id: str
    plan_description: str
    execution_type: ExecutionType
    status: ExecutionStatus
    initiated_by: str
    created_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    point_in_time: datetime | None
    slack_channel: str | None
    slack_thread_ts: str | None
    judgement: Judgement
    decisions: tuple[Decision, ...]
    readiness: Readiness | None
    rto: Rto
    rpo_target_seconds: int | None
    waves: tuple[WaveReport, ...]
    cleanup: CleanupProof | None

    def json_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class NotEnded(ValueError):
    """A report judges an execution that has ended."""


def build(execution: Execution, now: datetime) -> Report:
    """The report of an ended execution, as of `now` (a drill's instances still up bill until now)."""
    if not execution.status.is_terminal:
        raise NotEnded(f"{execution.execution_id} is {execution.status.value}: it has not ended")
    rto = _rto(execution)
    waves = tuple(_wave(wave, execution) for wave in execution.waves)
    cleanup = _cleanup(execution, now)
    return Report(
        generated_at=now,
        execution_id=execution.execution_id,
        plan_id=execution.plan_name,
        plan_description=execution.plan_description,
        execution_type=execution.execution_type,
        status=execution.status,
        initiated_by=execution.initiated_by,
        created_time=execution.created_at,
        start_time=execution.start_time,
        end_time=execution.end_time,
        point_in_time=execution.point_in_time,
        slack_channel=execution.channel_id,
        slack_thread_ts=execution.anchor_ts,
        judgement=_judge(execution, rto, waves, cleanup),
        decisions=_decisions(execution),
        readiness=_readiness(execution),
        rto=rto,
        rpo_target_seconds=execution.plan_options.rpo_target,
        waves=waves,
        cleanup=cleanup,
    )


def report_schema() -> dict[str, Any]:
    """The published JSON Schema of the report (docs/report.schema.json)."""
    schema = Report.model_json_schema(by_alias=True, mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def _launch_times(servers: list[ServerRun]) -> list[datetime]:
    return sorted(s.launch_time for s in servers if s.status is ServerStatus.LAUNCHED and s.launch_time)


def _all_launched(servers: list[ServerRun]) -> bool:
    return bool(servers) and all(s.status is ServerStatus.LAUNCHED for s in servers)


def _rto(execution: Execution) -> Rto:
    servers = list(execution.servers())
    launches = _launch_times(servers)
    approved = max((a.at for a in execution.approvals), default=None) if execution.approvals else None
    seconds = _seconds(execution.created_at, launches[-1]) if launches and _all_launched(servers) else None
    target = execution.plan_options.rto_target
    return Rto(
        requested_at=execution.created_at,
        approved_at=approved,
        first_launch_at=launches[0] if launches else None,
        last_launch_at=launches[-1] if launches else None,
        seconds=seconds,
        target_seconds=target,
        met=None if target is None or seconds is None else seconds <= target,
        launch_seconds=health.execution_rtos(execution)[0],
        healthy_seconds=health.execution_rtos(execution)[1],
    )


def _rpo(server: ServerRun, execution: Execution) -> Rpo:
    target = execution.plan_options.rpo_target
    if server.snapshot_time is None:
        return Rpo(basis="LATEST")
    age = (execution.created_at - server.snapshot_time).total_seconds()
    return Rpo(
        basis="POINT_IN_TIME",
        snapshot_id=server.snapshot_id,
        snapshot_time=server.snapshot_time,
        seconds=age,
        met=None if target is None else age <= target,
    )


def _wave(wave: WaveRun, execution: Execution) -> WaveReport:
    servers = list(wave.servers())
    launches = _launch_times(servers)
    complete = _all_launched(servers)
    return WaveReport(
        index=wave.index,
        wave_name=wave.name,
        protection_group_id=wave.protection_group,
        region=wave.region,
        account_id=wave.account,
        status=wave.status,
        not_before=wave.not_before,
        start_time=wave.start_time,
        end_time=wave.end_time,
        first_launch_at=launches[0] if launches else None,
        last_launch_at=launches[-1] if launches else None,
        seconds=_seconds(wave.start_time, launches[-1]) if complete and launches else None,
        since_request_seconds=_seconds(execution.created_at, launches[-1]) if complete and launches else None,
        job_ids=tuple(wave.job_ids),
        launched=sum(1 for s in servers if s.status is ServerStatus.LAUNCHED),
        failed=sum(1 for s in servers if s.status is ServerStatus.FAILED),
        servers=tuple(
            ServerReport(
                source_server_id=s.source_server_id,
                status=s.status,
                recovery_job_id=s.recovery_job_id,
                instance_id=s.instance_id,
                launch_time=s.launch_time,
                error=s.error,
                rpo=_rpo(s, execution),
                healthy_at=s.healthy_at,
                checks=tuple(
                    CheckReport(check=c.check, passed=c.passed, detail=c.detail, at=c.at) for c in s.checks
                ),
                optional=s.source_server_id in wave.optional,
                attempts=tuple(
                    AttemptReport(
                        recovery_job_id=a.recovery_job_id,
                        started_at=a.started_at,
                        retried_at=a.retried_at,
                        error=a.error,
                    )
                    for a in s.attempts
                ),
            )
            for s in servers
        ),
        health_checks=wave.options.health_check.checks() if wave.options.health_check else (),
        healthy=health.counts(wave)[0] if wave.options.health_check else None,
        healthy_seconds=health.healthy_seconds(wave),
        hooks=tuple(
            HookReport(
                phase=h.phase,
                index=h.index,
                kind=h.kind,
                target=h.target,
                status=h.status.value,
                run_id=h.run_id,
                start_time=h.started_at or h.claimed_at,
                end_time=h.ended_at,
                output=h.output,
                error=h.error,
            )
            for h in wave.hooks
        ),
    )


_DONE = {
    "APPROVE": "approved",
    "REJECT": "rejected",
    "CANCEL": "cancelled",
    "CLEANUP": "cleanup requested",
    "CONTINUE": "continued",
    "STOP": "stopped",
    "PAUSE": "paused",
    "RESUME": "resumed",
    "RETRY": "retried",
    "SKIP": "skipped",
}


def _decisions(execution: Execution) -> tuple[Decision, ...]:
    if execution.actions:
        return tuple(
            Decision(
                action=_DONE[a.kind.value]
                + (f" {execution.waves[a.wave].name}" if a.wave is not None else ""),
                user_id=a.user_id,
                at=a.at,
                reason=a.reason,
            )
            for a in execution.actions
        )
    # Executions stored before the actions list: their decisions from the fields of round 1.
    made = [Decision(action="approved", user_id=a.user_id, at=a.at) for a in execution.approvals]
    if execution.rejection is not None:
        r = execution.rejection
        made.append(Decision(action="rejected", user_id=r.user_id, at=r.at, reason=r.reason))
    if execution.cancel_requested_by is not None:
        made.append(
            Decision(
                action="cancelled", user_id=execution.cancel_requested_by, at=execution.cancel_requested_at
            )
        )
    return tuple(sorted(made, key=lambda d: (d.at is None, d.at)))


def _stopped_at_gate(execution: Execution) -> str | None:
    """Stop here at a gate ends the execution as a cancel does: the verdict says which it was."""
    stop = next((a for a in execution.actions if a.kind.value == "STOP"), None)
    if stop is None or stop.wave is None:
        return None
    return f"stopped at the gate before wave {execution.waves[stop.wave].name} by {stop.user_id}"


def _readiness(execution: Execution) -> Readiness | None:
    note = execution.readiness
    if note is None:
        return None
    return Readiness(
        level=note.current_level, checked_at=note.checked_at, forced=note.forced, reasons=note.all_lines()
    )


def _cleanup(execution: Execution, now: datetime) -> CleanupProof | None:
    if execution.execution_type is not ExecutionType.DRILL:
        return None
    launched = [s for s in execution.servers() if s.instance_id is not None]
    run = execution.cleanup
    if run is None:
        hours = sum(_hours(s.launch_time, now) or 0.0 for s in launched)
        return CleanupProof(
            status="NONE",
            requested_by=None,
            due_at=None,
            started_at=None,
            ended_at=None,
            terminate_job_ids=(),
            instances=(),
            already_gone=0,
            failures=(),
            running_hours=round(hours, 2),
        )
    by_instance = {s.instance_id: s for s in launched}
    gone_at = run.ended_at if run.ended_at is not None and not run.status.active else None
    terminated = [
        TerminatedInstance(
            instance_id=instance,
            source_server_id=by_instance[instance].source_server_id if instance in by_instance else None,
            launch_time=by_instance[instance].launch_time if instance in by_instance else None,
            running_hours=_hours(by_instance[instance].launch_time, gone_at or now)
            if instance in by_instance
            else None,
        )
        for instance in run.instance_ids
    ]
    # Instances the cleanup did not (or not yet) terminate bill until now.
    listed = set(run.instance_ids)
    still_up = sum(_hours(s.launch_time, now) or 0.0 for s in launched if s.instance_id not in listed)
    hours = sum(t.running_hours or 0.0 for t in terminated) + still_up
    return CleanupProof(
        status=run.status.value,
        requested_by=run.requested_by or "cleanup_after",
        due_at=run.due_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        terminate_job_ids=run.job_ids,
        instances=tuple(terminated),
        already_gone=run.already_gone,
        failures=run.failures,
        running_hours=round(hours, 2),
    )


def _hours(start: datetime | None, end: datetime) -> float | None:
    return None if start is None else round(max(0.0, (end - start).total_seconds()) / 3600, 2)


def _judge(
    execution: Execution, rto: Rto, waves: tuple[WaveReport, ...], cleanup: CleanupProof | None
) -> Judgement:
    failures: list[str] = []
    findings: list[str] = []
    servers = [s for wave in waves for s in wave.servers]
    failed = [s for s in servers if s.status is not ServerStatus.LAUNCHED]
    status = execution.status
    if status is ExecutionStatus.REJECTED and execution.rejection is not None:
        failures.append(f"rejected by {execution.rejection.user_id}: {execution.rejection.reason}")
    elif status is ExecutionStatus.EXPIRED:
        failures.append("the approval expired before enough approvers decided")
    elif status is ExecutionStatus.CANCELLED and (stop := _stopped_at_gate(execution)) is not None:
        failures.append(stop)
    elif status is ExecutionStatus.CANCELLED:
        failures.append(f"cancelled by {execution.cancel_requested_by or 'a user'}")
    if failed and status not in (ExecutionStatus.REJECTED, ExecutionStatus.EXPIRED):
        failures.append(f"{len(failed)} of {len(servers)} server(s) did not launch ({status.value})")
    target = execution.plan_options.rto_target
    if rto.met is False and target is not None and rto.seconds is not None:
        failures.append(f"RTO {_duration(rto.seconds)} is over the rto_target of {_duration(target)}")
    elif target is None:
        findings.append("the plan has no rto_target: the RTO is measured, not judged")
    rpo_target = execution.plan_options.rpo_target
    stale = [s for s in servers if s.rpo.met is False]
    if stale and rpo_target is not None:
        failures.append(
            f"{len(stale)} server(s) launched from data older than the rpo_target of {_duration(rpo_target)}"
        )
    elif rpo_target is None:
        findings.append("the plan has no rpo_target: the data's age is not judged")
    note = execution.readiness
    if note is not None and note.current_level != "READY":
        forced = " (started with --force)" if note.forced else ""
        first = note.all_lines()[0] if note.all_lines() else ""
        findings.append(f"readiness was {note.current_level} at the start{forced}: {first}".rstrip(": "))
    if cleanup is not None and servers and any(s.instance_id for s in servers):
        if cleanup.status == "NONE":
            findings.append(
                f"the drill's instances are still running ({cleanup.running_hours} instance-hours so far)"
            )
        elif cleanup.status != "DONE":
            when = f", due {cleanup.due_at:%Y-%m-%d %H:%M} UTC" if cleanup.due_at else ""
            findings.append(f"the drill's cleanup is {cleanup.status.lower()}{when}: its instances still run")
        elif cleanup.failures:
            findings.append(f"the cleanup could not terminate {len(cleanup.failures)} instance(s)")
    run = execution.failback
    if run is not None:
        unprotected = [s for s in run.servers if s.reprotect_error or (not s.failed and not s.reprotected)]
        if unprotected:
            findings.append(f"{len(unprotected)} failed-back server(s) are not re-protected")
    if failures:
        verdict = Verdict.FAILED
    elif findings:
        verdict = Verdict.PASSED_WITH_FINDINGS
    else:
        verdict = Verdict.PASSED
    return Judgement(verdict=verdict, failures=tuple(failures), findings=tuple(findings))


def _duration(seconds: float) -> str:
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
