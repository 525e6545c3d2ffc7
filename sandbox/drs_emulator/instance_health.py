"""The recovery instances' health, as EC2 and SSM report it: it follows the emulator's clock (status
checks pass `Timings.status_checks_pass` seconds after the instance is RUNNING, the SSM agent is Online
after `Timings.ssm_agent_online`), unless a fault says otherwise (`InstanceFaults`, by source server:
the recovery instances do not exist before the launch)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from .config import Timings
from .state import RecoveryInstance, RegionState


@dataclass
class InstanceFaults:
    status_check_fails: bool = False  # the instance status check fails (reachability failed)
    agent_offline: bool = False  # the SSM agent never comes Online
    # What a Run Command does there: "success", "failing" (exits 1 with COMMAND_STDERR), "hanging".
    command: str = "success"


COMMAND_STDERR = "curl: (22) The requested URL returned error: 503 <Service Unavailable>"


class ApiError(Exception):
    """An error of EC2 or SSM: its code, message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Ctx:
    region: RegionState
    now: datetime
    timings: Timings
    faults: Mapping[str, InstanceFaults]
    seed: int

    def faults_of(self, instance: RecoveryInstance) -> InstanceFaults:
        return self.faults.get(instance.source_server_id, InstanceFaults())

    def running_for(self, instance: RecoveryInstance) -> float | None:
        if instance.ec2_state != "RUNNING" or instance.running_since is None:
            return None
        return (self.now - instance.running_since).total_seconds()
