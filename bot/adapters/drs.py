"""DRS through boto3: one client per account and region, AWS errors turned into the bot's own."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from bot.adapters import telemetry
from bot.domain.accounts import AccountRegion, home
from bot.domain.drs import RecoveryInstanceInfo, SourceServerInfo, launch_failure_reason
from bot.domain.engine import JobSnapshot, RegionLoad, ServerLaunch
from bot.errors import DrsConflict, DrsError, DrsQuotaExceeded, DrsRefused, DrsUnavailable

if TYPE_CHECKING:
    from mypy_boto3_drs import DrsClient

LAUNCH_RESULT_EVENT = "DRS Source Server Launch Result"
JOB_IDS_PER_DESCRIBE = 1000  # DescribeJobs' filters.jobIDs takes at most 1000
_UNAVAILABLE = {"ThrottlingException", "InternalServerException", "ServiceUnavailable", "RequestTimeout"}

ClientFactory = Callable[[AccountRegion], "DrsClient"]
MAX_IDS = 200  # DescribeSourceServers / DescribeRecoveryInstances filters, TerminateRecoveryInstances


class DrsGateway:
    def __init__(self, client_for: ClientFactory) -> None:
        self._factory = client_for
        self._clients: dict[AccountRegion, DrsClient] = {}
        self._lock = threading.Lock()

    def _client(self, where: AccountRegion) -> DrsClient:
        with self._lock:
            if where not in self._clients:
                self._clients[where] = self._factory(where)
            return self._clients[where]

    def start_recovery(
        self,
        where: AccountRegion,
        source_server_ids: Sequence[str],
        *,
        is_drill: bool,
        tags: dict[str, str],
        snapshots: Mapping[str, str] | None = None,
    ) -> str:
        chosen = snapshots or {}
        servers: list[Any] = [
            {"sourceServerID": sid, "recoverySnapshotID": chosen[sid]}
            if sid in chosen
            else {"sourceServerID": sid}
            for sid in source_server_ids
        ]
        with _translated():
            response = self._client(where).start_recovery(
                sourceServers=servers,
                isDrill=is_drill,
                tags=tags,
            )
        return response["job"]["jobID"]

    def describe_jobs(self, where: AccountRegion, job_ids: Sequence[str]) -> list[JobSnapshot]:
        with _translated():
            return [_job(job) for job in self._jobs_by_id(where, job_ids)]

    def find_job(self, where: AccountRegion, tags: dict[str, str], since: datetime) -> str | None:
        with _translated():
            for job in self._pages(where, "describe_jobs", filters={"fromDate": format_time(since)}):
                job_tags = job.get("tags") or {}
                if all(job_tags.get(key) == value for key, value in tags.items()):
                    return str(job["jobID"])
        return None

    def load(self, where: AccountRegion, since: datetime) -> RegionLoad:
        active = self.active_jobs(where, since)
        return RegionLoad(jobs=len(active), servers=sum(len(job.servers) for job in active))

    def active_jobs(self, where: AccountRegion, since: datetime) -> list[JobSnapshot]:
        with _translated():
            return [
                _job(job)
                for job in self._pages(where, "describe_jobs", filters={"fromDate": format_time(since)})
                if job.get("status") != "COMPLETED"
            ]

    def terminate_jobs(self, where: AccountRegion, since: datetime) -> list[JobSnapshot]:
        # The model's timestamp pattern ends in Z (drs-facts.md): send that.
        from_date = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with _translated():
            return [
                _job(job)
                for job in self._pages(where, "describe_jobs", filters={"fromDate": from_date})
                if job.get("type") == "TERMINATE"
            ]

    def source_servers(
        self, where: AccountRegion, ids: Sequence[str] | None = None
    ) -> list[SourceServerInfo]:
        """The servers named (in calls of at most 200 ids), or every server of that account and region."""
        batches: list[dict[str, Any]] = (
            [{"sourceServerIDs": list(ids[i : i + MAX_IDS])} for i in range(0, len(ids), MAX_IDS)]
            if ids is not None
            else [{}]
        )
        found: list[SourceServerInfo] = []
        with _translated():
            for filters in batches:
                pages = self._pages(
                    where, "describe_source_servers", filters=filters, PaginationConfig={"PageSize": MAX_IDS}
                )
                found += [_source_server(item) for item in pages]
        return found

    def recovery_instances(
        self, where: AccountRegion, source_server_ids: Sequence[str]
    ) -> list[RecoveryInstanceInfo]:
        found: list[RecoveryInstanceInfo] = []
        with _translated():
            for i in range(0, len(source_server_ids), MAX_IDS):
                batch = list(source_server_ids[i : i + MAX_IDS])
                pages = self._pages(
                    where,
                    "describe_recovery_instances",
                    filters={"sourceServerIDs": batch},
                    PaginationConfig={"PageSize": MAX_IDS},
                )
                found += [_recovery_instance(item) for item in pages]
        return found

    def snapshot_at_or_before(
        self, where: AccountRegion, source_server_id: str, moment: datetime
    ) -> tuple[str, datetime] | None:
        with _translated():
            response = self._client(where).describe_recovery_snapshots(
                sourceServerID=source_server_id,
                filters={"toDateTime": format_time(moment)},
                order="DESC",
                maxResults=1,
            )
        items = response.get("items") or []
        if not items:
            return None
        return str(items[0]["snapshotID"]), parse_time(str(items[0]["timestamp"]))

    def newest_snapshot(self, where: AccountRegion, source_server_id: str) -> datetime | None:
        with _translated():
            response = self._client(where).describe_recovery_snapshots(
                sourceServerID=source_server_id, order="DESC", maxResults=1
            )
        items = response.get("items") or []
        return parse_time(str(items[0]["timestamp"])) if items else None

    def terminate(self, where: AccountRegion, recovery_instance_ids: Sequence[str]) -> str:
        with _translated():
            response = self._client(where).terminate_recovery_instances(
                recoveryInstanceIDs=list(recovery_instance_ids)
            )
        return str(response["job"]["jobID"])

    def reverse_replication(self, where: AccountRegion, recovery_instance_id: str) -> str:
        with _translated():
            response = self._client(where).reverse_replication(recoveryInstanceID=recovery_instance_id)
        return str(response.get("reversedDirectionSourceServerArn") or "")

    def jobs_tags(self, where: AccountRegion, job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        with _translated():
            return {item["jobID"]: dict(item.get("tags") or {}) for item in self._jobs_by_id(where, job_ids)}

    def failure_reasons(
        self, where: AccountRegion, job_id: str, source_server_ids: Sequence[str]
    ) -> dict[str, str]:
        wanted = set(source_server_ids)
        reasons: dict[str, str] = {}
        with _translated():
            for item in self._pages(where, "describe_job_log_items", jobID=job_id):
                data = item.get("eventData") or {}
                server = data.get("sourceServerID")
                raw = data.get("rawError")
                reason = launch_failure_reason(str(item.get("event")), str(raw) if raw else None)
                if server in wanted and reason:
                    reasons[server] = reason
        return reasons

    def _jobs_by_id(self, where: AccountRegion, job_ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        for start in range(0, len(job_ids), JOB_IDS_PER_DESCRIBE):
            wanted = list(job_ids[start : start + JOB_IDS_PER_DESCRIBE])
            yield from self._pages(where, "describe_jobs", filters={"jobIDs": wanted})

    def _pages(self, where: AccountRegion, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self._client(where).get_paginator(operation)  # type: ignore[call-overload]
        for page in paginator.paginate(**kwargs):
            yield from page.get("items", [])


def _source_server(item: dict[str, Any]) -> SourceServerInfo:
    replication = item.get("dataReplicationInfo") or {}
    error = replication.get("dataReplicationError") or {}
    staging = item.get("stagingArea") or {}
    return SourceServerInfo(
        source_server_id=item["sourceServerID"],
        tags=dict(item.get("tags") or {}),
        replication_state=replication.get("dataReplicationState"),
        lag_seconds=parse_duration(replication.get("lagDuration")),
        replication_error=error.get("rawError") or error.get("error"),
        last_launch_result=item.get("lastLaunchResult"),
        reversed_source_server_arn=item.get("reversedDirectionSourceServerArn"),
        staging_account=staging.get("stagingAccountID") if staging.get("status") != "NOT_EXTENDED" else None,
        staging_status=staging.get("status"),
        staging_error=staging.get("errorMessage"),
    )


def _recovery_instance(item: dict[str, Any]) -> RecoveryInstanceInfo:
    return RecoveryInstanceInfo(
        recovery_instance_id=item["recoveryInstanceID"],
        ec2_instance_id=item.get("ec2InstanceID"),
        source_server_id=item.get("sourceServerID", ""),
        is_drill=bool(item.get("isDrill")),
        job_id=item.get("jobID"),
        ec2_state=item.get("ec2InstanceState"),
        replication_state=(item.get("dataReplicationInfo") or {}).get("dataReplicationState"),
    )


_DURATION = re.compile(
    r"^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str | None) -> float | None:
    """DRS durations are ISO-8601 strings: P0D, PT8M53.1S, P2DT1H32M12.136909S."""
    match = _DURATION.match(text or "")
    if not text or match is None:
        return None
    days, hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_time(text: str) -> datetime:
    """DRS timestamps are strings, '...+00:00' in real output and '...Z' in the model: both work."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_time(moment: datetime) -> str:
    """A timestamp as DRS's input contract wants it: UTC ending in Z (the model's pattern has no +00:00)."""
    if moment.tzinfo is None:
        raise ValueError("a DRS timestamp needs a timezone-aware datetime")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _job(job: dict[str, Any]) -> JobSnapshot:
    return JobSnapshot(
        job_id=job["jobID"],
        status=job.get("status", "PENDING"),
        servers=tuple(
            ServerLaunch(
                source_server_id=server["sourceServerID"],
                launch_status=server.get("launchStatus", "PENDING"),
                recovery_instance_id=server.get("recoveryInstanceID"),
            )
            for server in job.get("participatingServers", [])
        ),
    )


class _translated:
    """Turn boto errors into DrsUnavailable / DrsConflict / DrsRefused."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> Literal[False]:
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "Unknown")
            message = error.response.get("Error", {}).get("Message", str(error))
            telemetry.count_error(telemetry.DRS_ERRORS, code)
            if code in _UNAVAILABLE:
                raise DrsUnavailable(code, message) from error
            if code == "ConflictException":
                raise DrsConflict(code, message) from error
            if code == "ServiceQuotaExceededException":
                raise DrsQuotaExceeded(code, message) from error
            raise DrsRefused(code, message) from error
        if isinstance(error, BotoCoreError):
            telemetry.count_error(telemetry.DRS_ERRORS, type(error).__name__)
            raise DrsUnavailable(type(error).__name__, str(error)) from error
        return False


__all__ = ["DrsError", "DrsGateway"]


class LaunchResult(NamedTuple):
    """What a launch-result event names: the account it came from (None if it names none), the region
    and the job."""

    account: str | None
    region: str
    job_id: str


def launch_result_job(message: str) -> LaunchResult | None:
    """The account, region and job id of an EventBridge "DRS Source Server Launch Result" event (as JSON,
    the body of the SQS message EventBridge sends), or None for anything else.

    Real events name the job `job-id` in their detail; `jobID` is accepted too, as DRS's API spells it."""
    try:
        event = json.loads(message)
    except json.JSONDecodeError:
        return None
    if not isinstance(event, dict) or event.get("detail-type") != LAUNCH_RESULT_EVENT:
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    job_id, region, account = (
        detail.get("job-id") or detail.get("jobID"),
        event.get("region"),
        event.get("account"),
    )
    if not (isinstance(job_id, str) and job_id and isinstance(region, str) and region):
        return None
    return LaunchResult(account if isinstance(account, str) and account else None, region, job_id)


def launch_result_place(
    result: LaunchResult, target_accounts: Collection[str], own_account: str | None
) -> AccountRegion | None:
    """Where to ask DRS about an event's job: a target account's (through its role), the bot's own for
    its own events (or one naming no account, or when the bot does not know its own id), and None for any
    other account: the bot has no role there, and never tries to assume one it was not given."""
    if result.account is not None and result.account in target_accounts:
        return AccountRegion(result.account, result.region)
    if result.account is None or own_account is None or result.account == own_account:
        return home(result.region)
    return None
