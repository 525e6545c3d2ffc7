"""Snapshot ages at scale: read a bounded number per executor tick, after its launches, and resumed
where they stopped when DRS throttles past botocore's retries (DRS emulator, DynamoDB on moto)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.execution import ExecutionStatus, ExecutionType
from bot.domain.plans import Catalog
from bot.services import requesting as requesting_module
from bot.services.readiness import SNAPSHOT_AGES_PER_TICK, SNAPSHOT_LOOKUPS_AT_ONCE
from bot.services.requesting import RequestResult
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import CHANNEL, START, World, build_world
from tests.unit.builders import server_ids

WAVES = (600, 600)


def rpo_catalog() -> Catalog:
    groups = [
        {"name": f"group-{i}", "region": "us-east-1", "source_servers": server_ids(f"{i:x}", size)}
        for i, size in enumerate(WAVES)
    ]
    waves = [{"name": f"Wave {i + 1}", "protection_group": f"group-{i}"} for i in range(len(WAVES))]
    plan = {"name": "plan-x", "rpo_target": "15m", "waves": waves}
    return Catalog.model_validate({"protection_groups": groups, "plans": [plan]})


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, rpo_catalog(), slack)
    yield built
    server.stop()


def test_ages_are_read_after_the_launches_a_bounded_batch_per_tick_and_resume_after_throttling(
    world: World,
) -> None:
    use_cases = world.use_cases(drs=world.drs(max_attempts=1))
    outcome = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.DRILL,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="ages",
    )
    assert outcome.result is RequestResult.STARTED and outcome.execution is not None
    execution_id = outcome.execution.execution_id
    request_calls = Counter(call.operation for call in world.emulator.calls)
    assert request_calls["DescribeRecoverySnapshots"] == 0  # the request looked up none
    assert request_calls["DescribeSourceServers"] == sum(WAVES) // 200  # 200 ids per call

    # DRS throttles every snapshot lookup, and botocore's one retry (max_attempts=1), for one tick.
    world.emulator.inject_fault("DescribeRecoverySnapshots", "ThrottlingException")
    before = len(world.emulator.calls)
    use_cases.ticking.tick(execution_id)
    first_tick = world.emulator.calls[before:]
    operations = [call.operation for call in first_tick]
    assert operations.count("StartRecovery") == 5  # wave 1 launched: 600 servers, 100 per job
    assert operations.index("DescribeRecoverySnapshots") > max(
        i for i, op in enumerate(operations) if op == "StartRecovery"
    )
    # The calls under way when DRS first refused, each tried twice; no new one after that.
    assert operations.count("DescribeRecoverySnapshots") <= 2 * SNAPSHOT_LOOKUPS_AT_ONCE
    world.emulator.clear_faults()
    stored = world.store().get(execution_id)
    assert stored is not None and stored.readiness is not None
    ages = stored.readiness.snapshot_ages
    assert ages is not None and not ages.done and ages.checked == 0
    assert ages.unavailable is not None and "ThrottlingException" in ages.unavailable
    assert "DRS did not answer (ThrottlingException" in " ".join(stored.readiness.all_lines())

    # Each later tick reads at most SNAPSHOT_AGES_PER_TICK servers until all are known.
    per_tick = []
    for _ in range(10):
        world.clock.advance(30)
        before = len(world.emulator.calls)
        use_cases.ticking.tick(execution_id)
        per_tick.append(
            sum(1 for c in world.emulator.calls[before:] if c.operation == "DescribeRecoverySnapshots")
        )
        stored = world.store().get(execution_id)
        assert (
            stored is not None and stored.readiness is not None and stored.readiness.snapshot_ages is not None
        )
        ages = stored.readiness.snapshot_ages
        if ages.done:
            break
    assert max(per_tick) <= SNAPSHOT_AGES_PER_TICK
    assert ages.done and ages.checked == sum(WAVES) and ages.unavailable is None
    assert ages.findings == ()  # every server replicates: its newest snapshot is minutes old
    looked_up = Counter(
        c.params["sourceServerID"]
        for c in world.emulator.calls
        if c.operation == "DescribeRecoverySnapshots" and c.error is None
    )
    assert set(looked_up) == {server.source_server_id for server in stored.servers()}
    assert sum(looked_up.values()) == sum(WAVES)  # each answered once

    final = world.run(use_cases, execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    done = f"recovery snapshot ages: all {sum(WAVES):,} servers have one newer than 15 min"
    assert final.readiness is not None and final.readiness.all_lines()[-1] == done
    # The verdict before launching was WARN (quotas) and said the ages were to come: the thread is told.
    thread = [m["text"] for m in world.slack.messages(CHANNEL)]
    assert any("0 of 1,200 servers checked so far" in text for text in thread)
    assert any(done in text for text in thread)


def test_with_at_the_chosen_snapshots_age_is_judged_before_launching_and_no_lookup_is_repeated(
    world: World,
) -> None:
    at = START - timedelta(minutes=40)
    use_cases = world.use_cases()
    outcome = use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.DRILL,
        user_id="U0OPS",
        channel_id=CHANNEL,
        request_key="ages-at",
        at=at,
    )
    assert outcome.result is RequestResult.STARTED and outcome.execution is not None
    lookups = Counter(
        c.params["sourceServerID"] for c in world.emulator.calls if c.operation == "DescribeRecoverySnapshots"
    )
    assert len(lookups) == sum(WAVES) and set(lookups.values()) == {1}  # one per server, before launching
    note = outcome.execution.readiness
    assert note is not None and note.snapshot_ages is None  # nothing left to read after the launch
    assert note.level == "WARN"
    (line,) = [line for line in note.lines if "--at" in line]
    assert line.startswith(
        "WARN: the recovery snapshot chosen for --at is older than the plan's rpo_target of 15 min "
        f"— {sum(WAVES)} server(s): "
    )
    thread = "\n".join(m["text"] for m in world.slack.messages(CHANNEL))
    assert "the recovery snapshot chosen for --at is older than the plan's rpo_target of 15 min" in thread


def test_check_answers_with_the_ages_it_could_read_in_the_time_an_answer_may_take(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_cases = world.use_cases()
    report = use_cases.requesting.check("plan-x")
    assert report is not None and report.snapshot_ages is not None
    full = use_cases.requesting.check_snapshot_ages(report)
    assert full is not None and full.done and full.checked == sum(WAVES)
    monkeypatch.setattr(requesting_module, "CHECK_AGES_SECONDS", 0.0)  # a Slack function out of time
    cut = use_cases.requesting.check_snapshot_ages(report)
    assert cut is not None and not cut.done
    assert cut.lines()[-1] == (
        f"recovery snapshot ages (rpo_target 15 min): {cut.checked:,} of {sum(WAVES):,} servers checked so far; "
        "the rest could not be read within the 0 s an answer may take"
    )
