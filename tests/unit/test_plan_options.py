"""Wave and plan options: one value from plans.yml to the execution, a failback and the history;
what the engine cannot honour is refused when the file is read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.execution import Execution, ExecutionType, new_execution
from bot.domain.history import to_history
from bot.domain.plans import (
    EXECUTOR_LOOP_SECONDS,
    Catalog,
    InvalidCatalog,
    OnFailure,
    PlanOptions,
    WaveOptions,
    parse_catalog,
)

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
PLANS = """
protection_groups:
  - name: db-tier
    region: us-east-1
    source_servers: [s-aaaaaaaaaaaaaaaa0]
  - name: web-tier
    region: us-east-1
    source_servers: [s-bbbbbbbbbbbbbbbb0]
plans:
  - name: plan-x
    rpo_target: {rpo_target}
    rto_target: {rto_target}
    cleanup_after: {cleanup_after}
    waves:
      - name: Databases
        protection_group: db-tier
        timeout: {timeout}
        on_failure: {on_failure}
      - name: Web
        protection_group: web-tier
        wait_before: {wait_before}
"""
GOOD = {
    "rpo_target": "15m",
    "rto_target": "1h30m",
    "cleanup_after": "4h",
    "timeout": "45m",
    "on_failure": "stop",
    "wait_before": "5m",
}
# An execution as a349e01 stored it (the header body's wave and plan options were flat fields).
OLD_STORED = Path(__file__).with_name("stored_execution_a349e01.json")


def plans(**changes: str) -> str:
    return PLANS.format(**(GOOD | changes))


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(text, "plans.yml")
    return [str(problem) for problem in caught.value.problems]


def test_the_options_of_the_file_are_one_value_on_the_plan_and_on_the_execution() -> None:
    catalog = parse_catalog(plans(), "plans.yml")
    plan = catalog.plan("plan-x")
    assert plan is not None
    assert plan.options == PlanOptions(rpo_target=900, rto_target=5400, cleanup_after=4 * 3600)
    assert [wave.options for wave in plan.waves] == [
        WaveOptions(timeout=2700, on_failure=OnFailure.STOP),
        WaveOptions(wait_before=300),
    ]
    execution = new_execution(
        execution_id="ex-1",
        plan=plan,
        catalog=catalog,
        execution_type=ExecutionType.RECOVERY,
        initiated_by="U0ALICE",
        channel_id="C0DRILLS",
        now=NOW,
        servers_per_job=100,
    )
    assert [wave.options for wave in execution.waves] == [wave.options for wave in plan.waves]
    assert execution.plan_options == plan.options
    history = to_history(execution)
    assert history["PlanOptions"] == {"RpoTarget": 900, "RtoTarget": 5400, "CleanupAfter": 14400}
    assert history["Waves"][0]["Options"] == {"WaitBefore": 0, "Timeout": 2700, "OnFailure": "stop"}


def test_the_stored_catalog_keeps_the_shape_of_the_file() -> None:
    catalog = parse_catalog(plans(), "plans.yml")
    stored = json.loads(catalog.model_dump_json())
    assert stored["plans"][0]["waves"][0] == {
        "name": "Databases",
        "protection_group": "db-tier",
        "wait_before": 0,
        "timeout": 2700,
        "on_failure": "stop",
    }
    assert stored["plans"][0]["rpo_target"] == 900 and "options" not in stored["plans"][0]
    assert Catalog.model_validate_json(catalog.model_dump_json()) == catalog


def test_an_execution_stored_before_the_options_were_one_value_still_loads() -> None:
    old = json.loads(OLD_STORED.read_text())
    assert "wait_before_seconds" in old["waves"][1] and "cleanup_after_seconds" in old
    execution = Execution.model_validate(old)
    assert [wave.options for wave in execution.waves] == [
        WaveOptions(timeout=2700, on_failure=OnFailure.STOP),
        WaveOptions(wait_before=300),
    ]
    assert execution.plan_options == PlanOptions(cleanup_after=4 * 3600)
    again = Execution.model_validate_json(execution.model_dump_json())
    assert again == execution


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"timeout": "5m"},
            "plans[0].waves[0].timeout: 5m is shorter than a DRS launch takes (about 9 minutes), so "
            "healthy servers would fail; use at least 10m",
        ),
        (
            {"timeout": "0"},
            "plans[0].waves[0].timeout: 0s is shorter than a DRS launch takes (about 9 minutes), so "
            "healthy servers would fail; use at least 10m",
        ),
        ({"timeout": "-5"}, "plans[0].waves[0].timeout: -5 is negative; durations are 0 or more"),
        (
            {"timeout": "13h"},
            "plans[0].waves[0].timeout: 13h is longer than the executor follows an execution (12h); "
            "the wave would never time out",
        ),
        (
            {"wait_before": "12h"},
            "plans[0].waves[1].wait_before: 12h is not shorter than the executor follows an execution "
            "(12h); the wave would never start",
        ),
        ({"wait_before": "-1"}, "plans[0].waves[1].wait_before: -1 is negative; durations are 0 or more"),
        (
            {"wait_before": "soon"},
            "plans[0].waves[1].wait_before: 'soon' is not a duration (use seconds, or like 90s, 15m, 2h, 1h30m)",
        ),
        (
            {"wait_before": "true"},
            "plans[0].waves[1].wait_before: True is not a duration (use seconds, or like 90s, 15m, 2h, 1h30m)",
        ),
        (
            {"on_failure": "retry"},
            "plans[0].waves[0].on_failure: Input should be 'continue' or 'stop'",
        ),
        (
            {"rpo_target": "0"},
            "plans[0].rpo_target: 0 is not a duration more than 0 (leave the key out for none)",
        ),
        (
            {"rto_target": "0"},
            "plans[0].rto_target: 0 is not a duration more than 0 (leave the key out for none)",
        ),
        (
            {"rto_target": "fast"},
            "plans[0].rto_target: 'fast' is not a duration (use seconds, or like 90s, 15m, 2h, 1h30m)",
        ),
        (
            {"cleanup_after": "0s"},
            "plans[0].cleanup_after: 0 is not a duration more than 0 (leave the key out for none)",
        ),
        (
            {"cleanup_after": "12h"},
            "plans[0].cleanup_after: 12h after the waves (at least 23m) is later than the executor "
            "follows an execution (12h); the cleanup would never run",
        ),
        (
            {"wait_before": "11h50m"},
            "plans[0].waves: their wait_before (11h50m) and about 9 minutes of launch per wave add up "
            "to 12h8m, longer than the executor follows an execution (12h)",
        ),
    ],
)
def test_an_option_the_engine_cannot_honour_is_refused_with_its_path_and_why(
    changes: dict[str, str], expected: str
) -> None:
    assert expected in problems(plans(**changes))


@pytest.mark.parametrize("written", ["options: {on_failure: stop}", "options:"])
def test_options_are_written_beside_the_others_not_under_an_options_key(written: str) -> None:
    text = plans().replace("        on_failure: stop\n", f"        {written}\n")
    assert problems(text) == [
        "plans[0].waves[0].options: unknown key (check the spelling; unknown keys are not ignored)"
    ]


def test_the_executor_loop_limit_is_the_templates() -> None:
    template = (Path(__file__).parents[2] / "cfn" / "template.yaml").read_text()
    assert f"TimeoutSeconds: {EXECUTOR_LOOP_SECONDS}\n" in template
