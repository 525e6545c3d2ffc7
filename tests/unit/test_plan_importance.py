"""A protection group's `optional` servers: read strictly, carried to the wave, judged there; and the
/drs retry and /drs skip grammar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain import importance
from bot.domain.commands import Invalid, Retry, Skip, parse
from bot.domain.execution import ExecutionType, ServerStatus, WaveRun, WaveStatus, new_execution
from bot.domain.plans import InvalidCatalog, parse_catalog
from bot.domain.transitions import move_server
from bot.slack import replies

A, B, C = (f"s-{n:017x}" for n in range(3))
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def plans(group: str) -> str:
    return f"""
protection_groups:
  - name: app-tier
    region: us-east-1
{group}
plans:
  - name: plan-x
    waves:
      - name: Apps
        protection_group: app-tier
"""


def problems(group: str) -> list[str]:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(plans(group), "plans.yml")
    return [str(problem) for problem in caught.value.problems]


def first_wave(group: str) -> WaveRun:
    catalog = parse_catalog(plans(group), "plans.yml")
    plan = catalog.plan("plan-x")
    assert plan is not None
    return new_execution(
        execution_id="ex-1",
        plan=plan,
        catalog=catalog,
        execution_type=ExecutionType.DRILL,
        initiated_by="U1",
        channel_id="C1",
        now=NOW,
        servers_per_job=100,
    ).waves[0]


def test_optional_servers_are_carried_to_the_wave_and_stored_with_it() -> None:
    group = f"    source_servers: [{A}, {B}]\n    optional: [{B}]"
    assert first_wave(group).optional == (B,)
    catalog = parse_catalog(plans(group), "plans.yml")
    assert catalog.model_dump()["protection_groups"][0]["optional"] == [B]
    assert "`app-tier`: 2 servers, 1 optional in us-east-1" in replies.plan_text(catalog, "plan-x")
    # Without optional servers the stored catalog keeps its shape: no empty key.
    plain = parse_catalog(plans(f"    source_servers: [{A}]"), "plans.yml")
    assert "optional" not in plain.model_dump()["protection_groups"][0]


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (
            f"    source_servers: [{A}]\n    optional: [{C}]",
            f"optional[0]: {C} is not in the group's source_servers",
        ),
        (f"    source_servers: [{A}, {B}]\n    optional: [{B}, {B}]", f"optional[1]: {B} is listed twice"),
        (
            f"    source_server_tags: {{app: x}}\n    optional: [{A}]",
            "a group selected by source_server_tags has no server list to mark",
        ),
        (f"    source_servers: [{A}]\n    optional: [not-an-id]", "optional[0]: 'not-an-id' is not a valid"),
    ],
)
def test_optional_is_read_strictly(group: str, expected: str) -> None:
    found = problems(group)
    assert any(expected in problem for problem in found), found


def test_an_optional_failure_makes_a_wave_partial_never_failed_and_never_stops_it() -> None:
    wave = first_wave(f"    source_servers: [{A}, {B}]\n    optional: [{B}]")

    def ended(a: ServerStatus, b: ServerStatus) -> WaveRun:
        runs = [
            move_server(move_server(s, ServerStatus.LAUNCHING, job_id="j"), status, now=NOW, error="no")
            for s, status in zip(wave.chunks[0].servers, (a, b), strict=True)
        ]
        return wave.model_copy(
            update={"chunks": (wave.chunks[0].model_copy(update={"servers": tuple(runs)}),)}
        )

    optional_failed = ended(ServerStatus.LAUNCHED, ServerStatus.FAILED)
    assert importance.judge(optional_failed) is WaveStatus.PARTIAL
    assert not importance.required_failed(optional_failed)
    required_failed = ended(ServerStatus.FAILED, ServerStatus.LAUNCHED)
    assert importance.judge(required_failed) is WaveStatus.PARTIAL
    assert importance.required_failed(required_failed)
    both = ended(ServerStatus.FAILED, ServerStatus.FAILED)
    assert importance.judge(both) is WaveStatus.FAILED


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("retry 1a2b3c", Retry(execution_ref="1a2b3c")),
        ("retry 1a2b3c 2", Retry(execution_ref="1a2b3c", wave_ref="2")),
        ("skip 1a2b3c Web", Skip(execution_ref="1a2b3c", wave_ref="Web")),
        (
            "skip 1a2b3c 2 not needed  today",
            Skip(execution_ref="1a2b3c", wave_ref="2", reason="not needed today"),
        ),
    ],
)
def test_retry_and_skip_grammar(text: str, command: object) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("retry", "`/drs retry` needs the execution id"),
        ("retry a b c", "`/drs retry` needs"),
        ("skip 1a2b3c", "`/drs skip` needs the execution id and the wave"),
    ],
)
def test_retry_and_skip_without_what_they_need_say_so(text: str, says: str) -> None:
    parsed = parse(text)
    assert isinstance(parsed, Invalid) and says in parsed.message
