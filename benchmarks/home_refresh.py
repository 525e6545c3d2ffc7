"""What keeping the Home tab current costs: views.publish calls and time for one republish.

Starts the whole local stack (sandbox.stack.SandboxStack) with `--plans` plans of two servers each,
runs a watch round (every plan's verdict stored), lets `--viewers` users open the Home tab (as
app_home_opened does: remembered, view published), then republishes `--refreshes` times as the outbox
does after a start or an end (`Home.refresh`, the stack's own container). Slack calls come from the
fake Slack's records; the time is real time in this process, which also runs moto and the fake Slack
that answer (an upper bound for Lambda). One refresh's parts are timed apart: reading what the tab shows
(once for all viewers), building each view, and publishing.

    .venv/bin/python -m benchmarks.home_refresh [--plans 20] [--viewers 50] [--refreshes 5]
"""

from __future__ import annotations

import argparse
import functools
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox.config import SandboxConfig  # noqa: E402
from sandbox.stack import SandboxStack  # noqa: E402


def write_plans(directory: Path, plans: int) -> Path:
    lines = ["protection_groups:"]
    for p in range(plans):
        lines += [
            f"  - name: group-{p + 1}",
            "    region: us-east-1",
            f"    source_servers: [s-{p + 1:02x}{1:015x}, s-{p + 1:02x}{2:015x}]",
        ]
    lines.append("plans:")
    for p in range(plans):
        lines += [
            f"  - name: plan-{p + 1}",
            f"    description: Plan number {p + 1}",
            f"    channel: C0HOME{p + 1:04d}",
            "    waves:",
            "      - name: All",
            f"        protection_group: group-{p + 1}",
        ]
    path = directory / "plans.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--refreshes", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with (
        tempfile.TemporaryDirectory() as tmp,
        SandboxStack(write_plans(Path(tmp), args.plans), SandboxConfig(time_scale=1.0)) as stack,
    ):
        stack.run_watch()
        home = stack.bot.home
        users = [f"U0VIEW{n:04d}" for n in range(args.viewers)]
        for user in users:
            home.opened(user)

        def publishes() -> int:
            return len([c for c in stack.slack.calls if c["method"] == "views.publish"])

        seconds: list[float] = []
        calls: list[int] = []
        for _ in range(args.refreshes):
            before = publishes()
            started = time.perf_counter()
            result = home.refresh()
            seconds.append(time.perf_counter() - started)
            calls.append(publishes() - before)
            assert result.published == args.viewers and result.failed == 0, result
        spent = _timed_refresh(home)
    print(f"{args.viewers} viewers, {args.plans} plans, {args.refreshes} refreshes")
    for n, (took, made) in enumerate(zip(seconds, calls, strict=True), start=1):
        print(f"  refresh {n}: {took:.2f} s, views.publish calls {made}")
    print(
        f"median refresh: {statistics.median(seconds):.2f} s "
        f"({statistics.median(seconds) / args.viewers * 1000:.0f} ms a viewer)"
    )
    print("one refresh's parts: " + ", ".join(f"{part} {took:.2f} s" for part, took in spent.items()))
    return 0


def _timed_refresh(home: Any) -> dict[str, float]:
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

    timed(home, "_shared", "reading what the tab shows")
    timed(home, "_for", "each viewer's rights")
    timed(home, "_render", "building the views")
    timed(home._publisher, "publish", "views.publish")
    started = time.perf_counter()
    home.refresh()
    spent["whole refresh"] = time.perf_counter() - started
    return spent


if __name__ == "__main__":
    raise SystemExit(main())
