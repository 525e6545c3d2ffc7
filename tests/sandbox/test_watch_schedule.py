"""The sandbox runs the readiness watch on its schedule (`watch_minutes`), as EventBridge does on AWS."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
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
    # A stack of its own, in a process of its own: moto keeps its tables per process, and the e2e
    # package's sandbox may have run in this one (pytest-xdist shares a worker between them).
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        told, rounds, later = child.submit(_watch_a_stall, str(tmp_path)).result(timeout=120)
    assert told and "Readiness of `plan-w`: BLOCKED" in told[0]
    # Two more rounds (each asks DRS for the region's servers): the same verdict is not news again.
    assert later >= rounds + 2
    assert len(told) == 1


def _watch_a_stall(directory: str) -> tuple[list[str], int, int]:
    """In the child: the stack, a stall, the first news, then two more rounds and what they posted."""
    plans = Path(directory) / "plans.yml"
    plans.write_text(PLANS)
    # No DRS events: only the schedule can notice the stall. 5 emulated minutes are half a real second.
    config = SandboxConfig(time_scale=600, watch_minutes=5, drs_events=False)
    with SandboxStack(plans, config) as stack:
        stack.drs.set_replication_state(SERVER, "STALLED")
        deadline = time.monotonic() + 20
        told: list[str] = []
        while time.monotonic() < deadline and not told:
            told = _told(stack)
            time.sleep(0.1)
        rounds = len(_listings(stack))
        while time.monotonic() < deadline and len(_listings(stack)) < rounds + 2:
            time.sleep(0.1)
        return _told(stack), rounds, len(_listings(stack))


def _told(stack: SandboxStack) -> list[str]:
    return [str(m["text"]) for m in stack.slack.messages() if m["channel"] == "C0WATCHSB"]


def _listings(stack: SandboxStack) -> list[object]:
    return [c for c in stack.drs.calls if c.operation == "DescribeSourceServers"]
