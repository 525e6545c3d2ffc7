"""`drs-bot plans validate|apply` and the options: refused when the executor cannot honour them,
kept whole in the catalog table when it can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.adapters.dynamodb import DynamoCatalogStore
from bot.domain.plans import OnFailure, PlanOptions, WaveOptions
from tests.integration.test_plans_cli import drs_bot

PLANS = """
protection_groups:
  - name: db-tier
    region: us-east-1
    source_servers: [s-1234567890abcdef0]
  - name: web-tier
    region: us-east-1
    source_server_tags: {app: payments}
plans:
  - name: plan-x
    rpo_target: 15m
    cleanup_after: 4h
    waves:
      - name: Databases
        protection_group: db-tier
        timeout: 45m
        on_failure: stop
      - name: Web
        protection_group: web-tier
        wait_before: 5m
"""


def test_validate_names_each_option_it_cannot_honour(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yml"
    plans.write_text(
        PLANS.replace("timeout: 45m", "timeout: 5m")
        .replace("wait_before: 5m", "wait_before: 12h")
        .replace("on_failure: stop", "on_failure: halt")
    )
    result = drs_bot("plans", "validate", str(plans))
    assert result.returncode == 1
    assert f"{plans}: 2 problem(s)" in result.stderr
    # The wave with two bad options reports the one pydantic checks first; fixing it shows the next.
    assert "plans[0].waves[0].on_failure: Input should be 'continue' or 'stop'" in result.stderr
    assert (
        "plans[0].waves[1].wait_before: 12h is not shorter than the executor follows an execution "
        "(12h); the wave would never start"
    ) in result.stderr
    plans.write_text(PLANS.replace("timeout: 45m", "timeout: 5m"))
    result = drs_bot("plans", "validate", str(plans))
    assert result.returncode == 1
    assert "plans[0].waves[0].timeout: 5m is shorter than a DRS launch takes" in result.stderr


def test_apply_keeps_every_option_whole_in_the_catalog_table(
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
    plans = tmp_path / "plans.yml"
    plans.write_text(PLANS)
    applied = drs_bot("plans", "apply", str(plans), env=env)
    assert applied.returncode == 0, applied.stderr
    plan = DynamoCatalogStore(dynamodb, tables["CatalogTable"]).load().plan("plan-x")
    assert plan is not None
    assert plan.options == PlanOptions(rpo_target=900, cleanup_after=4 * 3600)
    assert [wave.options for wave in plan.waves] == [
        WaveOptions(timeout=45 * 60, on_failure=OnFailure.STOP),
        WaveOptions(wait_before=5 * 60),
    ]
