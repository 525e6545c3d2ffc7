"""The sandbox config's per-server faults, read as a user writes them (--config FILE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.config import InvalidSandboxConfig, SandboxConfig


def load(tmp_path: Path, text: str) -> SandboxConfig:
    path = tmp_path / "sandbox.yml"
    path.write_text(text)
    return SandboxConfig.load(path)


def test_a_failing_launch_names_its_job_log_event(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "servers:\n"
        "  s-0123456789abcdef1: {launch: fail, event: CONVERSION_FAIL, error: unsupported boot mode}\n"
        "  s-0123456789abcdef2: {launch: fail}\n",
    )
    first, second = config.servers.values()
    assert (first.event, first.error) == ("CONVERSION_FAIL", "unsupported boot mode")
    assert (second.event, second.error) == ("LAUNCH_FAILED", None)  # as before the event key existed


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("{launch: fail, event: LAUNCH_TEMPLATE_FAILED}", "must be one of SERVER_SKIPPED"),
        ("{launch: fail, event: CLEANUP_FAIL}", "must be one of"),
        ("{event: SNAPSHOT_FAIL}", "event given without launch: fail"),
        ("{error: boom}", "error given without launch: fail"),
    ],
)
def test_a_fault_that_cannot_happen_is_refused(tmp_path: Path, server: str, message: str) -> None:
    with pytest.raises(InvalidSandboxConfig, match=message):
        load(tmp_path, f"servers:\n  s-0123456789abcdef1: {server}\n")
