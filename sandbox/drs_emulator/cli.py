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
        "--manual-clock",
        action="store_true",
        help="time moves only through POST /_emulator/clock (ignores --time-scale)",
    )


def build(args: argparse.Namespace) -> tuple[DrsEmulator, dict[str, list[str]]]:
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    clock: Any = ManualClock(datetime.now(UTC).replace(microsecond=0)) if args.manual_clock else None
    emulator = DrsEmulator(regions=regions, time_scale=args.time_scale, seed=args.seed, clock=clock)
    seeded = {r: emulator.add_source_servers(r, count=args.servers) if args.servers else [] for r in regions}
    return emulator, seeded


def run_serve(args: argparse.Namespace) -> int:
    try:
        emulator, seeded = build(args)
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
    print(json.dumps({"url": server.url, "regions": seeded, "seed": args.seed, "timeScale": args.time_scale}))
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
