"""The /drs grammar."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import commands
from bot.domain.commands import Check, Cleanup, Execute, Help, Invalid, ListPlans, Report, Status
from bot.domain.execution import ExecutionType


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP"])
def test_help(text: str) -> None:
    assert isinstance(commands.parse(text), Help)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("execute plan-x drill", ExecutionType.DRILL),
        ("EXECUTE plan-x Drill", ExecutionType.DRILL),
        ("execute  plan-x   recovery", ExecutionType.RECOVERY),
        ("execute plan-x failback", ExecutionType.FAILBACK),
    ],
)
def test_execute(text: str, kind: ExecutionType) -> None:
    assert commands.parse(text) == Execute(plan_name="plan-x", execution_type=kind)


def test_execute_without_a_type_says_what_is_missing() -> None:
    parsed = commands.parse("execute plan-x")
    assert isinstance(parsed, Invalid)
    assert "needs a plan and a type" in parsed.message and "/drs execute plan-x drill" in parsed.message


def test_a_near_miss_type_gets_did_you_mean() -> None:
    parsed = commands.parse("execute plan-x dril")
    assert isinstance(parsed, Invalid) and "Did you mean `drill`?" in parsed.message


def test_a_near_miss_keyword_gets_did_you_mean() -> None:
    parsed = commands.parse("exectue plan-x drill")
    assert isinstance(parsed, Invalid) and "Did you mean `execute`?" in parsed.message


def test_other_commands() -> None:
    assert commands.parse("plans") == ListPlans()
    assert commands.parse("status") == Status()
    assert commands.parse("status abc123") == Status(execution_ref="abc123")
    assert commands.parse("cleanup abc123") == Cleanup(execution_ref="abc123")
    assert commands.parse("report abc123") == Report(execution_ref="abc123")
    for wrong in ("report", "report a b"):
        parsed = commands.parse(wrong)
        assert isinstance(parsed, Invalid) and "`/drs report` needs the execution id" in parsed.message
    assert commands.parse("check plan-x") == Check(plan_name="plan-x")
    assert commands.parse("execute plan-x drill --force") == Execute(
        plan_name="plan-x", execution_type=ExecutionType.DRILL, force=True
    )


@given(st.text(max_size=300))
def test_any_text_parses_to_a_command_or_a_specific_complaint(text: str) -> None:
    parsed = commands.parse(text)
    if isinstance(parsed, Invalid):
        assert parsed.message.strip() and commands.USAGE in parsed.message


def test_execute_at_a_point_in_time() -> None:
    from datetime import UTC, datetime

    parsed = commands.parse("execute plan-x recovery --at 2026-11-29T08:00:00Z")
    assert parsed == Execute(
        plan_name="plan-x", execution_type=ExecutionType.RECOVERY, at=datetime(2026, 11, 29, 8, tzinfo=UTC)
    )
    naive = commands.parse("execute plan-x drill \u2014at 2026-11-29T08:00")
    assert isinstance(naive, Execute) and naive.at == datetime(2026, 11, 29, 8, tzinfo=UTC)
    bad = commands.parse("execute plan-x drill --at yesterday")
    assert isinstance(bad, Invalid) and "is not an ISO-8601 time" in bad.message
    missing = commands.parse("execute plan-x drill --at")
    assert isinstance(missing, Invalid) and "`--at` needs a time" in missing.message


def test_an_at_with_an_offset_is_the_same_instant_kept_in_utc() -> None:
    """+14:00 is Kiribati's offset: its 08:00 on the 29th is 18:00 UTC on the 28th, not 08:00 UTC."""
    from datetime import UTC, datetime

    from bot.slack import ack

    parsed = commands.parse("execute plan drill --at 2026-11-29T08:00:00+14:00")
    assert isinstance(parsed, Execute) and parsed.at == datetime(2026, 11, 28, 18, tzinfo=UTC)
    assert parsed.at.utcoffset() == UTC.utcoffset(None)
    assert "at or before 2026-11-28 18:00:00 UTC" in ack.ack_text(parsed)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("execute plan-x recovery --force", "`--force` is for drills: a recovery is never held back"),
        ("execute plan-x FAILBACK \u2014force", "`--force` is for drills: a failback is never held back"),
        ("execute plan-x failback --at 2026-11-29T08:00:00Z", "`--at` does not apply to a failback"),
    ],
)
def test_flags_that_do_not_apply_are_refused_not_ignored(text: str, expected: str) -> None:
    parsed = commands.parse(text)
    assert isinstance(parsed, Invalid) and parsed.message.startswith(expected)
