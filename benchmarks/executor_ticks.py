"""What one executor tick costs, per plan size: DRS calls, DynamoDB items written, and the bot's CPU.

The services run in a child process (`--serve`, started by this module): DynamoDB on moto's server
(tables from cfn/template.yaml), the DRS emulator on a ManualClock served over HTTP with its default
quotas (100 servers per job, 20 concurrent jobs, 500 servers in active jobs), and the fake Slack. This
process holds only the bot: the real use cases (`bot/services/ticking.py` and the others) wired as tests/integration/executor_world.py
wires it (boto3 DRS gateway, DynamoExecutionStore, Outbox with the Block Kit renderer and the Slack
notifier, PollingTrigger, `Limits()` defaults, poll_seconds 30) on a clock kept in step with the
emulator's. So the CPU measured here is the bot's alone, and Python's garbage collector in this process
only walks the bot's objects, not moto's tables or the emulator's records (as in a Lambda function).

Each case: seed N source servers in the emulator (`POST /_emulator/source-servers`), build a catalog of
one plan splitting them evenly over W waves, request a drill, then tick until it ends and its messages
are out, the clocks moving `--advance` emulated seconds between ticks (no DRS events: every tick polls).

Per tick it records:
- the DRS calls the tick made (the emulator's call records, by operation; DescribeJobs split by purpose:
  `follow` = filtered by jobIDs, the observation; `scan` = filtered by fromDate, the DRS-wide quota
  load before starting chunks, or a look-up of a job by its tags);
- DynamoDB items written (`DynamoExecutionStore.items_written`, outbox writes included), and the
  DynamoDB calls and response bytes (a botocore after-call hook on the bot's client);
- CPU: time.thread_time around `executions.tick` in this (ticking) thread, and the part of it spent in
  the garbage collector (gc.callbacks).

With `--accounts N` the waves are spread round robin over N target accounts (each in one of `--regions`),
reached through the bot's role as deployed (AccountSessions, STS on the emulator); every account's call
log is read after each tick, AssumeRole calls counted (in the role's account), and DescribeJobs (follow)
checked against its bound in each account and region.

Lower bounds printed beside the counts:
- StartRecovery: sum over waves of ceil(servers_in_wave / servers_per_job);
- DescribeJobs (follow): per tick ceil(jobs running at the tick's start / 1000), summed;
- DescribeJobs (scan), DescribeJobLogItems: 0 here (no failures, no crash to reconcile); a scan per
  tick that starts chunks is how the quota is read DRS-wide (see benchmarks/README.md).

    .venv/bin/python -m benchmarks.executor_ticks [--quick] [--sizes 10,100,1000,4000] [--waves 1,3,10]
        [--advance 60] [--per-tick] [--profile SERVERSxWAVES] [--gc-freeze] [--json FILE]
        [--accounts 14 --regions us-east-1,us-west-2]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import itertools
import json
import logging
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from slack_sdk import WebClient  # noqa: E402

from bot.adapters.accounts import AccountSessions  # noqa: E402
from bot.adapters.drs import JOB_IDS_PER_DESCRIBE, DrsGateway  # noqa: E402
from bot.adapters.dynamodb import DynamoCatalogStore, DynamoExecutionStore  # noqa: E402
from bot.adapters.slack_notifier import SlackNotifier  # noqa: E402
from bot.adapters.trigger import PollingTrigger  # noqa: E402
from bot.domain.accounts import AccountRegion  # noqa: E402
from bot.domain.execution import ExecutionType, Limits  # noqa: E402
from bot.domain.plans import Catalog  # noqa: E402
from bot.services.outbox import Outbox  # noqa: E402
from bot.wiring import BlockKitRenderer, build_use_cases  # noqa: E402

REGION = "us-east-1"
REGIONS = ("us-east-1", "us-west-2")  # what --regions may name
ROLE_NAME = "drs-chatops-target"
EXTERNAL_ID = "bench-external-id"
START = datetime.fromisoformat("2026-11-29T09:00:00+00:00")
BOT_TOKEN = "xoxb-bench"
FULL_SIZES = (10, 100, 1000, 4000)
FULL_WAVES = (1, 3, 10)
QUICK_SIZES = (10, 100)
QUICK_WAVES = (1, 3)
CPU_GOAL_MS = 200.0
POLL_SECONDS = 30
_numbers = itertools.count(1)


# --- the child: services only ------------------------------------------------------------------------


def serve() -> int:
    """moto + the DRS emulator (manual clock) + the fake Slack; prints their URLs, serves until stdin closes."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock
    from sandbox.drs_emulator.clock import ScaledClock
    from sandbox.moto_server import MotoServer
    from sandbox.slack_fake import FakeSlack

    # Credentials expire by the wall clock, as botocore renews them: DRS's manual time jumps hours ahead.
    emulator = DrsEmulator(regions=REGIONS, clock=ManualClock(START), seed=3, sts_clock=ScaledClock(1.0))
    with MotoServer() as moto, EmulatorServer(emulator) as drs, FakeSlack(bot_token=BOT_TOKEN) as slack:
        print(json.dumps({"moto": moto.url, "drs": drs.url, "slack": slack.api_url}), flush=True)
        sys.stdin.read()  # the parent closes our stdin when it is done
    return 0


class Services:
    """The child process, and its admin calls."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.executor_ticks", "--serve"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the services process did not start")
        urls = json.loads(line)
        self.moto_url: str = urls["moto"]
        self.drs_url: str = urls["drs"]
        self.slack_api_url: str = urls["slack"]

    def admin(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, account: str | None = None
    ) -> dict[str, Any]:
        query = f"?account={account}" if account else ""
        request = urllib.request.Request(
            f"{self.drs_url}/_emulator/{path}{query}",
            data=json.dumps(body or {}).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            result: dict[str, Any] = json.loads(response.read() or b"{}")
            return result

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()


# --- the parent: the bot -----------------------------------------------------------------------------


class StepClock:
    """The bot's clock: the emulator's manual time, moved by the benchmark."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class DynamoMeter:
    """Counts the calls and response bytes of one boto3 DynamoDB client (botocore event hook)."""

    def __init__(self, client: Any) -> None:
        self.calls = 0
        self.bytes = 0
        client.meta.events.register("after-call.dynamodb", self._after)

    def _after(self, http_response: Any = None, **_: Any) -> None:
        self.calls += 1
        if http_response is not None:
            self.bytes += len(http_response.content or b"")


class SpyStore:
    """The bot's store, unchanged, remembering what the tick read first and how often it saved: the
    benchmark needs no reads of its own between ticks (they would add garbage and DynamoDB calls)."""

    def __init__(self, store: DynamoExecutionStore) -> None:
        self._store = store
        self.first_read: Any = None
        self.last_saved: Any = None
        self.saves = 0

    @property
    def items_written(self) -> int:
        return self._store.items_written

    def get(self, execution_id: str) -> Any:
        execution = self._store.get(execution_id)
        if self.first_read is None:
            self.first_read = execution
        return execution

    def save(self, *args: Any, **kwargs: Any) -> Any:
        saved = self._store.save(*args, **kwargs)
        self.saves += 1
        self.last_saved = saved
        return saved

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class GcMeter:
    """CPU the garbage collector spends in one thread, and how many full (generation 2) collections."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.seconds = 0.0
        self.full = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if threading.get_ident() != self.thread:
            return
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started
            self.full += info.get("generation") == 2

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


@dataclass
class TickSample:
    cpu: float
    gc: float
    full_gcs: int
    wall: float
    items: int
    dynamo_calls: int
    dynamo_bytes: int
    drs: Counter[str]
    follow_bound: int
    saved: bool


@dataclass
class CaseResult:
    servers: int
    waves: int
    advance: float
    ticks: list[TickSample] = field(default_factory=list)
    request_items: int = 0
    request_cpu: float = 0.0
    start_recovery_bound: int = 0
    status: str = ""
    emulated_minutes: float = 0.0
    real_seconds: float = 0.0
    max_servers_per_start: int = 0
    start_errors: int = 0
    tracked_objects: int = 0
    accounts: int = 0
    places: int = 1  # accounts and regions the waves are spread over
    assume_roles: int = 0  # sts:AssumeRole calls the bot made (the role's account logs them)
    follow_excess: int = 0
    places_per_tick_max: int = 0

    def summary(self) -> dict[str, Any]:
        ticks = self.ticks
        cpu = [t.cpu * 1000 for t in ticks]
        no_gc = [(t.cpu - t.gc) * 1000 for t in ticks]
        items = [t.items for t in ticks]
        per_tick_calls = [sum(t.drs.values()) for t in ticks]
        drs: Counter[str] = Counter()
        for t in ticks:
            drs.update(t.drs)
        return {
            "servers": self.servers,
            "waves": self.waves,
            "accounts": self.accounts,
            "places": self.places,
            "assume_roles": self.assume_roles,
            "follow_above_bound": self.follow_excess,
            "places_per_tick_max": self.places_per_tick_max,
            "advance_seconds": self.advance,
            "status": self.status,
            "ticks": len(ticks),
            "ticks_that_saved": sum(1 for t in ticks if t.saved),
            "emulated_minutes": round(self.emulated_minutes, 1),
            "real_seconds": round(self.real_seconds, 1),
            "drs_calls": dict(sorted(drs.items())),
            "drs_calls_per_tick_max": max(per_tick_calls, default=0),
            "drs_calls_per_tick_mean": _r(statistics.fmean(per_tick_calls)) if ticks else 0,
            "start_recovery_bound": self.start_recovery_bound,
            "follow_bound": sum(t.follow_bound for t in ticks),
            "max_servers_per_start_recovery": self.max_servers_per_start,
            "start_recovery_errors": self.start_errors,
            "request_items_written": self.request_items,
            "request_cpu_ms": _r(self.request_cpu * 1000),
            "items_per_tick_max": max(items, default=0),
            "items_per_tick_mean": _r(statistics.fmean(items)) if ticks else 0,
            "items_total": sum(items) + self.request_items,
            "dynamo_calls_per_tick_max": max((t.dynamo_calls for t in ticks), default=0),
            "dynamo_kib_read_per_tick_max": _r(max((t.dynamo_bytes for t in ticks), default=0) / 1024),
            "cpu_per_tick_p50_ms": _r(statistics.median(cpu)) if ticks else 0,
            "cpu_per_tick_p95_ms": _r(_percentile(cpu, 95)),
            "cpu_per_tick_max_ms": _r(max(cpu, default=0)),
            "cpu_per_tick_max_without_gc_ms": _r(max(no_gc, default=0)),
            "gc_ms_total": _r(sum(t.gc for t in ticks) * 1000),
            "full_gcs": sum(t.full_gcs for t in ticks),
            "gc_tracked_objects_before_ticks": self.tracked_objects,
            "wall_per_tick_p50_ms": _r(statistics.median([t.wall * 1000 for t in ticks])) if ticks else 0,
            "wall_per_tick_max_ms": _r(max((t.wall * 1000 for t in ticks), default=0)),
        }


def _percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1)]


def _r(value: float) -> float:
    return round(value, 1)


def split(ids: list[str], waves: int) -> list[list[str]]:
    """ids over `waves` groups, as evenly as possible, in order."""
    base, extra = divmod(len(ids), waves)
    groups, start = [], 0
    for index in range(waves):
        size = base + (1 if index < extra else 0)
        groups.append(ids[start : start + size])
        start += size
    return groups


def build_catalog(groups: list[list[str]], places: list[AccountRegion] | None = None) -> Catalog:
    """One plan, a wave per group; group i in places[i % len(places)] (default: the own account)."""
    places = places or [AccountRegion(None, REGION)]
    waves = [{"name": f"Wave {i + 1}", "protection_group": f"group-{i}"} for i in range(len(groups))]

    def where(i: int) -> dict[str, str]:
        place = places[i % len(places)]
        return {"region": place.region, **({"account": place.account} if place.account else {})}

    return Catalog.model_validate(
        {
            "protection_groups": [
                {"name": f"group-{i}", **where(i), "source_servers": ids} for i, ids in enumerate(groups)
            ],
            "plans": [{"name": "plan-x", "waves": waves}],
        }
    )


def dynamodb_client(url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def drs_gateway(url: str) -> DrsGateway:
    config = Config(retries={"mode": "standard", "max_attempts": 3})
    return DrsGateway(
        lambda where: boto3.client(
            "drs",
            region_name=where.region,
            endpoint_url=url,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=config,
        )
    )


def accounts_gateway(url: str) -> DrsGateway:
    """The bot's DRS gateway as bot/wiring.py builds it: AccountSessions (AssumeRole into each target
    account, refreshable credentials), boto3 finding the emulator by AWS_ENDPOINT_URL_DRS/STS."""
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_DRS": url,
            "AWS_ENDPOINT_URL_STS": url,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    sessions = AccountSessions(REGION, role_name=ROLE_NAME, external_id=EXTERNAL_ID)
    config = Config(retries={"mode": "standard", "max_attempts": 3})
    return DrsGateway(lambda where: sessions.client("drs", where, config))


def target_accounts(count: int) -> list[str]:
    return [f"{300000000001 + n:012d}" for n in range(count)]


def places_of(accounts: list[str], regions: tuple[str, ...]) -> list[AccountRegion]:
    """Where the waves go, round robin: each account in one of the regions (the own account if none)."""
    if not accounts:
        return [AccountRegion(None, region) for region in regions]
    return [AccountRegion(account, regions[n % len(regions)]) for n, account in enumerate(accounts)]


def follow_bounds(execution: Any) -> Counter[AccountRegion]:
    """The fewest DescribeJobs a tick can follow its running jobs with: per account and region, one per
    JOB_IDS_PER_DESCRIBE job ids (DRS is asked in each account and region on its own)."""
    running: Counter[AccountRegion] = Counter()
    for wave in execution.waves:
        for chunk in wave.chunks:
            if chunk.status.value == "RUNNING" and chunk.job_id:
                running[wave.where] += 1
    return Counter({where: math.ceil(n / JOB_IDS_PER_DESCRIBE) for where, n in running.items()})


def drs_operation(call: dict[str, Any]) -> str:
    if call["operation"] != "DescribeJobs":
        return str(call["operation"])
    filters = call["params"].get("filters") or {}
    return "DescribeJobs(follow)" if filters.get("jobIDs") else "DescribeJobs(scan)"


def run_case(
    services: Services,
    servers: int,
    waves: int,
    *,
    advance: float,
    profiler: cProfile.Profile | None = None,
    gc_freeze: bool = False,
    max_ticks: int = 2000,
    accounts: int = 0,
    regions: tuple[str, ...] = (REGION,),
) -> CaseResult:
    from sandbox.tables import create_tables

    limits = Limits()
    number = next(_numbers)
    services.admin("POST", "reset")
    targets = target_accounts(accounts)
    places = places_of(targets, regions)
    for target in targets:  # each with the bot's role, as cfn/target-account.yaml makes it
        services.admin("POST", "accounts", {"accountID": target, "regions": list(regions)})
        services.admin("POST", "roles", {"roleName": ROLE_NAME, "externalId": EXTERNAL_ID}, account=target)
    sizes = [len(group) for group in split([""] * servers, waves)]
    groups = [
        services.admin(
            "POST", "source-servers", {"region": place.region, "count": size}, account=place.account
        )["sourceServerIDs"]
        for size, place in zip(sizes, itertools.cycle(places), strict=False)
    ]
    clock = StepClock(datetime.fromisoformat(services.admin("GET", "clock")["now"]))
    catalog = build_catalog(groups, places)
    logs: list[str | None] = [None, *targets]  # the call logs to read: each account keeps its own
    tables = {"CatalogTable": f"bench-catalog-{number}", "ExecutionsTable": f"bench-executions-{number}"}
    dynamodb = dynamodb_client(services.moto_url)
    create_tables(dynamodb, tables)
    DynamoCatalogStore(dynamodb, tables["CatalogTable"]).replace(catalog, applied_by="bench", now=clock.now())
    meter = DynamoMeter(dynamodb)
    store = SpyStore(DynamoExecutionStore(dynamodb, tables["ExecutionsTable"]))
    notifier = SlackNotifier(WebClient(token=BOT_TOKEN, base_url=services.slack_api_url))
    use_cases = build_use_cases(
        catalog=DynamoCatalogStore(dynamodb, tables["CatalogTable"]),
        store=store,
        drs=accounts_gateway(services.drs_url) if targets else drs_gateway(services.drs_url),
        outbox=Outbox(store, notifier, BlockKitRenderer(), clock.now),
        trigger=PollingTrigger(),
        clock=clock.now,
        limits=limits,
        poll_seconds=POLL_SECONDS,
    )
    result = CaseResult(
        servers=servers,
        waves=waves,
        advance=advance,
        start_recovery_bound=sum(
            math.ceil(len(g) / limits.servers_per_job_in(place.account))
            for g, place in zip(groups, itertools.cycle(places), strict=False)
        ),
        accounts=accounts,
        places=len(places),
    )
    for account in logs:
        services.admin("DELETE", "calls", account=account)
    real_start = time.perf_counter()
    cpu0 = time.thread_time()
    outcome = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.DRILL,
        user_id="U0BENCH",
        channel_id=f"C0BENCH{number}",
        request_key=f"bench-{number}",
    )
    result.request_cpu = time.thread_time() - cpu0
    result.request_items = store.items_written
    for account in logs:  # the request's readiness check is the first to reach each account
        requested = services.admin("GET", "calls", account=account)["calls"]
        result.assume_roles += sum(call["operation"] == "AssumeRole" for call in requested)
    assert outcome.execution is not None, outcome
    execution_id = outcome.execution.execution_id
    started = clock.now()
    result.tracked_objects = len(gc.get_objects())
    if gc_freeze:
        gc.collect()
        gc.freeze()
    gc_meter = GcMeter()
    try:
        for _ in range(max_ticks):
            for account in logs:
                services.admin("DELETE", "calls", account=account)
            store.first_read, saves0 = None, store.saves
            items0, dyn_calls0, dyn_bytes0 = store.items_written, meter.calls, meter.bytes
            gc0, full0 = gc_meter.seconds, gc_meter.full
            if profiler is not None:
                profiler.enable()
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            tick = use_cases.ticking.tick(execution_id)
            cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
            if profiler is not None:
                profiler.disable()
            gc_seconds, full_gcs = gc_meter.seconds - gc0, gc_meter.full - full0
            items, dyn_calls, dyn_bytes = (
                store.items_written - items0,
                meter.calls - dyn_calls0,
                meter.bytes - dyn_bytes0,
            )
            bounds = follow_bounds(store.first_read) if store.first_read else Counter()
            calls = []
            follows: Counter[AccountRegion] = Counter()
            asked: set[AccountRegion] = set()
            for account in logs:
                for call in services.admin("GET", "calls", account=account)["calls"]:
                    if call["operation"] == "AssumeRole":
                        result.assume_roles += 1
                        continue
                    calls.append(call)
                    asked.add(AccountRegion(account, call["region"]))
                    if drs_operation(call) == "DescribeJobs(follow)":
                        follows[AccountRegion(account, call["region"])] += 1
            # Follow-ups above their own account and region's bound (none expected), and the most
            # accounts and regions one tick asked DRS in.
            result.follow_excess += sum(max(0, n - bounds[where]) for where, n in follows.items())
            result.places_per_tick_max = max(result.places_per_tick_max, len(asked))
            result.ticks.append(
                TickSample(
                    cpu=cpu,
                    gc=gc_seconds,
                    full_gcs=full_gcs,
                    wall=wall,
                    items=items,
                    dynamo_calls=dyn_calls,
                    dynamo_bytes=dyn_bytes,
                    drs=Counter(drs_operation(call) for call in calls),
                    follow_bound=sum(bounds.values()),
                    saved=store.saves > saves0,
                )
            )
            for call in calls:
                if call["operation"] == "StartRecovery":
                    size = len(call["params"].get("sourceServers") or [])
                    result.max_servers_per_start = max(result.max_servers_per_start, size)
                    result.start_errors += call["error"] is not None
            if tick.finished:
                break
            clock.advance(advance)
            services.admin("POST", "clock", {"advanceSeconds": advance})
        else:
            raise RuntimeError(f"{servers}x{waves}: not finished after {max_ticks} ticks")
    finally:
        gc_meter.close()
        if gc_freeze:
            gc.unfreeze()
    final = store.get(execution_id)
    assert final is not None
    result.status = final.status.value
    result.emulated_minutes = (clock.now() - started).total_seconds() / 60
    result.real_seconds = time.perf_counter() - real_start
    return result


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| servers x waves | ticks (saving) | StartRecovery (bound) | DescribeJobs follow (bound) "
        "| DescribeJobs scan (bound 0) | other DRS calls | DRS calls/tick max | items/tick max / mean "
        "| CPU/tick p50 / p95 / max ms | max without GC ms | wall/tick p50 / max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        calls = dict(r["drs_calls"])
        start = calls.pop("StartRecovery", 0)
        follow = calls.pop("DescribeJobs(follow)", 0)
        scan = calls.pop("DescribeJobs(scan)", 0)
        other = ", ".join(f"{k} {v}" for k, v in calls.items()) or "0"
        status = "" if r["status"] == "COMPLETED" else f" **{r['status']}**"
        lines.append(
            f"| {r['servers']} x {r['waves']}{status} | {r['ticks']} ({r['ticks_that_saved']}) "
            f"| {start} ({r['start_recovery_bound']}) | {follow} ({r['follow_bound']}) | {scan} | {other} "
            f"| {r['drs_calls_per_tick_max']} | {r['items_per_tick_max']} / {r['items_per_tick_mean']} "
            f"| {r['cpu_per_tick_p50_ms']} / {r['cpu_per_tick_p95_ms']} / {r['cpu_per_tick_max_ms']} "
            f"| {r['cpu_per_tick_max_without_gc_ms']} "
            f"| {r['wall_per_tick_p50_ms']} / {r['wall_per_tick_max_ms']} |"
        )
    return "\n".join(lines)


def machine() -> str:
    return (
        f"{platform.machine()}, nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.executor_ticks", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="10 and 100 servers, 1 and 3 waves")
    parser.add_argument(
        "--sizes", type=parse_ints, help="servers per plan, comma-separated (10,100,1000,4000)"
    )
    parser.add_argument("--waves", type=parse_ints, help="waves per plan, comma-separated (1,3,10)")
    parser.add_argument(
        "--accounts",
        type=int,
        default=0,
        help="spread the waves over this many target accounts, reached through their role (0: own only)",
    )
    parser.add_argument(
        "--regions",
        type=lambda text: tuple(part for part in text.split(",") if part),
        default=(REGION,),
        help=f"regions the waves go to, round robin, among {','.join(REGIONS)} (us-east-1)",
    )
    parser.add_argument("--advance", type=float, default=60.0, help="emulated seconds between ticks (60)")
    parser.add_argument("--per-tick", action="store_true", help="print one line per tick")
    parser.add_argument(
        "--profile", help="cProfile the ticks of one case, e.g. 4000x1, and print the top costs"
    )
    parser.add_argument("--top", type=int, default=30, help="rows of the profile to print (30)")
    parser.add_argument("--json", type=Path, help="also write the per-case summaries to this file")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="diagnostic: gc.freeze() once the bot is built, before the first tick (what a Lambda module could do)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    logging.getLogger("botocore").setLevel(logging.WARNING)
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    wave_counts = args.waves or (QUICK_WAVES if args.quick else FULL_WAVES)
    cases = [(s, w) for s in sizes for w in wave_counts]
    if args.profile:
        servers, _, waves = args.profile.lower().partition("x")
        cases = [(int(servers), int(waves or 1))]
    print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    print(
        f"clock: +{args.advance:g} emulated s between ticks; Limits() = {Limits().model_dump()}", flush=True
    )
    rows = []
    services = Services()
    try:
        for servers, waves in cases:
            profiler = cProfile.Profile(time.thread_time) if args.profile else None  # CPU, not waiting
            result = run_case(
                services,
                servers,
                waves,
                advance=args.advance,
                profiler=profiler,
                gc_freeze=args.gc_freeze,
                accounts=args.accounts,
                regions=args.regions,
            )
            row = result.summary()
            rows.append(row)
            print(
                f"{servers:>5} servers x {waves:>2} waves: {row['status']}, {row['ticks']} ticks, "
                f"DRS {row['drs_calls']}, items/tick max {row['items_per_tick_max']}, "
                f"CPU/tick p50 {row['cpu_per_tick_p50_ms']} ms, max {row['cpu_per_tick_max_ms']} ms "
                f"({row['gc_ms_total']} ms GC in {row['full_gcs']} full collections; {row['real_seconds']} s real)",
                flush=True,
            )
            if args.accounts:
                print(
                    f"      {args.accounts} accounts, {row['places']} accounts and regions: "
                    f"AssumeRole {row['assume_roles']}, DescribeJobs follow above the per-place bound "
                    f"{row['follow_above_bound']}, most places asked in one tick {row['places_per_tick_max']}",
                    flush=True,
                )
            if args.per_tick:
                for n, t in enumerate(result.ticks, 1):
                    print(
                        f"  tick {n:>3}: cpu {t.cpu * 1000:6.1f} ms (gc {t.gc * 1000:5.1f}) "
                        f"wall {t.wall * 1000:6.1f} ms items {t.items:>3} "
                        f"dynamodb calls {t.dynamo_calls:>2} {t.dynamo_bytes / 1024:6.1f} KiB "
                        f"saved {t.saved!s:5} follow-bound {t.follow_bound} drs {dict(t.drs)}"
                    )
            if profiler is not None:
                for sort in ("cumulative", "tottime"):
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(args.top)
                    print(f"\n--- profile of all {len(result.ticks)} ticks, by {sort} ---\n{out.getvalue()}")
    finally:
        services.close()
    print()
    print(table(rows))
    over = [r for r in rows if r["cpu_per_tick_max_ms"] > CPU_GOAL_MS]
    if over:
        print(
            "\nCPU goal (< 200 ms per tick) missed by: "
            + ", ".join(f"{r['servers']}x{r['waves']} (max {r['cpu_per_tick_max_ms']} ms)" for r in over)
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "cases": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
