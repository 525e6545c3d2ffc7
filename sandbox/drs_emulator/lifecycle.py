"""Job lifecycles: each server's run is a plan of timed steps, applied lazily as the clock passes them.

A LAUNCH job goes PENDING -> STARTED (JOB_START) -> COMPLETED (JOB_END, after the last server).
Each server: SNAPSHOT_START/END (or USING_PREVIOUS_SNAPSHOT), CONVERSION_START/END, LAUNCH_START,
the EC2 instance appears, LAUNCH_END; or one of the FAILURES events, which ends it FAILED.
A TERMINATE job: CLEANUP_START/END per recovery instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import Timings
from .ids import det_hex, det_int
from .state import Hardware, Job, LogItem, RecoveryInstance, RegionState, ServerRun, Snapshot, Step

# The job log events that end a server's launch as FAILED: the phase each happens in, and the event
# that opens it (None: the failure comes alone). A launch fault names one of them.
FAILURES: dict[str, tuple[str, str | None]] = {
    "SERVER_SKIPPED": ("SNAPSHOT", None),
    "SNAPSHOT_FAIL": ("SNAPSHOT", "SNAPSHOT_START"),
    "USING_PREVIOUS_SNAPSHOT_FAILED": ("SNAPSHOT", "USING_PREVIOUS_SNAPSHOT"),
    "CONVERSION_FAIL": ("CONVERSION", "CONVERSION_START"),
    "UPDATE_LAUNCH_TEMPLATE_FAILED": ("LAUNCH", "UPDATE_LAUNCH_TEMPLATE_START"),
    "DEPLOY_NETWORK_CONFIGURATION_FAILED": ("LAUNCH", "DEPLOY_NETWORK_CONFIGURATION_START"),
    "UPDATE_NETWORK_CONFIGURATION_FAILED": ("LAUNCH", "UPDATE_NETWORK_CONFIGURATION_START"),
    "NETWORK_RECOVERY_FAIL": ("LAUNCH", None),
    "LAUNCH_FAILED": ("LAUNCH", "LAUNCH_START"),
}
# Steps that end a server's part in a job, and the launch status they leave.
FINAL_STEPS = {"LAUNCH_END": "LAUNCHED", "CLEANUP_END": "TERMINATED", **dict.fromkeys(FAILURES, "FAILED")}
# Internal steps that change state but write no job log item.
SILENT_STEPS = frozenset({"INSTANCE_CREATED"})


@dataclass
class LaunchOutcome:
    """A server's launch result became known (feeds launch_results() and EventBridge-style events)."""

    region: str
    job_id: str
    source_server_id: str
    source_server_arn: str
    is_drill: bool
    status: str  # LAUNCHED or FAILED
    at: datetime
    recovery_instance_id: str | None
    error: str | None


def plan(job: Job, run: ServerRun, timings: Timings) -> list[Step]:
    if run.plan is None:
        run.plan = (
            _plan_terminate(job, run, timings) if job.type == "TERMINATE" else _plan_launch(job, run, timings)
        )
    return run.plan


def _plan_launch(job: Job, run: ServerRun, t: Timings) -> list[Step]:
    def at(seconds: float) -> datetime:
        return job.created + timedelta(seconds=seconds)

    failure = run.failure.event if run.failure else None
    phase, opener = FAILURES[failure] if failure else (None, None)
    if run.mode == "SKIP" or failure == "SERVER_SKIPPED":
        return [Step(at(t.snapshot_start), "SERVER_SKIPPED")]
    if phase == "SNAPSHOT" and opener and failure:
        return [Step(at(t.snapshot_start), opener), Step(at(t.snapshot_end), failure)]
    if run.mode == "ON_DEMAND":
        steps = [Step(at(t.snapshot_start), "SNAPSHOT_START"), Step(at(t.snapshot_end), "SNAPSHOT_END")]
    else:
        steps = [Step(at(t.snapshot_start), "USING_PREVIOUS_SNAPSHOT")]
    k, extra = 1.0 + run.jitter, run.extra
    conversion_start = t.conversion_start * k
    steps.append(Step(at(conversion_start), "CONVERSION_START"))
    if phase == "CONVERSION" and failure:
        steps.append(Step(at(conversion_start + t.conversion_failed_after + extra), failure))
        return steps
    launch_start = t.launch_start * k + extra
    steps.append(Step(at(t.conversion_end * k + extra), "CONVERSION_END"))
    if phase == "LAUNCH" and failure:
        if opener:
            steps.append(Step(at(launch_start), opener))
        steps.append(Step(at(launch_start + t.launch_failed_after), failure))
        return steps
    steps += [
        Step(at(launch_start), "LAUNCH_START"),
        Step(at(max(launch_start, t.instance_created * k + extra)), "INSTANCE_CREATED"),
        Step(at(max(launch_start, t.launch_end * k + extra)), "LAUNCH_END"),
    ]
    return steps


def _plan_terminate(job: Job, run: ServerRun, t: Timings) -> list[Step]:
    k = 1.0 + run.jitter
    start = job.created + timedelta(seconds=t.terminate_start)
    return [
        Step(start, "CLEANUP_START"),
        Step(max(start, job.created + timedelta(seconds=t.terminate_end * k)), "CLEANUP_END"),
    ]


def job_start_at(job: Job, timings: Timings) -> datetime:
    return job.created + timedelta(seconds=timings.job_start)


def job_end_at(job: Job, timings: Timings) -> datetime:
    last = max((plan(job, run, timings)[-1].at for run in job.runs), default=job.created)
    return max(last, job_start_at(job, timings)) + timedelta(seconds=timings.job_end_after_last_server)


def replan_allowed(job: Job, run: ServerRun, timings: Timings, **changes: object) -> bool:
    """Apply changes (failure/extra) to a running server if they do not rewrite steps already taken."""
    old = plan(job, run, timings)
    saved = {name: getattr(run, name) for name in changes}
    for name, value in changes.items():
        setattr(run, name, value)
    run.plan = None
    new = plan(job, run, timings)
    if new[: run.applied] == old[: run.applied] and run.applied < len(new):
        job.next_due = None
        return True
    for name, value in saved.items():
        setattr(run, name, value)
    run.plan = old
    return False


def advance(region: RegionState, now: datetime, seed: int, timings: Timings) -> list[LaunchOutcome]:
    """Apply every step due by `now`, in time order; return launch results that became known."""
    for server in region.servers.values():
        if server.schedule:
            server.sync(now)
    due: list[tuple[datetime, int, int, int, Job, ServerRun | None, str]] = []
    for job in region.active.values():
        if job.next_due is not None and job.next_due > now:
            continue  # nothing due yet: skip the per-server work (many jobs may be active)
        job.next_due = None
        if job.status == "PENDING" and job_start_at(job, timings) <= now:
            due.append((job_start_at(job, timings), 0, job.seq, 0, job, None, "JOB_START"))
        for index, run in enumerate(job.runs):
            steps = plan(job, run, timings)
            for step in steps[run.applied :]:
                if step.at > now:
                    break
                due.append((step.at, 1, job.seq, index, job, run, step.kind))
        end = job_end_at(job, timings)
        if end <= now:
            due.append((end, 2, job.seq, 0, job, None, "JOB_END"))
    due.sort(key=lambda d: d[:4])
    outcomes: list[LaunchOutcome] = []
    for at, _, _, _, due_job, due_run, kind in due:
        if due_run is None:
            _apply_job_step(region, due_job, kind, at)
        else:
            due_run.applied += 1
            outcome = _apply_server_step(region, due_job, due_run, kind, at, seed)
            if outcome:
                outcomes.append(outcome)
    for job in region.active.values():
        if job.next_due is None:
            job.next_due = _next_due(job, timings)
    return outcomes


def _next_due(job: Job, timings: Timings) -> datetime:
    pending = [
        plan(job, run, timings)[run.applied].at
        for run in job.runs
        if run.applied < len(plan(job, run, timings))
    ]
    if job.status == "PENDING":
        pending.append(job_start_at(job, timings))
    return min(pending, default=job_end_at(job, timings))


def _apply_job_step(region: RegionState, job: Job, kind: str, at: datetime) -> None:
    job.log.append(LogItem(at, kind, {}))
    if kind == "JOB_START":
        job.status = "STARTED"
    else:
        job.status = "COMPLETED"
        job.ended = at
        region.active.pop(job.id, None)


def _apply_server_step(
    region: RegionState, job: Job, run: ServerRun, kind: str, at: datetime, seed: int
) -> LaunchOutcome | None:
    server = region.servers[run.source_server_id]
    data: dict[str, object] = {"sourceServerID": server.id}
    error: str | None = None
    if kind == "SNAPSHOT_END":
        snap_id = "pit-" + det_hex(seed, "on-demand", job.id, server.id)
        server.on_demand.append(
            Snapshot(snap_id, server.id, at, at, ["snap-" + det_hex(seed, "ebs", snap_id)])
        )
        run.pit_time = at
    elif kind == "USING_PREVIOUS_SNAPSHOT":
        run.pit_time = run.previous_pit
    elif kind in ("CONVERSION_START", "CONVERSION_END"):
        data["conversionServerID"] = run.conversion_server_id
    elif kind == "LAUNCH_START":
        run.launch_status = "IN_PROGRESS"
    elif kind == "INSTANCE_CREATED":
        _create_instance(region, job, run, at, seed)
    elif kind == "LAUNCH_END":
        data["targetInstanceID"] = run.recovery_instance_id
        instance = region.instances.get(run.recovery_instance_id or "")
        if instance and instance.ec2_state == "PENDING":
            instance.ec2_state = "RUNNING"
            instance.running_since = at
    elif kind in FAILURES:
        error = run.failure.error if run.failure else run.skip_reason
        data["rawError"] = error
        if kind == "CONVERSION_FAIL":
            data["conversionServerID"] = run.conversion_server_id
    elif kind in ("CLEANUP_START", "CLEANUP_END"):
        _terminate_step(region, run, kind)
        data["targetInstanceID"] = run.target_instance_id
    if kind not in SILENT_STEPS:
        job.log.append(LogItem(at, kind, data))
    if kind in FINAL_STEPS:
        run.launch_status = FINAL_STEPS[kind]
    if job.type != "LAUNCH":
        return None
    if server.last_launch and server.last_launch.job_id == job.id:
        server.last_launch.status = run.launch_status
    if kind not in FINAL_STEPS:
        return None
    server.last_launch_result = "SUCCEEDED" if run.launch_status == "LAUNCHED" else "FAILED"
    return LaunchOutcome(
        region.name,
        job.id,
        server.id,
        server.arn,
        job.is_drill,
        run.launch_status,
        at,
        run.recovery_instance_id,
        error,
    )


def _create_instance(region: RegionState, job: Job, run: ServerRun, at: datetime, seed: int) -> None:
    server = region.servers[run.source_server_id]
    instance_id = "i-" + det_hex(seed, "ec2", job.id, server.id)
    region.instance_seq += 1
    hw = server.hardware
    ip = f"10.{det_int(seed, 1, 250, 'ri-ip', instance_id)}.{det_int(seed, 0, 255, 'ri-ip2', instance_id)}.10"
    hardware = Hardware(hw.hostname, hw.disk_bytes, hw.cores, hw.ram_bytes, hw.mac, ip)
    region.instances[instance_id] = RecoveryInstance(
        id=instance_id,
        region=region.name,
        account=region.account,
        seq=region.instance_seq,
        source_server_id=server.id,
        job_id=job.id,
        is_drill=job.is_drill,
        created=at,
        pit_time=run.pit_time or at,
        hardware=hardware,
        origin_region=server.origin_region,
        tags=dict(server.tags),
        not_ready_for=server.reverse_not_ready,
    )
    run.recovery_instance_id = instance_id
    server.recovery_instance_id = instance_id


def _terminate_step(region: RegionState, run: ServerRun, kind: str) -> None:
    instance = region.instances.get(run.target_instance_id or "")
    if instance is None:
        return
    if kind == "CLEANUP_START":
        run.launch_status = "IN_PROGRESS"
        if instance.ec2_state != "TERMINATED":
            instance.ec2_state = "SHUTTING-DOWN"
        return
    instance.ec2_state = "TERMINATED"
    instance.terminating_job = None
    server = region.servers.get(instance.source_server_id)
    if server and server.recovery_instance_id == instance.id:
        server.recovery_instance_id = None
