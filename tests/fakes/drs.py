"""DRS in memory, on the fake clock: source servers, launch jobs that end `launch_seconds` after they
start (a server named in `failing` fails, with DRS's reason), recovery instances, TERMINATE jobs,
ReverseReplication. Every call is recorded in `calls`; `unavailable` makes the next calls of a kind
fail as DRS throttling past botocore's retries does, `load_unavailable` the quota load of a place;
`unreachable` refuses the bot's role in an account (every call there fails as AccountSessions fails it).
A place is named as `str(AccountRegion)`: "us-east-1" in the own account, "111122223333/us-east-1"."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.accounts import AccountRegion, role_arn
from bot.domain.drs import RecoveryInstanceInfo, SourceServerInfo
from bot.domain.engine import JobSnapshot, RegionLoad, ServerLaunch
from bot.errors import AccountUnreachable, DrsConflict, DrsRefused, DrsUnavailable
from tests.fakes.clock import FakeClock

ACCOUNT = "111122223333"


@dataclass
class _Server:
    region: str
    source_server_id: str
    tags: dict[str, str] = field(default_factory=dict)
    replication_state: str = "CONTINUOUS"
    lag_seconds: float = 5.0
    reversed_arn: str | None = None
    snapshots: list[tuple[str, datetime]] = field(default_factory=list)


@dataclass
class _Job:
    job_id: str
    region: str
    kind: str  # LAUNCH or TERMINATE
    server_ids: tuple[str, ...]
    created_at: datetime
    is_drill: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    instance_ids: dict[str, str] = field(default_factory=dict)  # source server -> recovery instance
    failing: frozenset[str] = (
        frozenset()
    )  # its servers set to fail when it started (a later change is the next job's)


@dataclass
class _Instance:
    recovery_instance_id: str
    region: str
    source_server_id: str
    is_drill: bool
    job_id: str
    ec2_state: str = "RUNNING"
    replication_state: str | None = None


class FakeDrs:
    def __init__(
        self,
        clock: FakeClock,
        *,
        launch_seconds: float = 540,
        failing: Mapping[str, str] | None = None,
        failback_to: Mapping[str, str] | None = None,
    ) -> None:
        self._clock = clock
        self.launch_seconds = launch_seconds
        self.failing = dict(failing or {})  # source server id -> DRS's reason
        # Recovery region -> origin region, and back (a re-protect after a failback reverses again).
        self.failback_to = {**{o: r for r, o in (failback_to or {}).items()}, **(failback_to or {})}
        self.servers: dict[str, _Server] = {}
        self.jobs: dict[str, _Job] = {}
        self.instances: dict[str, _Instance] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, region)
        self.unavailable: dict[str, int] = {}  # operation -> how many next calls fail
        # Place ("111122223333/us-east-1") -> the error every call there raises (a role not assumed, a
        # permission missing), until removed.
        self.refusing: dict[str, Exception] = {}
        # account -> STS's refusal: every call there fails as AccountSessions fails it (nothing called).
        self.unreachable: dict[str, str] = {}
        self.load_unavailable: set[str] = set()  # places ("acct/region") whose quota load is throttled
        self._ids = itertools.count(1)

    def add_servers(self, region: str, ids: Sequence[str], tags: Mapping[str, str] | None = None) -> None:
        for sid in ids:
            self.servers[sid] = _Server(region, sid, dict(tags or {}))

    def started(self) -> list[_Job]:
        """The launch jobs, in the order they were started."""
        return [job for job in self.jobs.values() if job.kind == "LAUNCH"]

    # --- the port ----------------------------------------------------------------------------------

    def start_recovery(
        self,
        where: AccountRegion,
        source_server_ids: Sequence[str],
        *,
        is_drill: bool,
        tags: dict[str, str],
        snapshots: Mapping[str, str] | None = None,
    ) -> str:
        region = str(where)
        self._call("StartRecovery", region)
        busy = {sid for job in self._running(region) for sid in job.server_ids}
        if busy & set(source_server_ids):
            raise DrsConflict("ConflictException", "a source server is already in an active job")
        unknown = [sid for sid in source_server_ids if self._server(region, sid) is None]
        if unknown:
            raise DrsRefused("ValidationException", f"unknown source servers {unknown}")
        job = self._job(region, "LAUNCH", tuple(source_server_ids), is_drill=is_drill, tags=dict(tags))
        return job.job_id

    def describe_jobs(self, where: AccountRegion, job_ids: Sequence[str]) -> list[JobSnapshot]:
        region = str(where)
        self._call("DescribeJobs", region)
        return [self._snapshot(self.jobs[i]) for i in job_ids if i in self.jobs]

    def find_job(self, where: AccountRegion, tags: dict[str, str], since: datetime) -> str | None:
        region = str(where)
        self._call("DescribeJobs", region)
        for job in self._in(region, since):
            if all(job.tags.get(k) == v for k, v in tags.items()):
                return job.job_id
        return None

    def load(self, where: AccountRegion, since: datetime) -> RegionLoad:
        region = str(where)
        self._reach(region)
        if region in self.load_unavailable:
            raise DrsUnavailable("ThrottlingException", "Rate exceeded")
        running = [job for job in self._running(region) if job.created_at >= since]
        return RegionLoad(jobs=len(running), servers=sum(len(job.server_ids) for job in running))

    def active_jobs(self, where: AccountRegion, since: datetime) -> list[JobSnapshot]:
        region = str(where)
        self._call("DescribeJobs", region)
        return [self._snapshot(job) for job in self._running(region) if job.created_at >= since]

    def terminate_jobs(self, where: AccountRegion, since: datetime) -> list[JobSnapshot]:
        region = str(where)
        self._call("DescribeJobs", region)
        return [self._snapshot(job) for job in self._in(region, since) if job.kind == "TERMINATE"]

    def source_servers(
        self, where: AccountRegion, ids: Sequence[str] | None = None
    ) -> list[SourceServerInfo]:
        region = str(where)
        self._call("DescribeSourceServers", region)
        wanted = [s for s in self.servers.values() if s.region == region]
        if ids is not None:
            wanted = [s for s in wanted if s.source_server_id in ids]
        return [
            SourceServerInfo(
                source_server_id=s.source_server_id,
                tags=s.tags,
                replication_state=s.replication_state,
                lag_seconds=s.lag_seconds,
                reversed_source_server_arn=s.reversed_arn,
            )
            for s in wanted
        ]

    def recovery_instances(
        self, where: AccountRegion, source_server_ids: Sequence[str]
    ) -> list[RecoveryInstanceInfo]:
        region = str(where)
        self._call("DescribeRecoveryInstances", region)
        self._settle()
        return [
            RecoveryInstanceInfo(
                recovery_instance_id=i.recovery_instance_id,
                ec2_instance_id=f"i-{i.recovery_instance_id[3:]}",
                source_server_id=i.source_server_id,
                is_drill=i.is_drill,
                job_id=i.job_id,
                ec2_state=i.ec2_state,
                replication_state=i.replication_state,
            )
            for i in self.instances.values()
            if i.region == region and i.source_server_id in source_server_ids
        ]

    def snapshot_at_or_before(
        self, where: AccountRegion, source_server_id: str, moment: datetime
    ) -> tuple[str, datetime] | None:
        region = str(where)
        self._call("DescribeRecoverySnapshots", region)
        server = self._server(region, source_server_id)
        taken = [s for s in (server.snapshots if server else []) if s[1] <= moment]
        return max(taken, key=lambda s: s[1]) if taken else None

    def terminate(self, where: AccountRegion, recovery_instance_ids: Sequence[str]) -> str:
        region = str(where)
        self._call("TerminateRecoveryInstances", region)
        self._settle()
        job = self._job(region, "TERMINATE", ())
        for instance_id in recovery_instance_ids:
            instance = self.instances[instance_id]
            instance.ec2_state = "TERMINATED"
            job.instance_ids[instance.source_server_id] = instance_id
        job.server_ids = tuple(job.instance_ids)
        return job.job_id

    def reverse_replication(self, where: AccountRegion, recovery_instance_id: str) -> str:
        region = str(where)
        self._call("ReverseReplication", region)
        self._settle()
        instance = self.instances[recovery_instance_id]
        if instance.replication_state is not None:
            raise DrsConflict("ConflictException", "the recovery instance already replicates")
        # In another account ("111122223333/us-east-1"), the reversed server is in that account too.
        account, _, plain = region.rpartition("/")
        origin_region = self.failback_to[plain]
        origin = f"{account}/{origin_region}" if account else origin_region
        reversed_id = f"s-rev{next(self._ids):013x}"
        self.servers[reversed_id] = _Server(origin, reversed_id)
        arn = f"arn:aws:drs:{origin_region}:{account or ACCOUNT}:source-server/{reversed_id}"
        instance.replication_state = "CONTINUOUS"
        source = self._server(region, instance.source_server_id)
        if source is not None:
            source.reversed_arn = arn
        return arn

    def jobs_tags(self, where: AccountRegion, job_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        region = str(where)
        self._call("DescribeJobs", region)
        return {i: self.jobs[i].tags for i in job_ids if i in self.jobs and self.jobs[i].region == region}

    def failure_reasons(
        self, where: AccountRegion, job_id: str, source_server_ids: Sequence[str]
    ) -> dict[str, str]:
        region = str(where)
        self._call("DescribeJobLogItems", region)
        return {sid: self.failing[sid] for sid in source_server_ids if sid in self.failing}

    # --- behaviour -----------------------------------------------------------------------------------

    def _reach(self, region: str) -> None:
        account = region.split("/")[0] if "/" in region else None
        if account is not None and account in self.unreachable:
            arn = role_arn(account, "drs-chatops-target", region.split("/")[1])
            raise AccountUnreachable(account, arn, "AccessDenied", self.unreachable[account], transient=False)

    def _call(self, operation: str, region: str) -> None:
        self._reach(region)
        self.calls.append((operation, region))
        if region in self.refusing:
            raise self.refusing[region]
        if self.unavailable.get(operation, 0) > 0:
            self.unavailable[operation] -= 1
            raise DrsUnavailable("ThrottlingException", "Rate exceeded")

    def _server(self, region: str, sid: str) -> _Server | None:
        server = self.servers.get(sid)
        return server if server is not None and server.region == region else None

    def _job(
        self,
        region: str,
        kind: str,
        server_ids: tuple[str, ...],
        *,
        is_drill: bool = True,
        tags: dict[str, str] | None = None,
    ) -> _Job:
        job_id = f"drsjob-{next(self._ids):017x}"
        job = _Job(job_id, region, kind, server_ids, self._clock(), is_drill=is_drill, tags=tags or {})
        job.failing = frozenset(sid for sid in server_ids if sid in self.failing)
        self.jobs[job.job_id] = job
        return job

    def _done(self, job: _Job) -> bool:
        if job.kind == "TERMINATE":
            return True
        return self._clock() >= job.created_at + timedelta(seconds=self.launch_seconds)

    def _running(self, region: str) -> list[_Job]:
        return [job for job in self.jobs.values() if job.region == region and not self._done(job)]

    def _in(self, region: str, since: datetime) -> list[_Job]:
        return [job for job in self.jobs.values() if job.region == region and job.created_at >= since]

    def _settle(self) -> None:
        """A launch job that ended has launched its servers' recovery instances."""
        for job in self.jobs.values():
            if job.kind != "LAUNCH" or job.instance_ids or not self._done(job):
                continue
            for sid in job.server_ids:
                if sid not in self.failing:
                    instance = _Instance(
                        f"ri-{next(self._ids):017x}", job.region, sid, job.is_drill, job.job_id
                    )
                    self.instances[instance.recovery_instance_id] = instance
                    job.instance_ids[sid] = instance.recovery_instance_id

    def _snapshot(self, job: _Job) -> JobSnapshot:
        self._settle()
        done = self._done(job)

        def status(sid: str) -> str:
            if job.kind == "TERMINATE":
                return "TERMINATED"
            if not done:
                return "IN_PROGRESS"
            return "FAILED" if sid in job.failing or sid in self.failing else "LAUNCHED"

        return JobSnapshot(
            job_id=job.job_id,
            status="COMPLETED" if done else "STARTED",
            servers=tuple(
                ServerLaunch(
                    source_server_id=sid,
                    launch_status=status(sid),
                    recovery_instance_id=job.instance_ids.get(sid),
                )
                for sid in job.server_ids
            ),
        )
