"""Thread safety: many boto3 clients at once, as the executor's parallel ticks would be."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sandbox.drs_emulator import DrsEmulator, EmulatorServer

from .helpers import DRILL_SECONDS, REGION, start_drill


def test_racing_start_recovery_on_one_server_starts_one_job(make_client: Any, emulator: DrsEmulator) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    shared = make_client()  # botocore clients are thread-safe; each thread gets its own connection
    clients = [shared] * 8
    barrier = threading.Barrier(len(clients))

    def attempt(client: Any) -> str:
        barrier.wait()
        try:
            start_drill(client, [sid])
            return "started"
        except client.exceptions.ConflictException:
            return "conflict"

    with ThreadPoolExecutor(len(clients)) as pool:
        outcomes = sorted(pool.map(attempt, clients))
    assert outcomes == ["conflict"] * 7 + ["started"]
    assert len(clients[0].describe_jobs()["items"]) == 1


def test_parallel_waves_and_polling(make_client: Any, emulator: DrsEmulator, clock: Any) -> None:
    groups = [emulator.add_source_servers(REGION, count=5) for _ in range(6)]

    client = make_client()

    def run(group: list[str]) -> str:
        job = start_drill(client, group)
        for _ in range(20):
            client.describe_jobs(filters={"jobIDs": [job["jobID"]]})
            client.describe_source_servers(filters={"sourceServerIDs": group})
        return str(job["jobID"])

    def tick() -> None:
        for _ in range(60):
            clock.advance(DRILL_SECONDS / 40)
            time.sleep(0.001)

    with ThreadPoolExecutor(len(groups)) as pool:
        ticker = pool.submit(tick)
        job_ids = list(pool.map(run, groups))
        ticker.result()
    clock.advance(DRILL_SECONDS)  # the ticker moved time while jobs were starting; now let all finish
    drs = make_client()
    jobs = drs.describe_jobs()["items"]
    assert sorted(j["jobID"] for j in jobs) == sorted(job_ids)
    assert {j["status"] for j in jobs} == {"COMPLETED"}
    assert len(emulator.launch_results()) == 30
    assert len(drs.describe_recovery_instances()["items"]) == 30
    assert [c.seq for c in emulator.calls] == list(range(1, len(emulator.calls) + 1))


def test_background_ticking_delivers_events_without_polling(make_client: Any) -> None:
    emulator = DrsEmulator(regions=(REGION,), time_scale=3000)  # a wave in about 0.2 s
    ids = emulator.add_source_servers(REGION, count=2)
    arrived = threading.Event()
    seen: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event)
        if len(seen) == 2:
            arrived.set()

    emulator.subscribe(on_event)
    with EmulatorServer(emulator, tick_interval=0.02) as srv:
        start_drill(make_client(url=srv.url), ids)
        assert arrived.wait(5)  # nobody polls: the ticker advanced the lifecycle
    assert {e["detail"]["source-server-id"] for e in seen} == set(ids)
