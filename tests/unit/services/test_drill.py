"""A drill from the request to every server's result, through the use cases and the fakes."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.execution import ExecutionStatus, ServerStatus
from bot.services.requesting import RequestResult
from tests.unit.services.conftest import CHANNEL, DB, WEB, World


def test_a_drill_runs_its_waves_in_order_to_each_servers_result(world: World) -> None:
    outcome = world.request()

    assert outcome.result is RequestResult.STARTED
    assert outcome.card_posted
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    assert world.trigger.started == [execution_id]

    final = world.run(execution_id)

    assert final.status is ExecutionStatus.COMPLETED
    jobs = world.drs.started()
    # One job per wave, the second started only once the first had launched its servers.
    assert [set(job.server_ids) for job in jobs] == [set(DB), set(WEB)]
    assert all(job.is_drill for job in jobs)
    assert jobs[1].created_at >= jobs[0].created_at + timedelta(seconds=world.drs.launch_seconds)
    launched = {server.source_server_id: server for server in final.servers()}
    assert set(launched) == {*DB, *WEB}
    for job in jobs:
        for sid in job.server_ids:
            assert launched[sid].status is ServerStatus.LAUNCHED
            assert launched[sid].recovery_job_id == job.job_id
            assert launched[sid].instance_id == job.instance_ids[sid]
    # Every status change reached the thread once, and nothing is left to deliver.
    assert not world.store.pending_events(execution_id)
    keys = [message.key for message in world.notifier.messages]
    assert len(keys) == len(set(keys))
    assert world.store.active_ids() == []
    jobs_named = [job.job_id for job in jobs]
    assert world.notifier.thread(CHANNEL) == [
        "Drill of plan-x: COMPLETED. Waves 2/2 · servers 5 launched, 0 failed, 0 to go · 18m 00s",
        ":rocket: Drill of plan-x started by <@U0OPS>: 2 waves, 5 servers.",
        f":arrow_forward: Wave 1/2 Databases started: 2 servers of db in us-east-1 — job {jobs_named[0]}",
        ":white_check_mark: Wave 1/2 Databases COMPLETED: 2/2 launched in 9m 00s (RTO)",
        f":arrow_forward: Wave 2/2 Web started: 3 servers of web in us-east-1 — job {jobs_named[1]}",
        ":white_check_mark: Wave 2/2 Web COMPLETED: 3/3 launched in 9m 00s (RTO)",
        ":white_check_mark: Drill of plan-x COMPLETED: 5/5 servers launched, 0 failed, in 18m 00s.",
        f":bar_chart: Timeline of drill {execution_id}: COMPLETED, 5/5 servers launched in 18m 00s.\n"
        "Verdict: PASSED WITH FINDINGS\n"
        "• the plan has no rto_target: the RTO is measured, not judged\n"
        "• the plan has no rpo_target: the data's age is not judged\n"
        "• the drill's instances are still running (0.3 instance-hours so far)",
    ]
    # The timeline went up once, as a picture of both waves, with that line as its comment.
    assert len(world.notifier.files) == 1
    [(picture, _)] = world.pictures.drawn
    assert [bar.name for bar in picture.waves] == ["Databases", "Web"]


def test_a_server_drs_fails_ends_the_drill_partial_with_drs_reason(world: World) -> None:
    world.drs.failing = {WEB[0]: "launch failed: the subnet has no free addresses"}
    outcome = world.request()
    assert outcome.execution is not None

    final = world.run(outcome.execution.execution_id)

    assert final.status is ExecutionStatus.PARTIAL
    failed = [server for server in final.servers() if server.status is ServerStatus.FAILED]
    assert [(server.source_server_id, server.error) for server in failed] == [
        (WEB[0], "launch failed: the subnet has no free addresses")
    ]
    assert any("the subnet has no free addresses" in text for text in world.notifier.thread(CHANNEL))


def test_a_repeated_request_starts_nothing_twice(world: World) -> None:
    first = world.request(key="trigger-same")
    again = world.request(key="trigger-same")

    assert first.result is RequestResult.STARTED
    assert again.result is RequestResult.ALREADY_STARTED
    assert first.execution is not None and again.execution is not None
    assert again.execution.execution_id == first.execution.execution_id
    world.run(first.execution.execution_id)
    assert len(world.store.active_ids()) == 0
    assert [len(job.server_ids) for job in world.drs.started()] == [2, 3]  # one job per wave, once


def test_a_busy_plan_is_refused_and_changes_nothing(world: World) -> None:
    first = world.request(key="trigger-a")
    busy = world.request(key="trigger-b")

    assert busy.result is RequestResult.PLAN_BUSY
    assert first.execution is not None and busy.busy_with is not None
    assert busy.busy_with.execution_id == first.execution.execution_id
    assert len(world.store.active_ids()) == 1


def test_drs_throttling_a_start_defers_it_to_a_later_tick(world: World) -> None:
    world.drs.unavailable["StartRecovery"] = 1
    outcome = world.request()
    assert outcome.execution is not None

    final = world.run(outcome.execution.execution_id)

    assert final.status is ExecutionStatus.COMPLETED
    calls = [op for op, _ in world.drs.calls if op == "StartRecovery"]
    assert len(calls) == 3  # the refused one, then one per wave
    assert len(world.drs.started()) == 2
