"""hooks (#15): `before:` / `after:` in plans.yml, read strictly (names, ARNs and role ARNs against
botocore's patterns, with the path and why), kept whole by the catalog and an execution, shown by
`/drs plan`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.execution import ExecutionType, new_execution
from bot.domain.history import to_history
from bot.domain.plans import Catalog, InvalidCatalog, parse_catalog
from bot.slack.replies import plan_text

ROLE = "arn:aws:iam::123456789012:role/drs-hook-automation"
PLANS = """
protection_groups:
  - {{name: db, region: us-east-1, source_servers: [s-aaaaaaaaaaaaaaaa0]}}
plans:
  - name: plan-x
    waves:
      - name: Databases
        protection_group: db
{hooks}
"""
GOOD = f"""        before:
          - automation:
              document: DrsHook-Promote
              parameters: {{Database: ledger, Replicas: [r1, r2]}}
              role: {ROLE}
            timeout: 20m
          - lambda: {{function: "arn:aws:lambda:us-east-1:123456789012:function:drs-hook-dns:live", payload: {{zone: z}}}}
        after:
          - lambda: {{function: drs-hook-dns}}
            on_failure: continue
            drill: false
"""


def problems(hooks: str) -> list[str]:
    with pytest.raises(InvalidCatalog) as refused:
        parse_catalog(PLANS.format(hooks=hooks), "plans.yml")
    return [str(problem) for problem in refused.value.problems]


def test_hooks_are_read_with_their_defaults_and_kept_whole() -> None:
    catalog = parse_catalog(PLANS.format(hooks=GOOD), "plans.yml")
    options = catalog.plans[0].waves[0].options
    automation, function = options.before
    assert automation.automation is not None and automation.automation.parameters == {
        "Database": ("ledger",),
        "Replicas": ("r1", "r2"),
    }
    assert (automation.timeout_seconds, automation.on_failure.value, automation.drill) == (1200, "stop", True)
    assert function.lambda_ is not None and function.timeout_seconds == 15  # a Lambda's default
    assert (options.after[0].on_failure.value, options.after[0].drill) == ("continue", False)
    # The catalog as stored reads back to the same plans; an execution carries them whole.
    assert Catalog.model_validate_json(catalog.model_dump_json()) == catalog
    plan = catalog.plans[0]
    execution = new_execution(
        execution_id="e",
        plan=plan,
        catalog=catalog,
        execution_type=ExecutionType.DRILL,
        initiated_by="U1",
        channel_id="C1",
        now=datetime(2026, 11, 30, tzinfo=UTC),
        servers_per_job=100,
    )
    assert execution.waves[0].options == options
    stored = execution.model_validate_json(execution.model_dump_json())
    assert stored == execution
    assert to_history(execution)["Waves"][0]["Options"]["Before"][0]["automation"]["role"] == ROLE


def test_a_plan_without_hooks_keeps_the_stored_shape() -> None:
    catalog = parse_catalog(PLANS.format(hooks=""), "plans.yml")
    dumped = catalog.plans[0].waves[0].model_dump(mode="json")
    assert "before" not in dumped and "after" not in dumped


@pytest.mark.parametrize(
    ("hooks", "expected"),
    [
        (
            "        before:\n          - automation: {document: x}\n",
            "plans[0].waves[0].before[0].automation.document: 'x' is not an SSM document name or ARN",
        ),
        (
            "        after:\n          - lambda: {function: 'dns flip'}\n",
            "plans[0].waves[0].after[0].lambda.function: 'dns flip' is not a Lambda function name or ARN",
        ),
        (
            "        before:\n          - automation: {document: DrsHook-X, role: drs-hook-role}\n",
            "plans[0].waves[0].before[0].automation.role: 'drs-hook-role' is not an IAM role ARN",
        ),
        (
            "        before:\n          - {timeout: 5m}\n",
            "plans[0].waves[0].before[0]: give either automation: or lambda: (exactly one) for each hook",
        ),
        (
            "        before:\n          - lambda: {function: f}\n            timeout: 5m\n",
            "plans[0].waves[0].before[0].timeout: 5m is longer than a Lambda hook may take (30s",
        ),
        (
            "        before:\n          - automation: {document: DrsHook-X, parameters: {a: 1}}\n",
            "plans[0].waves[0].before[0].automation.parameters.a: 1 is not a text of 1 to 512 characters",
        ),
        (
            "        before:\n          - lambda: {function: f}\n            on_failure: ignore\n",
            "plans[0].waves[0].before[0].on_failure:",
        ),
        (
            "        before:\n          - lambda: {function: f, timeout: 5s}\n",
            "plans[0].waves[0].before[0].lambda.timeout: unknown key",
        ),
        (
            "        before:\n          - automation: {document: DrsHook-X, role: "
            + ROLE
            + ", parameters: {AutomationAssumeRole: r}}\n",
            "plans[0].waves[0].before[0].automation.parameters: AutomationAssumeRole is given by role",
        ),
    ],
)
def test_bad_hooks_are_refused_with_the_path_and_why(hooks: str, expected: str) -> None:
    found = problems(hooks)
    assert any(problem.startswith(expected) for problem in found), found


def test_drs_plan_shows_the_hooks() -> None:
    catalog = parse_catalog(PLANS.format(hooks=GOOD), "plans.yml")
    text = plan_text(catalog, "plan-x")
    assert "before: automation DrsHook-Promote (20m 00s, stop), Lambda" in text
    assert "after: Lambda drs-hook-dns (15s, continue, not in drills)" in text
