"""Hooks before and after a wave (#15) through the tick, over the fakes: order around StartRecovery,
claims that survive a crash, failures, and what the thread says."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.approval import Vote
from bot.domain.execution import ExecutionStatus, ExecutionType, HookStatus, WaveStatus
from tests.fakes.hooks import Runbook
from tests.fakes.store import InMemoryCatalogStore
from tests.unit.services.conftest import BOSS, CHANNEL, DB, ORIGIN, World, plans

ROLE = "arn:aws:iam::123456789012:role/dr-automation"


def with_hooks(world: World, db: dict[str, Any], web: dict[str, Any] | None = None) -> None:
    world.catalog = InMemoryCatalogStore(plans(db, web))


def drill(world: World, kind: ExecutionType = ExecutionType.DRILL, key: str = "trigger-1") -> str:
    outcome = world.request(kind, key=key)
    assert outcome.execution is not None
    return outcome.execution.execution_id


def test_before_and_after_hooks_run_in_order_around_the_waves_start_recovery(world: World) -> None:
    with_hooks(
        world,
        {
            "before": [
                {"automation": {"document": "Promote-Db", "parameters": {"Db": "ledger"}, "role": ROLE}},
                {"lambda": {"function": "warm-cache", "payload": {"size": "big"}}},
            ],
            "after": [{"lambda": {"function": "dns-flip"}}],
        },
    )
    world.hooks.runbooks["Promote-Db"] = Runbook(seconds=120, outputs={"Promoted": ["ledger"]})
    world.hooks.functions["warm-cache"] = lambda payload: {"warmed": payload["payload"]}
    world.hooks.functions["dns-flip"] = lambda payload: {"records": payload["recovery_instance_ids"]}

    final = world.run(drill(world))

    assert final.status is ExecutionStatus.COMPLETED
    [start] = [c for c in world.hooks.calls if c.operation == "StartAutomationExecution"]
    invokes = [c for c in world.hooks.calls if c.operation == "Invoke"]
    db_job, web_job = world.drs.started()
    assert start.params == {"Db": ["ledger"], "AutomationAssumeRole": [ROLE]}
    # Automation (2 minutes), then the Lambda, then the wave's StartRecovery; the after-hook once
    # the servers launched, and the next wave's StartRecovery only after it.
    assert start.at < invokes[0].at <= db_job.created_at < invokes[1].at <= web_job.created_at
    assert (invokes[0].target, invokes[1].target) == ("warm-cache", "dns-flip")
    assert invokes[1].params["recovery_instance_ids"] == [db_job.instance_ids[s] for s in DB]  # type: ignore[index]
    assert invokes[0].params["source_server_ids"] == DB  # type: ignore[index]
    thread = world.notifier.thread(CHANNEL)
    hook_lines = [line for line in thread if "-hook" in line]
    assert hook_lines[0].startswith(
        ":white_check_mark: Before-hook 1/2 of wave 1/2 Databases: automation Promote-Db succeeded in 2m"
    )
    assert (
        "systems-manager/automation/execution/" in hook_lines[0]
        and '{"Promoted": ["ledger"]}' in hook_lines[0]
    )
    assert hook_lines[1].startswith(
        ":white_check_mark: Before-hook 2/2 of wave 1/2 Databases: Lambda warm-cache succeeded"
    )
    assert hook_lines[2].startswith(
        ":white_check_mark: After-hook 1/1 of wave 1/2 Databases: Lambda dns-flip succeeded"
    )
    runs = final.waves[0].hooks
    assert [(r.phase, r.status) for r in runs] == [
        ("before", HookStatus.SUCCEEDED),
        ("before", HookStatus.SUCCEEDED),
        ("after", HookStatus.SUCCEEDED),
    ]


def test_a_failed_before_hook_with_stop_launches_nothing_and_says_why(world: World) -> None:
    with_hooks(world, {"before": [{"automation": {"document": "Promote-Db"}}]})
    world.hooks.runbooks["Promote-Db"] = Runbook(outcome="Failed", failure="Step promote failed: replica lag")

    final = world.run(drill(world))

    assert world.drs.started() == []
    assert final.status is ExecutionStatus.FAILED
    assert [w.status for w in final.waves] == [WaveStatus.FAILED, WaveStatus.SKIPPED]
    thread = world.notifier.thread(CHANNEL)
    assert any(
        "Before-hook 1/1 of wave 1/2 Databases: automation Promote-Db failed" in line
        and "Step promote failed: replica lag — its on_failure is stop" in line
        for line in thread
    ), thread
    assert any(
        "Skipped Web: before-hook 1 (Promote-Db) of wave Databases failed and its on_failure is stop." in line
        for line in thread
    ), thread


def test_a_hanging_automation_times_out_and_continue_goes_on(world: World) -> None:
    with_hooks(
        world,
        {"after": [{"automation": {"document": "Smoke-Test"}, "timeout": "10m", "on_failure": "continue"}]},
    )
    world.hooks.runbooks["Smoke-Test"] = Runbook(outcome="hang")

    final = world.run(drill(world))

    assert final.status is ExecutionStatus.COMPLETED  # the servers all launched; the hook only reported
    run = final.waves[0].hooks[0]
    assert run.status is HookStatus.TIMED_OUT and run.error == "timed out after 10m"
    assert len(world.drs.started()) == 2
    assert any(
        "timed out" in line and "its on_failure is continue" in line
        for line in world.notifier.thread(CHANNEL)
    )


def test_drill_false_is_skipped_in_a_drill_and_run_in_a_recovery(world: World) -> None:
    with_hooks(world, {"after": [{"lambda": {"function": "dns-flip"}, "drill": False}]})
    world.hooks.functions["dns-flip"] = lambda payload: {"ok": True}

    world.run(drill(world))
    assert world.hooks.calls == []
    assert any(
        "After-hook 1/1 of wave 1/2 Databases: Lambda dns-flip skipped: drill: false" in line
        for line in world.notifier.thread(CHANNEL)
    )

    recovery = drill(world, ExecutionType.RECOVERY, key="trigger-2")
    world.use_cases().controlling.vote(recovery, Vote.APPROVE, BOSS)
    final = world.run(recovery)
    assert [c.target for c in world.hooks.calls] == ["dns-flip"]
    assert final.waves[0].hooks[0].status is HookStatus.SUCCEEDED


def test_a_tick_that_died_after_starting_an_automation_does_not_start_a_second_one(world: World) -> None:
    with_hooks(world, {"before": [{"automation": {"document": "Promote-Db"}}]})
    world.hooks.runbooks["Promote-Db"] = Runbook(seconds=60)
    execution_id = drill(world)
    ticking = world.use_cases().ticking
    # The tick calls SSM, then dies before recording the id: the claim stays STARTING.
    real = world.hooks.start_automation
    world.hooks.start_automation = lambda *args: (real(*args), (_ for _ in ()).throw(SystemExit))[0]  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        ticking.tick(execution_id)
    world.hooks.start_automation = real  # type: ignore[method-assign]
    assert world.stored(execution_id).waves[0].hooks[0].status is HookStatus.STARTING

    final = world.run(execution_id)

    starts = [c for c in world.hooks.calls if c.operation == "StartAutomationExecution"]
    assert len(starts) == 2 and len(world.hooks.runs) == 1  # asked again with its token: the same one
    assert final.status is ExecutionStatus.COMPLETED


def test_ssm_unavailable_defers_the_hook_without_losing_it(world: World) -> None:
    with_hooks(world, {"before": [{"automation": {"document": "Promote-Db"}}]})
    world.hooks.runbooks["Promote-Db"] = Runbook(seconds=30)
    world.hooks.unavailable["StartAutomationExecution"] = 2

    final = world.run(drill(world))

    assert len(world.hooks.runs) == 1 and final.status is ExecutionStatus.COMPLETED


def test_a_failback_runs_the_hooks_in_the_origin_region(world: World) -> None:
    with_hooks(
        world,
        {
            "before": [{"automation": {"document": "Promote-Db"}}],
            "after": [{"lambda": {"function": "dns-flip"}}],
        },
    )
    world.hooks.runbooks["Promote-Db"] = Runbook(seconds=30)
    world.hooks.functions["dns-flip"] = lambda payload: {"region": payload["region"]}
    recovery = drill(world, ExecutionType.RECOVERY, key="trigger-recovery")
    world.use_cases().controlling.vote(recovery, Vote.APPROVE, BOSS)
    assert world.run(recovery).status is ExecutionStatus.COMPLETED
    world.hooks.calls.clear()

    failback = drill(world, ExecutionType.FAILBACK, key="trigger-failback")
    world.use_cases().controlling.vote(failback, Vote.APPROVE, BOSS)
    final = world.run(failback)

    assert final.status is ExecutionStatus.COMPLETED
    started = [(c.operation, c.region) for c in world.hooks.calls if c.operation != "GetAutomationExecution"]
    assert started == [("StartAutomationExecution", ORIGIN), ("Invoke", ORIGIN)]
    assert [r.status for r in final.waves[0].hooks] == [HookStatus.SUCCEEDED, HookStatus.SUCCEEDED]
