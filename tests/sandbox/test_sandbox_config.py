"""`drs-bot sandbox --config FILE`: a config file is read as strictly as a plans file, and a bad one is
refused naming the file and where, before anything starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sandbox.yml"


def test_the_example_config_is_read() -> None:
    config = SandboxConfig.load(EXAMPLE)
    assert config.time_scale == 120 and config.servers["s-0123456789abcdef1"].launch == "fail"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        # Without the check the second entry silently wins and the failure the user set up never happens.
        (
            b"servers:\n  s-0123456789abcdef1:\n    launch: fail\n  s-0123456789abcdef1:\n    replication_state: STALLED\n",
            "servers.s-0123456789abcdef1: written twice (lines 2 and 4); the second would silently replace the first",
        ),
        (b"time_scale: 60\ntime_scale: 1\n", "time_scale: written twice (lines 1 and 2)"),
        (b"time_scael: 60\n", "time_scael: Extra inputs are not permitted"),
        (b"time_scale: -1\n", "time_scale: Input should be greater than 0"),
        (b"accounts:\n  '1111':\n    role: missing\n", "accounts.1111.[key]: String should match pattern"),
        (
            b"accounts:\n  '111122223333':\n    deny: [StartRecoveryy]\n",
            "accounts.111122223333.deny: Value error, not DRS operations: StartRecoveryy",
        ),
        (
            b"accounts:\n  '111122223333':\n    role: absent\n",
            "accounts.111122223333.role: Input should be 'assumable', 'unassumable' or 'missing'",
        ),
        (b"time_scale: \xff\n", "line 1, column 13: byte 0xff is not UTF-8 text"),
        (
            b"access_policy: !!python/object/apply:os.system [true]\n",
            "the tag !!python/object/apply:os.system",
        ),
    ],
)
def test_a_bad_config_is_refused_before_anything_starts(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    config = tmp_path / "sandbox.yml"
    config.write_bytes(content)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "drs_cli.main",
            "sandbox",
            "--plans",
            "examples/plans.yml",
            "--config",
            str(config),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"{config}: ") and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
