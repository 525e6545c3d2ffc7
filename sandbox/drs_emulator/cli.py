"""`drs-bot emulator serve`: the pieces the project's console script wires in."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from .clock import ManualClock
from .emulator import DrsEmulator
from .server import EmulatorServer


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--servers", type=int, default=0, help="healthy CONTINUOUS source servers to seed per region"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="emulated seconds per real second (60: a drill wave in ~9 s)",
    )
    parser.add_argument("--regions", default="us-east-1", help="comma-separated initialized regions")
    parser.add_argument("--seed", type=int, default=0, help="seed for ids, jitter and fault rates")
    parser.add_argument(
        "--accounts",
        default="",
        help="comma-separated 12-digit ids of other accounts to serve, each with the same regions and "
        "--servers, and the role --role-name (external id --external-id) trusting the home account",
    )
    parser.add_argument("--role-name", default="drs-chatops-target", help="the role in each other account")
    parser.add_argument(
        "--external-id", default=None, help="the external id that role requires (default none)"
    )
    parser.add_argument(
        "--manual-clock",
        action="store_true",
        help="time moves only through POST /_emulator/clock (ignores --time-scale)",
    )


def build(args: argparse.Namespace) -> tuple[DrsEmulator, dict[str, list[str]], dict[str, Any]]:
    """The emulator, the home account's seeded servers by region, and each other account's."""
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    clock: Any = ManualClock(datetime.now(UTC).replace(microsecond=0)) if args.manual_clock else None
    emulator = DrsEmulator(regions=regions, time_scale=args.time_scale, seed=args.seed, clock=clock)
    seeded = _seed(emulator, regions, args.servers)
    others: dict[str, Any] = {}
    for account_id in (a.strip() for a in args.accounts.split(",") if a.strip()):
        account = emulator.add_account(account_id, regions=regions)
        role = account.add_role(args.role_name, external_id=args.external_id)
        others[account_id] = {"roleArn": role, "regions": _seed(account, regions, args.servers)}
    return emulator, seeded, others


def _seed(emulator: DrsEmulator, regions: list[str], count: int) -> dict[str, list[str]]:
    return {r: emulator.add_source_servers(r, count=count) if count else [] for r in regions}


def run_serve(args: argparse.Namespace) -> int:
    try:
        emulator, seeded, others = build(args)
    except ValueError as exc:
        print(f"drs emulator: {exc}", file=sys.stderr)
        return 2
    # Ticking lets event subscribers hear about launches even when no client is polling.
    server = EmulatorServer(
        emulator, host=args.host, port=args.port, tick_interval=None if args.manual_clock else 1.0
    )
    try:
        server.start()
    except OSError as exc:
        print(f"drs emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    started = {"url": server.url, "regions": seeded, "seed": args.seed, "timeScale": args.time_scale}
    if others:
        started["accounts"] = others
    print(json.dumps(started))
    sys.stdout.flush()
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.drs_emulator", description="DRS emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_arguments(sub.add_parser("serve", help="serve the DRS API over HTTP"))
    args = parser.parse_args(argv)
    return run_serve(args)
