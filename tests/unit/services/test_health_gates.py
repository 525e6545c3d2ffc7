"""Health gates through the use cases (the tick, /drs status, the report) over the fakes: a wave with a
health_check waits for its servers' checks; what AWS refuses fails the check with its words; a throttle
only delays it."""

from __future__ import annotations

import json

import pytest

from bot.domain import report
from bot.domain.engine import progress_fields
from bot.domain.events import ProgressUpdated
from bot.domain.execution import ExecutionStatus, ServerStatus, WaveStatus
from bot.domain.plans import Catalog
from bot.errors import HealthCheckRefused
from bot.slack import replies, thread_messages
from tests.fakes.health import FakeHealthChecks
from tests.fakes.store import InMemoryCatalogStore
from tests.unit.services.conftest import CHANNEL, DB, REGION, WEB, World


def checked_world(**health_check: object) -> World:
    world = World()
    world.catalog = InMemoryCatalogStore(
        Catalog.model_validate(
            {
                "protection_groups": [
                    {"name": "db", "region": REGION, "source_servers": DB},
                    {"name": "web", "region": REGION, "source_servers": WEB},
                ],
                "plans": [
                    {
                        "name": "plan-x",
                        "waves": [
                            {"name": "Databases", "protection_group": "db", "health_check": health_check},
                            {"name": "Web", "protection_group": "web"},
                        ],
                    }
                ],
            }
        )
    )
    world.health = FakeHealthChecks(world.clock, ready_after=90)
    return world


def started(world: World) -> str:
    request = world.request()
    assert request.execution is not None
    return request.execution.execution_id


def tick_until(world: World, execution_id: str, status: WaveStatus) -> None:
    ticking = world.use_cases().ticking
    for _ in range(100):
        if world.stored(execution_id).waves[0].status is status:
            return
        world.clock.advance(ticking.tick(execution_id).wait_seconds)
    raise AssertionError(f"wave 1 never {status}")


def test_a_drill_waits_for_its_checks_shows_them_and_reports_two_rtos() -> None:
    world = checked_world(ec2_status=True, alarms=["db-healthy"], timeout="15m")
    execution_id = started(world)
    tick_until(world, execution_id, WaveStatus.CHECKING)
    checking = world.stored(execution_id)
    assert world.drs.started() and len(world.drs.started()) == 1  # Web waits
    world.clock.advance(30)
    world.use_cases().ticking.tick(execution_id)
    status = replies.status_text(world.stored(execution_id), world.clock())
    assert "Databases: CHECKING, 2/2 launched, 0 failed, 0/2 healthy" in status
    assert "ec2_status: initializing" in status
    # The anchor shows the checking wave's count too.
    progress = ProgressUpdated(seq=0, **progress_fields(world.stored(execution_id), world.clock()))
    anchor = thread_messages.anchor(progress, world.clock())
    assert "Databases — `db` (2 servers, us-east-1) — 0/2 healthy" in json.dumps(
        anchor.blocks, ensure_ascii=False
    )
    assert checking.waves[0].checks_started_at is not None
    execution = world.run(execution_id)
    assert execution.status is ExecutionStatus.COMPLETED
    assert all(s.healthy_at is not None for s in execution.waves[0].servers())
    assert world.health is not None
    assert [c for c in world.health.calls if c[0] == "alarms"]  # the alarm was asked about
    thread = world.notifier.thread(CHANNEL)
    assert any("CHECKING: 0/2 healthy (ec2_status, alarms" in t for t in thread), thread
    assert any(
        "Databases COMPLETED: 2/2 launched in 9m 00s, HEALTHY: 2/2 healthy in 11m 30s" in t for t in thread
    ), thread
    # The last wave checks nothing: its launch is when the execution counts as recovered.
    assert any(t.endswith("in 20m 30s. RTO: to launch 20m 30s, to healthy 20m 30s.") for t in thread), thread
    shown = report.build(execution, world.clock())
    assert shown.rto.launch_seconds is not None and shown.rto.healthy_seconds is not None
    wave = shown.waves[0]
    assert wave.healthy_seconds == 11.5 * 60 and wave.seconds == 9 * 60
    assert wave.health_checks == ("ec2_status", "alarms") and wave.healthy == 2
    assert {c.check for c in wave.servers[0].checks} == {"ec2_status", "alarms"}
    assert shown.waves[1].healthy is None  # Web has no health check


def test_a_check_aws_refuses_fails_at_the_timeout_with_its_words() -> None:
    world = checked_world(ec2_status=True, timeout="5m")
    assert world.health is not None
    world.health.refused["ec2_status"] = HealthCheckRefused(
        "EC2", "UnauthorizedOperation", "You are not authorized to perform this operation."
    )
    execution = world.run(started(world))
    servers = list(execution.waves[0].servers())
    assert {s.status for s in servers} == {ServerStatus.FAILED}
    assert all(
        s.error == "health check ec2_status failed: not healthy 5m after the checks began: EC2 refused: "
        "UnauthorizedOperation: You are not authorized to perform this operation."
        for s in servers
    )
    assert execution.waves[0].status is WaveStatus.FAILED
    assert execution.waves[1].status is WaveStatus.COMPLETED  # on_failure: continue


def test_a_throttled_check_only_waits_for_the_next_tick() -> None:
    world = checked_world(ssm_online=True)
    assert world.health is not None
    world.health.unavailable["ssm_online"] = 3
    execution = world.run(started(world))
    assert execution.status is ExecutionStatus.COMPLETED
    assert sum(1 for c in world.health.calls if c[0] == "ssm_online") > 3


COMMAND = {"document": "AWS-RunShellScript", "parameters": {"commands": ["curl -f localhost:8080/health"]}}


def test_a_tick_that_dies_after_sendcommand_leaves_a_claim_found_again_never_sent_twice() -> None:
    world = checked_world(ssm_command=COMMAND, timeout="15m")
    health = world.health
    assert health is not None
    execution_id = started(world)
    tick_until(world, execution_id, WaveStatus.CHECKING)
    ticking = world.use_cases().ticking
    health.lose_answer = True  # SSM takes the command; the tick dies before recording its id
    with pytest.raises(RuntimeError, match="died after SendCommand"):
        for _ in range(20):
            world.clock.advance(ticking.tick(execution_id).wait_seconds)
    (claimed,) = world.stored(execution_id).waves[0].commands
    assert claimed.command_id is None and set(claimed.instance_ids) == {
        s.instance_id for s in world.stored(execution_id).waves[0].servers()
    }
    ticking.tick(execution_id)  # finds it by its Comment (ListCommands) and records it
    (found,) = world.stored(execution_id).waves[0].commands
    assert found.command_id == "cmd-0001"
    execution = world.run(execution_id)
    assert execution.status is ExecutionStatus.COMPLETED
    sent = [call for call in health.calls if call[0] == "ssm_command"]
    assert len(sent) == 1 and len(health.commands) == 1  # one SendCommand for the batch, ever
    assert any(call[0] == "find_command" for call in health.calls)
    assert all(
        {c.check for c in s.checks} == {"ssm_online", "ssm_command"} and s.healthy_at
        for s in execution.waves[0].servers()
    )


def test_a_command_ssm_refuses_fails_its_servers_with_the_refusal_and_is_not_sent_again() -> None:
    world = checked_world(ssm_command=COMMAND, timeout="5m")
    health = world.health
    assert health is not None
    health.refused["ssm_command"] = HealthCheckRefused("SSM", "InvalidDocument", "no <such> document")
    execution_id = started(world)
    execution = world.run(execution_id)
    assert execution.waves[0].status is WaveStatus.FAILED
    (run,) = execution.waves[0].commands
    assert (
        run.command_id is None and run.error == "SSM refused the command: InvalidDocument: no <such> document"
    )
    assert all(s.error and "no <such> document" in s.error for s in execution.waves[0].servers())
    assert len([call for call in health.calls if call[0] == "ssm_command"]) == 1
