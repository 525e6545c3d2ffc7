"""What a wave's health gate costs: the AWS calls of one tick's checks at 4,000 servers, and the delay
from the last server turning healthy to the next wave's StartRecovery.

calls: the DRS emulator (sandbox/drs_emulator, over HTTP) launches `--servers` recovery instances; the
real adapter (bot/adapters/health.HealthGateway, boto3) asks EC2 and SSM about all of them and
CloudWatch (moto's server) about `--alarms` alarms, as one tick of a CHECKING wave does while none is
healthy yet (the most a tick asks: healthy servers are not asked about again). The calls are counted where
they arrive (the emulator's call records; moto's alarms: one DescribeAlarms per 100 names).

delay: drills of a 2-wave plan through the whole local stack (sandbox.stack.SandboxStack, the real
handlers, DRS events on), the first wave with `health_check: {ec2_status: true}`; the runner polls every
`--poll` emulated seconds (15: Settings.poll_seconds, the Step Functions loop's wait). Health has no
event: only a poll sees it. Times are the emulator's, emulated: an instance's status checks pass
`Timings.status_checks_pass` after its launch ended (LAUNCHED), and the next wave's StartRecovery call
record. Goal: within one poll.

    .venv/bin/python -m benchmarks.health_gate [--servers 4000] [--alarms 5] [--runs 3] [--poll 15]
        [--time-scale 60] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.domain.accounts import home

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402

from bot.adapters.health import HealthGateway  # noqa: E402
from sandbox.config import SandboxConfig  # noqa: E402
from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock  # noqa: E402
from sandbox.drs_emulator.config import Quotas  # noqa: E402
from sandbox.moto_server import MotoServer  # noqa: E402
from sandbox.stack import SandboxStack, signed_command  # noqa: E402

REGION = "us-east-1"
USER = "U0HEALTHBENCH"
PLAN = "plan-health"


def _client(service: str, url: str) -> Any:
    make: Any = boto3.client
    return make(
        service, region_name=REGION, endpoint_url=url, aws_access_key_id="x", aws_secret_access_key="x"
    )


def measure_calls(servers: int, alarms: int) -> dict[str, Any]:
    clock = ManualClock(datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    quotas = Quotas(servers_in_active_jobs=servers, concurrent_jobs=max(20, servers // 100 + 1))
    emulator = DrsEmulator(regions=(REGION,), clock=clock, quotas=quotas, seed=3)
    with EmulatorServer(emulator) as server, MotoServer() as moto:
        drs = _client("drs", server.url)
        ids = emulator.add_source_servers(REGION, count=servers)
        for start in range(0, servers, 100):
            chunk = ids[start : start + 100]
            drs.start_recovery(sourceServers=[{"sourceServerID": s} for s in chunk], isDrill=True)
        clock.advance(600)  # launched, status checks still initializing
        pages = drs.get_paginator("describe_recovery_instances").paginate()
        instances = [item["ec2InstanceID"] for page in pages for item in page["items"]]
        cloudwatch = _client("cloudwatch", moto.url)
        names = [f"app-health-{n}" for n in range(alarms)]
        for name in names:
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                MetricName="HealthyHostCount",
                Namespace="AWS/ApplicationELB",
                Statistic="Minimum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="LessThanThreshold",
            )
        gateway = HealthGateway(
            lambda region: _client("ec2", server.url),
            lambda region: _client("ssm", server.url),
            lambda region: _client("cloudwatch", moto.url),
            lambda region: _client("ssm", server.url),
        )
        gateway.instance_status(home(REGION), instances[:1])  # clients made, models loaded: not timed
        gateway.agents_online(home(REGION), instances[:1])
        gateway.alarm_states(home(REGION), names[:1])
        emulator.clear_calls()
        started = time.perf_counter()
        status = gateway.instance_status(home(REGION), instances)
        online = gateway.agents_online(home(REGION), instances)
        states = gateway.alarm_states(home(REGION), names)
        seconds = time.perf_counter() - started
        counted = Counter(call.operation for call in emulator.calls)
        # ssm_command: the tick that claims sends one SendCommand per 50 instances (their agents are
        # Online by now); each tick after reads one ListCommandInvocations page per 50 until all end.
        clock.advance(1800)  # every agent Online (the last jobs' instances run later)
        emulator.clear_calls()
        started = time.perf_counter()
        command_ids = [
            gateway.send_command(
                home(REGION), "AWS-RunShellScript", {"commands": ["true"]}, batch, 600, f"b{n}"
            )
            for n, batch in enumerate(instances[start : start + 50] for start in range(0, len(instances), 50))
        ]
        send_seconds = time.perf_counter() - started
        sent = Counter(call.operation for call in emulator.calls)
        emulator.clear_calls()
        started = time.perf_counter()
        results: dict[str, tuple[bool, str, bool]] = {}
        for command_id in command_ids:
            results.update(gateway.command_results(home(REGION), command_id))
        read_seconds = time.perf_counter() - started
        read = Counter(call.operation for call in emulator.calls)
    return {
        "SendCommand": sent["SendCommand"],
        "ListCommandInvocations": read["ListCommandInvocations"],
        "invocations": len(results),
        "send_seconds": send_seconds,
        "read_seconds": read_seconds,
        "instances": len(instances),
        "alarms": len(states),
        "DescribeInstanceStatus": counted["DescribeInstanceStatus"],
        "DescribeInstanceInformation": counted["DescribeInstanceInformation"],
        "DescribeAlarms": -(-len(names) // 100),
        "unhealthy": sum(1 for passed, _ in status.values() if not passed),
        "agents_online": sum(1 for passed, _ in online.values() if passed),
        "seconds": seconds,
    }


def write_plans(directory: Path) -> tuple[Path, list[str], list[str]]:
    first = [f"s-b1{n:015x}" for n in range(2)]
    second = [f"s-b2{n:015x}" for n in range(1)]
    path = directory / "plans.yml"
    path.write_text(
        f"""protection_groups:
  - {{name: checked, region: {REGION}, source_servers: [{", ".join(first)}]}}
  - {{name: next, region: {REGION}, source_servers: [{", ".join(second)}]}}
plans:
  - name: {PLAN}
    waves:
      - name: Checked
        protection_group: checked
        health_check: {{ec2_status: true, timeout: 30m}}
      - name: Next
        protection_group: next
""",
        encoding="utf-8",
    )
    return path, first, second


def measure_delay(
    plans: Path, first: list[str], second: list[str], poll: float, time_scale: float
) -> tuple[float, float, int] | None:
    """(detection, reaction, checks missed): the last server healthy -> the first DescribeInstanceStatus
    that saw every instance ok, and that call -> the next wave's StartRecovery, in emulated seconds (the
    sandbox's real-time overhead is scaled by `time_scale` too); and how many checks after the healthy
    moment still did not see it (0: the first poll after it did)."""
    config = SandboxConfig(time_scale=time_scale, poll_seconds=poll / time_scale)
    with SandboxStack(plans, config) as stack:
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
        stack.wait_for_end(channel, 180)
        launches = stack.drs.server_launch_times()
        pass_after = timedelta(seconds=stack.drs.timings.status_checks_pass)
        calls = stack.drs.calls
        stack.lambdas.wait_idle(timeout=10)
        reset = urllib.request.Request(f"{stack.moto.url}/moto-api/reset", data=b"", method="POST")
        urllib.request.urlopen(reset, timeout=10).read()
    if any(sid not in launches for sid in first):
        return None
    healthy = max(launches[sid] for sid in first) + pass_after
    nxt = [
        c
        for c in calls
        if c.operation == "StartRecovery"
        and {s["sourceServerID"] for s in c.params.get("sourceServers", [])} & set(second)
    ]
    seen = [
        c
        for c in calls
        if c.operation == "DescribeInstanceStatus"
        and c.response
        and all(s["InstanceStatus"]["Status"] == "ok" for s in c.response["InstanceStatuses"])
    ]
    if not nxt or not seen:
        return None
    start, saw = min(c.time for c in nxt), min(c.time for c in seen)
    missed = sum(1 for c in calls if c.operation == "DescribeInstanceStatus" and healthy <= c.time < saw)
    return (saw - healthy).total_seconds(), (start - saw).total_seconds(), missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.health_gate", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--servers", type=int, default=4000, help="recovery instances checked (4000)")
    parser.add_argument("--alarms", type=int, default=5, help="alarms in the wave's health_check (5)")
    parser.add_argument("--runs", type=int, default=3, help="drills for the delay (3)")
    parser.add_argument(
        "--poll", type=float, default=15.0, help="the runner's interval, emulated seconds (15)"
    )
    parser.add_argument(
        "--time-scale", type=float, default=60.0, help="emulated seconds per real second (60)"
    )
    parser.add_argument("--quick", action="store_true", help="400 servers, 1 drill")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    servers, runs = (400, 1) if args.quick else (args.servers, args.runs)
    calls = measure_calls(servers, args.alarms)
    print(
        f"one tick of a CHECKING wave, {calls['instances']} instances none healthy yet, {calls['alarms']} alarms: "
        f"DescribeInstanceStatus {calls['DescribeInstanceStatus']}, "
        f"DescribeInstanceInformation {calls['DescribeInstanceInformation']}, DescribeAlarms {calls['DescribeAlarms']} "
        f"({calls['seconds']:.2f} s against the local emulator; {calls['unhealthy']} initializing, "
        f"{calls['agents_online']} agents Online)"
    )
    print(
        f"ssm_command at {calls['instances']} instances: the claiming tick {calls['SendCommand']} SendCommand "
        f"({calls['send_seconds']:.2f} s), each tick after {calls['ListCommandInvocations']} "
        f"ListCommandInvocations for {calls['invocations']} invocations ({calls['read_seconds']:.2f} s)"
    )
    with tempfile.TemporaryDirectory() as directory:
        plans, first, second = write_plans(Path(directory))
        delays = [measure_delay(plans, first, second, args.poll, args.time_scale) for _ in range(runs)]
    seen = [d for d in delays if d is not None]
    if not seen:
        print("no drill reached its second wave")
        return 1
    detect, react = [d[0] for d in seen], [d[1] for d in seen]
    print(
        f"last server healthy -> first check that saw it (runner polling every {args.poll:g} s emulated): "
        f"{', '.join(f'{d:.1f}' for d in detect)} s emulated (median {statistics.median(detect):.1f}; "
        f"bound: one poll); checks after it that missed it: {', '.join(str(d[2]) for d in seen)}"
    )
    print(
        f"that check -> next wave's StartRecovery (same tick): {', '.join(f'{d:.1f}' for d in react)} s "
        f"emulated = {', '.join(f'{d / args.time_scale:.2f}' for d in react)} s real at {args.time_scale:g}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
