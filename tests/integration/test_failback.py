"""Failback, AWS to AWS, after a recovery: reverse replication, sync, launch in the origin region, re-protect.

Servers are protected in us-east-1 (the recovery region); their origin region is us-west-2."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.approval import Vote
from bot.domain.execution import (
    Execution,
    ExecutionStatus,
    ExecutionType,
    FailbackPhase,
    Limits,
    ServerStatus,
)
from bot.domain.history import to_history
from bot.domain.plans import Catalog
from bot.services.executions import Executions, RequestResult
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import APPROVER, CHANNEL, World, build_world
from tests.unit.builders import server_ids

RECOVERY_REGION = "us-east-1"
ORIGIN_REGION = "us-west-2"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def plans() -> Catalog:
    return Catalog.model_validate(
        {
            "protection_groups": [
                {"name": "db", "region": RECOVERY_REGION, "source_servers": server_ids("d", 2)},
                {"name": "app", "region": RECOVERY_REGION, "source_servers": server_ids("a", 2)},
            ],
            "plans": [
                {
                    "name": "plan-x",
                    "waves": [
                        {"name": "Databases", "protection_group": "db"},
                        {"name": "Apps", "protection_group": "app"},
                    ],
                }
            ],
        }
    )


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, plans(), slack, regions=(RECOVERY_REGION, ORIGIN_REGION))
    built.limits = Limits(failback_sync_timeout_seconds=3600)
    yield built
    server.stop()


def approved(world: World, executions: Executions, execution_type: ExecutionType, key: str) -> str:
    outcome = executions.request(
        plan_name="plan-x",
        execution_type=execution_type,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key=key,
    )
    assert outcome.result is RequestResult.APPROVAL_REQUESTED, outcome
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    executions.vote(execution_id, Vote.APPROVE, APPROVER)
    return execution_id


def recovered(world: World) -> Execution:
    executions = world.executions()
    execution_id = approved(world, executions, ExecutionType.RECOVERY, "recovery")
    final = world.run(executions, execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    return final


def calls(world: World, operation: str) -> list[Any]:
    return [c for c in world.emulator.calls if c.operation == operation and c.error is None]


def thread_text(world: World) -> str:
    return "\n".join(message.get("text", "") for message in world.slack.messages(CHANNEL))


def test_failback_after_a_recovery_launches_in_the_origin_region_and_reprotects(world: World) -> None:
    recovery = recovered(world)
    instances = {s.instance_id for s in recovery.servers()}
    executions = world.executions()
    execution_id = approved(world, executions, ExecutionType.FAILBACK, "failback")

    after_approval = executions.get(execution_id)
    assert after_approval is not None and after_approval.failback is not None
    assert after_approval.failback.phase is FailbackPhase.SYNCING  # reversed in the approval's tick
    reversed_calls = calls(world, "ReverseReplication")
    assert {c.params["recoveryInstanceID"] for c in reversed_calls} == instances
    assert {c.region for c in reversed_calls} == {RECOVERY_REGION}

    final = world.run(executions, execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    assert final.failback is not None and final.failback.phase is FailbackPhase.DONE
    reversed_ids = {s.reversed_source_server_id for s in final.failback.servers}
    assert all(s.reprotected for s in final.failback.servers)
    assert [w.region for w in final.waves] == [ORIGIN_REGION, ORIGIN_REGION]
    assert [w.name for w in final.waves] == ["Databases", "Apps"]
    assert {s.source_server_id for s in final.servers()} == reversed_ids
    assert all(s.status is ServerStatus.LAUNCHED for s in final.servers())

    starts = [
        c
        for c in calls(world, "StartRecovery")
        if (c.params.get("tags") or {}).get("drs-chatops:execution") == execution_id
    ]
    assert len(starts) == 2 and {c.region for c in starts} == {ORIGIN_REGION}
    assert all(c.params["isDrill"] is False for c in starts)
    launched = Counter(s["sourceServerID"] for c in starts for s in c.params["sourceServers"])
    assert set(launched) == reversed_ids and set(launched.values()) == {1}
    # Wave order: Databases launched before Apps started.
    assert starts[0].time < starts[1].time

    reprotects = [c for c in calls(world, "ReverseReplication") if c.region == ORIGIN_REGION]
    assert {c.params["recoveryInstanceID"] for c in reprotects} == {s.instance_id for s in final.servers()}

    text = thread_text(world)
    assert "Reverse replication started for 4/4" in text
    assert "Failback sync: 0/4 server(s) CONTINUOUS" in text
    assert "Failback sync done: 4/4" in text
    assert "Re-protect: 4/4" in text
    assert "Failback of plan-x COMPLETED: 4/4 servers launched" in text

    history = to_history(final)
    assert history["ExecutionType"] == "FAILBACK" and history["Status"] == "COMPLETED"
    assert history["Failback"]["Phase"] == "DONE"
    assert history["Failback"]["RecoveryExecutionId"] == recovery.execution_id
    assert {w["Region"] for w in history["Waves"]} == {ORIGIN_REGION}

    # That recovery was failed back: a second failback has nothing to undo.
    again = executions.request(
        plan_name="plan-x",
        execution_type=ExecutionType.FAILBACK,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="failback-2",
    )
    assert again.result is RequestResult.NO_RECOVERY


def test_a_server_that_never_reaches_continuous_is_left_out(world: World) -> None:
    recovered(world)
    executions = world.executions()
    execution_id = approved(world, executions, ExecutionType.FAILBACK, "failback")
    reversing = executions.get(execution_id)
    assert reversing is not None and reversing.failback is not None
    stuck = next(s for s in reversing.failback.servers if s.wave == 0)
    assert stuck.reversed_source_server_id is not None
    world.emulator.set_replication_state(stuck.reversed_source_server_id, "STALLED")

    final = world.run(executions, execution_id)
    assert final.status is ExecutionStatus.PARTIAL
    assert final.failback is not None and final.failback.phase is FailbackPhase.DONE
    by_id = {s.source_server_id: s for s in final.servers()}
    left_out = by_id[stuck.reversed_source_server_id]
    assert left_out.status is ServerStatus.FAILED
    assert left_out.error == "never reached CONTINUOUS within 1 h: STALLED"
    assert sum(1 for s in final.servers() if s.status is ServerStatus.LAUNCHED) == 3
    assert [w.status.value for w in final.waves] == ["PARTIAL", "COMPLETED"]
    launched_ids = {
        s["sourceServerID"]
        for c in calls(world, "StartRecovery")
        if (c.params.get("tags") or {}).get("drs-chatops:execution") == execution_id
        for s in c.params["sourceServers"]
    }
    assert stuck.reversed_source_server_id not in launched_ids
    reprotected = [s for s in final.failback.servers if s.reprotected]
    assert len(reprotected) == 3

    text = thread_text(world)
    assert "Failback sync done: 3/4" in text
    assert "never reached CONTINUOUS within 1 h: STALLED" in text
    history = to_history(final)
    failed = [s for w in history["Waves"] for s in w["Servers"] if s["Status"] == "FAILED"]
    assert [s["Error"] for s in failed] == ["never reached CONTINUOUS within 1 h: STALLED"]


def test_failback_without_a_recovery_is_refused(world: World) -> None:
    executions = world.executions()
    outcome = executions.request(
        plan_name="plan-x",
        execution_type=ExecutionType.FAILBACK,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="failback",
    )
    assert outcome.result is RequestResult.NO_RECOVERY
    assert outcome.execution is None
    assert executions.latest_in_channel(CHANNEL) is None
    assert calls(world, "ReverseReplication") == []


def test_a_failback_cancelled_while_syncing_launches_nothing(world: World) -> None:
    recovered(world)
    executions = world.executions()
    execution_id = approved(world, executions, ExecutionType.FAILBACK, "failback")
    world.clock.advance(60)
    executions.cancel(execution_id, "U0OPS")
    final = world.run(executions, execution_id)
    assert final.status is ExecutionStatus.CANCELLED
    assert final.failback is not None and final.failback.phase is FailbackPhase.DONE
    assert all(w.status.value == "SKIPPED" for w in final.waves)
    assert world.launches_per_server(execution_id) == Counter()
    assert [c for c in calls(world, "ReverseReplication") if c.region == ORIGIN_REGION] == []
