"""The stored history in the shape users of the original orchestration tool know.

README "How executions are stored" lists it; docs/architecture.md "Stored shapes" says how it is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.execution import CommandRun, Execution, HookRun, ServerRun, WaveRun


def epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def to_history(execution: Execution) -> dict[str, Any]:
    """ExecutionId, PlanId, ExecutionType, Status, times as epoch seconds, Waves[].Servers[]."""
    return {
        "ExecutionId": execution.execution_id,
        "PlanId": execution.plan_name,
        "ExecutionType": execution.execution_type.value,
        "Status": execution.status.value,
        "StartTime": epoch(execution.start_time),
        "EndTime": epoch(execution.end_time),
        "InitiatedBy": execution.initiated_by,
        "Waves": [_wave(wave) for wave in execution.waves],
        # The bot's additions.
        "CreatedTime": epoch(execution.created_at),
        "SlackChannel": execution.channel_id,
        "SlackThreadTs": execution.anchor_ts,
        "Version": execution.version,
        "ApprovalsRequired": execution.approvals_required,
        "ApprovalExpiresAt": epoch(execution.approval_expires_at),
        "Approvals": [{"ApprovedBy": a.user_id, "Time": epoch(a.at)} for a in execution.approvals],
        "Rejection": (
            {
                "RejectedBy": execution.rejection.user_id,
                "Time": epoch(execution.rejection.at),
                "Reason": execution.rejection.reason,
            }
            if execution.rejection
            else None
        ),
        "CancelledBy": execution.cancel_requested_by,
        "Step": execution.step,  # --step: a gate before every wave
        "PausedBy": execution.paused_by,  # paused now (who, since when); every pause is in Actions
        "PausedAt": epoch(execution.paused_at),
        # Every human control in the order made: {Who, What, Time, Wave (its name), Reason}.
        "Actions": [
            {
                "Who": a.user_id,
                "What": a.kind.value,
                "Time": epoch(a.at),
                "Wave": execution.waves[a.wave].name if a.wave is not None else None,
                "Reason": a.reason,
            }
            for a in execution.actions
        ],
        "PointInTime": epoch(execution.point_in_time),
        # The options it ran with, as plans.yml set them (seconds): {RpoTarget, CleanupAfter}.
        "PlanOptions": execution.plan_options.model_dump(mode="json", by_alias=True),
        "Readiness": execution.readiness.model_dump(mode="json") if execution.readiness else None,
        "Cleanup": _cleanup(execution),
        "Failback": _failback(execution),
    }


def _failback(execution: Execution) -> dict[str, Any] | None:
    run = execution.failback
    if run is None:
        return None
    return {
        "Phase": run.phase.value,
        "RecoveryExecutionId": run.recovery_execution_id,
        "SyncDeadline": epoch(run.sync_deadline),
        "Servers": [
            {
                "SourceServerId": s.source_server_id,
                "RecoveryRegion": s.recovery_region,
                "RecoveryInstanceId": s.recovery_instance_id,
                "ReversedSourceServerId": s.reversed_source_server_id,
                "OriginRegion": s.origin_region,
                "ReplicationState": s.replication_state,
                "Error": s.error,
                "Reprotected": s.reprotected,
                "ReprotectError": s.reprotect_error,
            }
            for s in run.servers
        ],
    }


def _cleanup(execution: Execution) -> dict[str, Any] | None:
    run = execution.cleanup
    if run is None:
        return None
    return {
        "Status": run.status.value,
        "RequestedBy": run.requested_by or "cleanup_after",
        "DueTime": epoch(run.due_at),
        "StartTime": epoch(run.started_at),
        "EndTime": epoch(run.ended_at),
        "TerminatedInstanceIds": list(run.instance_ids),
        "TerminateJobIds": list(run.job_ids),
        "AlreadyGone": run.already_gone,
        "Failures": list(run.failures),
    }


def _wave(wave: WaveRun) -> dict[str, Any]:
    return {
        "WaveName": wave.name,
        "ProtectionGroupId": wave.protection_group,
        "Region": wave.region,
        # Several accounts (#18): the account it recovered in; absent for the bot's own account.
        **({"AccountId": wave.account} if wave.account else {}),
        "Status": wave.status.value,
        "StartTime": epoch(wave.start_time),
        "EndTime": epoch(wave.end_time),
        "GatedTime": epoch(wave.gated_at),  # stopped at its gate (pause_before, --step)
        "JobIds": wave.job_ids,
        "ChecksStartTime": epoch(wave.checks_started_at),  # health_check: CHECKING began
        # {WaitBefore, Timeout (seconds), OnFailure}: what the engine applied to this wave.
        "Options": wave.options.model_dump(mode="json", by_alias=True),
        "Servers": [_server(server, wave.optional) for server in wave.servers()],
        # hooks (#15): only where the wave has hooks, so the history of other waves keeps its shape.
        **({"Hooks": [_hook(hook) for hook in wave.hooks]} if wave.hooks else {}),
        # health_check.ssm_command: each batch's SendCommand, so an auditor finds it in SSM.
        **({"Commands": [_command(run) for run in wave.commands]} if wave.commands else {}),
    }


def _command(run: CommandRun) -> dict[str, Any]:
    return {
        "Batch": run.batch,
        "CommandId": run.command_id,
        "InstanceIds": list(run.instance_ids),
        "ClaimTime": epoch(run.claimed_at),
        "Error": run.error,
    }


def _hook(hook: HookRun) -> dict[str, Any]:
    return {
        "Phase": hook.phase,
        "Index": hook.index,
        "Kind": hook.kind,
        "Target": hook.target,
        "Status": hook.status.value,
        "RunId": hook.run_id,
        "StartTime": epoch(hook.started_at or hook.claimed_at),
        "EndTime": epoch(hook.ended_at),
        "Output": hook.output,
        "Error": hook.error,
    }


def _server(server: ServerRun, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "SourceServerId": server.source_server_id,
        "RecoveryJobId": server.recovery_job_id,
        # LAUNCHING|LAUNCHED|FAILED as in the original; PENDING (not started yet) is the bot's.
        "Status": server.status.value,
        "InstanceId": server.instance_id,
        "LaunchTime": epoch(server.launch_time),
        "Error": server.error,
        "RecoverySnapshotId": server.snapshot_id,
        "SnapshotTime": epoch(server.snapshot_time),
        # The group marks it optional: its failure never failed the wave or stopped the plan.
        "Optional": server.source_server_id in optional,
        # /drs retry: the earlier launches, oldest first (the fields above are the last one).
        "Attempts": [
            {
                "RecoveryJobId": attempt.recovery_job_id,
                "StartTime": epoch(attempt.started_at),
                "RetriedAt": epoch(attempt.retried_at),
                "Status": "FAILED",
                "Error": attempt.error,
            }
            for attempt in server.attempts
        ],
        # health_check: when it passed every check, and each check's last result.
        "HealthyTime": epoch(server.healthy_at),
        "Checks": [
            {"Check": c.check, "Passed": c.passed, "Detail": c.detail, "Time": epoch(c.at)}
            for c in server.checks
        ],
    }
