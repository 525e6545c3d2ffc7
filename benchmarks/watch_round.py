"""What a readiness watch round costs: DRS calls and time, for many plans over many servers.

Starts the whole local stack (sandbox.stack.SandboxStack) with `--plans` plans of `--servers` source
servers in all, split evenly, each plan with a channel, in `--regions` regions (us-east-1, us-west-2, …),
then invokes the watch function as its EventBridge schedule does (`SandboxStack.run_watch`) `--rounds`
times. The first round stores every plan's verdict; the others find nothing changed, as most rounds do.
DRS calls come from the emulator's call records; the time is the real time of the invocation in this
process, which also runs the emulator, moto and the fake Slack that answer it (an upper bound for Lambda).
Then one more round through the stack's own container, with its DRS reads and DynamoDB writes timed
(wrapped here, for this measurement only), to tell the emulator's share from the bot's.

    .venv/bin/python -m benchmarks.watch_round [--plans 50] [--servers 4000] [--regions 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import functools
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox.config import SandboxConfig  # noqa: E402
from sandbox.stack import SandboxStack  # noqa: E402

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2")
ROUNDS_PER_DAY_AT_30_MINUTES = 48


def write_plans(directory: Path, plans: int, servers: int, regions: int) -> Path:
    per_plan = servers // plans
    lines = ["protection_groups:"]
    for p in range(plans):
        ids = [f"s-{p + 1:02x}{n:015x}" for n in range(per_plan)]
        lines += [
            f"  - name: group-{p + 1}",
            f"    region: {REGIONS[p % regions]}",
            f"    source_servers: [{', '.join(ids)}]",
        ]
    lines.append("plans:")
    for p in range(plans):
        lines += [
            f"  - name: plan-{p + 1}",
            f"    channel: C0WATCH{p + 1:04d}",
            "    waves:",
            "      - name: All",
            f"        protection_group: group-{p + 1}",
        ]
    path = directory / "plans.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=50)
    parser.add_argument("--servers", type=int, default=4000)
    parser.add_argument("--regions", type=int, default=1, choices=range(1, len(REGIONS) + 1))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        plans = write_plans(Path(tmp), args.plans, args.servers, args.regions)
        with SandboxStack(plans, SandboxConfig(time_scale=1.0)) as stack:
            seconds: list[float] = []
            calls: list[Counter[str]] = []
            for _ in range(args.rounds):
                before = len(stack.drs.calls)
                started = time.perf_counter()
                result = stack.run_watch()
                seconds.append(time.perf_counter() - started)
                calls.append(Counter(c.operation for c in stack.drs.calls[before:]))
                assert result["plans_checked"] == args.plans, result
            spent = _timed_round(stack)
    print(f"{args.plans} plans, {args.servers:,} servers, {args.regions} region(s), {args.rounds} rounds")
    for n, (took, made) in enumerate(zip(seconds, calls, strict=True), start=1):
        print(f"  round {n}: {took:.2f} s, DRS calls {dict(made)}")
    steady = statistics.median(seconds[1:] or seconds)
    print(
        f"steady round (median of rounds 2..): {steady:.2f} s; at the default 30 minutes "
        f"({ROUNDS_PER_DAY_AT_30_MINUTES} rounds a day): {steady * ROUNDS_PER_DAY_AT_30_MINUTES:.0f} s a day"
    )
    print(
        "one round's parts: "
        + ", ".join(f"{part} {took:.2f} s" for part, took in spent.items())
        + " (DRS answered by the emulator in this process)"
    )
    return 0


def _timed_round(stack: SandboxStack) -> dict[str, float]:
    watch = stack.bot.watch
    spent: dict[str, float] = {}

    def timed(owner: Any, name: str, part: str) -> None:
        call = getattr(owner, name)

        @functools.wraps(call)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[part] = spent.get(part, 0.0) + time.perf_counter() - started

        setattr(owner, name, wrapper)

    timed(watch._drs, "source_servers", "DescribeSourceServers pages")
    timed(watch._store, "save", "state writes")
    timed(watch._store, "states", "state read")
    timed(watch, "_verdict", "verdicts")
    started = time.perf_counter()
    watch.round()
    spent["whole round"] = time.perf_counter() - started
    return spent


if __name__ == "__main__":
    raise SystemExit(main())
