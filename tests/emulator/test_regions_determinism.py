"""Several regions at once, and identical results for identical seeds."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock

from .helpers import DRILL_SECONDS, OTHER_REGION, REGION, START, Exchange, start_drill


def run_scenario(make_client: Any, exchanges: list[Exchange], seed: int) -> list[Any]:
    """A drill with a failure and a cleanup; returns every raw response body."""
    clock = ManualClock(START)
    emulator = DrsEmulator(regions=(REGION, OTHER_REGION), clock=clock, seed=seed)
    ids = emulator.add_source_servers(REGION, count=4, tags={"app": "erp"})
    emulator.fail_launch(ids[2])
    exchanges.clear()
    with EmulatorServer(emulator) as srv:
        drs = make_client(url=srv.url)
        drs.describe_source_servers()
        job = start_drill(drs, ids, tags={"execution": "x1"})
        for _ in range(20):
            clock.advance(30)
            drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})
        drs.describe_job_log_items(jobID=job["jobID"])
        instances = drs.describe_recovery_instances()["items"]
        drs.terminate_recovery_instances(recoveryInstanceIDs=[i["recoveryInstanceID"] for i in instances])
        clock.advance(120)
        drs.describe_jobs()
        drs.describe_recovery_snapshots(sourceServerID=ids[0])
    return [e.body for e in exchanges]


def test_same_seed_same_world(make_client: Any, exchanges: list[Exchange]) -> None:
    first = run_scenario(make_client, exchanges, seed=42)
    second = run_scenario(make_client, exchanges, seed=42)
    assert first == second
    other = run_scenario(make_client, exchanges, seed=43)
    assert other != first
    ids = [s["sourceServerID"] for s in first[0]["items"]]
    assert all(re.fullmatch(r"s-[0-9a-f]{17}", i) for i in ids)
    assert ids != [s["sourceServerID"] for s in other[0]["items"]]


def test_regions_are_separate_worlds(make_client: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    east, west = make_client(REGION), make_client(OTHER_REGION)
    east_ids = emulator.add_source_servers(REGION, count=2)
    west_ids = emulator.add_source_servers(OTHER_REGION, count=3)
    assert [s["sourceServerID"] for s in east.describe_source_servers()["items"]] == east_ids
    assert [s["sourceServerID"] for s in west.describe_source_servers()["items"]] == west_ids
    assert west.describe_source_servers()["items"][0]["arn"].startswith(f"arn:aws:drs:{OTHER_REGION}:")
    job = start_drill(east, east_ids)
    assert west.describe_jobs()["items"] == []
    with pytest.raises(west.exceptions.ValidationException) as excinfo:
        start_drill(west, east_ids)  # a server of another region is unknown here
    assert "does not exist" in excinfo.value.response["fieldList"][0]["message"]
    start_drill(west, west_ids)
    clock.advance(DRILL_SECONDS)
    assert {j["jobID"] for j in east.describe_jobs()["items"]} == {job["jobID"]}
    assert len(west.describe_recovery_instances()["items"]) == 3
    assert {c.region for c in emulator.calls} == {REGION, OTHER_REGION}
    assert {r.region for r in emulator.launch_results()} == {REGION, OTHER_REGION}


def test_concurrency_quota_is_per_region(make_client: Any, emulator: DrsEmulator) -> None:
    east, west = make_client(REGION), make_client(OTHER_REGION)
    for sid in emulator.add_source_servers(REGION, count=20):
        start_drill(east, [sid])
    start_drill(west, emulator.add_source_servers(OTHER_REGION, count=1))
