"""Status events: what changed in an execution, in the words the thread will use.

Events are saved with the state change that caused them (the outbox) and delivered to Slack later,
so each carries everything needed to render it without reading the execution again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.domain.execution import ActionKind, ExecutionStatus, ExecutionType, WaveStatus

# A thread reply lists this many failed servers; the rest are counted, so a 4,000-server wave fits.
FAILURES_LISTED = 20


class StatusEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    execution_id: str


class ServerFailure(BaseModel):
    model_config = ConfigDict(frozen=True)

    source_server_id: str
    error: str
    job_id: str | None = None


class ExecutionStarted(StatusEvent):
    kind: Literal["execution_started"] = "execution_started"
    plan_name: str
    execution_type: ExecutionType
    initiated_by: str
    wave_count: int
    server_count: int
    point_in_time: datetime | None = None


class WaveStarted(StatusEvent):
    kind: Literal["wave_started"] = "wave_started"
    wave_index: int
    wave_count: int
    wave_name: str
    protection_group: str
    region: str
    server_count: int
    job_ids: list[str]
    account: str | None = None  # another account's (#18); None: the bot's own


class WaveScheduled(StatusEvent):
    """The next wave waits (its wait_before) after the previous one ended."""

    kind: Literal["wave_scheduled"] = "wave_scheduled"
    wave_index: int
    wave_count: int
    wave_name: str
    starts_at: datetime
    wait_seconds: int


class WavesSkipped(StatusEvent):
    kind: Literal["waves_skipped"] = "waves_skipped"
    wave_names: list[str]
    reason: str


class CancelRequested(StatusEvent):
    kind: Literal["cancel_requested"] = "cancel_requested"
    requested_by: str
    jobs_running: int


class RetryRequested(StatusEvent):
    """/drs retry: a wave's failed servers launch again (and, after a stop, the waves it skipped wait
    again)."""

    kind: Literal["retry_requested"] = "retry_requested"
    requested_by: str
    wave_index: int
    wave_count: int
    wave_name: str
    servers: list[str]  # the first FAILURES_LISTED retried
    server_count: int
    reopened_waves: list[str] = Field(default_factory=list)  # skipped by on_failure: stop, now pending
    reopened_execution: bool = False  # it had ended PARTIAL or FAILED


class WaveSkippedByUser(StatusEvent):
    """/drs skip: a pending wave will not run."""

    kind: Literal["wave_skipped"] = "wave_skipped"
    skipped_by: str
    wave_index: int
    wave_count: int
    wave_name: str
    reason: str = ""


class WaveFinished(StatusEvent):
    kind: Literal["wave_finished"] = "wave_finished"
    wave_index: int
    wave_count: int
    wave_name: str
    status: WaveStatus
    launched: int
    failed: int
    not_started: int = 0
    duration_seconds: float
    job_ids: list[str]
    failures: list[ServerFailure]  # the first FAILURES_LISTED
    more_failures: int = 0
    # health_check: servers that passed their checks, and the two RTOs (to launch, to healthy).
    checked: bool = False
    healthy: int = 0
    checked_servers: int = 0  # launched, so checked (those that failed a check are in `failed`)
    launch_seconds: float | None = None
    healthy_seconds: float | None = None


class HealthFailing(BaseModel):
    model_config = ConfigDict(frozen=True)

    source_server_id: str
    check: str
    detail: str


class WaveChecking(StatusEvent):
    """A launched wave waits for its servers' health checks (posted as it begins and as more pass)."""

    kind: Literal["wave_checking"] = "wave_checking"
    wave_index: int
    wave_count: int
    wave_name: str
    healthy: int
    launched: int
    checks: list[str]
    timeout_seconds: int
    failing: list[HealthFailing] = Field(default_factory=list)  # the first few not healthy yet
    more_failing: int = 0


class HookFinished(StatusEvent):
    """hooks (#15): one before- or after-hook of a wave ended (or was skipped), with what it said."""

    kind: Literal["hook_finished"] = "hook_finished"
    wave_index: int
    wave_count: int
    wave_name: str
    phase: str  # before | after
    hook_index: int
    hook_count: int
    hook_kind: str  # automation | lambda
    target: str  # the document or function
    region: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | SKIPPED
    run_id: str | None = None
    output: str | None = None
    error: str | None = None
    stops: bool = False  # failed with on_failure: stop
    duration_seconds: float | None = None


class ApprovalRequested(StatusEvent):
    kind: Literal["approval_requested"] = "approval_requested"
    plan_name: str
    execution_type: ExecutionType
    requested_by: str
    approvers: list[str]
    approvals_required: int
    expires_at: datetime


class ReadinessReported(StatusEvent):
    kind: Literal["readiness_reported"] = "readiness_reported"
    level: str
    lines: list[str]
    forced: bool = False


class CleanupScheduled(StatusEvent):
    kind: Literal["cleanup_scheduled"] = "cleanup_scheduled"
    due_at: datetime


class CleanupStarted(StatusEvent):
    kind: Literal["cleanup_started"] = "cleanup_started"
    requested_by: str | None
    terminating: int
    already_gone: int
    job_ids: list[str]
    failures: list[str]


class CleanupFinished(StatusEvent):
    kind: Literal["cleanup_finished"] = "cleanup_finished"
    terminated: int
    already_gone: int
    failures: list[str]


class ApprovalRecorded(StatusEvent):
    """One approval of several needed."""

    kind: Literal["approval_recorded"] = "approval_recorded"
    approved_by: str
    approvals: int
    approvals_required: int


class ExecutionApproved(StatusEvent):
    kind: Literal["execution_approved"] = "execution_approved"
    approved_by: list[str]


class ExecutionRejected(StatusEvent):
    kind: Literal["execution_rejected"] = "execution_rejected"
    rejected_by: str
    reason: str


class ApprovalExpired(StatusEvent):
    kind: Literal["approval_expired"] = "approval_expired"
    expired_at: datetime


class WaveLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    protection_group: str
    region: str
    servers: int
    status: WaveStatus
    account: str | None = None  # another account's (#18); None: the bot's own
    healthy: int | None = None  # CHECKING: servers healthy so far


class ProgressUpdated(StatusEvent):
    """What the anchor message shows; delivered as an edit of it, in order, the last one winning."""

    kind: Literal["progress"] = "progress"
    plan_name: str
    execution_type: ExecutionType
    status: ExecutionStatus
    initiated_by: str
    waves: list[WaveLine]  # the first WAVES_LISTED
    wave_count: int
    waves_done: int
    launched: int
    failed: int
    total: int
    started_at: datetime | None
    ended_at: datetime | None
    # The approval card's part (RECOVERY and FAILBACK).
    approvals_required: int = 0
    approved_by: list[str] = []
    rejected_by: str | None = None
    rejection_reason: str | None = None
    expires_at: datetime | None = None
    server_count: int = 0
    regions: list[str] = []
    readiness_level: str | None = None
    readiness_lines: list[str] = []
    point_in_time: datetime | None = None  # --at: shown on the card and the anchor
    paused_by: str | None = None  # the anchor offers Resume then, Pause otherwise
    paused_at: datetime | None = None
    gated_wave: str | None = None  # the wave waiting at its gate
    cancelling: bool = False  # nothing to steer any more: no Pause button


WAVES_LISTED = 40


class WaveGated(StatusEvent):
    """The execution stopped before a wave (pause_before, --step): the gate's card, with its buttons."""

    kind: Literal["wave_gated"] = "wave_gated"
    execution_type: ExecutionType
    initiated_by: str
    wave_index: int
    wave_count: int
    wave_name: str
    protection_group: str
    region: str
    account: str | None = None  # another account's (#18); None: the bot's own
    server_count: int
    first_servers: list[str]  # the first GATE_SERVERS_LISTED
    why: Literal["pause_before", "step"]
    done: list[WaveLine]  # the last GATE_WAVES_LISTED of the waves that ended before it
    waves_done: int = 0
    launched: int
    failed: int
    reminder: bool = False  # a reminder of a gate still waiting (since `gated_at`)
    gated_at: datetime | None = None


GATE_SERVERS_LISTED = 5
GATE_WAVES_LISTED = 10


class ControlRecorded(StatusEvent):
    """A person steered the execution (continue, stop here, pause, resume): who, what, when."""

    kind: Literal["control_recorded"] = "control_recorded"
    control: ActionKind
    user_id: str
    wave_index: int | None = None
    wave_name: str | None = None
    wave_count: int = 0
    jobs_running: int = 0  # pause: the jobs already in DRS, followed to their end


class ExecutionFinished(StatusEvent):
    kind: Literal["execution_finished"] = "execution_finished"
    plan_name: str
    execution_type: ExecutionType
    status: ExecutionStatus
    launched: int
    failed: int
    total: int
    duration_seconds: float
    # The two RTOs from the start: to the last server launched, and (with health checks) healthy.
    launch_seconds: float | None = None
    healthy_seconds: float | None = None


class TimelineReady(StatusEvent):
    """The execution's launch is over: its timeline picture goes to the thread with the verdict line
    (drawn at delivery from the stored execution, which the picture projects)."""

    kind: Literal["timeline_ready"] = "timeline_ready"
    plan_name: str
    execution_type: ExecutionType
    status: ExecutionStatus
    launched: int
    total: int
    duration_seconds: float


class FailbackReversed(StatusEvent):
    """ReverseReplication ran on the recovery instances: they replicate back to the origin region."""

    kind: Literal["failback_reversed"] = "failback_reversed"
    reversed: int
    total: int
    origin_regions: list[str]
    failures: list[ServerFailure]  # the first FAILURES_LISTED
    more_failures: int = 0


class FailbackReverseWaiting(StatusEvent):
    """DRS is not ready to reverse some recovery instances yet: they are asked again until `deadline`."""

    kind: Literal["failback_reverse_waiting"] = "failback_reverse_waiting"
    waiting: int
    total: int
    servers: list[ServerFailure]  # recovery instance id and DRS's answer, the first FAILURES_LISTED
    more_servers: int = 0
    deadline: datetime


class FailbackSyncProgress(StatusEvent):
    kind: Literal["failback_sync_progress"] = "failback_sync_progress"
    continuous: int
    total: int
    states: dict[str, int]  # replication state -> servers in it
    deadline: datetime


class FailbackSyncFinished(StatusEvent):
    """The wait for CONTINUOUS is over: the servers that made it launch in the origin region."""

    kind: Literal["failback_sync_finished"] = "failback_sync_finished"
    ready: int
    total: int
    failures: list[ServerFailure]
    more_failures: int = 0


class FailbackReprotected(StatusEvent):
    """ReverseReplication on the instances launched in the origin region: protected again."""

    kind: Literal["failback_reprotected"] = "failback_reprotected"
    reprotected: int
    total: int
    failures: list[ServerFailure]
    more_failures: int = 0


Event = Annotated[
    CleanupScheduled
    | CleanupStarted
    | CleanupFinished
    | ReadinessReported
    | ApprovalRequested
    | ApprovalRecorded
    | ExecutionApproved
    | ExecutionRejected
    | ApprovalExpired
    | ExecutionStarted
    | WaveStarted
    | WaveScheduled
    | WaveFinished
    | WaveChecking
    | WavesSkipped
    | HookFinished
    | CancelRequested
    | WaveGated
    | ControlRecorded
    | RetryRequested
    | WaveSkippedByUser
    | ProgressUpdated
    | ExecutionFinished
    | TimelineReady
    | FailbackReversed
    | FailbackReverseWaiting
    | FailbackSyncProgress
    | FailbackSyncFinished
    | FailbackReprotected,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
