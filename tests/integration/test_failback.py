"""Failback, AWS to AWS, after a recovery: reverse replication, sync, launch in the origin region, re-protect.

Servers are protected in us-east-1 (the recovery region); their origin region is us-west-2."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
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
from bot.services.requesting import RequestResult
from bot.services.use_cases import UseCases
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import APPROVER, CHANNEL, Crash, CrashAfter, World, build_world
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


def approved(world: World, use_cases: UseCases, execution_type: ExecutionType, key: str) -> str:
    outcome = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=execution_type,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key=key,
    )
    assert outcome.result is RequestResult.APPROVAL_REQUESTED, outcome
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    use_cases.controlling.vote(execution_id, Vote.APPROVE, APPROVER)
    return execution_id


def recovered(world: World) -> Execution:
    use_cases = world.use_cases()
    execution_id = approved(world, use_cases, ExecutionType.RECOVERY, "recovery")
    final = world.run(use_cases, execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    return final


def calls(world: World, operation: str) -> list[Any]:
    return [c for c in world.emulator.calls if c.operation == operation and c.error is None]


def thread_text(world: World) -> str:
    return "\n".join(message.get("text", "") for message in world.slack.messages(CHANNEL))


def test_failback_after_a_recovery_launches_in_the_origin_region_and_reprotects(world: World) -> None:
    recovery = recovered(world)
    instances = {s.instance_id for s in recovery.servers()}
    use_cases = world.use_cases()
    execution_id = approved(world, use_cases, ExecutionType.FAILBACK, "failback")

    after_approval = use_cases.queries.get(execution_id)
    assert after_approval is not None and after_approval.failback is not None
    assert after_approval.failback.phase is FailbackPhase.SYNCING  # reversed in the approval's tick
    reversed_calls = calls(world, "ReverseReplication")
    assert {c.params["recoveryInstanceID"] for c in reversed_calls} == instances
    assert {c.region for c in reversed_calls} == {RECOVERY_REGION}

    final = world.run(use_cases, execution_id)
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
    again = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.FAILBACK,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="failback-2",
    )
    assert again.result is RequestResult.NO_RECOVERY


def test_a_server_that_never_reaches_continuous_is_left_out(world: World) -> None:
    recovered(world)
    use_cases = world.use_cases()
    execution_id = approved(world, use_cases, ExecutionType.FAILBACK, "failback")
    reversing = use_cases.queries.get(execution_id)
    assert reversing is not None and reversing.failback is not None
    stuck = next(s for s in reversing.failback.servers if s.wave == 0)
    assert stuck.reversed_source_server_id is not None
    world.emulator.set_replication_state(stuck.reversed_source_server_id, "STALLED")

    final = world.run(use_cases, execution_id)
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
    use_cases = world.use_cases()
    outcome = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.FAILBACK,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="failback",
    )
    assert outcome.result is RequestResult.NO_RECOVERY
    assert outcome.execution is None
    assert use_cases.queries.latest_in_channel(CHANNEL) is None
    assert calls(world, "ReverseReplication") == []


def test_a_failback_cancelled_while_syncing_launches_nothing(world: World) -> None:
    recovered(world)
    use_cases = world.use_cases()
    execution_id = approved(world, use_cases, ExecutionType.FAILBACK, "failback")
    world.clock.advance(60)
    use_cases.controlling.cancel(execution_id, "U0OPS")
    final = world.run(use_cases, execution_id)
    assert final.status is ExecutionStatus.CANCELLED
    assert final.failback is not None and final.failback.phase is FailbackPhase.DONE
    assert all(w.status.value == "SKIPPED" for w in final.waves)
    assert world.launches_per_server(execution_id) == Counter()
    assert [c for c in calls(world, "ReverseReplication") if c.region == ORIGIN_REGION] == []


def reverse_calls(world: World) -> Counter[tuple[str, str, str | None]]:
    """ReverseReplication as DRS received it: (region, recovery instance, error code) -> calls."""
    return Counter(
        (c.region, c.params["recoveryInstanceID"], c.error)
        for c in world.emulator.calls
        if c.operation == "ReverseReplication"
    )


def assert_each_instance_reversed_once(world: World, recovery: Execution, final: Execution) -> None:
    """From DRS's call log: each recovery instance, and each instance launched back, got one
    ReverseReplication that took effect and no call after it (before it, only "not ready" refusals)."""
    expected = {(RECOVERY_REGION, s.instance_id) for s in recovery.servers() if s.instance_id}
    expected |= {(ORIGIN_REGION, s.instance_id) for s in final.servers() if s.instance_id}
    by_instance: dict[tuple[str, str], list[Any]] = {}
    for call in world.emulator.calls:
        if call.operation == "ReverseReplication":
            by_instance.setdefault((call.region, call.params["recoveryInstanceID"]), []).append(call)
    assert set(by_instance) == expected
    for key, made in by_instance.items():
        assert made[-1].error is None, (key, made[-1].error_message)
        assert all("not ready" in (call.error_message or "") for call in made[:-1]), (key, made)


def test_a_recovery_instance_not_ready_yet_is_asked_again_and_fails_back(world: World) -> None:
    recovery = recovered(world)
    slow = sorted(s.instance_id or "" for s in recovery.servers())[0]
    world.emulator.hold_reverse_readiness(slow, 600)  # its agent checks in 10 minutes from now
    use_cases = world.use_cases()
    execution_id = approved(world, use_cases, ExecutionType.FAILBACK, "failback")
    final = world.run(use_cases, execution_id)

    assert final.status is ExecutionStatus.COMPLETED
    assert all(s.status is ServerStatus.LAUNCHED for s in final.servers()) and len(list(final.servers())) == 4
    counts = reverse_calls(world)
    refused = counts[(RECOVERY_REGION, slow, "ConflictException")]
    assert 600 / 30 - 1 <= refused <= 600 / 30 + 1  # asked once a tick while DRS said not ready
    assert counts[(RECOVERY_REGION, slow, None)] == 1
    others = [key for key in counts if key[1] != slow]
    assert all(counts[key] == 1 and key[2] is None for key in others)
    text = thread_text(world)
    assert "DRS is not ready to reverse replication for 1/4 recovery instance(s) yet" in text
    assert f"{slow}: ConflictException: Recovery instance {slow} is not ready for reverse replication" in text
    assert "Reverse replication started for 4/4" in text


def test_a_recovery_instance_never_ready_is_left_out_at_the_timeout_with_drss_text(world: World) -> None:
    recovery = recovered(world)
    stuck = next(s for s in recovery.waves[0].servers())
    assert stuck.instance_id is not None
    world.emulator.hold_reverse_readiness(stuck.source_server_id)  # every instance of it, for ever
    use_cases = world.use_cases()
    execution_id = approved(world, use_cases, ExecutionType.FAILBACK, "failback")
    final = world.run(use_cases, execution_id)

    assert final.status is ExecutionStatus.PARTIAL
    assert final.failback is not None
    (left_out,) = [s for s in final.failback.servers if s.failed]
    drs_text = (
        f"ConflictException: Recovery instance {stuck.instance_id} is not ready for reverse replication: "
        "the AWS Replication Agent on it has not connected to the service yet"
    )
    assert left_out.error == f"not ready to reverse replication within 1 h: {drs_text}"
    assert sum(1 for s in final.servers() if s.status is ServerStatus.LAUNCHED) == 3
    assert [w.status.value for w in final.waves] == ["PARTIAL", "COMPLETED"]
    # The others were not held back for good: they launched in the origin region, once each.
    launched = world.launches_per_server(execution_id)
    assert len(launched) == 3 and set(launched.values()) == {1}
    assert reverse_calls(world)[(RECOVERY_REGION, stuck.instance_id, None)] == 0
    text = thread_text(world)
    assert "Reverse replication started for 3/4" in text
    assert f"not ready to reverse replication within 1 h: {drs_text}" in text
    history = to_history(final)
    failed = [s for w in history["Waves"] for s in w["Servers"] if s["Status"] == "FAILED"]
    assert [s["Error"] for s in failed] == [left_out.error]
    assert [s["Error"] for s in history["Failback"]["Servers"] if s["Error"]] == [left_out.error]


def test_an_instance_reversed_already_outside_the_bot_is_taken_as_reversed(world: World) -> None:
    recovery = recovered(world)
    first = next(s for s in recovery.servers())
    instance_id = first.instance_id
    assert instance_id is not None
    client = boto3.client(
        "drs",
        region_name=RECOVERY_REGION,
        endpoint_url=world.emulator_url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    arn = client.reverse_replication(recoveryInstanceID=instance_id)["reversedDirectionSourceServerArn"]
    use_cases = world.use_cases()
    execution_id = approved(world, use_cases, ExecutionType.FAILBACK, "failback")
    final = world.run(use_cases, execution_id)

    assert final.status is ExecutionStatus.COMPLETED
    assert final.failback is not None and not any(s.failed for s in final.failback.servers)
    mine = next(s for s in final.failback.servers if s.recovery_instance_id == instance_id)
    assert arn.endswith(f"/{mine.reversed_source_server_id}")
    # DRS answered the repeat with ConflictException; the bot read DRS's state instead of giving up.
    assert reverse_calls(world)[(RECOVERY_REGION, instance_id, "ConflictException")] == 1


def test_two_ticks_at_once_through_every_failback_step_call_drs_once_per_instance(world: World) -> None:
    recovery = recovered(world)
    for server in recovery.servers():  # not ready at approval: the concurrent ticks do the reversing
        assert server.instance_id is not None
        world.emulator.hold_reverse_readiness(server.instance_id, 60)
    use_cases = world.use_cases()
    execution_id = approved(world, use_cases, ExecutionType.FAILBACK, "failback")
    world.emulator.clear_calls()
    final = world.run(use_cases, execution_id, parallel=2)

    assert final.status is ExecutionStatus.COMPLETED
    assert final.failback is not None and final.failback.phase is FailbackPhase.DONE
    assert all(s.reprotected for s in final.failback.servers)
    assert_each_instance_reversed_once(world, recovery, final)
    launched = world.launches_per_server(execution_id)
    assert len(launched) == 4 and set(launched.values()) == {1}


@pytest.mark.parametrize("nth", [1, 3, 5, 8])
def test_a_tick_killed_after_reverse_replication_never_calls_it_again(world: World, nth: int) -> None:
    """Calls 1-4 reverse the recovery instances; 5-8 re-protect the instances launched back."""
    recovery = recovered(world)
    crashing = CrashAfter(world.drs(), "reverse_replication", nth)
    use_cases = world.use_cases(drs=crashing)
    outcome = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.FAILBACK,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="failback",
    )
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    try:
        use_cases.controlling.vote(execution_id, Vote.APPROVE, APPROVER)
    except Crash:
        world.crashes += 1
    final = world.run(use_cases, execution_id)

    assert world.crashes == 1, f"ReverseReplication #{nth} was never reached"
    assert final.status is ExecutionStatus.COMPLETED
    assert final.failback is not None and all(s.reprotected for s in final.failback.servers)
    assert_each_instance_reversed_once(world, recovery, final)
    assert "Re-protect: 4/4" in thread_text(world)
