"""What the use cases need from the outside world. Adapters implement these; tests use fakes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from bot.domain.accounts import AccountRegion
from bot.domain.drs import RecoveryInstanceInfo, SourceServerInfo
from bot.domain.engine import JobSnapshot, RegionLoad
from bot.domain.events import Event, ProgressUpdated
from bot.domain.execution import Execution, ExecutionSummary
from bot.domain.hooks import HookResult
from bot.domain.plans import Catalog
from bot.domain.report import Report
from bot.domain.timeline import Timeline

Clock = Callable[[], datetime]
# The id of a new execution, from the Slack request that asked for it (None: a fresh one).
ExecutionIds = Callable[[str | None], str]


class LogKeys(Protocol):
    """Keys every log line carries while a use case acts on one execution (its id, plan and type)."""

    def scope(self) -> AbstractContextManager[None]:
        """Keys added inside the scope are removed when it ends, the outer scope's kept."""
        ...

    def add(self, **keys: str) -> None: ...


class NoLogKeys:
    @contextmanager
    def scope(self) -> Iterator[None]:
        yield

    def add(self, **keys: str) -> None:
        return None


class OutboxEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    event: Event
    attempts: int = 0


class CatalogStore(Protocol):
    def load(self) -> Catalog: ...

    def replace(self, catalog: Catalog, *, applied_by: str, now: datetime) -> None: ...


class ExecutionStore(Protocol):
    def create(self, execution: Execution, events: Sequence[Event]) -> Execution:
        """Store a new execution with its first events; ExecutionExists if the id is taken."""
        ...

    def get(self, execution_id: str) -> Execution | None: ...

    def save(self, execution: Execution, previous: Execution, events: Sequence[Event]) -> Execution:
        """Write what changed since `previous` and the events, if nobody saved in between.

        Returns the execution with its new version; StaleExecution otherwise."""
        ...

    def set_anchor(self, execution_id: str, ts: str) -> None: ...

    def reactivate(self, execution_id: str) -> None:
        """An ended execution has work again (a drill cleanup): tick it."""
        ...

    def retire(self, execution_id: str) -> None:
        """The execution ended and all its messages went out: no more ticks needed."""
        ...

    def plan_holder(self, plan_name: str) -> str | None:
        """The execution of this plan that has not ended, if any."""
        ...

    def active_ids(self) -> list[str]: ...

    def recent_in_channel(self, channel_id: str, limit: int) -> list[str]:
        """The ids of the channel's newest executions, newest first."""
        ...

    def history_in_channel(self, channel_id: str, limit: int) -> list[ExecutionSummary]:
        """The channel's newest executions, newest first."""
        ...

    def history_of_plan(self, plan_name: str, limit: int) -> list[ExecutionSummary]:
        """The plan's newest executions, newest first."""
        ...

    def latest_in_channel(self, channel_id: str) -> Execution | None: ...

    def pending_events(self, execution_id: str) -> list[OutboxEntry]: ...

    def claim_event(
        self, execution_id: str, seq: int, now: datetime, lease_seconds: float, owner: str = ""
    ) -> bool:
        """Take the undelivered event for `lease_seconds`, if no other owner holds it."""
        ...

    def renew_claim(
        self, execution_id: str, seq: int, now: datetime, lease_seconds: float, owner: str
    ) -> bool:
        """Extend `owner`'s claim; False if the event was delivered, released or claimed by another
        since (then the owner must not post it)."""
        ...

    def release_event(self, execution_id: str, seq: int, owner: str = "") -> None: ...

    def block_slack(self, execution_id: str, error: str, now: datetime) -> None:
        """Slack refuses the execution's channel for good: record why and when it was last tried."""
        ...

    def unblock_slack(self, execution_id: str) -> None: ...

    def mark_delivered(self, execution_id: str, seq: int, message_ts: str | None) -> None: ...


class Hooks(Protocol):
    """hooks (#15): SSM Automation and Lambda, as a wave's before- and after-hooks call them."""

    def start_automation(
        self, where: AccountRegion, document: str, parameters: Mapping[str, Sequence[str]], client_token: str
    ) -> str:
        """StartAutomationExecution: the automation execution's id (the same one again for a token
        used before). HookRefused / HookUnavailable."""
        ...

    def automations(self, where: AccountRegion, execution_ids: Sequence[str]) -> dict[str, HookResult]:
        """GetAutomationExecution of each: its status, outputs or failure message. Ids SSM does not
        answer for now are left out."""
        ...

    def invoke(
        self, where: AccountRegion, function: str, payload: Mapping[str, object], timeout_seconds: int
    ) -> HookResult:
        """Invoke (RequestResponse) once, never retried (a retry would run the hook twice): the
        function's answer, its error, or TIMED_OUT. HookUnavailable when Lambda throttled (nothing ran)."""
        ...


class Drs(Protocol):
    def start_recovery(
        self,
        where: AccountRegion,
        source_server_ids: Sequence[str],
        *,
        is_drill: bool,
        tags: dict[str, str],
        snapshots: Mapping[str, str] | None = None,
    ) -> str:
        """Start one job for these servers (from these recovery snapshots, else the latest data)."""
        ...

    def describe_jobs(self, where: AccountRegion, job_ids: Sequence[str]) -> list[JobSnapshot]:
        """These jobs, however many (DescribeJobs takes 1,000 ids at a time)."""
        ...

    def find_job(self, where: AccountRegion, tags: dict[str, str], since: datetime) -> str | None:
        """The id of a job created since `since` carrying all these tags, if any."""
        ...

    def load(self, where: AccountRegion, since: datetime) -> RegionLoad:
        """Active jobs in that account and region created since `since`, and the servers in them."""
        ...

    def active_jobs(self, where: AccountRegion, since: datetime) -> list[JobSnapshot]:
        """Jobs created since `since` that have not ended, with their servers."""
        ...

    def terminate_jobs(self, where: AccountRegion, since: datetime) -> list[JobSnapshot]:
        """TERMINATE jobs created since `since` (running or ended), with their recovery instances."""
        ...

    def source_servers(
        self, where: AccountRegion, ids: Sequence[str] | None = None
    ) -> list[SourceServerInfo]:
        """The source servers named, or (ids=None) every source server of that account and region."""
        ...

    def recovery_instances(
        self, where: AccountRegion, source_server_ids: Sequence[str]
    ) -> list[RecoveryInstanceInfo]: ...

    def snapshot_at_or_before(
        self, where: AccountRegion, source_server_id: str, moment: datetime
    ) -> tuple[str, datetime] | None:
        """The newest recovery snapshot taken at or before `moment`: its id and time."""
        ...

    def terminate(self, where: AccountRegion, recovery_instance_ids: Sequence[str]) -> str:
        """TerminateRecoveryInstances (at most 200 ids); the TERMINATE job's id."""
        ...

    def reverse_replication(self, where: AccountRegion, recovery_instance_id: str) -> str:
        """ReverseReplication on a recovery instance of this region: the ARN of the source server
        replicating back (in the origin region). A repeat may be refused (DrsConflict): ask DRS
        (recovery_instances, source_servers) whether an earlier call took effect."""
        ...

    def jobs_tags(self, where: AccountRegion, job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """The tags of each of these jobs that DRS has, by job id."""
        ...

    def failure_reasons(
        self, where: AccountRegion, job_id: str, source_server_ids: Sequence[str]
    ) -> dict[str, str]:
        """DRS's own error text for each failed server of a job, from its job log."""
        ...


class HealthChecks(Protocol):
    """EC2, SSM and CloudWatch, asked about a wave's recovery instances (bot/adapters/health.py).
    Each answers (passed, what AWS said) by instance id or alarm name."""

    def instance_status(
        self, where: AccountRegion, instance_ids: Sequence[str]
    ) -> dict[str, tuple[bool, str]]: ...

    def agents_online(
        self, where: AccountRegion, instance_ids: Sequence[str]
    ) -> dict[str, tuple[bool, str]]: ...

    def alarm_states(self, where: AccountRegion, names: Sequence[str]) -> dict[str, tuple[bool, str]]: ...

    def send_command(
        self,
        where: AccountRegion,
        document: str,
        parameters: Mapping[str, Sequence[str]],
        instance_ids: Sequence[str],
        timeout_seconds: int,
        comment: str,
    ) -> str:
        """SendCommand (ssm_command), at most 50 instances, sent once (never retried: not idempotent):
        its CommandId."""
        ...

    def find_command(self, where: AccountRegion, document: str, comment: str, since: datetime) -> str | None:
        """ListCommands of this document since then: the CommandId of the one with this Comment."""
        ...

    def command_results(self, where: AccountRegion, command_id: str) -> dict[str, tuple[bool, str, bool]]:
        """ListCommandInvocations: by instance id (passed, what SSM said, ended): Success, or what is
        pending, or how it ended (Failed, TimedOut, Cancelled) with its output."""
        ...


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    blocks: list[dict[str, Any]] = []


class Notifier(Protocol):
    def post(
        self,
        channel: str,
        message: Message,
        *,
        key: str,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> str:
        """Post a message tagged with `key`; return its ts."""
        ...

    def find(
        self, channel: str, key: str, *, thread_ts: str | None = None, since: datetime | None = None
    ) -> str | None:
        """The ts of a message posted earlier with `key` (after an ambiguous failure), if any: in the
        thread `thread_ts`, or among the channel's messages posted since `since`."""
        ...

    def update(self, channel: str, ts: str, message: Message) -> None: ...

    def upload(
        self, channel: str, thread_ts: str, *, filename: str, data: bytes, title: str, comment: Message
    ) -> str:
        """Share a file in the thread, `comment` as its message (files.uploadV2); return the file's id."""
        ...

    def find_file(self, channel: str, thread_ts: str, filename: str) -> str | None:
        """The id of a file shared in the thread under `filename` earlier (after an ambiguous failure)."""
        ...


class Pictures(Protocol):
    def png(self, timeline: Timeline, title: str) -> bytes:
        """The timeline drawn as a PNG, `title` on top."""
        ...


@dataclass(frozen=True)
class ReportNote:
    """What the thread is told of an execution's report: its verdict, and a link when there is one."""

    report: Report
    url: str | None = None  # None: reports are not kept, or it could not be stored just now
    link_seconds: int = 0
    unavailable: str | None = None  # why the report could not be stored (then no url)


class Renderer(Protocol):
    def anchor(self, view: ProgressUpdated, now: datetime) -> Message: ...

    def event(self, event: Event) -> Message: ...

    def picture_refused(self, caption: Message, error: str) -> Message: ...

    def report_verdict(self, head: Message, note: ReportNote) -> Message: ...

    def report_head(self, report: Report) -> Message: ...


class Directory(Protocol):
    def groups_of(self, user_id: str, candidates: set[str]) -> set[str]:
        """Which of these user groups the user belongs to (only those the policy names are asked)."""
        ...


class RefreshResult(BaseModel):
    """What republishing the Home tab did: views published, and views Slack did not take."""

    model_config = ConfigDict(frozen=True)

    published: int = 0
    failed: int = 0


class HomeTab(Protocol):
    """Called by the outbox and the watch when something the Home tab shows changed
    (bot.services.home.Home). Never raises: the caller's work is done."""

    def refresh(self) -> RefreshResult: ...

    def refresh_if_catalog_changed(self) -> RefreshResult: ...


class ExecutorTrigger(Protocol):
    def start(self, execution_id: str, run: str = "") -> None:
        """Make sure the durable loop runs ticks for this execution (a duplicate start is harmless).
        `run` names a new loop for an execution whose loop has ended (/drs retry re-opened it)."""
        ...
