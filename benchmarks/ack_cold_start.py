"""How fast the Slack ack path answers: a cold start in a fresh process, and warm p50/p99.

Each cold sample is a fresh `python -c` process (the same interpreter as this one) that imports a Lambda
handler module and calls `handler(event, context)` once with a correctly signed API Gateway HTTP API v2
event for a slash command whose ack answers fully:

- ours: `handlers.slack_http` with `/drs help`;
- bare: `benchmarks.bare_bolt_handler` with `/hello` (the baseline of the goal);
- bare+lazy (diagnostic): the same bare module with `/hello-lazy`, an identical ack plus a no-op lazy
  listener, to show what Bolt's Lambda re-invocation costs by itself;
- ours+lazy (diagnostic): `handlers.slack_http` with `/drs status`, whose ack starts a lazy listener
  (the re-invocation), to compare with bare+lazy;
- ours+secret (diagnostic): `/drs help` with the Slack credentials in a Secrets Manager secret (on
  moto's server), as the stack deploys it: one GetSecretValue before the first ack of a container;
- ours+init (diagnostic): `/drs status`, the secret from Secrets Manager, and AWS_LAMBDA_INITIALIZATION_TYPE
  set as on Lambda, so the module reads the secret and builds the Lambda client while it is imported
  (Lambda's INIT): its "first call" is what an environment initialized ahead of demand pays;
- python (diagnostic): a process that imports nothing and answers at once (interpreter start-up).

Fairness: with `process_before_response=True` Bolt starts lazy listeners (a boto3 Lambda client and an
asynchronous `Invoke` of the function itself) before the handler returns, so that call is part of what
Slack waits for and is measured, against a local fake Lambda (sandbox/lambda_fake.py) that accepts the
event (202) and runs a no-op. The Slack Web API points at a local fake and every other AWS service at a
tripwire server: any Slack or AWS call other than that one Invoke is counted and reported. Variants run
alternately, after one discarded warm-up run each. Nothing leaves 127.0.0.1.

    .venv/bin/python -m benchmarks.ack_cold_start [--runs 15] [--warm 500] [--[no-]importtime]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench"
FUNCTION_NAME = "drs-chatops-slack-bench"
REGION = "us-east-1"
ACCOUNT = "123456789012"
RESULT_MARKER = "BENCH_RESULT "


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    handler: str  # "module:attribute"; empty for the interpreter-only baseline
    command: str = ""
    text: str = ""
    expect: str = ""  # a substring the ack's body must contain
    diagnostic: bool = False
    # As deployed: the Slack credentials come from a Secrets Manager secret (on moto), not variables.
    secret_manager: bool = False
    # As on Lambda: AWS_LAMBDA_INITIALIZATION_TYPE is set, so the handler module prepares during import.
    lambda_init: bool = False


VARIANTS = (
    Variant("ours", "handlers.slack_http, /drs help", "handlers.slack_http:handler", "/drs", "help", "Usage"),
    Variant("bare", "bare Bolt, /hello", "benchmarks.bare_bolt_handler:handler", "/hello", "", "hi"),
    Variant(
        "bare+lazy",
        "bare Bolt + no-op lazy, /hello-lazy",
        "benchmarks.bare_bolt_handler:handler",
        "/hello-lazy",
        "",
        "hi",
        diagnostic=True,
    ),
    Variant(
        "ours+lazy",
        "handlers.slack_http, /drs status",
        "handlers.slack_http:handler",
        "/drs",
        "status",
        "Looking that up",
        diagnostic=True,
    ),
    Variant(
        "ours+secret",
        "handlers.slack_http, /drs help, credentials from Secrets Manager",
        "handlers.slack_http:handler",
        "/drs",
        "help",
        "Usage",
        diagnostic=True,
        secret_manager=True,
    ),
    Variant(
        "ours+init",
        "handlers.slack_http, /drs status, Secrets Manager, prepared in INIT",
        "handlers.slack_http:handler",
        "/drs",
        "status",
        "Looking that up",
        diagnostic=True,
        secret_manager=True,
        lambda_init=True,
    ),
    Variant("python", "python, no import", "", diagnostic=True),
)

# The child. Its clock starts at the first statement; the handler module is the first import after
# `time` (json and os are needed to read the event and are already loaded by any handler module).
CHILD = f"""
import time
_t0 = time.perf_counter()
import json, os
_spec = os.environ["BENCH_HANDLER"]
_result = {{"status": None, "body": ""}}
if _spec:
    _module, _, _attr = _spec.partition(":")
    handler = getattr(__import__(_module, fromlist=[_attr]), _attr)  # timed by -X importtime
    _t1 = time.perf_counter()
    from types import SimpleNamespace

    def _context():
        return SimpleNamespace(
            function_name={FUNCTION_NAME!r},
            function_version="$LATEST",
            invoked_function_arn="arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}",
            memory_limit_in_mb=512,
            aws_request_id=os.urandom(8).hex(),
            log_group_name="/aws/lambda/{FUNCTION_NAME}",
            log_stream_name="bench",
            get_remaining_time_in_millis=lambda: 30000,
        )

    _answer = handler(json.loads(os.environ["BENCH_EVENT"]), _context())
    _t2 = time.perf_counter()
    _result = {{"status": _answer.get("statusCode"), "body": _answer.get("body") or ""}}
else:
    _t1 = _t2 = time.perf_counter()
_result.update(import_s=_t1 - _t0, first_call_s=_t2 - _t1, cold_s=_t2 - _t0, warm_s=[])
_warm = int(os.environ.get("BENCH_WARM") or 0)
if _warm:
    from benchmarks.ack_cold_start import signed_event

    for _ in range(_warm):
        _event = signed_event(os.environ["BENCH_COMMAND"], os.environ["BENCH_TEXT"])
        _context_object = _context()
        _start = time.perf_counter()
        _answer = handler(_event, _context_object)
        _result["warm_s"].append(time.perf_counter() - _start)
        assert _answer["statusCode"] == 200, _answer
print({RESULT_MARKER!r} + json.dumps(_result), flush=True)
"""


def signed_event(command: str, text: str, *, secret: str = SIGNING_SECRET) -> dict[str, Any]:
    """A slash command as Slack signs it, as API Gateway (HTTP API v2) hands it to Lambda."""
    now = int(time.time())
    nonce = os.urandom(6).hex()
    body = urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": "T0BENCH",
            "team_domain": "bench",
            "channel_id": "C0BENCH",
            "channel_name": "drills",
            "user_id": "U0BENCH",
            "user_name": "bench",
            "command": command,
            "text": text,
            "api_app_id": "A0BENCH",
            "is_enterprise_install": "false",
            "response_url": "http://127.0.0.1:9/response",
            "trigger_id": f"{now}.{nonce}",
        }
    )
    digest = hmac.new(secret.encode(), f"v0:{now}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/slack/events",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": str(now),
            "x-slack-signature": f"v0={digest}",
        },
        "requestContext": {
            "http": {
                "method": "POST",
                "path": "/slack/events",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
            },
            "requestId": nonce,
            "stage": "$default",
        },
        "body": base64.b64encode(body.encode()).decode(),
        "isBase64Encoded": True,
    }


# --- the local world the children talk to ----------------------------------------------------------


class AwsTripwire:
    """The endpoint of every AWS service except Lambda: records each request and refuses it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        calls = self.calls

        class Refuse(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                target = self.headers.get("X-Amz-Target") or ""
                calls.append(f"{self.command} {self.path} {target}".strip())
                body = b'{"__type":"BenchmarkTripwire","message":"no AWS call is expected here"}'
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _refuse

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class World:
    lambdas: Any
    slack: Any
    tripwire: AwsTripwire
    secrets: Any  # moto's server, holding the Slack secret as the stack's SlackSecret does
    secret_arn: str = ""

    @classmethod
    def start(cls) -> World:
        import boto3

        from sandbox.lambda_fake import FakeLambda
        from sandbox.moto_server import MotoServer
        from sandbox.slack_fake import FakeSlack

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
        world = cls(
            FakeLambda().start(), FakeSlack(bot_token=BOT_TOKEN).start(), AwsTripwire(), MotoServer().start()
        )
        world.lambdas.register(FUNCTION_NAME, lambda event, context: None)
        client = boto3.client(
            "secretsmanager",
            endpoint_url=world.secrets.url,
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        value = json.dumps({"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN})
        world.secret_arn = client.create_secret(Name="drs-chatops-slack", SecretString=value)["ARN"]
        return world

    def stop(self) -> None:
        self.lambdas.wait_idle(timeout=30)
        self.lambdas.stop()
        self.slack.stop()
        self.tripwire.stop()
        self.secrets.stop()

    def counts(self) -> dict[str, int]:
        slack = [call["method"] for call in self.slack.calls]
        return {
            "lambda:Invoke": len(self.lambdas.invocations),
            "slack:auth.test": slack.count("auth.test"),
            "slack:other": len(slack) - slack.count("auth.test"),
            "aws:other": len(self.tripwire.calls),
        }

    def child_env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
        return keep | {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.tripwire.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambdas.url,
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "DRS_BOT_REGION": REGION,
            "DRS_BOT_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "DRS_BOT_SLACK_BOT_TOKEN": BOT_TOKEN,
            "DRS_BOT_SLACK_API_URL": self.slack.api_url,
            "POWERTOOLS_SERVICE_NAME": "drs-chatops",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "PYTHONHASHSEED": "0",
        }


# --- one child -------------------------------------------------------------------------------------


@dataclass
class Sample:
    spawn_to_answer_s: float  # the parent's clock: process spawned -> the answer line arrived
    spawn_to_exit_s: float
    import_s: float
    first_call_s: float
    cold_s: float  # the child's clock: first statement -> handler returned
    status: int | None
    body: str
    warm_s: list[float]
    calls: dict[str, int] = field(default_factory=dict)  # what this child asked of the fakes
    stderr: str = ""


def run_child(world: World, variant: Variant, *, warm: int = 0, python_flags: tuple[str, ...] = ()) -> Sample:
    env = world.child_env() | {
        "BENCH_HANDLER": variant.handler,
        "BENCH_COMMAND": variant.command,
        "BENCH_TEXT": variant.text,
        "BENCH_WARM": str(warm),
        "BENCH_EVENT": json.dumps(signed_event(variant.command, variant.text)) if variant.handler else "{}",
    }
    if variant.secret_manager:
        del env["DRS_BOT_SLACK_SIGNING_SECRET"], env["DRS_BOT_SLACK_BOT_TOKEN"]
        env |= {
            "DRS_BOT_SLACK_SECRET_ID": world.secret_arn,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": world.secrets.url,
        }
    if variant.lambda_init:
        env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "on-demand"
    before = world.counts()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *python_flags, "-c", CHILD],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    answered, line, other = None, "", []
    for line in process.stdout:
        if line.startswith(RESULT_MARKER):
            answered = time.perf_counter()
            break
        other.append(line)
    rest, stderr = process.communicate(timeout=300)
    exited = time.perf_counter()
    if answered is None or process.returncode != 0:
        raise RuntimeError(
            f"{variant.key}: child failed (exit {process.returncode})\n{''.join(other)}{rest}\n{stderr}"
        )
    result = json.loads(line[len(RESULT_MARKER) :])
    sample = Sample(
        spawn_to_answer_s=answered - started,
        spawn_to_exit_s=exited - started,
        import_s=result["import_s"],
        first_call_s=result["first_call_s"],
        cold_s=result["cold_s"],
        status=result["status"],
        body=result["body"],
        warm_s=result["warm_s"],
        calls={name: count - before[name] for name, count in world.counts().items()},
        stderr=stderr,
    )
    if variant.handler and (sample.status != 200 or variant.expect not in sample.body):
        raise RuntimeError(
            f"{variant.key}: unexpected answer {sample.status} {sample.body[:200]!r}\n{stderr[-3000:]}"
        )
    return sample


# --- reporting --------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}, "
        f"Python {platform.python_version()} ({sys.executable})"
    )


def cold_table(samples: dict[str, list[Sample]]) -> list[str]:
    rows = [
        "| variant | spawn → answer (parent) | in-child: start → answer | of which import | first call "
        "| spawn → exit |",
        "|---|---|---|---|---|---|",
    ]
    for variant in VARIANTS:
        runs = samples[variant.key]

        def cell(values: list[float]) -> str:
            return f"{ms(statistics.median(values))} ({ms(min(values))}-{ms(max(values))})"

        rows.append(
            f"| {variant.label}{' *' if variant.diagnostic else ''} "
            f"| {cell([s.spawn_to_answer_s for s in runs])} | {cell([s.cold_s for s in runs])} "
            f"| {cell([s.import_s for s in runs])} | {cell([s.first_call_s for s in runs])} "
            f"| {cell([s.spawn_to_exit_s for s in runs])} |"
        )
    return rows


def warm_table(warm: dict[str, list[float]]) -> list[str]:
    rows = ["| variant | requests | p50 | p99 | max |", "|---|---|---|---|---|"]
    for variant in VARIANTS:
        if variant.key in warm:
            values = warm[variant.key]
            rows.append(
                f"| {variant.label}{' *' if variant.diagnostic else ''} | {len(values)} "
                f"| {percentile(values, 50) * 1000:.2f} ms | {percentile(values, 99) * 1000:.2f} ms "
                f"| {max(values) * 1000:.2f} ms |"
            )
    return rows


def importtime_report(world: World, *, repeats: int = 5, top: int = 15) -> list[str]:
    """What our cold path imports that the bare one does not: -X importtime, medians of `repeats` runs.

    Self times are summed per top-level package (whoever imports a package first pays for it, so
    cumulative times of our own modules would blame them for Bolt's boto3). Imports made during the
    first call (botocore loading a client) are included: they are part of the cold path too.
    """
    ours, bare = VARIANTS[0], VARIANTS[1]
    runs: dict[str, list[dict[str, int]]] = {ours.key: [], bare.key: []}
    direct: list[dict[str, int]] = []
    own: list[dict[str, int]] = []
    for _ in range(repeats):
        for variant in (ours, bare):
            stderr = run_child(world, variant, python_flags=("-X", "importtime")).stderr
            packages, children, modules = _parse_importtime(stderr, variant.handler.partition(":")[0])
            runs[variant.key].append(packages)
            if variant is ours:
                direct.append(children)
                own.append(modules)

    def medians(samples: list[dict[str, int]]) -> dict[str, float]:
        names = {name for sample in samples for name in sample}
        return {name: statistics.median(sample.get(name, 0) for sample in samples) / 1000 for name in names}

    ours_ms, bare_ms, direct_ms = medians(runs[ours.key]), medians(runs[bare.key]), medians(direct)
    own_ms = medians(own)
    lines = [
        f"Import time (python -X importtime, median of {repeats}): ours {sum(ours_ms.values()):.0f} ms, "
        f"bare {sum(bare_ms.values()):.0f} ms (self times summed; the flag itself adds overhead)",
        "  by top-level package, ours - bare (self time, ms):",
    ]
    extra = sorted(ours_ms, key=lambda name: bare_ms.get(name, 0) - ours_ms[name])
    for name in extra[:top]:
        lines.append(
            f"    {ours_ms[name] - bare_ms.get(name, 0):+7.1f}  {name} (ours {ours_ms[name]:.1f}, "
            f"bare {bare_ms.get(name, 0):.1f})"
        )
    lines.append("  what handlers.slack_http imports directly (cumulative ms; a package shared by several")
    lines.append("  modules is charged to the first one that imports it):")
    for name in sorted(direct_ms, key=lambda name: -direct_ms[name])[:top]:
        lines.append(f"    {direct_ms[name]:7.1f}  {name}")
    lines.append("  the project's own modules (self ms, class building included):")
    for name in sorted(own_ms, key=lambda name: -own_ms[name])[:10]:
        lines.append(f"    {own_ms[name]:7.1f}  {name}")
    return lines


def _parse_importtime(stderr: str, root: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Microseconds: self time per top-level package, cumulative time of root's direct imports, and
    self time of each of the project's own modules (bot.*, handlers.*)."""
    packages: dict[str, int] = {}
    own: dict[str, int] = {}
    children: dict[str, int] = {}
    pending: list[tuple[int, int, str]] = []  # rows are printed children first, parent last
    for row in stderr.splitlines():
        if not row.startswith("import time:") or "self [us]" in row:
            continue
        self_us, cumulative_us, raw_name = row[len("import time:") :].split("|")
        name = raw_name.strip()
        depth = (len(raw_name) - len(raw_name.lstrip()) - 1) // 2
        packages[name.split(".")[0]] = packages.get(name.split(".")[0], 0) + int(self_us)
        if name.split(".")[0] in ("bot", "handlers"):
            own[name] = int(self_us)
        pending.append((depth, int(cumulative_us), name))
        if depth == 0:
            if name == root:
                children.update({n: c for d, c, n in pending if d == 1})
            pending.clear()
    return packages, children, own


def first_call_profile(world: World, top: int = 25) -> list[str]:
    """Where the first call of handlers.slack_http spends its time (cProfile, cumulative)."""
    script = CHILD.replace(
        "_answer = handler(json.loads",
        "import cProfile, pstats, io\n    _profile = cProfile.Profile()\n    _profile.enable()\n"
        "    _answer = handler(json.loads",
    ).replace(
        "    _t2 = time.perf_counter()\n",
        "    _t2 = time.perf_counter()\n    _profile.disable()\n    _out = io.StringIO()\n"
        f"    pstats.Stats(_profile, stream=_out).sort_stats('cumulative').print_stats({top})\n"
        "    import sys\n    sys.stderr.write(_out.getvalue())\n",
        1,
    )
    variant = VARIANTS[0]
    env = world.child_env() | {
        "BENCH_HANDLER": variant.handler,
        "BENCH_COMMAND": variant.command,
        "BENCH_TEXT": variant.text,
        "BENCH_WARM": "0",
        "BENCH_EVENT": json.dumps(signed_event(variant.command, variant.text)),
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    site = str(Path(json.__file__).parent.parent)
    rows = [
        row.replace(str(ROOT / ".venv"), ".venv").replace(site, "<stdlib>").replace(f"{ROOT}/", "")
        for row in done.stderr.splitlines()
        if row.strip()
        and "function calls" not in row
        and "Ordered by" not in row
        and "List reduced" not in row
    ]
    return [f"{variant.label}: first call under cProfile (cumulative s, profiler overhead included)"] + [
        "  " + row for row in rows
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ack_cold_start",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=15, help="cold samples per variant (default 15)")
    parser.add_argument("--warm", type=int, default=500, help="warm requests per variant (default 500)")
    parser.add_argument("--goal", type=float, default=1.3, help="allowed ratio ours/bare (default 1.3)")
    parser.add_argument(
        "--importtime",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show where our import and first call spend their time (default: when the goal is missed)",
    )
    args = parser.parse_args(argv)

    world = World.start()
    try:
        print(f"machine: {machine()}")
        print(f"cold: {args.runs} fresh processes per variant, alternating, after 1 discarded warm-up each")
        for variant in VARIANTS:
            run_child(world, variant)
        samples: dict[str, list[Sample]] = {v.key: [] for v in VARIANTS}
        for index in range(args.runs):
            order = VARIANTS if index % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                samples[variant.key].append(run_child(world, variant))
        warm = {v.key: run_child(world, v, warm=args.warm).warm_s for v in VARIANTS if v.handler}
        world.lambdas.wait_idle(timeout=30)

        print()
        print("Cold ack, ms: median (min-max). * = diagnostic, not part of the goal")
        print("\n".join(cold_table(samples)))
        print()
        print(f"Warm ack in one process, {args.warm} fresh signed requests each (first call excluded)")
        print("\n".join(warm_table(warm)))
        print()
        ours = statistics.median(s.spawn_to_answer_s for s in samples["ours"])
        bare = statistics.median(s.spawn_to_answer_s for s in samples["bare"])
        ours_in = statistics.median(s.cold_s for s in samples["ours"])
        bare_in = statistics.median(s.cold_s for s in samples["bare"])
        ratio = ours / bare
        verdict = "met" if ratio <= args.goal else "MISSED"
        print(
            f"ratio ours/bare, spawn → answer: {ratio:.2f}x (goal ≤ {args.goal}x: {verdict}); "
            f"in-child start → answer: {ours_in / bare_in:.2f}x"
        )
        lazy = statistics.median(s.spawn_to_answer_s for s in samples["ours+lazy"])
        bare_lazy = statistics.median(s.spawn_to_answer_s for s in samples["bare+lazy"])
        print(
            f"ratio with a lazy listener, ours+lazy / bare+lazy, spawn → answer: {lazy / bare_lazy:.2f}x "
            "(both re-invoke the function before answering)"
        )
        print("Calls made by each cold child (Bolt makes them inside dispatch, before the handler returns):")
        for variant in VARIANTS:
            if variant.handler:
                seen = {name: {s.calls.get(name, 0) for s in samples[variant.key]} for name in world.counts()}
                print(
                    f"  {variant.label}: "
                    + ", ".join(f"{n} {'/'.join(map(str, sorted(c)))}" for n, c in seen.items())
                )
        if world.tripwire.calls:
            print(f"  AWS calls other than Lambda Invoke: {world.tripwire.calls[:10]}")
        if args.importtime or (args.importtime is None and ratio > args.goal):
            print()
            print("\n".join(importtime_report(world)))
            print()
            print("\n".join(first_call_profile(world)))
        return 0
    finally:
        world.stop()


if __name__ == "__main__":
    raise SystemExit(main())
