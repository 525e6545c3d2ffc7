"""Quotas and lifecycle timings: configuration, with defaults taken from real DRS."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Quotas:
    """DRS service quotas (service code `drs`). Defaults are the values seen in real accounts."""

    servers_per_job: int = 100  # L-B827C881 (the API model allows 200)
    concurrent_jobs: int = 20  # L-D88FAC3A
    servers_in_active_jobs: int = 500  # L-05AFA8C6
    source_servers_per_region: int = 4000  # L-E28BE5E0
    max_tags_per_resource: int = 50  # usual AWS tagging limit


# Quota codes returned in ServiceQuotaExceededException bodies.
QUOTA_CODES = {
    "servers_per_job": "L-B827C881",
    "concurrent_jobs": "L-D88FAC3A",
    "servers_in_active_jobs": "L-05AFA8C6",
    "source_servers_per_region": "L-E28BE5E0",
}


@dataclass(frozen=True)
class Timings:
    """Emulated seconds. Launch offsets are relative to job creation, from one published real drill."""

    job_start: float = 0.4
    snapshot_start: float = 0.8
    snapshot_end: float = 1.0
    conversion_start: float = 53.0
    conversion_end: float = 250.0  # 4m10s
    launch_start: float = 251.0  # 4m11s
    instance_created: float = 262.0  # the EC2 instance exists (recoveryInstanceID appears)
    launch_end: float = 530.0  # 8m50s
    job_end_after_last_server: float = 3.0  # JOB_END at 8m53s
    launch_failed_after: float = 4.0  # LAUNCH_FAILED this long after LAUNCH_START
    conversion_failed_after: float = 45.0  # CONVERSION_FAIL this long after CONVERSION_START
    jitter: float = 0.02  # +/- fraction applied per server from CONVERSION_START on (seeded)
    # TERMINATE jobs (TerminateRecoveryInstances)
    terminate_start: float = 1.0
    terminate_end: float = 45.0
    # Point-in-time snapshots: every snapshot_interval for the last hour, hourly for a day, daily for a week.
    snapshot_interval: float = 600.0
    # Replication of seeded servers, and of servers created by ReverseReplication.
    initial_sync: float = 1800.0
    reverse_initiating: float = 120.0
    reverse_initial_sync: float = 900.0
    # The replication agent on a recovery instance checks in this long after the instance is RUNNING;
    # ReverseReplication is refused until then.
    agent_check_in: float = 0.0
    # Health (EC2 and SSM, sandbox/drs_emulator/instance_health.py), after the instance is RUNNING:
    # both EC2 status checks pass (initializing before), and the SSM agent registers Online.
    status_checks_pass: float = 120.0
    ssm_agent_online: float = 60.0
    # A Run Command (health_check.ssm_command) ends this long after SendCommand (InProgress before).
    command_runs: float = 20.0

    def with_changes(self, **changes: float) -> Timings:
        return replace(self, **changes)
