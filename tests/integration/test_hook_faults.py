"""hooks (#15) under faults, against the DRS emulator's SSM Automation through the real adapter: a tick
killed right after StartAutomationExecution, or two ticks at once, start each hook's automation once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.execution import ExecutionStatus, HookStatus
from bot.domain.plans import Catalog
from sandbox.drs_emulator.ssm_automation import Runbook, automations, set_runbook
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import CrashAfter, World, build_world
from tests.unit.builders import catalog


def with_hooks() -> Catalog:
    plain = catalog(2, 1).model_dump(mode="json")
    plain["plans"][0]["waves"][0]["before"] = [{"automation": {"document": "DrsHook-Before"}}]
    plain["plans"][0]["waves"][0]["after"] = [
        {"automation": {"document": "DrsHook-After", "parameters": {"Record": "db"}}}
    ]
    return Catalog.model_validate(plain)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, with_hooks(), slack)
    set_runbook(built.emulator, "DrsHook-Before", Runbook(seconds=90))
    set_runbook(built.emulator, "DrsHook-After", Runbook(seconds=45))
    yield built
    server.stop()


def assert_each_hook_ran_once(world: World, execution_id: str) -> None:
    final = world.stored(execution_id)
    assert final.status is ExecutionStatus.COMPLETED, final.status
    assert [run.status for run in final.waves[0].hooks] == [HookStatus.SUCCEEDED, HookStatus.SUCCEEDED]
    started = Counter(run.document for run in automations(world.emulator).runs.values())
    assert started == {"DrsHook-Before": 1, "DrsHook-After": 1}, started
    assert set(world.launches_per_server(execution_id).values()) == {1}
    # The before-hook ended before the wave's StartRecovery; the after-hook started after its launch.
    calls = world.emulator.calls
    first_start = next(c.seq for c in calls if c.operation == "StartRecovery")
    before = next(c for c in calls if c.operation == "StartAutomationExecution")
    assert before.params["DocumentName"] == "DrsHook-Before" and before.seq < first_start


@pytest.mark.parametrize("nth", [1, 2])
def test_a_tick_killed_after_starting_an_automation_starts_it_once(world: World, nth: int) -> None:
    crashing = CrashAfter(world.hooks(), "start_automation", nth)
    use_cases = world.use_cases(hooks=crashing)
    execution_id = world.start_drill(use_cases)
    world.run(use_cases, execution_id)
    assert world.crashes == 1, "the crash point was never reached"
    assert_each_hook_ran_once(world, execution_id)
    # The automation was asked for again, with the same client token, and SSM gave the same one back.
    tokens = Counter(
        c.params["ClientToken"] for c in world.emulator.calls if c.operation == "StartAutomationExecution"
    )
    assert sorted(tokens.values()) == [1, 2]


def test_two_ticks_at_once_start_each_automation_once(world: World) -> None:
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    world.run(use_cases, execution_id, parallel=2)
    assert_each_hook_ran_once(world, execution_id)
