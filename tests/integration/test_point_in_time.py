"""--at: each server launches from its newest recovery snapshot at or before the time asked for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from bot.domain.execution import ExecutionStatus, ExecutionType
from bot.domain.history import to_history
from bot.services.requesting import RequestResult
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import CHANNEL, START, World, build_world
from tests.unit.builders import catalog

if TYPE_CHECKING:
    from mypy_boto3_drs.type_defs import RecoverySnapshotTypeDef


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, catalog(2, 1), slack)
    yield built
    server.stop()


def newest_snapshot_before(world: World, server_id: str, moment: Any) -> RecoverySnapshotTypeDef:
    client = boto3.client(
        "drs",
        region_name="us-east-1",
        endpoint_url=world.emulator_url,
        aws_access_key_id="t",
        aws_secret_access_key="t",
    )
    items = client.describe_recovery_snapshots(sourceServerID=server_id, order="DESC")["items"]
    return next(item for item in items if item["timestamp"] <= moment.isoformat())


def test_each_server_launches_from_its_snapshot_at_or_before_the_time(world: World) -> None:
    at = START - timedelta(hours=2, minutes=17)
    use_cases = world.use_cases()
    outcome = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.DRILL,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="pit",
        at=at,
    )
    assert outcome.result is RequestResult.STARTED and outcome.execution is not None
    final = world.run(use_cases, outcome.execution.execution_id)
    assert final.status is ExecutionStatus.COMPLETED and final.point_in_time == at
    starts = [c for c in world.emulator.calls if c.operation == "StartRecovery" and c.error is None]
    asked = {
        s["sourceServerID"]: s.get("recoverySnapshotID")
        for call in starts
        for s in call.params["sourceServers"]
    }
    for server in final.servers():
        expected = newest_snapshot_before(world, server.source_server_id, at)
        assert asked[server.source_server_id] == expected["snapshotID"] == server.snapshot_id
        assert server.snapshot_time is not None and server.snapshot_time <= at
    history = to_history(final)
    first = history["Waves"][0]["Servers"][0]
    assert first["RecoverySnapshotId"].startswith("pit-") and first["SnapshotTime"] <= int(at.timestamp())
    thread = "\n".join(m["text"] for m in world.slack.messages(CHANNEL))
    assert "Point in time: each server from its newest snapshot at or before" in thread


def test_a_time_before_the_first_snapshot_launches_nothing_and_names_the_servers(world: World) -> None:
    use_cases = world.use_cases()
    outcome = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.RECOVERY,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="too-early",
        at=START - timedelta(days=30),
    )
    assert outcome.result is RequestResult.NO_SNAPSHOT
    assert len(outcome.without_snapshot) == 3
    assert world.store().latest_in_channel(CHANNEL) is None
    assert [c for c in world.emulator.calls if c.operation == "StartRecovery"] == []


def test_a_time_in_the_future_is_refused(world: World) -> None:
    outcome = world.use_cases().requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.DRILL,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="future",
        at=START + timedelta(hours=1),
    )
    assert outcome.result is RequestResult.FUTURE_TIME
