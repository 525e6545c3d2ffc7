"""The sandbox runs the readiness watch on its schedule (`watch_minutes`), as EventBridge does on AWS."""

from __future__ import annotations

import time
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.stack import SandboxStack

SERVER = "s-wb000000000000001"
PLANS = f"""
protection_groups:
  - name: tier
    region: us-east-1
    source_servers: [{SERVER}]
plans:
  - name: plan-w
    channel: C0WATCHSB
    waves:
      - name: Only
        protection_group: tier
"""


def test_the_watch_runs_every_watch_minutes_of_emulated_time(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yml"
    plans.write_text(PLANS)
    # No DRS events: only the schedule can notice the stall. 5 emulated minutes are half a real second.
    config = SandboxConfig(time_scale=600, watch_minutes=5, drs_events=False)
    with SandboxStack(plans, config) as stack:
        stack.drs.set_replication_state(SERVER, "STALLED")
        deadline = time.monotonic() + 20
        told: list[str] = []
        while time.monotonic() < deadline and not told:
            told = [m["text"] for m in stack.slack.messages() if m["channel"] == "C0WATCHSB"]
            time.sleep(0.1)
        assert told and "Readiness of `plan-w`: BLOCKED" in told[0]
        # Two more rounds (each asks DRS for the region's servers): the same verdict is not news again.
        rounds = len(_listings(stack))
        while time.monotonic() < deadline and len(_listings(stack)) < rounds + 2:
            time.sleep(0.1)
        assert len(_listings(stack)) >= rounds + 2
        assert len([m for m in stack.slack.messages() if m["channel"] == "C0WATCHSB"]) == 1


def _listings(stack: SandboxStack) -> list[object]:
    return [c for c in stack.drs.calls if c.operation == "DescribeSourceServers"]
