"""The gap between waves: from the last server of wave N reaching LAUNCHED to wave N+1's StartRecovery.

Each run is a drill of a 3-wave plan through the whole local stack (sandbox.stack.SandboxStack: the
real Slack handler behind a signed `/drs execute plan-gap drill` over HTTP, the fake Lambda, DynamoDB
on moto, the DRS emulator on a scaled real-time clock, the local runner that ticks every
`poll_seconds`, and, when on, DRS launch-result events routed to handlers/drs_events.py in batches,
as the stack's EventBridge rule, SQS queue and event source mapping do). Times come from the emulator's own records, both emulated: `server_launch_times()` (when each
server's launch reached LAUNCHED) and the StartRecovery call records. A gap in emulated seconds divided
by the time scale is the same gap in real seconds.

Modes:
- events: DRS events on; the runner still polls, every 15 real seconds (`--events-poll`; what
  Settings.poll_seconds means on AWS: the Step Functions loop waits 15 real seconds, events arrive in
  real time);
- polling: events off; the runner polls every 15 emulated seconds (`--poll`; 15 / time_scale real
  seconds), so the gap in emulated seconds is what 15-second polling gives against DRS's real timings;
- polling-sandbox: events off; the runner polls at the sandbox's own default, SandboxConfig().poll_seconds
  (1 real second, i.e. time_scale emulated seconds).

For the events mode the gap is split into the emulator's detection delay (its background thread
advances lifecycles every 0.2 real seconds, so a launch becomes an event up to 0.2 s late: an artefact of
the emulator, not of the bot) and the bot's reaction (event published -> StartRecovery), and each wave
start is attributed to the thread that made it (an event-triggered tick or the runner's poll).

    .venv/bin/python -m benchmarks.wave_gap [--quick] [--time-scale 60] [--servers-per-wave 2]
        [--modes events,polling,polling-sandbox] [--poll 15] [--events-poll 15] [--runs 1] [--json FILE]
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
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.adapters import drs as drs_adapter  # noqa: E402
from bot.settings import Settings  # noqa: E402
from sandbox.config import SandboxConfig  # noqa: E402
from sandbox.stack import EVENTS_FUNCTION, SandboxStack, signed_command  # noqa: E402

USER = "U0GAPBENCH"
PLAN = "plan-gap"
WAVES = 3
AWS_POLL_SECONDS = Settings.model_fields["poll_seconds"].default  # 15.0
GOAL_SECONDS = 5.0
PEER_GAP_SECONDS = 87.0


# --- instrumentation (this process only; the product code is unchanged) ---------------------------------


@dataclass
class StartCall:
    thread: str
    real: float  # time.monotonic() when the call returned
    server_ids: list[str]


class StartRecorder:
    """Which thread called DrsGateway.start_recovery, and when (real time)."""

    def __init__(self) -> None:
        self.calls: list[StartCall] = []
        self._lock = threading.Lock()
        self._original = drs_adapter.DrsGateway.start_recovery

    def __enter__(self) -> StartRecorder:
        recorder, original = self, self._original

        def start_recovery(gateway: Any, region: Any, source_server_ids: Any, **kwargs: Any) -> str:
            job_id: str = original(gateway, region, source_server_ids, **kwargs)
            with recorder._lock:
                recorder.calls.append(
                    StartCall(threading.current_thread().name, time.monotonic(), list(source_server_ids))
                )
            return job_id

        drs_adapter.DrsGateway.start_recovery = start_recovery  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        drs_adapter.DrsGateway.start_recovery = self._original  # type: ignore[method-assign]


@dataclass
class Mode:
    name: str
    drs_events: bool
    poll_seconds: float  # real seconds between the runner's ticks


def modes_for(
    time_scale: float, poll: float = AWS_POLL_SECONDS, events_poll: float = AWS_POLL_SECONDS
) -> dict[str, Mode]:
    """poll: the polling mode's interval in emulated seconds; events_poll: the events mode's, in real seconds."""
    return {
        "events": Mode("events", True, events_poll),
        "polling": Mode("polling", False, poll / time_scale),
        "polling-sandbox": Mode("polling-sandbox", False, SandboxConfig.model_fields["poll_seconds"].default),
    }


@dataclass
class Gap:
    mode: str
    run: int
    after_wave: int  # 1-based: the gap between this wave and the next
    emulated: float
    real: float
    started_by: str  # "event" or "poll" (the thread that called StartRecovery)
    detection_real: float | None = None  # events: last launch -> event published
    reaction_real: float | None = None  # events: event published -> StartRecovery returned


@dataclass
class RunResult:
    mode: str
    run: int
    status: str
    real_seconds: float
    gaps: list[Gap] = field(default_factory=list)
    drs_calls: dict[str, int] = field(default_factory=dict)
    event_invocations: int = 0
    first_wave_start_real: float = 0.0


def write_plans(directory: Path, servers_per_wave: int) -> tuple[Path, list[list[str]]]:
    waves = [[f"s-{wave + 1:x}{n:016x}" for n in range(servers_per_wave)] for wave in range(WAVES)]
    lines = ["protection_groups:"]
    for index, ids in enumerate(waves):
        lines += [
            f"  - name: tier-{index + 1}",
            "    region: us-east-1",
            f"    source_servers: [{', '.join(ids)}]",
        ]
    lines += ["plans:", f"  - name: {PLAN}", "    waves:"]
    for index in range(WAVES):
        lines += [f"      - name: Wave {index + 1}", f"        protection_group: tier-{index + 1}"]
    path = directory / "plans.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, waves


def run_once(
    mode: Mode, run: int, *, plans: Path, waves: list[list[str]], time_scale: float, timeout: float
) -> RunResult:
    config = SandboxConfig(time_scale=time_scale, poll_seconds=mode.poll_seconds, drs_events=mode.drs_events)
    published: dict[str, float] = {}  # source server id -> real time its launch event was published
    real_start = time.monotonic()
    with StartRecorder() as recorder, SandboxStack(plans, config) as stack:
        stack.drs.subscribe(lambda event: _note_event(published, event))
        channel = config.channel_id
        body, headers = signed_command(
            f"execute {PLAN} drill",
            signing_secret=config.signing_secret,
            response_url=stack.slack.new_response_url(channel, USER),
            user_id=USER,
            channel_id=channel,
            timestamp=int(time.time()),
        )
        request = urllib.request.Request(stack.slack_request_url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        execution = stack.wait_for_end(channel, timeout)
        status = execution.status.value if execution is not None else "TIMED OUT"
        launches = stack.drs.server_launch_times()
        calls = stack.drs.calls
        invocations = [i for i in stack.lambdas.invocations if i.function_name == EVENTS_FUNCTION]
        # moto's backends are process-wide: drop the tables so the next stack can create them again.
        stack.lambdas.wait_idle(timeout=10)
        reset = urllib.request.Request(f"{stack.moto.url}/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(reset, timeout=10).read()
    result = RunResult(mode=mode.name, run=run, status=status, real_seconds=time.monotonic() - real_start)
    for call in calls:
        result.drs_calls[call.operation] = result.drs_calls.get(call.operation, 0) + 1
    result.event_invocations = len(invocations)
    starts = [c for c in calls if c.operation == "StartRecovery" and c.error is None]
    for index in range(WAVES - 1):
        done = [launches[sid] for sid in waves[index] if sid in launches]
        nxt = [c for c in starts if set(_servers(c)) & set(waves[index + 1])]
        if len(done) < len(waves[index]) or not nxt:
            continue
        last_launch = max(done)
        start = min(nxt, key=lambda c: c.time)
        emulated = (start.time - last_launch).total_seconds()
        recorded = next((c for c in recorder.calls if set(c.server_ids) == set(_servers(start))), None)
        started_by = "?"
        detection = reaction = None
        if recorded is not None:
            started_by = "event" if recorded.thread.startswith("lambda-") else "poll"
            last_server = max(waves[index], key=lambda sid: launches[sid])
            if mode.drs_events and last_server in published:
                # Split the real gap at the moment the emulator published the last launch's event. A
                # negative split means a tick already under way (woken by an earlier event) saw the last
                # launch through DescribeJobs before its event was out: no split then.
                reaction = recorded.real - published[last_server]
                detection = emulated / time_scale - reaction
                if reaction < 0:
                    detection = reaction = None
        result.gaps.append(
            Gap(
                mode=mode.name,
                run=run,
                after_wave=index + 1,
                emulated=emulated,
                real=emulated / time_scale,
                started_by=started_by,
                detection_real=detection,
                reaction_real=reaction,
            )
        )
    if starts:
        first = min(starts, key=lambda c: c.time)
        result.first_wave_start_real = (first.time - stack.clock_origin).total_seconds() / time_scale
    return result


def _note_event(published: dict[str, float], event: dict[str, Any]) -> None:
    server = (event.get("detail") or {}).get("source-server-id")
    if server and server not in published:
        published[server] = time.monotonic()


def _servers(call: Any) -> list[str]:
    return [s["sourceServerID"] for s in call.params.get("sourceServers") or []]


def summarize(gaps: list[Gap], mode: Mode, time_scale: float) -> dict[str, Any]:
    emulated = [g.emulated for g in gaps]
    real = [g.real for g in gaps]
    out: dict[str, Any] = {
        "mode": mode.name,
        "drs_events": mode.drs_events,
        "poll_real_seconds": round(mode.poll_seconds, 3),
        "poll_emulated_seconds": round(mode.poll_seconds * time_scale, 1),
        "gaps": len(gaps),
        "emulated_mean": round(statistics.fmean(emulated), 2) if gaps else None,
        "emulated_max": round(max(emulated), 2) if gaps else None,
        "real_mean": round(statistics.fmean(real), 3) if gaps else None,
        "real_max": round(max(real), 3) if gaps else None,
        "started_by": sorted({g.started_by for g in gaps}),
    }
    reactions = [g.reaction_real for g in gaps if g.reaction_real is not None]
    detections = [g.detection_real for g in gaps if g.detection_real is not None]
    if mode.drs_events and reactions:
        out["reaction_real_mean"] = round(statistics.fmean(reactions), 3)
        out["reaction_real_max"] = round(max(reactions), 3)
        out["detection_real_mean"] = round(statistics.fmean(detections), 3)
    return out


def machine() -> str:
    return (
        f"{platform.machine()}, nproc={os.cpu_count()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.wave_gap", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 server per wave, time scale 120, events and polling"
    )
    parser.add_argument("--time-scale", type=float, help="emulated seconds per real second (60)")
    parser.add_argument("--servers-per-wave", type=int, help="source servers in each of the 3 waves (2)")
    parser.add_argument("--modes", help="comma-separated: events, polling, polling-sandbox (all three)")
    parser.add_argument(
        "--poll",
        type=float,
        default=AWS_POLL_SECONDS,
        help=f"polling mode: the runner's interval in emulated seconds ({AWS_POLL_SECONDS:g}, Settings.poll_seconds)",
    )
    parser.add_argument(
        "--events-poll",
        type=float,
        default=AWS_POLL_SECONDS,
        help=f"events mode: the runner's interval in real seconds ({AWS_POLL_SECONDS:g}, as the AWS loop waits)",
    )
    parser.add_argument("--runs", type=int, default=1, help="drills per mode (1)")
    parser.add_argument("--timeout", type=float, default=180.0, help="real seconds to wait for a drill (180)")
    parser.add_argument("--json", type=Path, help="also write every gap and the summaries to this file")
    args = parser.parse_args(argv)
    time_scale = args.time_scale or (120.0 if args.quick else 60.0)
    per_wave = args.servers_per_wave or (1 if args.quick else 2)
    all_modes = modes_for(time_scale, args.poll, args.events_poll)
    names = (
        args.modes.split(",") if args.modes else (["events", "polling"] if args.quick else list(all_modes))
    )
    unknown = [n for n in names if n not in all_modes]
    if unknown:
        parser.error(f"unknown mode(s): {', '.join(unknown)}")
    logging.basicConfig(level=logging.ERROR)
    print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    print(
        f"time scale {time_scale:g} (1 real s = {time_scale:g} emulated s); {WAVES} waves x {per_wave} servers; "
        f"Settings.poll_seconds default (AWS) = {AWS_POLL_SECONDS:g} s; "
        f"SandboxConfig.poll_seconds default = {SandboxConfig.model_fields['poll_seconds'].default:g} real s",
        flush=True,
    )
    results: list[RunResult] = []
    summaries = []
    with tempfile.TemporaryDirectory() as tmp:
        plans, waves = write_plans(Path(tmp), per_wave)
        for name in names:
            mode = all_modes[name]
            mode_gaps: list[Gap] = []
            for run in range(1, args.runs + 1):
                result = run_once(
                    mode, run, plans=plans, waves=waves, time_scale=time_scale, timeout=args.timeout
                )
                results.append(result)
                mode_gaps += result.gaps
                gaps = ", ".join(
                    f"wave {g.after_wave}->{g.after_wave + 1}: {g.emulated:.1f} emulated s = {g.real:.3f} real s "
                    f"(by {g.started_by}"
                    + (
                        f"; detection {g.detection_real:.3f} s + reaction {g.reaction_real:.3f} s"
                        if g.reaction_real is not None
                        else ""
                    )
                    + ")"
                    for g in result.gaps
                )
                print(
                    f"[{name} run {run}] {result.status} in {result.real_seconds:.1f} s real; {gaps}; "
                    f"DRS calls {result.drs_calls}; events-function invocations {result.event_invocations}",
                    flush=True,
                )
            summaries.append(summarize(mode_gaps, mode, time_scale))
    print()
    print(
        "| mode | events | runner poll (real s / emulated s) | gaps | gap emulated s mean / max "
        "| gap real s mean / max | started by | event→StartRecovery real s mean / max |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for s in summaries:
        reaction = (
            f"{s['reaction_real_mean']} / {s['reaction_real_max']}" if "reaction_real_mean" in s else "-"
        )
        print(
            f"| {s['mode']} | {'on' if s['drs_events'] else 'off'} | {s['poll_real_seconds']:g} / "
            f"{s['poll_emulated_seconds']:g} | {s['gaps']} | {s['emulated_mean']} / {s['emulated_max']} "
            f"| {s['real_mean']} / {s['real_max']} | {', '.join(s['started_by'])} | {reaction} |"
        )
    print(
        f"\nGoal: < {GOAL_SECONDS:g} s with events. A published peer run (30 s polling) left {PEER_GAP_SECONDS:g} s."
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "time_scale": time_scale,
                    "servers_per_wave": per_wave,
                    "summaries": summaries,
                    "runs": [
                        {
                            **{k: v for k, v in r.__dict__.items() if k != "gaps"},
                            "gaps": [g.__dict__ for g in r.gaps],
                        }
                        for r in results
                    ],
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
    return 0 if all(r.status != "TIMED OUT" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
