"""The DRS API operations. Each handler gets a context and already model-validated params."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import errors
from .clock import parse_time
from .config import QUOTA_CODES, Quotas, Timings
from .ids import det_fraction, det_hex
from .pagination import paginate
from .snapshots import list_snapshots
from .state import HEALTHY_STATE, Job, LastLaunch, RegionState, ServerRun, SourceServer

BUSY_MESSAGE = "One or more of the Source Servers included in API call are currently being processed by a Job"


@dataclass
class Ctx:
    region: RegionState
    now: datetime
    seed: int
    quotas: Quotas
    timings: Timings
    get_region: Callable[[str], RegionState]
    new_server: Callable[..., SourceServer]
    # A source server of any account the emulator serves, by ARN (None: no such server).
    server_by_arn: Callable[[str], SourceServer | None]


def _micros(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def _check_tags(tags: dict[str, str], quotas: Quotas, field: str = "tags") -> None:
    for key in tags:
        if key.lower().startswith("aws:"):
            raise errors.field_validation(field, f"Tag keys must not start with 'aws:' ({key})")
    if len(tags) > quotas.max_tags_per_resource:
        raise errors.field_validation(
            field, f"Member must have length less than or equal to {quotas.max_tags_per_resource}"
        )


def _check_job_quotas(ctx: Ctx, server_count: int) -> None:
    region, quotas = ctx.region, ctx.quotas
    if len(region.active) >= quotas.concurrent_jobs:
        raise errors.quota_exceeded(
            f"Cannot start a new job: {len(region.active)} jobs are already in progress "
            f"(quota: {quotas.concurrent_jobs} concurrent jobs)",
            QUOTA_CODES["concurrent_jobs"],
            "JOB",
        )
    in_jobs = region.servers_in_active_jobs()
    if in_jobs + server_count > quotas.servers_in_active_jobs:
        raise errors.quota_exceeded(
            f"Cannot start a job for {server_count} source servers: {in_jobs} source servers are already in "
            f"active jobs (quota: {quotas.servers_in_active_jobs} source servers in all active jobs)",
            QUOTA_CODES["servers_in_active_jobs"],
            "SOURCE_SERVER",
        )


def _new_job(ctx: Ctx, job_type: str, initiated_by: str, is_drill: bool, tags: dict[str, str]) -> Job:
    region = ctx.region
    region.job_seq += 1
    job_id = "drsjob-" + det_hex(ctx.seed, "job", region.name, region.job_seq)
    job = Job(
        id=job_id,
        region=region.name,
        account=region.account,
        seq=region.job_seq,
        type=job_type,
        initiated_by=initiated_by,
        created=ctx.now,
        is_drill=is_drill,
        tags=dict(tags),
        runs=[],
    )
    region.jobs[job_id] = job
    region.active[job_id] = job
    return job


def _jitter(ctx: Ctx, job_id: str, server_id: str) -> float:
    return (det_fraction(ctx.seed, "jitter", job_id, server_id) * 2 - 1) * ctx.timings.jitter


def start_recovery(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    requested = p["sourceServers"]
    is_drill = bool(p.get("isDrill", False))
    tags = p.get("tags") or {}
    _check_tags(tags, ctx.quotas)
    ids = [item["sourceServerID"] for item in requested]
    if len(set(ids)) != len(ids):
        raise errors.field_validation("sourceServers", "Source server IDs must be unique")
    if len(ids) > ctx.quotas.servers_per_job:
        raise errors.quota_exceeded(
            f"A single job can include up to {ctx.quotas.servers_per_job} source servers; "
            f"{len(ids)} were requested",
            QUOTA_CODES["servers_per_job"],
            "SOURCE_SERVER",
        )
    region = ctx.region
    for n, sid in enumerate(ids, 1):
        if sid not in region.servers:
            # StartRecovery's model lists no ResourceNotFoundException: an unknown id is a bad field.
            raise errors.field_validation(
                f"sourceServers.{n}.member.sourceServerID", f"Source server {sid} does not exist"
            )
    busy = region.busy_servers()
    for sid in ids:
        if sid in busy:
            raise errors.conflict(BUSY_MESSAGE, sid, "SOURCE_SERVER")
    snapshots: dict[str, Any] = {}
    for n, item in enumerate(requested, 1):
        snap_id = item.get("recoverySnapshotID")
        if snap_id:
            server = region.servers[item["sourceServerID"]]
            found = [
                s
                for s in list_snapshots(server, ctx.now, ctx.seed, ctx.timings.snapshot_interval)
                if s.id == snap_id
            ]
            if not found:
                raise errors.field_validation(
                    f"sourceServers.{n}.member.recoverySnapshotID",
                    f"Recovery snapshot {snap_id} does not exist for source server {server.id}",
                )
            snapshots[server.id] = found[0]
    _check_job_quotas(ctx, len(ids))
    job = _new_job(ctx, "LAUNCH", "START_DRILL" if is_drill else "START_RECOVERY", is_drill, tags)
    for sid in ids:
        job.runs.append(_launch_run(ctx, job, region.servers[sid], snapshots.get(sid)))
    return {"job": job.to_api()}


def _launch_run(ctx: Ctx, job: Job, server: SourceServer, snapshot: Any) -> ServerRun:
    run = ServerRun(
        source_server_id=server.id,
        jitter=_jitter(ctx, job.id, server.id),
        conversion_server_id="i-" + det_hex(ctx.seed, "conversion", job.id, server.id),
        extra=server.extra_conversion,
    )
    server.sync(ctx.now)
    if snapshot is not None:
        run.mode, run.previous_pit = "PREVIOUS", snapshot.taken
    elif server.state != HEALTHY_STATE:
        # No fresh data to snapshot: launch from the latest point in time, if there is one.
        existing = list_snapshots(server, ctx.now, ctx.seed, ctx.timings.snapshot_interval)
        if existing:
            run.mode, run.previous_pit = "PREVIOUS", existing[-1].taken
        else:
            run.mode = "SKIP"
            run.skip_reason = (
                f"Source server {server.id} has no recovery snapshot to launch from "
                f"(data replication state: {server.state})"
            )
    if run.mode != "SKIP" and server.launch_failure:
        run.failure = server.launch_failure
        consume_failure(server)
    server.last_launch = LastLaunch(job.id, ctx.now, job.is_drill, "PENDING")
    server.last_launch_result = "PENDING"
    return run


def consume_failure(server: SourceServer) -> None:
    failure = server.launch_failure
    if failure and failure.remaining is not None:
        failure.remaining -= 1
        if failure.remaining <= 0:
            server.launch_failure = None


def describe_jobs(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    filters = p.get("filters") or {}
    wanted = set(filters.get("jobIDs") or [])
    since = parse_time(filters["fromDate"]) if filters.get("fromDate") else None
    until = parse_time(filters["toDate"]) if filters.get("toDate") else None
    jobs = [
        job
        for job in ctx.region.jobs.values()
        if (not wanted or job.id in wanted)
        and (since is None or job.created >= since)
        and (until is None or job.created <= until)
    ]
    jobs.sort(key=lambda job: -job.seq)  # newest first
    page, more = paginate("DescribeJobs", jobs, lambda job: [-job.seq], p)
    return {"items": [job.to_api() for job in page], **more}


def describe_job_log_items(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    job = ctx.region.jobs.get(p["jobID"])
    log = job.log if job else []
    indexed = list(enumerate(log))
    page, more = paginate("DescribeJobLogItems", indexed, lambda pair: [pair[0]], p)
    return {"items": [item.to_api() for _, item in page], **more}


def describe_source_servers(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    filters = p.get("filters") or {}
    wanted = set(filters.get("sourceServerIDs") or [])
    hardware_id = filters.get("hardwareId")
    staging = set(filters.get("stagingAccountIDs") or [])
    servers = [
        s
        for s in ctx.region.servers.values()
        if (not wanted or s.id in wanted)
        and (not hardware_id or hardware_id in (s.origin_instance_id, s.hardware.mac))
        and (not staging or (s.staging is not None and s.staging.account in staging))
    ]
    servers.sort(key=lambda s: s.seq)
    page, more = paginate("DescribeSourceServers", servers, lambda s: [s.seq], p)
    return {"items": [s.to_api(ctx.now) for s in page], **more}


def describe_recovery_instances(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    filters = p.get("filters") or {}
    wanted = set(filters.get("recoveryInstanceIDs") or [])
    sources = set(filters.get("sourceServerIDs") or [])
    instances = [
        i
        for i in ctx.region.instances.values()
        if (not wanted or i.id in wanted) and (not sources or i.source_server_id in sources)
    ]
    instances.sort(key=lambda i: i.seq)
    page, more = paginate("DescribeRecoveryInstances", instances, lambda i: [i.seq], p)
    return {"items": [i.to_api(_reverse_state(ctx, i.reversed_arn)) for i in page], **more}


def _reverse_state(ctx: Ctx, arn: str | None) -> str | None:
    if not arn:
        return None
    region_name, server_id = arn.split(":")[3], arn.rsplit("/", 1)[1]
    server = ctx.get_region(region_name).servers.get(server_id)
    if server is None:
        return None
    server.sync(ctx.now)
    return server.state


def describe_recovery_snapshots(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    server = ctx.region.servers.get(p["sourceServerID"])
    snaps = list_snapshots(server, ctx.now, ctx.seed, ctx.timings.snapshot_interval) if server else []
    filters = p.get("filters") or {}
    if filters.get("fromDateTime"):
        since = parse_time(filters["fromDateTime"])
        snaps = [s for s in snaps if s.taken >= since]
    if filters.get("toDateTime"):
        until = parse_time(filters["toDateTime"])
        snaps = [s for s in snaps if s.taken <= until]
    sign = -1 if p.get("order") == "DESC" else 1

    def key(s: Any) -> list[Any]:
        return [sign * _micros(s.taken), s.id]

    snaps.sort(key=key)
    page, more = paginate("DescribeRecoverySnapshots", snaps, key, p)
    return {"items": [s.to_api() for s in page], **more}


def terminate_recovery_instances(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    ids = p["recoveryInstanceIDs"]
    if len(set(ids)) != len(ids):
        raise errors.field_validation("recoveryInstanceIDs", "Recovery instance IDs must be unique")
    region = ctx.region
    instances = []
    for n, iid in enumerate(ids, 1):
        instance = region.instances.get(iid)
        if instance is None:  # the model lists no ResourceNotFoundException here either
            raise errors.field_validation(
                f"recoveryInstanceIDs.{n}.member", f"Recovery instance {iid} does not exist"
            )
        instances.append(instance)
    busy = region.busy_servers()
    for instance in instances:
        if instance.terminating_job:
            raise errors.conflict(
                f"Recovery instance {instance.id} is already being terminated by job "
                f"{instance.terminating_job}",
                instance.id,
                "RECOVERY_INSTANCE",
            )
        if instance.source_server_id in busy:
            raise errors.conflict(BUSY_MESSAGE, instance.source_server_id, "SOURCE_SERVER")
    _check_job_quotas(ctx, len(instances))
    job = _new_job(ctx, "TERMINATE", "TERMINATE_RECOVERY_INSTANCES", False, {})
    for instance in instances:
        instance.terminating_job = job.id
        run = ServerRun(
            source_server_id=instance.source_server_id,
            jitter=_jitter(ctx, job.id, instance.id),
            conversion_server_id="",
            target_instance_id=instance.id,
            recovery_instance_id=instance.id,
        )
        job.runs.append(run)
    return {"job": job.to_api()}


def reverse_replication(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    iid = p["recoveryInstanceID"]
    instance = ctx.region.instances.get(iid)
    if instance is None:
        raise errors.not_found(f"Recovery instance {iid} not found", iid, "RECOVERY_INSTANCE")
    if instance.is_drill:
        raise errors.validation(f"Cannot reverse replication for drill recovery instance {iid}", "other")
    if instance.reversed_arn:
        raise errors.conflict(
            f"Recovery instance {iid} is already replicating in the reverse direction",
            iid,
            "RECOVERY_INSTANCE",
        )
    if instance.ec2_state != "RUNNING" or instance.terminating_job:
        raise errors.conflict(
            f"Recovery instance {iid} must be running to reverse replication (state: {instance.ec2_state})",
            iid,
            "RECOVERY_INSTANCE",
        )
    if not instance.ready_to_reverse(ctx.now, ctx.timings.agent_check_in):
        raise errors.conflict(
            f"Recovery instance {iid} is not ready for reverse replication: the AWS Replication Agent on it "
            "has not connected to the service yet",
            iid,
            "RECOVERY_INSTANCE",
        )
    source = ctx.region.servers[instance.source_server_id]
    target = ctx.get_region(source.origin_region)
    if not target.initialized:
        raise errors.uninitialized(target.name)
    timings = ctx.timings
    existing = _server_by_arn(ctx, source.reversed_arn)
    if existing is not None:
        # Re-protect: the server replicating the other way already exists; it resyncs.
        existing.sync(ctx.now)
        existing.set_state("RESCAN", ctx.now)
        existing.schedule = [(ctx.now + timedelta(seconds=timings.reverse_initial_sync), HEALTHY_STATE)]
        reversed_server = existing
    else:
        if len(target.servers) >= ctx.quotas.source_servers_per_region:
            # ReverseReplication's model lists no ServiceQuotaExceededException.
            raise errors.validation(f"Source server quota reached in {target.name}", "other")
        reversed_server = ctx.new_server(
            target,
            hostname=source.hardware.hostname,
            tags=dict(source.tags),
            origin_region=ctx.region.name,
            origin_instance_id=instance.id,
            direction="FAILBACK" if source.direction == "FAILOVER" else "FAILOVER",
        )
        reversed_server.set_state("INITIATING", ctx.now)
        reversed_server.continuous.clear()
        reversed_server.schedule = [
            (ctx.now + timedelta(seconds=timings.reverse_initiating), "INITIAL_SYNC"),
            (ctx.now + timedelta(seconds=timings.reverse_initial_sync), HEALTHY_STATE),
        ]
        reversed_server.reversed_arn = source.arn
    source.reversed_arn = reversed_server.arn
    instance.reversed_arn = reversed_server.arn
    return {"reversedDirectionSourceServerArn": reversed_server.arn}


def _server_by_arn(ctx: Ctx, arn: str | None) -> SourceServer | None:
    if not arn:
        return None
    parts = arn.split(":")
    return ctx.get_region(parts[3]).servers.get(arn.rsplit("/", 1)[1])


def create_extended_source_server(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    arn = p["sourceServerArn"]
    tags = p.get("tags") or {}
    _check_tags(tags, ctx.quotas)
    region = ctx.region
    account, arn_region = arn.split(":")[4], arn.split(":")[3]
    # Guessed rules (the API reference is silent): same region, another account, one extension per server.
    if arn_region != region.name:
        raise errors.validation(f"Source server {arn} is not in {region.name}", "other")
    if account == region.account:
        raise errors.validation(
            f"Source server {arn} is in this account: only another account's extends", "other"
        )
    staging = ctx.server_by_arn(arn)
    if staging is None:
        raise errors.not_found(f"Source server {arn} not found", arn, "SOURCE_SERVER")
    if staging.staging is not None:
        raise errors.validation(
            f"Source server {arn} is itself extended: extend {staging.staging.arn}", "other"
        )
    for server in region.servers.values():
        if server.staging is staging:
            raise errors.validation(
                f"Source server {arn} is already extended into this account as {server.id}", "other"
            )
    if len(region.servers) >= ctx.quotas.source_servers_per_region:
        raise errors.quota_exceeded(
            f"Source server quota reached in {region.name}",
            QUOTA_CODES["source_servers_per_region"],
            "SOURCE_SERVER",
        )
    server = extend(ctx, staging, tags)
    return {"sourceServer": server.to_api(ctx.now)}


def extend(ctx: Ctx, staging: SourceServer, tags: dict[str, str]) -> SourceServer:
    """A source server in this account showing the staging account's server: its machine, its
    replication and snapshots; launches make their own jobs and instances here."""
    server = ctx.new_server(
        ctx.region,
        hostname=staging.hardware.hostname,
        tags=tags,
        origin_region=staging.origin_region,
        origin_instance_id=staging.origin_instance_id,
        direction=staging.direction,
        added_at=ctx.now,
    )
    server.hardware = staging.hardware
    server.staging = staging
    server.origin_account = staging.origin_account or staging.account
    server.sync(ctx.now)
    return server


def get_launch_configuration(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    sid = p["sourceServerID"]
    server = ctx.region.servers.get(sid)
    if server is None:
        raise errors.not_found(f"Source server {sid} not found", sid, "SOURCE_SERVER")
    return server.launch_configuration()


def initialize_service(ctx: Ctx, p: dict[str, Any]) -> None:
    ctx.region.initialized = True


def delete_job(ctx: Ctx, p: dict[str, Any]) -> None:
    job_id = p["jobID"]
    job = ctx.region.jobs.get(job_id)
    if job is None:
        raise errors.not_found(f"Job {job_id} not found", job_id, "JOB")
    if job.active:
        raise errors.conflict(f"Job {job_id} is still in progress and cannot be deleted", job_id, "JOB")
    del ctx.region.jobs[job_id]


def _tagged(ctx: Ctx, arn: str) -> dict[str, str]:
    """The live tags dict of the resource an ARN names in this region."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "drs" and parts[3] == ctx.region.name and "/" in parts[5]:
        kind, _, rid = parts[5].partition("/")
        collections: dict[str, dict[str, Any]] = {
            "source-server": ctx.region.servers,
            "job": ctx.region.jobs,
            "recovery-instance": ctx.region.instances,
        }
        resource = collections.get(kind, {}).get(rid)
        if resource is not None and resource.arn == arn:
            tags: dict[str, str] = resource.tags
            return tags
    raise errors.not_found(f"Resource {arn} not found", arn, "RESOURCE")


def list_tags_for_resource(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    return {"tags": dict(_tagged(ctx, p["resourceArn"]))}


def tag_resource(ctx: Ctx, p: dict[str, Any]) -> None:
    tags = _tagged(ctx, p["resourceArn"])
    _check_tags({**tags, **p["tags"]}, ctx.quotas)
    tags.update(p["tags"])


def untag_resource(ctx: Ctx, p: dict[str, Any]) -> None:
    tags = _tagged(ctx, p["resourceArn"])
    for key in p["tagKeys"]:
        tags.pop(key, None)


HANDLERS: dict[str, Callable[[Ctx, dict[str, Any]], dict[str, Any] | None]] = {
    "StartRecovery": start_recovery,
    "CreateExtendedSourceServer": create_extended_source_server,
    "DescribeJobs": describe_jobs,
    "DescribeJobLogItems": describe_job_log_items,
    "DescribeSourceServers": describe_source_servers,
    "DescribeRecoveryInstances": describe_recovery_instances,
    "DescribeRecoverySnapshots": describe_recovery_snapshots,
    "TerminateRecoveryInstances": terminate_recovery_instances,
    "ReverseReplication": reverse_replication,
    "GetLaunchConfiguration": get_launch_configuration,
    "InitializeService": initialize_service,
    "DeleteJob": delete_job,
    "ListTagsForResource": list_tags_for_resource,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
}

# Operations whose response is kept in the call log (the others are reads and can be large).
MUTATING = frozenset(
    {
        "StartRecovery",
        "TerminateRecoveryInstances",
        "ReverseReplication",
        "DeleteJob",
        "CreateExtendedSourceServer",
    }
)
