"""The emulated world of one region, and how each resource renders into its API shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .clock import fmt_duration, fmt_time
from .ids import job_arn, recovery_instance_arn, source_server_arn

HEALTHY_STATE = "CONTINUOUS"
# States in which no new data arrives, so the lag keeps growing.
STALE_STATES = frozenset({"STALLED", "DISCONNECTED", "PAUSED", "STOPPED"})
INITIATION_STEPS = (
    "WAIT",
    "CREATE_SECURITY_GROUP",
    "LAUNCH_REPLICATION_SERVER",
    "BOOT_REPLICATION_SERVER",
    "AUTHENTICATE_WITH_SERVICE",
    "DOWNLOAD_REPLICATION_SOFTWARE",
    "CREATE_STAGING_DISKS",
    "ATTACH_STAGING_DISKS",
    "PAIR_REPLICATION_SERVER_WITH_AGENT",
    "CONNECT_AGENT_TO_REPLICATION_SERVER",
    "START_DATA_TRANSFER",
)
GIB = 1024**3


@dataclass
class LaunchFailure:
    error: str
    event: str = "LAUNCH_FAILED"  # the job log event that ends the launch (lifecycle.FAILURES)
    remaining: int | None = None  # launches still to fail; None means until cleared


@dataclass
class Snapshot:
    id: str
    source_server_id: str
    expected: datetime
    taken: datetime
    ebs_snapshots: list[str]

    def to_api(self) -> dict[str, Any]:
        return {
            "snapshotID": self.id,
            "sourceServerID": self.source_server_id,
            "expectedTimestamp": fmt_time(self.expected),
            "timestamp": fmt_time(self.taken),
            "ebsSnapshots": list(self.ebs_snapshots),
        }


@dataclass
class LastLaunch:
    job_id: str
    api_time: datetime
    is_drill: bool
    status: str


@dataclass
class Hardware:
    hostname: str
    disk_bytes: int
    cores: int
    ram_bytes: int
    mac: str
    ip: str

    @property
    def fqdn(self) -> str:
        return f"{self.hostname}.corp.example.internal"


@dataclass
class SourceServer:
    id: str
    region: str
    account: str
    seq: int
    hardware: Hardware
    tags: dict[str, str]
    added_at: datetime
    state: str
    state_since: datetime
    origin_region: str
    origin_instance_id: str
    launch_template_id: str
    direction: str = "FAILOVER"
    lag_override: float | None = None
    # Future replication state changes (e.g. a reversed server syncing), applied lazily.
    schedule: list[tuple[datetime, str]] = field(default_factory=list)
    # Periods spent in CONTINUOUS: point-in-time snapshots are only taken then. [start, end or None]
    continuous: list[list[datetime | None]] = field(default_factory=list)
    on_demand: list[Snapshot] = field(default_factory=list)
    reversed_arn: str | None = None
    recovery_instance_id: str | None = None
    last_launch: LastLaunch | None = None
    last_launch_result: str = "NOT_STARTED"
    launch_failure: LaunchFailure | None = None
    extra_conversion: float = 0.0
    # Fault: its recovery instances stay not ready to reverse this many seconds more (inf: never).
    reverse_not_ready: float = 0.0
    # An extended source server: the server in a staging account whose replication it shows.
    staging: SourceServer | None = None
    origin_account: str | None = None  # where the protected machine runs, when not this account

    @property
    def arn(self) -> str:
        return source_server_arn(self.region, self.account, self.id)

    def set_state(self, state: str, at: datetime) -> None:
        if self.state == HEALTHY_STATE and state != HEALTHY_STATE and self.continuous:
            self.continuous[-1][1] = at
        if state == HEALTHY_STATE and self.state != HEALTHY_STATE:
            self.continuous.append([at, None])
        self.state = state
        self.state_since = at

    def sync(self, now: datetime) -> None:
        staging = self.staging
        if staging is not None:
            # Extended: the data is the staging server's, so is its replication and its snapshots.
            staging.sync(now)
            self.state, self.state_since, self.lag_override = (
                staging.state,
                staging.state_since,
                staging.lag_override,
            )
            self.added_at, self.schedule, self.continuous = (
                staging.added_at,
                staging.schedule,
                staging.continuous,
            )
            return
        while self.schedule and self.schedule[0][0] <= now:
            at, state = self.schedule.pop(0)
            self.set_state(state, at)

    def lag_seconds(self, now: datetime) -> float:
        growing = (now - self.state_since).total_seconds() if self.state in STALE_STATES else 0.0
        if self.state in ("INITIATING", "INITIAL_SYNC"):
            return (now - self.added_at).total_seconds()
        return (self.lag_override or 0.0) + growing

    def to_api(self, now: datetime) -> dict[str, Any]:
        self.sync(now)
        hw = self.hardware
        item: dict[str, Any] = {
            "sourceServerID": self.id,
            "arn": self.arn,
            "tags": dict(self.tags),
            "lastLaunchResult": self.last_launch_result,
            "dataReplicationInfo": self._replication_info(now),
            "lifeCycle": self._life_cycle(now),
            "sourceProperties": {
                "lastUpdatedDateTime": fmt_time(self.added_at),
                "recommendedInstanceType": "t3.medium",
                "identificationHints": {
                    "fqdn": hw.fqdn,
                    "hostname": hw.hostname,
                    "awsInstanceID": self.origin_instance_id,
                },
                "networkInterfaces": [{"macAddress": hw.mac, "ips": [hw.ip], "isPrimary": True}],
                "disks": [{"deviceName": "/dev/xvda", "bytes": hw.disk_bytes}],
                "cpus": [{"cores": hw.cores, "modelName": "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"}],
                "ramBytes": hw.ram_bytes,
                "os": {"fullString": "Linux version 5.10.205-195.807.amzn2.x86_64 (Amazon Linux 2)"},
                "supportsNitroInstances": True,
                "architecture": "x86_64",
            },
            "stagingArea": self._staging_area(),
            "sourceCloudProperties": {
                "originAccountID": self.origin_account or self.account,
                "originRegion": self.origin_region,
                "originAvailabilityZone": f"{self.origin_region}a",
            },
            "replicationDirection": self.direction,
            "agentVersion": "4.7.1.2135.241.0000",
        }
        if self.recovery_instance_id:
            item["recoveryInstanceId"] = self.recovery_instance_id
        if self.reversed_arn:
            item["reversedDirectionSourceServerArn"] = self.reversed_arn
        return item

    def _staging_area(self) -> dict[str, Any]:
        if self.staging is None:
            return {"status": "NOT_EXTENDED"}
        return {
            "status": "EXTENDED",
            "stagingAccountID": self.staging.account,
            "stagingSourceServerArn": self.staging.arn,
        }

    def _replication_info(self, now: datetime) -> dict[str, Any]:
        total = self.hardware.disk_bytes
        replicated = total
        if self.state in ("INITIATING", "INITIAL_SYNC"):
            replicated = 0 if self.state == "INITIATING" else total // 2
        backlog = total // 50 if self.state == "BACKLOG" else 0
        steps = []
        for i, name in enumerate(INITIATION_STEPS):
            status = "SUCCEEDED"
            if self.state == "INITIATING":
                status = "SUCCEEDED" if i < 3 else "IN_PROGRESS" if i == 3 else "NOT_STARTED"
            steps.append({"name": name, "status": status})
        info: dict[str, Any] = {
            "lagDuration": fmt_duration(self.lag_seconds(now)),
            "replicatedDisks": [
                {
                    "deviceName": "/dev/xvda",
                    "totalStorageBytes": total,
                    "replicatedStorageBytes": replicated,
                    "rescannedStorageBytes": 0,
                    "backloggedStorageBytes": backlog,
                }
            ],
            "dataReplicationState": self.state,
            "dataReplicationInitiation": {"startDateTime": fmt_time(self.added_at), "steps": steps},
            "stagingAvailabilityZone": f"{self.region}a",
        }
        healthy_at = [at for at, state in self.schedule if state == HEALTHY_STATE]
        if healthy_at:
            info["etaDateTime"] = fmt_time(healthy_at[0])
        if self.state == "STALLED":
            info["dataReplicationError"] = {
                "error": "UNSTABLE_NETWORK",
                "rawError": "Replication server lost connection to the source server agent",
            }
        return info

    def _life_cycle(self, now: datetime) -> dict[str, Any]:
        first_byte = self.added_at + timedelta(seconds=60)
        seen = self.state_since if self.state in ("DISCONNECTED", "STOPPED") else now
        cycle: dict[str, Any] = {
            "addedToServiceDateTime": fmt_time(self.added_at),
            "firstByteDateTime": fmt_time(first_byte),
            "elapsedReplicationDuration": fmt_duration(max(0.0, (now - first_byte).total_seconds())),
            "lastSeenByServiceDateTime": fmt_time(max(seen, self.added_at)),
        }
        if self.last_launch:
            cycle["lastLaunch"] = {
                "initiated": {
                    "apiCallDateTime": fmt_time(self.last_launch.api_time),
                    "jobID": self.last_launch.job_id,
                    "type": "DRILL" if self.last_launch.is_drill else "RECOVERY",
                },
                "status": self.last_launch.status,
            }
        return cycle

    def launch_configuration(self) -> dict[str, Any]:
        return {
            "sourceServerID": self.id,
            "name": self.hardware.hostname,
            "ec2LaunchTemplateID": self.launch_template_id,
            "launchDisposition": "STARTED",
            "targetInstanceTypeRightSizingMethod": "BASIC",
            "copyPrivateIp": False,
            "copyTags": True,
            "licensing": {"osByol": True},
            "postLaunchEnabled": False,
        }


@dataclass
class RecoveryInstance:
    id: str
    region: str
    account: str
    seq: int
    source_server_id: str
    job_id: str
    is_drill: bool
    created: datetime
    pit_time: datetime
    hardware: Hardware
    origin_region: str
    tags: dict[str, str]
    ec2_state: str = "PENDING"
    terminating_job: str | None = None
    reversed_arn: str | None = None
    running_since: datetime | None = None
    not_ready_for: float = 0.0  # seconds after the agent's check-in it still counts as not ready

    @property
    def arn(self) -> str:
        return recovery_instance_arn(self.region, self.account, self.id)

    def ready_to_reverse(self, now: datetime, check_in: float) -> bool:
        """Its replication agent has checked in (and no fault holds it back)."""
        if self.running_since is None:
            return False
        return (now - self.running_since).total_seconds() >= check_in + self.not_ready_for

    def to_api(self, reverse_state: str | None) -> dict[str, Any]:
        hw = self.hardware
        item: dict[str, Any] = {
            "ec2InstanceID": self.id,
            "ec2InstanceState": self.ec2_state,
            "jobID": self.job_id,
            "recoveryInstanceID": self.id,
            "sourceServerID": self.source_server_id,
            "arn": self.arn,
            "tags": dict(self.tags),
            "recoveryInstanceProperties": {
                "lastUpdatedDateTime": fmt_time(self.created),
                "identificationHints": {"fqdn": hw.fqdn, "hostname": hw.hostname, "awsInstanceID": self.id},
                "networkInterfaces": [{"macAddress": hw.mac, "ips": [hw.ip], "isPrimary": True}],
                "disks": [{"internalDeviceName": "/dev/xvda", "bytes": hw.disk_bytes}],
                "cpus": [{"cores": hw.cores, "modelName": "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"}],
                "ramBytes": hw.ram_bytes,
                "os": {"fullString": "Linux version 5.10.205-195.807.amzn2.x86_64 (Amazon Linux 2)"},
            },
            "pointInTimeSnapshotDateTime": fmt_time(self.pit_time),
            "isDrill": self.is_drill,
            "originEnvironment": "AWS",
            "originAvailabilityZone": f"{self.origin_region}a",
        }
        if reverse_state is not None:
            item["dataReplicationInfo"] = {"dataReplicationState": reverse_state}
        return item


@dataclass
class Step:
    at: datetime
    kind: str


@dataclass
class ServerRun:
    """One source server's part in a job."""

    source_server_id: str
    jitter: float
    conversion_server_id: str
    mode: str = "ON_DEMAND"  # ON_DEMAND snapshot, PREVIOUS snapshot, or SKIP (nothing to launch from)
    previous_pit: datetime | None = None
    skip_reason: str = ""
    failure: LaunchFailure | None = None
    extra: float = 0.0
    target_instance_id: str | None = None  # TERMINATE jobs: the instance to terminate
    launch_status: str = "PENDING"
    recovery_instance_id: str | None = None
    pit_time: datetime | None = None
    applied: int = 0
    plan: list[Step] | None = None

    def to_api(self) -> dict[str, Any]:
        item: dict[str, Any] = {"sourceServerID": self.source_server_id, "launchStatus": self.launch_status}
        if self.recovery_instance_id:
            item["recoveryInstanceID"] = self.recovery_instance_id
        return item


@dataclass
class LogItem:
    at: datetime
    event: str
    data: dict[str, Any]

    def to_api(self) -> dict[str, Any]:
        return {"logDateTime": fmt_time(self.at), "event": self.event, "eventData": dict(self.data)}


@dataclass
class Job:
    id: str
    region: str
    account: str
    seq: int
    type: str  # LAUNCH or TERMINATE
    initiated_by: str
    created: datetime
    is_drill: bool
    tags: dict[str, str]
    runs: list[ServerRun]
    status: str = "PENDING"
    ended: datetime | None = None
    log: list[LogItem] = field(default_factory=list)
    next_due: datetime | None = None  # cached time of the next step; None means recompute

    @property
    def arn(self) -> str:
        return job_arn(self.region, self.account, self.id)

    @property
    def active(self) -> bool:
        return self.status != "COMPLETED"

    def to_api(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "jobID": self.id,
            "arn": self.arn,
            "type": self.type,
            "initiatedBy": self.initiated_by,
            "creationDateTime": fmt_time(self.created),
            "status": self.status,
            "participatingServers": [run.to_api() for run in self.runs],
            "tags": dict(self.tags),
        }
        if self.ended:
            item["endDateTime"] = fmt_time(self.ended)
        return item


@dataclass
class SentCommand:
    """A Run Command (SSM SendCommand) to recovery instances: its invocations follow the clock."""

    id: str
    document: str
    parameters: dict[str, list[str]]
    instance_ids: list[str]
    comment: str
    requested_at: datetime
    timeout_seconds: int


@dataclass
class RegionState:
    name: str
    account: str
    initialized: bool = False
    servers: dict[str, SourceServer] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    active: dict[str, Job] = field(default_factory=dict)
    instances: dict[str, RecoveryInstance] = field(default_factory=dict)
    server_seq: int = 0
    job_seq: int = 0
    instance_seq: int = 0
    commands: dict[str, SentCommand] = field(default_factory=dict)  # SSM Run Command, by CommandId

    def busy_servers(self) -> dict[str, str]:
        """Source server id -> id of the active job it is in."""
        return {run.source_server_id: job.id for job in self.active.values() for run in job.runs}

    def servers_in_active_jobs(self) -> int:
        return sum(len(job.runs) for job in self.active.values())
