"""A drill's HTML report, as stored in the bucket, opened in a real browser: headless Chromium from the
distribution's packages (.ci/run installs it). At 1280 px and at A4's printable width nothing overflows
sideways, the chart shows one bar per wave, and the page prints to PDF, one section per page."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.domain.execution import Execution
from tests.e2e.conftest import Sandbox
from tests.e2e.test_reports import stored_page, stored_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# A4 is 210 mm wide; the page's @page margin is 14 mm each side: 182 mm at 96 px per inch.
A4_PRINTABLE_PX = round((210 - 2 * 14) / 25.4 * 96)
A4_PX = (794, 1123)

# What the test adds to a copy of the page (the report itself has no script): what the browser laid out.
PROBE = """<script>
const right = innerWidth + 0.5;
const bars = [...document.querySelectorAll('rect.wave-bar')];
document.body.setAttribute('data-probe', JSON.stringify({
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: innerWidth,
  bars: bars.length,
  barsShown: bars.filter(r => { const b = r.getBoundingClientRect();
    return b.width > 0 && b.height > 0 && b.left >= 0 && b.right <= right; }).length,
  overflowing: [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > right)
    .map(e => e.tagName + (e.className && e.className.baseVal === undefined ? '.' + e.className : '')).slice(0, 5),
}));
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    return CHROMIUM


def run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}"]
    if os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox on
    done = subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def probe(browser: str, page: Path, profile: Path, width: int) -> dict[str, Any]:
    probed = page.with_name(f"probe-{width}.html")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = run(browser, profile, f"--window-size={width},900", "--dump-dom", probed.as_uri()).stdout
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, dom[:500]
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


@pytest.fixture(scope="module")
def page(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> tuple[Execution, Path]:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-report drill", channel=channel)
    execution = sandbox.finished_execution(channel)
    stored_report(sandbox, execution)
    path = tmp_path_factory.mktemp("report") / f"{execution.execution_id}.html"
    path.write_text(stored_page(sandbox, execution))
    return execution, path


@pytest.mark.parametrize("width", [1280, A4_PRINTABLE_PX])
def test_nothing_overflows_and_the_chart_shows_one_bar_per_wave(
    chromium: str, page: tuple[Execution, Path], tmp_path: Path, width: int
) -> None:
    execution, path = page
    laid_out = probe(chromium, path, tmp_path / "profile", width)
    assert laid_out["innerWidth"] == width
    assert laid_out["scrollWidth"] <= width and laid_out["overflowing"] == [], laid_out
    assert laid_out["bars"] == laid_out["barsShown"] == len(execution.waves)


def test_screenshots_at_1280_px_and_a4(chromium: str, page: tuple[Execution, Path], tmp_path: Path) -> None:
    _, path = page
    for name, (width, height) in {"1280": (1280, 1600), "a4": A4_PX}.items():
        shot = tmp_path / f"report-{name}.png"
        run(
            chromium,
            tmp_path / "profile",
            f"--window-size={width},{height}",
            f"--screenshot={shot}",
            path.as_uri(),
        )
        png = shot.read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        # IHDR: the screenshot is the window's size, and holds a rendered page (not an empty one).
        assert (int.from_bytes(png[16:20]), int.from_bytes(png[20:24])) == (width, height)
        assert len(png) > 20_000, f"{shot} looks empty"


def test_it_prints_to_a4_with_the_servers_on_a_page_of_their_own(
    chromium: str, page: tuple[Execution, Path], tmp_path: Path
) -> None:
    _, path = page
    pdf = tmp_path / "report.pdf"
    run(chromium, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", path.as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = re.findall(rb"/Type\s*/Page(?!s)", data)
    # Verdict, who and when, RTO and the timeline; then the servers; then the cleanup.
    assert len(pages) >= 3, len(pages)
    sizes = {
        tuple(round(float(v)) for v in m)
        for m in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    }
    assert sizes == {(595, 842)}, sizes  # A4 in points, from the page's @page rule
