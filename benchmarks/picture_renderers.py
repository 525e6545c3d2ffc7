"""The timeline picture's renderer on Lambda: Pillow (what the bot uses) against matplotlib.

What a renderer costs on Lambda is its share of the artifact (unzipped, against Lambda's 250 MB limit)
and its cold start (the import, in a fresh process, plus the first picture). Each run spawns a fresh
`python -c` that times, in the child, the library's import and one render of a 3-wave timeline:

- pillow: `bot.adapters.timeline_png.render_png` (the bot's own renderer; the timeline model and
  pydantic are imported before the clock starts, since every tick imports them anyway);
- matplotlib: the same bars, marks and labels with `broken_barh`, `scatter` and `savefig(format="png")`
  on the Agg backend, from an interpreter that has matplotlib (`--matplotlib-python`; skipped without
  it). Each run gets an empty MPLCONFIGDIR, as a new Lambda container's /tmp is empty: matplotlib builds
  its font cache there on the first import.

Sizes: `--wheels-pillow DIR` / `--wheels-matplotlib DIR`, directories of the manylinux2014_aarch64 wheels
the artifact would hold (`pip download --only-binary=:all: --platform manylinux2014_aarch64
--python-version 3.13 --implementation cp -d DIR pillow|matplotlib`); the unzipped size is what
counts toward Lambda's limit.

    .venv/bin/python -m benchmarks.picture_renderers [--runs 11] [--matplotlib-python PATH]
        [--wheels-pillow DIR] [--wheels-matplotlib DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The same chart for both: three waves, a wait, a failure, a decision (plain data for matplotlib's child).
CHART = {
    "waves": [
        {"name": "1. Databases", "start": 100, "end": 640, "colour": "#2eb67d", "launched": [640] * 3},
        {"name": "2. Application", "start": 640, "end": 1250, "colour": "#ecb22e", "launched": [1250] * 4},
        {"name": "3. Web", "start": 1560, "end": 2100, "colour": "#2eb67d", "launched": [2100] * 2},
    ],
    "wait": [1250, 1560],
    "failed": [[1, 1250]],
    "decisions": [[0, "requested U1"], [95, "approved U2"]],
}

PILLOW_CHILD = """
import json, sys, time
from tests.unit.builders import at, execution
from tests.unit.test_timeline import finish, step
from bot.domain.execution import Approval
from bot.domain.plans import WaveOptions
from bot.domain.timeline import timeline
ex = execution(3, 5, 2)
ex = ex.replace_wave(ex.waves[2].model_copy(update={"options": WaveOptions(wait_before=300)}))
ex = step(ex, 100)
ex = finish(ex, 0, 640)
ex = finish(ex, 1, 1250, **{ex.waves[1].chunks[0].servers[0].source_server_id: "FAILED"})
ex = finish(step(ex, 1560), 2, 2100)
model = timeline(ex, now=at(3000))
t0 = time.perf_counter()
from bot.adapters.timeline_png import render_png
t1 = time.perf_counter()
png = render_png(model, "PARTIAL · drill of plan-x · 9/10 servers launched in 33 min")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "render": t2 - t1, "bytes": len(png)}))
"""

MATPLOTLIB_CHILD = """
import io, json, sys, time
chart = json.loads(sys.argv[1])
t0 = time.perf_counter()
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
t1 = time.perf_counter()
fig, ax = plt.subplots(figsize=(12, 2.8), dpi=100)
for row, wave in enumerate(chart["waves"]):
    ax.broken_barh([(wave["start"], wave["end"] - wave["start"])], (row - 0.25, 0.5), color=wave["colour"])
    ax.scatter(wave["launched"], [row] * len(wave["launched"]), color="#005a32", zorder=3)
ax.broken_barh([(chart["wait"][0], chart["wait"][1] - chart["wait"][0])], (1.85, 0.3), color="#c8c8c8")
for row, when in chart["failed"]:
    ax.scatter([when], [row], marker="x", color="#cc0000", s=80, zorder=4)
for when, label in chart["decisions"]:
    ax.axvline(when, linestyle="--", color="#1264a3")
    ax.text(when, -0.8, label, color="#1264a3")
ax.set_yticks(range(len(chart["waves"])), [w["name"] for w in chart["waves"]])
ax.invert_yaxis()
ax.set_title("PARTIAL · drill of plan-x · 9/10 servers launched in 33 min", loc="left")
out = io.BytesIO()
fig.savefig(out, format="png")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "render": t2 - t1, "bytes": len(out.getvalue())}))
"""


def _spawn(python: str, code: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [python, "-c", code, *args], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _runs(python: str, code: str, args: list[str], runs: int, fresh_config: bool) -> list[dict[str, float]]:
    results = []
    for number in range(runs + 1):
        env = dict(os.environ)
        with tempfile.TemporaryDirectory() as config:
            if fresh_config:
                env["MPLCONFIGDIR"] = config
            result = _spawn(python, code, args, env)
        if number:  # the first fills the .pyc caches: discarded
            results.append(result)
    return results


def _median_ms(results: list[dict[str, float]], key: str) -> str:
    values = [r[key] * 1000 for r in results]
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def unzipped_mb(wheels: Path) -> tuple[float, list[str]]:
    total = 0
    names = []
    for wheel in sorted(wheels.glob("*.whl")):
        names.append(wheel.name.split("-")[0] + "==" + wheel.name.split("-")[1])
        with zipfile.ZipFile(wheel) as archive:
            total += sum(info.file_size for info in archive.infolist())
    return total / 1e6, names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.picture_renderers", description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--matplotlib-python", help="an interpreter with matplotlib installed")
    parser.add_argument("--wheels-pillow", type=Path)
    parser.add_argument("--wheels-matplotlib", type=Path)
    options = parser.parse_args(argv)
    print(
        f"{platform.system()} {platform.machine()}, nproc {os.cpu_count()}, Python {platform.python_version()}"
    )
    print(f"cold: median (min-max) of {options.runs} fresh processes, ms")
    print("| renderer | import | first render | PNG bytes |")
    print("|---|---|---|---|")
    variants: list[tuple[str, str, str, list[str], bool]] = [
        ("pillow", sys.executable, PILLOW_CHILD, [], False)
    ]
    if options.matplotlib_python:
        variants.append(
            ("matplotlib", options.matplotlib_python, MATPLOTLIB_CHILD, [json.dumps(CHART)], True)
        )
    else:
        print("(matplotlib skipped: give --matplotlib-python)")
    for name, python, code, args, fresh in variants:
        results = _runs(python, code, args, options.runs, fresh)
        print(
            f"| {name} | {_median_ms(results, 'import')} | {_median_ms(results, 'render')} "
            f"| {int(results[0]['bytes'])} |"
        )
    for name, wheels in (("pillow", options.wheels_pillow), ("matplotlib", options.wheels_matplotlib)):
        if wheels is not None:
            size, names = unzipped_mb(wheels)
            print(f"{name}: {size:.1f} MB unzipped ({', '.join(names)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
