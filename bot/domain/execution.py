"""An execution: one run of a recovery plan, down to each source server's launch."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field, model_validator

from bot.domain.accounts import Account, AccountRegion
from bot.domain.execution_type import ExecutionType as ExecutionType
from bot.domain.frozen import Frozen
from bot.domain.plans import Catalog, PlanOptions, RecoveryPlan, WaveOptions
from bot.domain.snapshot_ages import SnapshotAges

# DRS error texts run to a few hundred characters; a cap keeps a 4,000-server history storable.
ERROR_TEXT_LIMIT = 600


def clip_error(text: str) -> str:
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"


class ExecutionStatus(StrEnum):
    PENDING_APPROVAL = "PENDING_APPROVAL"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self not in (ExecutionStatus.PENDING_APPROVAL, ExecutionStatus.IN_PROGRESS)


class WaveStatus(StrEnum):
    PENDING = "PENDING"
    GATED = "GATED"  # stopped before it starts (pause_before, --step): a person continues or stops
    PREPARING = "PREPARING"  # hooks (#15): its before-hooks run, nothing launched yet
    IN_PROGRESS = "IN_PROGRESS"
    CHECKING = "CHECKING"  # launched; waiting for the health checks (bot/domain/health.py)
    FINISHING = "FINISHING"  # hooks (#15): launched (and healthy); its after-hooks run
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def is_terminal(self) -> bool:
        return self not in (
            WaveStatus.PENDING,
            WaveStatus.GATED,
            WaveStatus.PREPARING,
            WaveStatus.IN_PROGRESS,
            WaveStatus.CHECKING,
            WaveStatus.FINISHING,
        )


class ServerStatus(StrEnum):
    PENDING = "PENDING"
    LAUNCHING = "LAUNCHING"
    LAUNCHED = "LAUNCHED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in (ServerStatus.LAUNCHED, ServerStatus.FAILED)


class ChunkStatus(StrEnum):
    """A chunk is the set of servers one StartRecovery call launches."""

    PLANNED = "PLANNED"
    STARTING = "STARTING"  # intent saved; the job may or may not exist in DRS yet
    RUNNING = "RUNNING"  # DRS job known; following it
    DONE = "DONE"


class _Model(Frozen):
    pass


class ServerAttempt(_Model):
    """An earlier launch of a server that failed and was retried: kept as it ended."""

    recovery_job_id: str | None = None  # None: it never reached DRS (refused, or timed out queued)
    started_at: datetime | None = None  # when its chunk was claimed
    retried_at: datetime  # when someone asked for the retry that followed it
    error: str | None = None  # DRS's error text, or why it failed


class CheckResult(_Model):
    """One health check of one launched server, as last seen: passed or not, and what it said."""

    check: str  # ec2_status, ssm_online, alarms
    passed: bool
    detail: str = ""  # what AWS answered, clipped (shown when the check fails)
    at: datetime
    # It cannot pass any more (a command that ended Failed, or SSM refused): the server fails now.
    final: bool = False


class CommandRun(_Model):
    """health_check.ssm_command (#15): one SendCommand to a batch of up to 50 of a wave's instances,
    claimed (saved) before the call, its CommandId recorded after; a claim without it is looked up
    (ListCommands, by `comment`) before it is ever sent again."""

    batch: int
    instance_ids: tuple[str, ...]
    claimed_at: datetime
    command_id: str | None = None
    error: str | None = None  # SSM refused it for good: its instances fail the check with this


class ServerRun(_Model):
    source_server_id: str
    status: ServerStatus = ServerStatus.PENDING
    recovery_job_id: str | None = None
    instance_id: str | None = None
    launch_time: datetime | None = None
    error: str | None = None
    # Point in time (--at): the recovery snapshot it launches from, and when that snapshot was taken.
    snapshot_id: str | None = None
    snapshot_time: datetime | None = None
    # /drs retry: the earlier launches, oldest first; the fields above are the current one.
    attempts: tuple[ServerAttempt, ...] = ()
    # Health checks (the wave's health_check): when all passed, and each check's last result.
    healthy_at: datetime | None = None
    checks: tuple[CheckResult, ...] = ()


class Chunk(_Model):
    index: int
    status: ChunkStatus = ChunkStatus.PLANNED
    job_id: str | None = None
    claimed_at: datetime | None = None  # when a tick took on starting it
    attempts: int = 0
    # Tries that found its account unreachable (the role not assumed): none of those reached DRS.
    unreachable: int = 0
    servers: tuple[ServerRun, ...]

    @property
    def server_ids(self) -> list[str]:
        return [server.source_server_id for server in self.servers]


class HookStatus(StrEnum):
    """One before- or after-hook of a wave: claimed (saved) before it is called, as a chunk is."""

    PENDING = "PENDING"
    STARTING = "STARTING"  # claimed; the automation or invocation may or may not exist yet
    RUNNING = "RUNNING"  # an automation execution known; followed each tick
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    SKIPPED = "SKIPPED"  # drill: false in a drill, or the execution was cancelled

    @property
    def is_terminal(self) -> bool:
        return self in (HookStatus.SUCCEEDED, HookStatus.FAILED, HookStatus.TIMED_OUT, HookStatus.SKIPPED)

    @property
    def failed(self) -> bool:
        return self in (HookStatus.FAILED, HookStatus.TIMED_OUT)


class HookRun(_Model):
    """What became of one hook: its call's id (automation execution id, Lambda request id), its times,
    its output (truncated) or why it failed or was skipped."""

    phase: str  # before | after
    index: int  # in its list
    kind: str  # automation | lambda
    target: str  # the document or function
    status: HookStatus = HookStatus.PENDING
    claimed_at: datetime | None = None
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    run_id: str | None = None
    output: str | None = None
    error: str | None = None


_FLAT_WAVE_OPTIONS = {
    "wait_before_seconds": "wait_before",
    "timeout_seconds": "timeout",
    "on_failure": "on_failure",
}
_FLAT_PLAN_OPTIONS = {"cleanup_after_seconds": "cleanup_after"}


def _nest(data: object, key: str, fields: Mapping[str, str]) -> object:
    if not isinstance(data, dict) or not any(name in data for name in fields):
        return data
    data = dict(data)
    flat = {option: data.pop(name) for name, option in fields.items() if name in data}
    if key not in data:
        data[key] = {option: value for option, value in flat.items() if value is not None}
    return data


class WaveRun(_Model):
    index: int
    name: str
    protection_group: str
    region: str
    account: str | None = None  # the group's account; None: the bot's own
    status: WaveStatus = WaveStatus.PENDING
    start_time: datetime | None = None
    end_time: datetime | None = None
    options: WaveOptions = WaveOptions()  # the plan's wave options, whole
    not_before: datetime | None = None  # set when the previous wave ends, if this one waits
    gated_at: datetime | None = None  # when it stopped at its gate (GATED)
    reminded_at: datetime | None = None  # the gate's last reminder in the thread
    # The group's optional servers (impact level): their failure never fails or stops the wave.
    optional: tuple[str, ...] = ()
    retried_at: datetime | None = None  # the last /drs retry: its timeout counts from then
    # Time it spent running while the execution was paused: its timeout does not count it.
    paused_seconds: float = 0
    checks_started_at: datetime | None = None  # CHECKING: when the health checks began
    healthy_reported: int = 0  # healthy servers the thread last heard of
    chunks: tuple[Chunk, ...]
    hooks: tuple[HookRun, ...] = ()  # hooks (#15): laid out when their phase begins
    commands: tuple[CommandRun, ...] = ()  # health_check.ssm_command: its batches, as claimed

    @model_validator(mode="before")
    @classmethod
    def _read_flat_options(cls, data: object) -> object:
        # Executions stored before the options were one value kept them as three fields.
        return _nest(data, "options", _FLAT_WAVE_OPTIONS)

    def servers(self) -> Iterator[ServerRun]:
        for chunk in self.chunks:
            yield from chunk.servers

    @property
    def where(self) -> AccountRegion:
        return AccountRegion(self.account, self.region)

    @property
    def job_ids(self) -> list[str]:
        return [chunk.job_id for chunk in self.chunks if chunk.job_id]


class Approval(_Model):
    user_id: str
    at: datetime


class Rejection(_Model):
    user_id: str
    at: datetime
    reason: str


class ActionKind(StrEnum):
    """What a person did to an execution, in the users' words."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"
    CANCEL = "CANCEL"
    CLEANUP = "CLEANUP"
    CONTINUE = "CONTINUE"  # past a gate before a wave
    STOP = "STOP"  # "Stop here" at a gate
    PAUSE = "PAUSE"
    RESUME = "RESUME"
    RETRY = "RETRY"
    SKIP = "SKIP"


class Action(_Model):
    """One human control, kept in the order made: who, what, when, on which wave, and why."""

    user_id: str
    kind: ActionKind
    at: datetime
    wave: int | None = None  # the wave's index, for controls aimed at one wave
    reason: str | None = None


class ReadinessNote(_Model):
    """The readiness verdict at request time, as the approval card and the history show it."""

    level: str
    lines: tuple[str, ...] = ()
    checked_at: datetime
    forced: bool = False  # BLOCKED, started anyway with --force
    # With an rpo_target and no --at: the recovery snapshot ages, read after the launch checks.
    snapshot_ages: SnapshotAges | None = None

    @property
    def current_level(self) -> str:
        """The verdict with what the snapshot ages added since (they only ever warn)."""
        if self.level == "READY" and self.snapshot_ages is not None and self.snapshot_ages.findings:
            return "WARN"
        return self.level

    def all_lines(self) -> tuple[str, ...]:
        return self.lines + tuple(self.snapshot_ages.lines() if self.snapshot_ages else ())


class CleanupStatus(StrEnum):
    SCHEDULED = "SCHEDULED"  # cleanup_after: due at a set time
    REQUESTED = "REQUESTED"
    TERMINATING = "TERMINATING"  # TerminateRecoveryInstances called; following its jobs
    DONE = "DONE"

    @property
    def active(self) -> bool:
        return self is not CleanupStatus.DONE


class CleanupRun(_Model):
    """Terminating the recovery instances one drill launched, so they stop billing."""

    status: CleanupStatus
    requested_by: str | None = None  # None: automatic (the plan's cleanup_after)
    due_at: datetime | None = None
    claimed_at: datetime | None = None
    first_claimed_at: datetime | None = None  # TERMINATE jobs of a crashed tick are looked for since then
    attempts: int = 0  # claims taken; from the second on, DRS is asked first what an earlier one did
    started_at: datetime | None = None
    ended_at: datetime | None = None
    instance_ids: tuple[str, ...] = ()  # recovery instances this cleanup terminates
    job_ids: tuple[str, ...] = ()  # the TERMINATE jobs
    job_regions: tuple[str, ...] = ()  # the region of each TERMINATE job
    job_accounts: tuple[str | None, ...] = ()  # and its account (None: the bot's own; older runs: none)

    def job_places(self) -> list[tuple[str, AccountRegion]]:
        """Each TERMINATE job with the account and region it runs in."""
        accounts = self.job_accounts or (None,) * len(self.job_ids)
        return [
            (job_id, AccountRegion(account, region))
            for job_id, region, account in zip(self.job_ids, self.job_regions, accounts, strict=True)
        ]

    already_gone: int = 0
    failures: tuple[str, ...] = ()  # "i-…: DRS's answer"


class FailbackPhase(StrEnum):
    """AWS-to-AWS failback: reverse replication, wait for CONTINUOUS, launch in the origin region, re-protect."""

    REVERSING = "REVERSING"  # ReverseReplication on each recovery instance
    SYNCING = "SYNCING"  # waiting for the origin-region source servers to reach CONTINUOUS
    LAUNCHING = "LAUNCHING"  # the waves run in the origin region, as any execution's
    REPROTECTING = "REPROTECTING"  # ReverseReplication on the new recovery instances in the origin region
    DONE = "DONE"

    @property
    def before_launch(self) -> bool:
        return self in (FailbackPhase.REVERSING, FailbackPhase.SYNCING)


class FailbackServer(_Model):
    """One recovered server on its way back: the recovery instance, and the server replicating back."""

    wave: int
    source_server_id: str  # the protected server the recovery launched (recovery region)
    recovery_region: str
    recovery_instance_id: str
    reversed_source_server_id: str | None = None  # the FAILBACK-direction server in the origin region
    origin_region: str | None = None
    # Several accounts (#18): the recovery's account, and the origin's (the reversed server's ARN names
    # it); None: the bot's own.
    recovery_account: str | None = None
    origin_account: str | None = None
    replication_state: str | None = None
    ready: bool = False  # reached CONTINUOUS
    error: str | None = None  # why it does not fail back (ReverseReplication refused, never synced)
    # ReverseReplication is claimed (saved) before it is called; a later claim asks DRS first.
    reverse_claimed_at: datetime | None = None
    reverse_attempts: int = 0
    not_ready: str | None = None  # DRS's answer while the instance cannot replicate back yet
    reprotected: bool = False
    reprotect_error: str | None = None
    reprotect_claimed_at: datetime | None = None
    reprotect_attempts: int = 0

    @property
    def failed(self) -> bool:
        return self.error is not None


class FailbackRun(_Model):
    phase: FailbackPhase = FailbackPhase.REVERSING
    recovery_execution_id: str
    sync_timeout_seconds: int
    # A recovery instance not ready to replicate back is asked again until then (sync_timeout_seconds).
    reverse_deadline: datetime | None = None
    sync_deadline: datetime | None = None  # set when every server was reversed (or refused)
    synced_reported: int = -1  # CONTINUOUS count last reported in the thread
    servers: tuple[FailbackServer, ...]


class SlackBlock(_Model):
    """Slack refuses every message to the execution's channel (is_archived, not_in_channel…): its
    messages wait, and are no longer retried every tick."""

    error: str
    since: datetime
    checked_at: datetime


class Execution(_Model):
    execution_id: str
    plan_name: str
    plan_description: str = ""
    execution_type: ExecutionType
    status: ExecutionStatus
    initiated_by: str
    created_at: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    channel_id: str | None = None
    anchor_ts: str | None = None
    slack_blocked: SlackBlock | None = None  # kept beside the versioned state, as anchor_ts
    events_emitted: int = 0
    version: int = 0
    cancel_requested_by: str | None = None
    cancel_requested_at: datetime | None = None
    step: bool = False  # --step: a gate before every wave
    paused_by: str | None = None  # paused: no new job or wave starts until resumed
    paused_at: datetime | None = None
    # Two-person control for RECOVERY and FAILBACK.
    approvals_required: int = 0
    approval_expires_at: datetime | None = None
    approvals: tuple[Approval, ...] = ()
    rejection: Rejection | None = None
    # Every human control, approvals of round 1 included; the fields above stay for what reads them.
    actions: tuple[Action, ...] = ()
    readiness: ReadinessNote | None = None
    plan_options: PlanOptions = PlanOptions()  # the plan's options, whole, as when it was requested
    cleanup: CleanupRun | None = None
    point_in_time: datetime | None = None  # --at: each server from its newest snapshot at or before
    failback: FailbackRun | None = None  # FAILBACK only: the steps around the launch
    waves: tuple[WaveRun, ...]

    @model_validator(mode="before")
    @classmethod
    def _read_flat_options(cls, data: object) -> object:
        # Executions stored before the options were one value kept cleanup_after_seconds alone.
        return _nest(data, "plan_options", _FLAT_PLAN_OPTIONS)

    @property
    def cancelling(self) -> bool:
        return self.cancel_requested_by is not None

    @property
    def paused(self) -> bool:
        return self.paused_by is not None

    def gated_wave(self) -> WaveRun | None:
        wave = self.current_wave()
        return wave if wave is not None and wave.status is WaveStatus.GATED else None

    def servers(self) -> Iterator[ServerRun]:
        for wave in self.waves:
            yield from wave.servers()

    def needs_ticks(self) -> bool:
        """Still work for the executor: running, awaiting approval, a drill cleanup or a failback's
        re-protect under way."""
        return (
            not self.status.is_terminal
            or (self.cleanup is not None and self.cleanup.status.active)
            or (self.failback is not None and self.failback.phase is FailbackPhase.REPROTECTING)
        )

    def job_ids(self) -> list[str]:
        return [job for wave in self.waves for job in wave.job_ids]

    def server_count(self) -> int:
        return sum(1 for _ in self.servers())

    def current_wave(self) -> WaveRun | None:
        return next((wave for wave in self.waves if not wave.status.is_terminal), None)

    def acted(self, action: Action) -> Execution:
        """The execution with one more control on record."""
        return self.model_copy(update={"actions": (*self.actions, action)})

    def replace_wave(self, wave: WaveRun) -> Execution:
        waves = tuple(wave if existing.index == wave.index else existing for existing in self.waves)
        return self.model_copy(update={"waves": waves})


class ChunkRef(_Model):
    wave: int
    chunk: int


def chunked(items: list[str], size: int) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


# Servers per job: one size everywhere, or each account's (`Limits.servers_per_job_in`).
JobSize = int | Callable[[str | None], int]


def job_size(size: JobSize, account: str | None) -> int:
    return size if isinstance(size, int) else size(account)


def new_execution(
    *,
    execution_id: str,
    plan: RecoveryPlan,
    catalog: Catalog,
    execution_type: ExecutionType,
    initiated_by: str,
    channel_id: str | None,
    now: datetime,
    servers_per_job: JobSize,
    resolved: Mapping[str, Sequence[str]] | None = None,
    snapshots: Mapping[str, tuple[str, datetime]] | None = None,
    point_in_time: datetime | None = None,
    step: bool = False,
) -> Execution:
    """Lay out an execution: each wave's servers split into as few jobs as the per-job quota allows.

    `resolved` gives the servers of protection groups selected by tags, looked up at run time."""
    waves = []
    for index, wave in enumerate(plan.waves):
        group = catalog.group(wave.protection_group)
        servers = list((resolved or {}).get(group.name, group.source_servers))
        chunks = tuple(
            Chunk(index=number, servers=tuple(_server_run(sid, snapshots) for sid in ids))
            for number, ids in enumerate(chunked(servers, job_size(servers_per_job, group.account)))
        )
        waves.append(
            WaveRun(
                index=index,
                name=wave.name,
                protection_group=group.name,
                region=group.region,
                account=group.account,
                options=wave.options,
                optional=tuple(sid for sid in group.optional if sid in servers),
                chunks=chunks,
            )
        )
    status = ExecutionStatus.IN_PROGRESS if execution_type.is_drill else ExecutionStatus.PENDING_APPROVAL
    return Execution(
        execution_id=execution_id,
        point_in_time=point_in_time,
        step=step,
        plan_options=plan.options,
        plan_name=plan.name,
        plan_description=plan.description,
        execution_type=execution_type,
        status=status,
        initiated_by=initiated_by,
        created_at=now,
        start_time=now if status is ExecutionStatus.IN_PROGRESS else None,
        channel_id=channel_id,
        waves=tuple(waves),
    )


def _server_run(source_server_id: str, snapshots: Mapping[str, tuple[str, datetime]] | None) -> ServerRun:
    chosen = (snapshots or {}).get(source_server_id)
    if chosen is None:
        return ServerRun(source_server_id=source_server_id)
    return ServerRun(source_server_id=source_server_id, snapshot_id=chosen[0], snapshot_time=chosen[1])


class Tally(_Model):
    total: int = 0
    launched: int = 0
    failed: int = 0

    @property
    def pending(self) -> int:
        return self.total - self.launched - self.failed


def tally(servers: Iterable[ServerRun]) -> Tally:
    total = launched = failed = 0
    for server in servers:
        total += 1
        if server.status is ServerStatus.LAUNCHED:
            launched += 1
        elif server.status is ServerStatus.FAILED:
            failed += 1
    return Tally(total=total, launched=launched, failed=failed)


class ExecutionSummary(_Model):
    """One line of history: what a list needs without reading every server."""

    execution_id: str
    plan_name: str
    execution_type: ExecutionType
    status: ExecutionStatus
    initiated_by: str
    created_at: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    channel_id: str | None = None
    total: int = 0
    launched: int = 0
    failed: int = 0
    # The RTO's end: the last server launched (None before the first, or in summaries stored before it).
    last_launch_time: datetime | None = None


def summarize(execution: Execution) -> ExecutionSummary:
    counts = tally(execution.servers())
    launches = [server.launch_time for server in execution.servers() if server.launch_time is not None]
    return ExecutionSummary(
        execution_id=execution.execution_id,
        plan_name=execution.plan_name,
        execution_type=execution.execution_type,
        status=execution.status,
        initiated_by=execution.initiated_by,
        created_at=execution.created_at,
        start_time=execution.start_time,
        end_time=execution.end_time,
        channel_id=execution.channel_id,
        total=counts.total,
        launched=counts.launched,
        failed=counts.failed,
        last_launch_time=max(launches, default=None),
    )


class AccountLimits(_Model):
    """One account's DRS quotas where they differ from the defaults (a quota increase, a new account)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    servers_per_job: int | None = Field(default=None, ge=1, le=200)
    concurrent_jobs: int | None = Field(default=None, ge=1)
    servers_in_active_jobs: int | None = Field(default=None, ge=1)


class Limits(_Model):
    """DRS quotas the engine respects (configurable: accounts differ)."""

    # Set by hand in DRS_BOT_LIMITS: a misspelt quota must not be silently left at its default.
    model_config = ConfigDict(frozen=True, extra="forbid")

    servers_per_job: int = Field(default=100, ge=1, le=200)
    concurrent_jobs: int = Field(default=20, ge=1)
    servers_in_active_jobs: int = Field(default=500, ge=1)
    claim_timeout_seconds: float = Field(default=120, gt=0)
    # A target account whose role STS keeps refusing fails the chunks it holds back after this many
    # tries (one a poll): long enough to ride out an IAM change propagating, short enough that the
    # plan's on_failure decides soon (README "How waves run across accounts").
    unreachable_retries: int = Field(default=10, ge=1, le=100)
    # Failback: how long the reversed servers may take to reach CONTINUOUS before they are left out.
    failback_sync_timeout_seconds: int = Field(default=6 * 3600, ge=60)
    # A gate before a wave never launches by itself: it reminds its thread this often until decided.
    gate_reminder_seconds: int = Field(default=30 * 60, ge=60)
    # Quotas count per account and region: an account whose quotas differ names them here (by account id).
    accounts: dict[Account, AccountLimits] = Field(default_factory=dict)

    def in_account(self, account: str | None) -> Limits:
        """The quotas that hold in one account (each of its regions has them in full)."""
        override = self.accounts.get(account) if account is not None else None
        if override is None:
            return self
        return Limits.model_validate({**self.model_dump(), **override.model_dump(exclude_none=True)})

    def servers_per_job_in(self, account: str | None) -> int:
        """How many servers one job takes in `account` (chunks are laid out with it)."""
        return self.in_account(account).servers_per_job
