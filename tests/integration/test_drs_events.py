"""DRS launch-result events, as the events function receives them in batches: one tick per execution.

Against the DRS emulator and DynamoDB on moto. The batch is what SQS hands the function after a wave's
launches: one event per server, so a job's id many times over, plus events for jobs that are not ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.adapters.drs import LaunchResult, launch_result_job, launch_result_place
from bot.domain.accounts import AccountRegion, home
from bot.domain.execution import ExecutionType
from bot.domain.plans import Catalog
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import World, build_world
from tests.unit.builders import server_ids

REGION = "us-east-1"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    catalog = Catalog.model_validate(
        {
            "protection_groups": [
                {"name": "big", "region": REGION, "source_servers": server_ids("b", 250)},
                {"name": "small", "region": REGION, "source_servers": server_ids("c", 3)},
            ],
            "plans": [
                {"name": "plan-x", "waves": [{"name": "All", "protection_group": "big"}]},
                {"name": "plan-y", "waves": [{"name": "All", "protection_group": "small"}]},
            ],
        }
    )
    built, server = build_world(dynamodb, tables, catalog, slack)
    yield built
    server.stop()


def launch_result(job_id: str, server_id: str, region: str = REGION) -> str:
    """An event as EventBridge puts it in the queue (the shape MGN documents; DRS sends the same)."""
    return json.dumps(
        {
            "version": "0",
            "id": f"event-{server_id}",
            "detail-type": "DRS Source Server Launch Result",
            "source": "aws.drs",
            "account": "123456789012",
            "time": "2026-11-29T08:00:00Z",
            "region": region,
            "resources": [f"arn:aws:drs:{region}:123456789012:source-server/{server_id}"],
            "detail": {"state": "RECOVERY_LAUNCH_SUCCEEDED", "job-id": job_id, "source-server-id": server_id},
        }
    )


def started(world: World, plan: str) -> tuple[str, list[str]]:
    use_cases = world.use_cases()
    outcome = use_cases.requesting.request(
        plan_name=plan,
        execution_type=ExecutionType.DRILL,
        user_id="U0OPS",
        channel_id=f"C0{plan.upper()}",
        request_key=plan,
    )
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    use_cases.ticking.tick(execution_id)
    execution = world.store().get(execution_id)
    assert execution is not None
    return execution_id, list(execution.waves[0].job_ids)


def describe_jobs_by_id(world: World) -> list[list[str]]:
    return [
        sorted(call.params["filters"]["jobIDs"])
        for call in world.emulator.calls
        if call.operation == "DescribeJobs" and "jobIDs" in (call.params.get("filters") or {})
    ]


def test_a_batch_ticks_each_execution_once_after_one_lookup_of_its_jobs(world: World) -> None:
    big, big_jobs = started(world, "plan-x")
    small, small_jobs = started(world, "plan-y")
    assert len(big_jobs) == 3  # 250 servers: 100 + 100 + 50
    world.clock.advance(600)  # every server has launched
    messages = [launch_result(job, f"s-{n:017x}") for n in range(250) for job in big_jobs[n % 3 : n % 3 + 1]]
    messages += [launch_result(small_jobs[0], f"s-c{n:016x}") for n in range(3)]
    messages += [launch_result("drsjob-0000000000000abcd", "s-0000000000000beef")]  # not ours
    before = len(describe_jobs_by_id(world))

    jobs = [job for message in messages if (job := launch_result_job(message))]
    assert {job.account for job in jobs} == {"123456789012"}
    outcome = world.use_cases().ticking.on_launch_results([(home(job.region), job.job_id) for job in jobs])

    assert sorted(result.execution_id for result in outcome.ticked) == sorted([big, small])
    assert outcome.failed == {}
    # 254 events, 3 DescribeJobs: one for the tags of every job named, one follow-up per tick.
    lookups = describe_jobs_by_id(world)[before:]
    assert lookups[0] == sorted([*big_jobs, *small_jobs, "drsjob-0000000000000abcd"])
    assert sorted(lookups[1:]) == sorted([sorted(big_jobs), sorted(small_jobs)])
    # The ticks saw the launches: both waves are done.
    for execution_id in (big, small):
        execution = world.store().get(execution_id)
        assert execution is not None and execution.status.is_terminal


def test_events_for_no_job_of_ours_tick_nothing(world: World) -> None:
    outcome = world.use_cases().ticking.on_launch_results([(home(REGION), "drsjob-0000000000000abcd")])
    assert outcome.ticked == [] and outcome.failed == {}


def test_one_executions_failed_tick_does_not_hold_back_the_others(world: World) -> None:
    big, big_jobs = started(world, "plan-x")
    small, small_jobs = started(world, "plan-y")
    world.clock.advance(600)
    store = world.store()

    class FailingFor:
        """The executions table, refusing every read of one execution (as if throttled)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def get(self, execution_id: str, *args: Any, **kwargs: Any) -> Any:
            if execution_id == big:
                raise TimeoutError("ProvisionedThroughputExceededException: the table is throttled")
            return store.get(execution_id, *args, **kwargs)

    outcome = world.use_cases(store=FailingFor()).ticking.on_launch_results(
        [(home(REGION), big_jobs[0]), (home(REGION), small_jobs[0])]
    )
    assert [result.execution_id for result in outcome.ticked] == [small]
    assert list(outcome.failed) == [big] and "ProvisionedThroughputExceeded" in outcome.failed[big]


def test_a_throttled_tag_lookup_ticks_nothing_there_raises_nothing_and_leaves_it_to_the_loop(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    big, big_jobs = started(world, "plan-x")
    world.clock.advance(600)
    # Every DescribeJobs is throttled, botocore's retries included.
    world.emulator.inject_fault("DescribeJobs", "ThrottlingException")
    try:
        outcome = world.use_cases().ticking.on_launch_results(
            [(home(REGION), big_jobs[0]), (home(REGION), big_jobs[1])]
        )
    finally:
        world.emulator.clear_faults()
    assert outcome.ticked == [] and outcome.failed == {}
    assert list(outcome.unresolved) == [REGION] and "Throttl" in outcome.unresolved[REGION]
    (line,) = [r for r in caplog.records if "did not give the tags" in r.getMessage()]
    assert "next poll will see these launches" in line.getMessage()
    # The loop's poll does what the early tick could not.
    world.use_cases().ticking.tick(big)
    execution = world.store().get(big)
    assert execution is not None and execution.status.is_terminal


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        json.dumps(["a list"]),
        json.dumps({"detail-type": "DRS PIT Snapshot Taken", "region": REGION, "detail": {"job-id": "j"}}),
        json.dumps({"detail-type": "DRS Source Server Launch Result", "region": REGION, "detail": {}}),
        json.dumps({"detail-type": "DRS Source Server Launch Result", "detail": {"job-id": "drsjob-1"}}),
        json.dumps({"detail-type": "DRS Source Server Launch Result", "region": REGION, "detail": "x"}),
    ],
)
def test_anything_but_a_launch_result_with_a_job_and_a_region_is_ignored(message: str) -> None:
    assert launch_result_job(message) is None


def test_the_job_id_is_read_as_events_and_the_api_spell_it() -> None:
    assert launch_result_job(launch_result("drsjob-1", "s-1")) == ("123456789012", REGION, "drsjob-1")
    api_spelling = json.loads(launch_result("drsjob-2", "s-2"))
    api_spelling["detail"] = {"jobID": "drsjob-2"}
    assert launch_result_job(json.dumps(api_spelling)) == ("123456789012", REGION, "drsjob-2")


TARGET = "111122223333"


def _from(account: str | None) -> LaunchResult:
    event = json.loads(launch_result("drsjob-1", "s-1"))
    if account is None:
        del event["account"]
    else:
        event["account"] = account
    result = launch_result_job(json.dumps(event))
    assert result is not None
    return result


@pytest.mark.parametrize(
    ("account", "own", "where"),
    [
        (TARGET, "123456789012", AccountRegion(TARGET, REGION)),  # a target account: asked there
        ("123456789012", "123456789012", home(REGION)),  # the bot's own account
        (None, "123456789012", home(REGION)),  # an event naming no account
        ("999999999999", None, home(REGION)),  # own id unknown: asked with the own credentials only
        ("999999999999", "123456789012", None),  # no role there: ignored, never assumed
    ],
)
def test_an_event_is_asked_about_in_its_account_when_the_bot_has_a_role_there(
    account: str | None, own: str | None, where: AccountRegion | None
) -> None:
    assert launch_result_place(_from(account), (TARGET,), own) == where
