"""Time to first launch at scale: `/drs execute` → the first StartRecovery, and `/drs check`'s answers.

Each run starts the whole local stack (sandbox.stack.SandboxStack: the real Slack handler behind signed
HTTP requests, the fake Lambda running Bolt's lazy listeners, DynamoDB on moto, the DRS emulator on a
scaled real-time clock, the local runner ticking every `SandboxConfig.poll_seconds`) with one plan of
`--servers` source servers split evenly over `--waves` waves, with or without an `rpo_target`, then:

1. `/drs check <plan>`: the real seconds from sending the signed request to each ephemeral answer
   arriving at the fake response_url (`first` = the first answer, the readiness verdict; `full` = the
   answer that completes it: the same one when readiness answers once, the recovery-snapshot ages when
   they follow);
2. `/drs execute <plan> drill`: the real seconds from sending the signed request to the first
   StartRecovery the emulator recorded (its call record's emulated time, turned back into real time:
   emulated seconds since the clocks' common origin ÷ the time scale).

The DRS calls each phase made come from the emulator's call records. Nothing in the product is changed
or wrapped by this module. A fresh stack per run (moto's backends are reset between runs).

    .venv/bin/python -m benchmarks.first_launch [--quick] [--servers 4000] [--waves 4] [--runs 3]
        [--modes no-rpo,rpo] [--rpo 15m] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox.config import SandboxConfig  # noqa: E402
from sandbox.stack import SandboxStack, signed_command  # noqa: E402

USER = "U0FIRSTLAUNCH"
PLAN = "plan-scale"
GOAL_SECONDS = 5.0
TIME_SCALE = 60.0  # the sandbox's default


@dataclass
class RunResult:
    mode: str
    run: int
    check_first: float | None = None  # real s: request -> first ephemeral answer
    check_full: float | None = None  # real s: request -> the answer that completes the check
    check_answers: int = 0
    check_level: str = ""
    execute_first_start: float | None = None  # real s: request -> first StartRecovery (emulator's record)
    # CPU s this process spent meanwhile (bot, emulator, moto, fakes: the whole sandbox), which the
    # load from other processes changes far less than the wall clock; + up to 0.05 s of detection.
    execute_cpu: float | None = None
    check_calls: dict[str, int] = field(default_factory=dict)
    calls_before_first_start: dict[str, int] = field(default_factory=dict)
    load_before: float = 0.0


def write_plans(directory: Path, servers: int, waves: int, rpo: str | None) -> Path:
    per_wave = servers // waves
    lines = ["protection_groups:"]
    for wave in range(waves):
        ids = [f"s-{wave + 1:x}{n:016x}" for n in range(per_wave)]
        lines += [
            f"  - name: tier-{wave + 1}",
            "    region: us-east-1",
            f"    source_servers: [{', '.join(ids)}]",
        ]
    lines += ["plans:", f"  - name: {PLAN}"]
    if rpo:
        lines.append(f"    rpo_target: {rpo}")
    lines.append("    waves:")
    for wave in range(waves):
        lines += [f"      - name: Wave {wave + 1}", f"        protection_group: tier-{wave + 1}"]
    path = directory / f"plans-{rpo or 'none'}.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _send(stack: SandboxStack, text: str, channel: str) -> tuple[float, datetime]:
    """Post a signed slash command; return when it was sent (monotonic, and wall clock)."""
    config = stack.config
    body, headers = signed_command(
        text,
        signing_secret=config.signing_secret,
        response_url=stack.slack.new_response_url(channel, USER),
        user_id=USER,
        channel_id=channel,
        timestamp=int(time.time()),
    )
    request = urllib.request.Request(stack.slack_request_url, data=body, headers=headers, method="POST")
    sent, wall = time.monotonic(), datetime.now(UTC)
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    return sent, wall


def _ephemeral(stack: SandboxStack, channel: str) -> list[str]:
    return [m["text"] for m in stack.slack.messages(channel) if m.get("ephemeral")]


def _complete(texts: list[str]) -> bool:
    """The check has said all it will: its verdict, and the snapshot ages if it said they would follow."""
    if not texts:
        return False
    return not any("follow" in text and "snapshot" in text for text in texts[:1]) or len(texts) > 1


def _by_operation(calls: list[Any]) -> dict[str, int]:
    return dict(sorted(Counter(call.operation for call in calls).items()))


def run_once(mode: str, run: int, plans: Path, timeout: float) -> RunResult:
    result = RunResult(mode=mode, run=run, load_before=os.getloadavg()[0])
    logging.getLogger("sandbox.stack").setLevel(logging.NOTSET)
    config = SandboxConfig(time_scale=TIME_SCALE)
    with SandboxStack(plans, config) as stack:
        # 1. /drs check
        channel = "C0CHECK01"
        stack.drs.clear_calls()
        sent, _ = _send(stack, f"check {PLAN}", channel)
        deadline = sent + timeout
        seen: list[float] = []
        while time.monotonic() < deadline:
            texts = _ephemeral(stack, channel)
            while len(seen) < len(texts):
                seen.append(time.monotonic() - sent)
            if _complete(texts):
                break
            time.sleep(0.01)
        texts = _ephemeral(stack, channel)
        result.check_answers = len(texts)
        if seen:
            result.check_first = seen[0]
            result.check_full = seen[-1] if _complete(texts) else None
            result.check_level = (
                texts[0].split("*Readiness: ")[1].split("*")[0] if "*Readiness: " in texts[0] else "?"
            )
        stack.lambdas.wait_idle(timeout=timeout)
        result.check_calls = _by_operation(stack.drs.calls)

        # 2. /drs execute ... drill
        channel = "C0EXECUTE1"
        stack.drs.clear_calls()
        cpu_sent = time.process_time()
        sent, wall_sent = _send(stack, f"execute {PLAN} drill", channel)
        deadline = sent + timeout
        first = None
        while time.monotonic() < deadline and first is None:
            calls = stack.drs.calls
            starts = [c for c in calls if c.operation == "StartRecovery" and c.error is None]
            if starts:
                result.execute_cpu = time.process_time() - cpu_sent
                first = min(starts, key=lambda c: c.time)
                before = [c for c in calls if c.time <= first.time]
                result.calls_before_first_start = _by_operation(before)
                break
            time.sleep(0.05)
        if first is not None:
            emulated_since_origin = (first.time - stack.clock_origin).total_seconds()
            real_at = emulated_since_origin / TIME_SCALE
            result.execute_first_start = real_at - (wall_sent - stack.clock_origin).total_seconds()
        stack.lambdas.wait_idle(timeout=timeout)
        # moto's backends are process-wide: drop the tables so the next stack can create them again.
        # The runner still ticks the drill until the stack stops: its failing ticks are not news.
        logging.getLogger("sandbox.stack").setLevel(logging.CRITICAL)
        reset = urllib.request.Request(f"{stack.moto.url}/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(reset, timeout=10).read()
    return result


def _median(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    return f"{statistics.median(known):.2f} ({min(known):.2f}-{max(known):.2f})"


def machine() -> str:
    return (
        f"{platform.machine()}, nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.first_launch", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="400 servers in 4 waves, 1 run per mode")
    parser.add_argument("--servers", type=int, help="source servers in the plan (4000)")
    parser.add_argument("--waves", type=int, default=4, help="waves, servers split evenly (4)")
    parser.add_argument("--runs", type=int, help="runs per mode (3)")
    parser.add_argument("--modes", default="no-rpo,rpo", help="comma-separated: no-rpo, rpo (both)")
    parser.add_argument("--rpo", default="15m", help="the plan's rpo_target in the rpo mode (15m)")
    parser.add_argument("--timeout", type=float, default=180.0, help="real seconds to wait for each step")
    parser.add_argument("--json", type=Path, help="also write every run to this file")
    args = parser.parse_args(argv)
    servers = args.servers or (400 if args.quick else 4000)
    runs = args.runs or (1 if args.quick else 3)
    modes = args.modes.split(",")
    unknown = [m for m in modes if m not in ("no-rpo", "rpo")]
    if unknown:
        parser.error(f"unknown mode(s): {', '.join(unknown)}")
    logging.basicConfig(level=logging.ERROR)
    print(f"machine: {machine()}; load average before: {os.getloadavg()}", flush=True)
    print(
        f"{servers} servers in {args.waves} waves; time scale {TIME_SCALE:g}; "
        f"runner poll {SandboxConfig.model_fields['poll_seconds'].default:g} real s",
        flush=True,
    )
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:
            plans = write_plans(Path(tmp), servers, args.waves, args.rpo if mode == "rpo" else None)
            for run in range(1, runs + 1):
                result = run_once(mode, run, plans, args.timeout)
                results.append(result)
                print(
                    f"[{mode} run {run}] load {result.load_before:.2f}; check: first answer "
                    f"{result.check_first if result.check_first is None else round(result.check_first, 2)} s, "
                    f"complete {result.check_full if result.check_full is None else round(result.check_full, 2)} s "
                    f"({result.check_answers} answer(s), {result.check_level}), DRS calls {result.check_calls}; "
                    f"execute -> first StartRecovery "
                    f"{result.execute_first_start if result.execute_first_start is None else round(result.execute_first_start, 2)} s, "
                    f"({result.execute_cpu if result.execute_cpu is None else round(result.execute_cpu, 2)} s CPU), "
                    f"DRS calls before it {result.calls_before_first_start}",
                    flush=True,
                )
    print()
    print(
        "| mode | runs | execute → first StartRecovery, s | of which CPU, s | check → first answer, s "
        "| check → complete, s | DescribeRecoverySnapshots before the first StartRecovery | load average |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for mode in modes:
        mine = [r for r in results if r.mode == mode]
        snapshots = sorted({r.calls_before_first_start.get("DescribeRecoverySnapshots", 0) for r in mine})
        loads = [r.load_before for r in mine]
        print(
            f"| {mode} | {len(mine)} | {_median([r.execute_first_start for r in mine])} "
            f"| {_median([r.execute_cpu for r in mine])} "
            f"| {_median([r.check_first for r in mine])} | {_median([r.check_full for r in mine])} "
            f"| {', '.join(map(str, snapshots))} | {min(loads):.1f}-{max(loads):.1f} |"
        )
    print(f"\nmedian (min-max). Goal: execute → first StartRecovery < {GOAL_SECONDS:g} s with an rpo_target.")
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2) + "\n")
    return 0 if all(r.execute_first_start is not None for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
