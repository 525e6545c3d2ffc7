"""DRS's quotas are shared by every job in the region: the executor queues instead of failing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.execution import ExecutionStatus, ExecutionType, ServerStatus
from bot.domain.plans import Catalog
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import World, build_world
from tests.unit.builders import server_ids


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def two_plans() -> Catalog:
    return Catalog.model_validate(
        {
            "protection_groups": [
                {"name": "big", "region": "us-east-1", "source_servers": server_ids("b", 450)},
                {"name": "other", "region": "us-east-1", "source_servers": server_ids("c", 100)},
            ],
            "plans": [
                {"name": "plan-x", "waves": [{"name": "Everything", "protection_group": "big"}]},
                {"name": "plan-y", "waves": [{"name": "Other", "protection_group": "other"}]},
            ],
        }
    )


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    built, server = build_world(dynamodb, tables, two_plans(), slack)
    yield built
    server.stop()


def test_a_450_server_wave_makes_5_jobs_within_the_500_server_quota_while_other_jobs_run(
    world: World,
) -> None:
    use_cases = world.use_cases()
    other = use_cases.requesting.request(
        plan_name="plan-y",
        execution_type=ExecutionType.DRILL,
        user_id="U1",
        channel_id="C0OTHER",
        request_key="y",
    ).execution
    assert other is not None
    use_cases.ticking.tick(other.execution_id)  # plan-y's 100 servers are now in a DRS job
    big = world.start_drill(use_cases, "plan-x")
    first = use_cases.ticking.tick(big)
    assert not first.finished
    jobs_now = world.store().get(big)
    assert jobs_now is not None
    assert len(jobs_now.waves[0].job_ids) == 4  # 400 + the other plan's 100 = the 500 quota

    world.run(use_cases, other.execution_id)
    final = world.run(use_cases, big)
    assert final.status is ExecutionStatus.COMPLETED
    assert len(final.waves[0].job_ids) == 5
    assert all(server.status is ServerStatus.LAUNCHED for server in final.servers())
    starts = [c for c in world.emulator.calls if c.operation == "StartRecovery"]
    assert [c.error for c in starts] == [None] * 6  # never refused for quota: it waited instead
    assert max(len(c.params["sourceServers"]) for c in starts) == 100
