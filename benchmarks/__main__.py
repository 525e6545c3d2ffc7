"""`python -m benchmarks` (what `make bench` runs): every benchmark of this package, each with its defaults.

A benchmark is a module here with `main(argv) -> int`; give options to one benchmark at a time:
`python -m benchmarks.<name> --help`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

# Modules that are not benchmarks: the bare handler is what ack_cold_start measures ours against.
NOT_BENCHMARKS = frozenset({"bare_bolt_handler"})


def benchmark_names() -> list[str]:
    modules = pkgutil.iter_modules([str(Path(__file__).parent)])
    return sorted(m.name for m in modules if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS)


def main(argv: list[str] | None = None) -> int:
    if argv:
        print(f"usage: python -m benchmarks  (options: python -m benchmarks.<{'|'.join(benchmark_names())}>)")
        return 2
    status = 0
    for name in benchmark_names():
        print(f"=== benchmarks.{name} ===", flush=True)
        status = importlib.import_module(f"benchmarks.{name}").main([]) or status
        print(flush=True)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
