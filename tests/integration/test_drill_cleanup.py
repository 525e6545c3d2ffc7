"""Drill cleanup terminates exactly the drill's own instances, once, and never a recovery's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from bot.domain.approval import Vote
from bot.domain.cleanup import CleanupRefusal
from bot.domain.execution import CleanupStatus, ExecutionType
from bot.domain.plans import Catalog
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import APPROVER, CHANNEL, Crash, CrashAfter, World, build_world
from tests.unit.builders import server_ids

if TYPE_CHECKING:
    from mypy_boto3_drs.type_defs import RecoveryInstanceTypeDef


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def plans(cleanup_after: str | None = None) -> Catalog:
    plan: dict[str, Any] = {"name": "plan-x", "waves": [{"name": "All", "protection_group": "app"}]}
    if cleanup_after:
        plan["cleanup_after"] = cleanup_after
    return Catalog.model_validate(
        {
            "protection_groups": [
                {"name": "app", "region": "us-east-1", "source_servers": server_ids("d", 3)}
            ],
            "plans": [plan],
        }
    )


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, plans(), slack)
    yield built
    server.stop()


def instances(world: World) -> list[RecoveryInstanceTypeDef]:
    client = boto3.client(
        "drs",
        region_name="us-east-1",
        endpoint_url=world.emulator_url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    return client.describe_recovery_instances()["items"]


def terminated_ids(world: World) -> Counter[str]:
    """How many times each instance was named in a TerminateRecoveryInstances call DRS accepted."""
    named: Counter[str] = Counter()
    for call in world.emulator.calls:
        if call.operation == "TerminateRecoveryInstances" and call.error is None:
            named.update(call.params["recoveryInstanceIDs"])
    return named


def finished_drill(world: World) -> str:
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    world.run(use_cases, execution_id)
    return execution_id


def run_cleanup(world: World, execution_id: str, user: str = "U0OPS") -> Any:
    use_cases = world.use_cases()
    outcome = use_cases.controlling.cleanup(execution_id, user)
    world.run(use_cases, execution_id)
    return outcome


def test_cleanup_terminates_the_drills_instances_and_reports_it(world: World) -> None:
    execution_id = finished_drill(world)
    drill_instances = {i["recoveryInstanceID"] for i in instances(world) if i["isDrill"]}
    assert len(drill_instances) == 3
    outcome = run_cleanup(world, execution_id)
    assert outcome.refusal is None
    final = world.store().get(execution_id)
    assert final is not None and final.cleanup is not None
    assert final.cleanup.status is CleanupStatus.DONE and set(final.cleanup.instance_ids) == drill_instances
    assert {i["ec2InstanceState"] for i in instances(world)} == {"TERMINATED"}
    assert set(terminated_ids(world)) == drill_instances
    thread = "\n".join(m["text"] for m in world.slack.messages(CHANNEL))
    assert "Cleanup by <@U0OPS>: terminating 3 drill instance(s)" in thread
    assert "Cleanup done: 3 drill instance(s) terminated, 0 were already gone." in thread
    assert world.store().active_ids() == []  # nothing left to tick

    # Again: nothing is terminated twice; what was already gone is reported.
    run_cleanup(world, execution_id, user="U0OTHER")
    assert set(terminated_ids(world).values()) == {1}
    thread = "\n".join(m["text"] for m in world.slack.messages(CHANNEL))
    assert "Cleanup done: 0 drill instance(s) terminated, 3 were already gone." in thread


def test_two_cleanups_racing_terminate_nothing_twice(world: World) -> None:
    execution_id = finished_drill(world)

    def clean(user: str) -> Any:
        return world.use_cases().controlling.cleanup(execution_id, user)

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(clean, ["U0A", "U0B"]))
    world.run(world.use_cases(), execution_id)
    assert len(terminated_ids(world)) == 3 and set(terminated_ids(world).values()) == {1}
    refusals = [o.refusal for o in outcomes]
    assert refusals.count(None) >= 1
    assert set(refusals) <= {None, CleanupRefusal.IN_PROGRESS}


def test_a_recovery_is_never_cleaned_up_and_its_instances_are_untouched(world: World) -> None:
    drill_id = finished_drill(world)
    # A recovery of the same servers: its instances sit beside the drill's.
    use_cases = world.use_cases()
    recovery = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.RECOVERY,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="recovery",
    ).execution
    assert recovery is not None
    use_cases.controlling.vote(recovery.execution_id, Vote.APPROVE, APPROVER)
    world.run(use_cases, recovery.execution_id)
    real = {i["recoveryInstanceID"] for i in instances(world) if not i["isDrill"]}
    assert len(real) == 3

    refused = world.use_cases().controlling.cleanup(recovery.execution_id, "U0OPS")
    assert refused.refusal is CleanupRefusal.NOT_A_DRILL
    run_cleanup(world, drill_id)
    assert not real & set(terminated_ids(world))
    states = {i["recoveryInstanceID"]: i["ec2InstanceState"] for i in instances(world)}
    assert all(states[i] != "TERMINATED" for i in real)


def test_cleanup_after_terminates_the_drill_automatically_and_says_so_in_advance(
    dynamodb: Any, tables: dict[str, str], slack: FakeSlack
) -> None:
    slack.reset()
    world, server = build_world(dynamodb, tables, plans(cleanup_after="4h"), slack)
    try:
        use_cases = world.use_cases()
        execution_id = world.start_drill(use_cases)
        for _ in range(100):  # until the drill itself ended (the loop goes on: a cleanup is due)
            use_cases.ticking.tick(execution_id)
            ended = world.store().get(execution_id)
            if (
                ended is not None
                and ended.status.is_terminal
                and not world.store().pending_events(execution_id)
            ):
                break
            world.clock.advance(30)
        ended = world.store().get(execution_id)
        assert ended is not None and ended.cleanup is not None
        assert ended.cleanup.status is CleanupStatus.SCHEDULED and ended.end_time is not None
        thread = "\n".join(m["text"] for m in world.slack.messages(CHANNEL))
        assert "terminated automatically at" in thread
        assert terminated_ids(world) == Counter()
        assert execution_id in world.store().active_ids()  # still ticked: the cleanup is due later
        assert not use_cases.ticking.tick(execution_id).finished
        world.clock.advance(4 * 3600)
        world.run(world.use_cases(), execution_id)
        final = world.store().get(execution_id)
        assert final is not None and final.cleanup is not None and final.cleanup.status is CleanupStatus.DONE
        assert len(terminated_ids(world)) == 3
        assert "Cleanup by the plan's cleanup_after" in "\n".join(
            m["text"] for m in world.slack.messages(CHANNEL)
        )
    finally:
        server.stop()


def terminate_calls(world: World) -> Counter[str]:
    """Every TerminateRecoveryInstances naming each instance, accepted or refused."""
    named: Counter[str] = Counter()
    for call in world.emulator.calls:
        if call.operation == "TerminateRecoveryInstances":
            named.update(call.params["recoveryInstanceIDs"])
    return named


def assert_terminated_once_and_reported(world: World, execution_id: str) -> None:
    drill_instances = {i["recoveryInstanceID"] for i in instances(world) if i["isDrill"]}
    assert len(drill_instances) == 3
    assert terminate_calls(world) == Counter(dict.fromkeys(drill_instances, 1))
    assert {i["ec2InstanceState"] for i in instances(world)} == {"TERMINATED"}
    final = world.store().get(execution_id)
    assert final is not None and final.cleanup is not None
    assert final.cleanup.status is CleanupStatus.DONE
    assert set(final.cleanup.instance_ids) == drill_instances and final.cleanup.failures == ()
    thread = "\n".join(m["text"] for m in world.slack.messages(CHANNEL))
    assert thread.count("Cleanup done: 3 drill instance(s) terminated, 0 were already gone.") == 1


def test_two_ticks_at_once_through_the_cleanup_terminate_once(
    dynamodb: Any, tables: dict[str, str], slack: FakeSlack
) -> None:
    """A plan's cleanup_after comes due while the Step Functions loop and an early tick run side by side."""
    slack.reset()
    world, server = build_world(dynamodb, tables, plans(cleanup_after="1h"), slack)
    try:
        use_cases = world.use_cases()
        execution_id = world.start_drill(use_cases)
        for _ in range(60):  # until the drill itself ended (the loop goes on: a cleanup is due)
            use_cases.ticking.tick(execution_id)
            ended = world.store().get(execution_id)
            if (
                ended is not None
                and ended.status.is_terminal
                and not world.store().pending_events(execution_id)
            ):
                break
            world.clock.advance(30)
        world.clock.advance(3600)
        world.run(use_cases, execution_id, parallel=2)
        assert_terminated_once_and_reported(world, execution_id)
    finally:
        server.stop()


def test_a_tick_killed_after_terminate_never_terminates_again(world: World) -> None:
    execution_id = finished_drill(world)
    use_cases = world.use_cases(drs=CrashAfter(world.drs(), "terminate", 1))
    try:
        use_cases.controlling.cleanup(execution_id, "U0OPS")
    except Crash:
        world.crashes += 1
    world.run(use_cases, execution_id)
    assert world.crashes == 1
    assert_terminated_once_and_reported(world, execution_id)
