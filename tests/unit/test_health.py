"""Health gates (a wave's health_check): the option as plans.yml writes it, and the engine's CHECKING
decisions from plain data. The end-to-end proof is tests/e2e/test_health_checks.py."""

from __future__ import annotations

import pytest

from bot.domain import engine, health
from bot.domain.events import ExecutionFinished, WaveChecking, WaveFinished, WavesSkipped
from bot.domain.execution import CheckResult, ChunkRef, ExecutionStatus, ServerStatus, WaveStatus
from bot.domain.plans import HealthCheck, InvalidCatalog, OnFailure, WaveOptions, parse_catalog
from tests.unit.builders import at, execution, job, observe
from tests.unit.test_engine_options import LIMITS, complete_wave, started, with_wave

PLANS = """
protection_groups:
  - name: db
    region: us-east-1
    source_servers: [s-00000000000000001]
plans:
  - name: plan-x
    waves:
      - name: Databases
        protection_group: db
        health_check:
{health}
"""


def problems(health_yaml: str) -> list[str]:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(PLANS.format(health=health_yaml), "plans.yml")
    return [str(p) for p in caught.value.problems]


def test_health_check_reads_each_check_and_its_timeout() -> None:
    text = "          ec2_status: true\n          ssm_online: true\n          alarms: [db-up]\n          timeout: 20m"
    catalog = parse_catalog(PLANS.format(health=text), "plans.yml")
    plan = catalog.plan("plan-x")
    assert plan is not None
    check = plan.waves[0].options.health_check
    assert check == HealthCheck(ec2_status=True, ssm_online=True, alarms=("db-up",), timeout=1200)
    assert check.checks() == ("ec2_status", "ssm_online", "alarms")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("          ec2_status: false", "health_check: names no check"),
        ("          ec2_status: yes please", "ec2_status: expected true or false"),
        ("          ec2_status: 1", "ec2_status: expected true or false"),
        ("          ec2_status: true\n          http: true", "http: unknown key"),
        ("          ec2_status: true\n          timeout: 30s", "health_check.timeout: 30s is shorter than"),
        ("          ec2_status: true\n          timeout: 13h", "health_check.timeout: 13h is longer than"),
        ("          alarms: [a, a]", "health_check.alarms[1]: 'a' is listed twice"),
        ("          alarms: ['']", "alarms[0]"),
        ("          alarms: ['" + "x" * 256 + "']", "alarms[0]"),
        ("          alarms: db-up", "alarms: expected a list"),
        ("          ec2_status: true\n          ec2_status: true", "written twice"),
    ],
)
def test_bad_health_checks_are_refused_with_the_path_and_why(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in problem for problem in found), found
    assert all(problem.startswith("plans[0].waves[0]") or "line" in problem for problem in found), found


def checked(ex_waves: tuple[int, ...] = (2, 1), **options: object) -> engine.Decision:
    """Wave 1 (of `ex_waves`) launched with a health check, at 540 s."""
    check = HealthCheck(**{"ec2_status": True, "timeout": 600, **options})
    ex = with_wave(execution(*ex_waves), 0, options=WaveOptions(health_check=check))
    return complete_wave(started(ex, 0), 0, 540)


def ok(
    instance_id: str, now_s: float, passed: bool = True, detail: str = ""
) -> dict[str, tuple[CheckResult, ...]]:
    return {instance_id: (CheckResult(check="ec2_status", passed=passed, detail=detail, at=at(now_s)),)}


def test_a_launched_wave_with_a_health_check_is_checking_and_the_next_wave_waits() -> None:
    d = checked()
    wave = d.execution.waves[0]
    assert wave.status is WaveStatus.CHECKING and wave.checks_started_at == at(540)
    assert d.starts == ()  # the next wave does not start
    assert [e.healthy for e in d.events if isinstance(e, WaveChecking)] == [0]
    first, second = (s.instance_id or "" for s in wave.servers())
    assert [t.instance_ids for t in health.targets(d.execution)] == [(first, second)]
    # One healthy: still checking, and nothing starts.
    d = engine.advance(d.execution, observe().model_copy(update={"health": ok(first, 600)}), at(600), LIMITS)
    assert d.execution.waves[0].status is WaveStatus.CHECKING and d.starts == ()
    assert [t.instance_ids for t in health.targets(d.execution)] == [(second,)]
    # Both: the wave completes and the next one starts in the same step.
    d = engine.advance(d.execution, observe().model_copy(update={"health": ok(second, 630)}), at(630), LIMITS)
    wave = d.execution.waves[0]
    assert wave.status is WaveStatus.COMPLETED
    assert [s.healthy_at for s in wave.servers()] == [at(600), at(630)]
    assert d.starts == (ChunkRef(wave=1, chunk=0),)
    finished = next(e for e in d.events if isinstance(e, WaveFinished))
    assert finished.checked and finished.healthy == 2
    assert finished.launch_seconds == 540 and finished.healthy_seconds == 630


def test_a_server_still_unhealthy_at_the_timeout_fails_with_its_check_and_counts_for_on_failure() -> None:
    d = checked()
    ex = with_wave(
        d.execution, 0, options=d.execution.waves[0].options.model_copy(update={"on_failure": OnFailure.STOP})
    )
    first, second = (s.instance_id or "" for s in ex.waves[0].servers())
    facts = {**ok(first, 600), **ok(second, 600, passed=False, detail="instance status impaired")}
    d = engine.advance(ex, observe().model_copy(update={"health": facts}), at(1139), LIMITS)
    assert d.execution.waves[0].status is WaveStatus.CHECKING
    d = engine.advance(d.execution, observe(), at(1140), LIMITS)
    servers = list(d.execution.waves[0].servers())
    assert servers[0].status is ServerStatus.LAUNCHED
    assert servers[1].status is ServerStatus.FAILED
    assert servers[1].error == (
        "health check ec2_status failed: not healthy 10m after the checks began: instance status impaired"
    )
    assert d.execution.waves[0].status is WaveStatus.PARTIAL
    assert any(isinstance(e, WavesSkipped) for e in d.events)
    assert d.execution.status is ExecutionStatus.FAILED
    end = next(e for e in d.events if isinstance(e, ExecutionFinished))
    assert end.launch_seconds == 540 and end.healthy_seconds == 1139  # healthy when observed


def test_a_server_that_failed_to_launch_is_not_checked() -> None:
    check = HealthCheck(ec2_status=True, timeout=600)
    ex = with_wave(execution(2), 0, options=WaveOptions(health_check=check))
    ex = started(ex, 0)
    first, second = (s.source_server_id for s in ex.waves[0].servers())
    d = engine.advance(
        ex, observe(job("drsjob-w0c0", "COMPLETED", **{first: "LAUNCHED", second: "FAILED"})), at(540), LIMITS
    )
    assert [t.instance_ids for t in health.targets(d.execution)] == [(f"i-{first[2:]}",)]
    d = engine.advance(
        d.execution, observe().model_copy(update={"health": ok(f"i-{first[2:]}", 560)}), at(560), LIMITS
    )
    assert d.execution.waves[0].status is WaveStatus.PARTIAL
    assert d.execution.status is ExecutionStatus.PARTIAL


def test_a_wave_whose_servers_all_failed_to_launch_skips_the_checks() -> None:
    check = HealthCheck(ec2_status=True, timeout=600)
    ex = with_wave(execution(1), 0, options=WaveOptions(health_check=check))
    d = complete_wave(started(ex, 0), 0, 540, state="FAILED")
    assert d.execution.waves[0].status is WaveStatus.FAILED
    assert not any(isinstance(e, WaveChecking) for e in d.events)


def test_progress_is_reported_when_a_quarter_more_turned_healthy_not_every_tick() -> None:
    check = HealthCheck(ec2_status=True, timeout=3600)
    ex = with_wave(execution(8), 0, options=WaveOptions(health_check=check))
    d = complete_wave(started(ex, 0), 0, 540)
    ids = [s.instance_id or "" for s in d.execution.waves[0].servers()]
    reported = []
    for n, instance in enumerate(ids[:-1]):
        d = engine.advance(
            d.execution, observe().model_copy(update={"health": ok(instance, 600 + n)}), at(600 + n), LIMITS
        )
        reported += [e.healthy for e in d.events if isinstance(e, WaveChecking)]
    assert reported == [2, 4, 6]
    d = engine.advance(
        d.execution, observe().model_copy(update={"health": ok(ids[-1], 700)}), at(700), LIMITS
    )
    assert d.execution.waves[0].status is WaveStatus.COMPLETED


def test_cancelling_ends_the_checks_without_failing_the_unconfirmed() -> None:
    d = checked()
    cancelled = engine.request_cancel(d.execution, "U1", at(560)).execution
    d = engine.advance(cancelled, observe(), at(570), LIMITS)
    assert d.execution.status is ExecutionStatus.CANCELLED
    assert {s.status for s in d.execution.waves[0].servers()} == {ServerStatus.LAUNCHED}


def test_drs_plan_shows_the_health_check_with_alarm_names_escaped() -> None:
    from bot.slack import replies

    text = "          ec2_status: true\n          alarms: ['db <up> & ok']\n          timeout: 20m"
    catalog = parse_catalog(PLANS.format(health=text), "plans.yml")
    shown = replies.plan_text(catalog, "plan-x")
    assert "health check: ec2_status, alarms db &lt;up&gt; &amp; ok OK within 20m" in shown
    assert "<up>" not in shown


COMMAND_YAML = (
    "          ssm_command:\n            document: AWS-RunShellScript\n"
    "            parameters: {commands: ['curl -f localhost:8080/health <ok>']}\n            timeout: 5m"
)


def test_ssm_command_reads_its_document_parameters_and_timeout_and_waits_for_the_agent() -> None:
    catalog = parse_catalog(PLANS.format(health=COMMAND_YAML), "plans.yml")
    plan = catalog.plan("plan-x")
    assert plan is not None
    check = plan.waves[0].options.health_check
    assert check is not None and check.ssm_command is not None
    assert check.ssm_command.document == "AWS-RunShellScript"
    assert check.ssm_command.parameters == {"commands": ("curl -f localhost:8080/health <ok>",)}
    assert check.ssm_command.timeout == 300
    # SendCommand refuses an instance whose agent is not Online: that check comes first, implied.
    assert check.checks() == ("ssm_online", "ssm_command")
    from bot.slack import replies

    shown = replies.plan_text(catalog, "plan-x")
    assert (
        "health check: ssm_online, ssm_command AWS-RunShellScript (commands: curl -f localhost:8080/health "
        "&lt;ok&gt;) Success within 15m" in shown
    ), shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("          ssm_command: {document: x}", "'x' is not an SSM document name"),
        ("          ssm_command: {document: 'AWS RunShellScript'}", "is not an SSM document name"),
        (
            "          ssm_command: {document: AWS-RunShellScript, timeout: 10s}",
            "SendCommand's TimeoutSeconds",
        ),
        (
            "          ssm_command: {document: AWS-RunShellScript, timeout: 800h}",
            "SendCommand's TimeoutSeconds",
        ),
        (
            "          ssm_command: {document: AWS-RunShellScript, parameters: {commands: [1]}}",
            "quote numbers",
        ),
        ("          ssm_command: {document: AWS-RunShellScript, parameters: [a]}", "parameters"),
        ("          ssm_command: {document: AWS-RunShellScript, role: r}", "role: unknown key"),
        ("          ssm_command: {parameters: {}}", "document"),
        ("          ssm_command: AWS-RunShellScript", "ssm_command"),
    ],
)
def test_bad_ssm_commands_are_refused_with_the_path_and_why(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in problem for problem in found), found


def test_commands_are_claimed_in_batches_of_50_for_instances_that_passed_the_other_checks() -> None:
    check = HealthCheck(ssm_command={"document": "AWS-RunShellScript"}, timeout=600)
    ex = with_wave(execution(99, 1), 0, options=WaveOptions(health_check=check))
    d = complete_wave(started(ex, 0), 0, 540)
    d = engine.advance(d.execution, observe(), at(550), LIMITS)  # CHECKING
    ids = [s.instance_id for s in d.execution.waves[0].servers() if s.instance_id]
    assert len(ids) == 99
    online = {i: (CheckResult(check="ssm_online", passed=i != ids[0], at=at(560)),) for i in ids}
    d = engine.advance(d.execution, observe().model_copy(update={"health": online}), at(560), LIMITS)
    claimed, refs = health.claim_commands(d.execution, at(560))
    runs = claimed.waves[0].commands
    assert [len(r.instance_ids) for r in runs] == [50, 48]  # the one still offline waits
    assert ids[0] not in {i for r in runs for i in r.instance_ids}
    assert refs == [health.CommandRef(0, 0), health.CommandRef(0, 1)]
    assert health.unsent_commands(claimed) == refs
    cancelled = engine.request_cancel(d.execution, "U1", at(560)).execution
    assert health.claim_commands(cancelled, at(560)) == (cancelled, [])  # a cancel sends nothing new
    # Claimed once: a second look claims nothing more until the last agent is Online.
    assert health.claim_commands(claimed, at(570)) == (claimed, [])
    recorded = health.record_command(claimed, refs[0], "cmd-1")
    assert health.record_command(recorded, refs[0], "cmd-2") == recorded  # another tick's record stands
    assert health.unsent_commands(recorded) == refs[1:]
    comment = health.command_comment(claimed.execution_id, refs[1])
    assert claimed.execution_id in comment and comment.endswith("wave 0 batch 1") and len(comment) <= 100


def test_a_final_failure_fails_its_server_at_once_not_at_the_timeout() -> None:
    check = HealthCheck(ssm_command={"document": "AWS-RunShellScript"}, timeout=600)
    ex = with_wave(execution(2, 1), 0, options=WaveOptions(health_check=check, on_failure=OnFailure.STOP))
    d = complete_wave(started(ex, 0), 0, 540)
    d = engine.advance(d.execution, observe(), at(550), LIMITS)  # CHECKING
    first, second = (s.instance_id or "" for s in d.execution.waves[0].servers())

    def said(instance_id: str, passed: bool, detail: str, final: bool) -> tuple[CheckResult, ...]:
        return (
            CheckResult(check="ssm_online", passed=True, at=at(600)),
            CheckResult(check="ssm_command", passed=passed, detail=detail, at=at(600), final=final),
        )

    facts = {
        first: said(first, True, "command Success", True),
        second: said(second, False, "command Failed (exit 1): 503", True),
    }
    d = engine.advance(d.execution, observe().model_copy(update={"health": facts}), at(600), LIMITS)
    servers = list(d.execution.waves[0].servers())
    assert servers[0].healthy_at == at(600)
    assert servers[1].status is ServerStatus.FAILED
    assert servers[1].error == "health check ssm_command failed: command Failed (exit 1): 503"
    assert d.execution.waves[0].status is WaveStatus.PARTIAL  # at 600 s: the 10m timeout is far off
    assert d.execution.status is ExecutionStatus.FAILED  # on_failure: stop
