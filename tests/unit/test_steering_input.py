"""What a person types for steering is read strictly: the wave option, --step, pause and resume."""

from __future__ import annotations

import pytest

from bot.domain import commands
from bot.domain.commands import Execute, Invalid, Pause, Resume
from bot.domain.execution import ExecutionType, Limits
from bot.domain.plans import InvalidCatalog, parse_catalog
from bot.slack.replies import wave_options_text

PLANS = """
protection_groups:
  - name: db-tier
    region: us-east-1
    source_servers: [s-aaaaaaaaaaaaaaaa9]
plans:
  - name: plan-x
    waves:
      - name: Databases
        protection_group: db-tier
        pause_before: {value}
"""


def test_pause_before_is_true_or_false_and_shown_by_plan() -> None:
    catalog = parse_catalog(PLANS.format(value="true"), "plans.yml")
    options = catalog.plans[0].waves[0].options
    assert options.pause_before is True
    assert "waits for a person's Continue before it starts (pause_before)" in wave_options_text(options)
    off = parse_catalog(PLANS.format(value="false"), "plans.yml").plans[0].waves[0].options
    assert not any("pause_before" in line for line in wave_options_text(off))


@pytest.mark.parametrize("value", ["1", '"true"', "[true]", "null"])
def test_pause_before_refuses_anything_but_a_boolean(value: str) -> None:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(PLANS.format(value=value), "plans.yml")
    (problem,) = caught.value.problems
    assert "plans[0].waves[0].pause_before" in str(problem)


def test_step_pause_and_resume_parse_and_refuse_what_is_missing() -> None:
    assert commands.parse("execute plan-x drill --step") == Execute(
        plan_name="plan-x", execution_type=ExecutionType.DRILL, step=True
    )
    assert commands.parse("execute plan-x recovery \u2014step").step  # type: ignore[union-attr]
    assert commands.parse("pause 0123456789abcdef") == Pause(execution_ref="0123456789abcdef")
    assert commands.parse("RESUME 012345") == Resume(execution_ref="012345")
    for text in ("pause", "resume a b"):
        parsed = commands.parse(text)
        assert isinstance(parsed, Invalid) and "needs the execution id" in parsed.message


def test_the_gate_reminder_interval_is_a_limit_of_at_least_a_minute() -> None:
    assert Limits().gate_reminder_seconds == 1800
    assert Limits.model_validate({"gate_reminder_seconds": 600}).gate_reminder_seconds == 600
    with pytest.raises(ValueError, match="gate_reminder_seconds"):
        Limits.model_validate({"gate_reminder_seconds": 5})
