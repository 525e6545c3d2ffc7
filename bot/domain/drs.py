"""What DRS reports about source servers and recovery instances, in the bot's terms."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
