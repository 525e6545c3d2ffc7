"""Faults lose nothing: no server launched twice, none forgotten, no message lost or doubled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.events import ProgressUpdated
from bot.domain.execution import ExecutionStatus, ServerStatus
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import CHANNEL, CrashAfter, World, build_world
from tests.unit.builders import catalog


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, catalog(3, 2), slack)
    yield built
    server.stop()


def assert_told_the_truth(world: World, execution_id: str) -> None:
    final = world.store().get(execution_id)
    assert final is not None
    assert final.status is ExecutionStatus.COMPLETED, final.status
    assert all(server.status is ServerStatus.LAUNCHED for server in final.servers())
    launches = world.launches_per_server(execution_id)
    assert set(launches) == {server.source_server_id for server in final.servers()}
    assert set(launches.values()) == {1}, launches  # every server launched exactly once
    keys = world.thread_keys()
    assert set(keys.values()) == {1}, keys  # no message twice
    expected = {f"{execution_id}:anchor"}
    events = world.store()._client.query(
        TableName=world.tables["ExecutionsTable"],
        KeyConditionExpression="ExecutionId = :id AND begins_with(Item, :e)",
        ExpressionAttributeValues={":id": {"S": execution_id}, ":e": {"S": "EVENT#"}},
    )["Items"]
    from bot.domain.events import EVENT_ADAPTER

    for item in events:
        event = EVENT_ADAPTER.validate_json(item["Body"]["S"])
        if not isinstance(event, ProgressUpdated):
            expected.add(f"{execution_id}:{event.seq}")
        assert "DeliveredTs" in item  # every event went out
    assert set(keys) == expected  # none missing
    anchor = next(m for m in world.slack.messages(CHANNEL) if not m["thread_ts"])
    latest = anchor["updates"][-1] if anchor.get("updates") else anchor
    assert "COMPLETED" in latest["text"]  # the anchor shows the end, not an older state


def test_without_faults(world: World) -> None:
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    world.run(use_cases, execution_id)
    assert world.crashes == 0
    assert_told_the_truth(world, execution_id)


CRASH_POINTS = [
    ("drs", "start_recovery", 1),
    ("drs", "start_recovery", 2),
    ("drs", "describe_jobs", 2),
    ("store", "create", 1),
    ("store", "save", 1),
    ("store", "save", 2),
    ("store", "save", 5),
    ("store", "mark_delivered", 1),
    ("store", "mark_delivered", 4),
    ("notifier", "post", 1),
    ("notifier", "post", 3),
    ("notifier", "update", 2),
]


@pytest.mark.parametrize(("port", "method", "nth"), CRASH_POINTS)
def test_a_tick_killed_after_an_external_call_loses_nothing(
    world: World, port: str, method: str, nth: int
) -> None:
    adapters: dict[str, Any] = {"drs": world.drs(), "store": world.store(), "notifier": world.notifier()}
    crashing = CrashAfter(adapters[port], method, nth)
    adapters[port] = crashing
    use_cases = world.use_cases(**adapters)
    execution_id = world.start_drill(use_cases)
    world.run(use_cases, execution_id)
    assert world.crashes == 1, f"the crash point {method} #{nth} was never reached"
    assert_told_the_truth(world, execution_id)


def test_two_ticks_at_once_all_the_way(world: World) -> None:
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    world.run(use_cases, execution_id, parallel=2)
    assert_told_the_truth(world, execution_id)


def test_thirty_percent_of_drs_calls_throttled_still_completes(world: World) -> None:
    world.emulator.inject_fault("*", "ThrottlingException", rate=0.3)
    use_cases = world.use_cases(drs=world.drs(max_attempts=1))  # no retries in botocore: ours alone
    execution_id = world.start_drill(use_cases)
    world.run(use_cases, execution_id)
    throttled = [call for call in world.emulator.calls if call.error == "ThrottlingException"]
    assert len(throttled) >= 5
    assert_told_the_truth(world, execution_id)


def test_slack_down_for_a_while_delays_messages_but_loses_none(world: World) -> None:
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    world.slack.inject_fault("chat.postMessage", "server_error", count=6)
    world.slack.inject_fault("chat.update", "ratelimited", count=3)
    world.run(use_cases, execution_id)
    assert_told_the_truth(world, execution_id)
    replies = [m for m in world.slack.messages(CHANNEL) if m["thread_ts"]]
    seqs = [int(m["metadata"]["event_payload"]["key"].split(":")[1]) for m in replies]
    assert seqs == sorted(seqs)  # in order
