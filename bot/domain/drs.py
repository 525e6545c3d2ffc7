"""What DRS reports about source servers and recovery instances, in the bot's terms."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

# The job log events (DRS's JobLogEvent) that end a server's launch as FAILED, in the users' words.
# Their eventData carries DRS's own reason (rawError). Other events, and names the model lacks
# (real logs contain LAUNCH_END), explain no failure.
LAUNCH_FAILURES: Mapping[str, str] = {
    "SERVER_SKIPPED": "DRS skipped the server",
    "SNAPSHOT_FAIL": "taking the recovery snapshot failed",
    "USING_PREVIOUS_SNAPSHOT_FAILED": "using the chosen recovery snapshot failed",
    "CONVERSION_FAIL": "conversion failed",
    "UPDATE_LAUNCH_TEMPLATE_FAILED": "updating the launch template failed",
    "DEPLOY_NETWORK_CONFIGURATION_FAILED": "deploying the network configuration failed",
    "UPDATE_NETWORK_CONFIGURATION_FAILED": "updating the network configuration failed",
    "NETWORK_RECOVERY_FAIL": "network recovery failed",
    "LAUNCH_FAILED": "launch failed",
}


def launch_failure_reason(event: str, raw_error: str | None) -> str | None:
    """Why a server's launch failed, from one job log item; None if the event is not a failure."""
    step = LAUNCH_FAILURES.get(event)
    if step is None:
        return None
    return f"{step}: {raw_error}" if raw_error else f"{step} ({event}; DRS gave no detail)"


class SourceServerInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    source_server_id: str
    tags: dict[str, str] = {}
    replication_state: str | None = None
    lag_seconds: float | None = None
    replication_error: str | None = None
    last_launch_result: str | None = None
    # Its counterpart replicating the other way, once ReverseReplication ran (failback).
    reversed_source_server_arn: str | None = None
    # An extended source server (its data replicates into a staging account): DRS's stagingArea.
    staging_account: str | None = None
    staging_status: str | None = None  # EXTENDED, EXTENSION_ERROR, NOT_EXTENDED
    staging_error: str | None = None


class RecoveryInstanceInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    recovery_instance_id: str
    ec2_instance_id: str | None = None
    source_server_id: str
    is_drill: bool
    job_id: str | None = None
    ec2_state: str | None = None
    # Set while the instance replicates back (ReverseReplication took effect): its replication state.
    replication_state: str | None = None

    @property
    def gone(self) -> bool:
        return self.ec2_state in ("TERMINATED", "SHUTTING-DOWN", "NOT_FOUND")
