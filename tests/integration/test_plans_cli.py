"""`drs-bot plans validate|apply`: a bad file is refused whole, naming the file and the path inside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bot.adapters.dynamodb import DynamoCatalogStore

GOOD = """
protection_groups:
  - name: web-tier
    region: us-east-1
    source_servers: [s-1234567890abcdef0, s-0123456789abcdef1]
plans:
  - name: plan-x
    description: Payments stack
    waves:
      - name: Wave 1
        protection_group: web-tier
"""
BAD = (
    GOOD
    + """  - name: plan-y
    waves:
      - name: Wave 1
        protection_group: db-tier
"""
)


def drs_bot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drs_cli.main", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yml"
    plans.write_text(GOOD)
    result = drs_bot("plans", "validate", str(plans))
    assert result.returncode == 0, result.stderr
    assert "valid — 1 plan(s), 1 protection group(s), 2 source server(s)" in result.stdout


def test_validate_names_the_file_the_path_and_the_problem(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yml"
    plans.write_text(BAD)
    result = drs_bot("plans", "validate", str(plans))
    assert result.returncode == 1
    assert f"{plans}: 1 problem(s)" in result.stderr
    assert (
        "plans[1].waves[0].protection_group: unknown protection group 'db-tier' (known: web-tier)"
        in result.stderr
    )


def test_apply_writes_a_good_file_and_nothing_of_a_bad_one(
    tmp_path: Path, moto_url: str, dynamodb: Any, tables: dict[str, str]
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "DRS_BOT_REGION": "us-east-1",
        "DRS_BOT_CATALOG_TABLE": tables["CatalogTable"],
        "DRS_BOT_EXECUTIONS_TABLE": tables["ExecutionsTable"],
    }
    store = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(GOOD)
    bad.write_text(BAD.replace("plan-x", "plan-z"))
    applied = drs_bot("plans", "apply", str(good), env=env)
    assert applied.returncode == 0, applied.stderr
    assert "applied — plans: plan-x" in applied.stdout
    assert store.load().plan_names() == ["plan-x"]

    refused = drs_bot("plans", "apply", str(bad), env=env)
    assert refused.returncode == 1
    assert "Nothing was written." in refused.stderr
    assert store.load().plan_names() == ["plan-x"]  # the catalog is what it was


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = drs_bot("plans", "validate", str(tmp_path / "nope.yml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.yml'}: 1 problem(s)" in result.stderr and "cannot read" in result.stderr
