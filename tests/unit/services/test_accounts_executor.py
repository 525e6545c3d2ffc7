"""Waves in several accounts (#18), over the fakes: each wave plans with its own account's quotas and
DRS's load there; an account whose role cannot be assumed holds back only its own wave, which ends FAILED
with the reason after `Limits.unreachable_retries` tries, and nothing launches twice."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from bot.domain.accounts import AccountRegion, home
from bot.domain.execution import Limits, ServerStatus, WaveStatus
from bot.domain.plans import Catalog
from tests.fakes.store import InMemoryCatalogStore
from tests.unit.services.conftest import DB, REGION, WEB, World

TARGET = "111122223333"
THERE = f"{TARGET}/{REGION}"  # how FakeDrs names the target account's region
DENIED = (
    "User: arn:aws:sts::123456789012:assumed-role/drs-chatops is not authorized to perform: sts:AssumeRole"
)
APP = [f"s-{n:017x}" for n in range(0x20, 0x26)]  # six servers in the target account


def two_accounts(world: World, app: dict[str, Any] | None = None, web: dict[str, Any] | None = None) -> None:
    """plan-x: Databases (own account), App (the target account), Web (own account)."""
    world.catalog = InMemoryCatalogStore(
        Catalog.model_validate(
            {
                "protection_groups": [
                    {"name": "db", "region": REGION, "source_servers": DB},
                    {"name": "app", "region": REGION, "account": TARGET, "source_servers": APP},
                    {"name": "web", "region": REGION, "source_servers": WEB},
                ],
                "plans": [
                    {
                        "name": "plan-x",
                        "waves": [
                            {"name": "Databases", "protection_group": "db"},
                            {"name": "App", "protection_group": "app", **(app or {})},
                            {"name": "Web", "protection_group": "web", **(web or {})},
                        ],
                    }
                ],
            }
        )
    )
    world.drs.add_servers(THERE, APP)


def starts(world: World) -> list[tuple[str, tuple[str, ...]]]:
    return [(job.region, job.server_ids) for job in world.drs.started()]


def test_each_wave_is_laid_out_and_started_with_its_own_accounts_quotas() -> None:
    world = World(
        limits=Limits(
            servers_per_job=1,
            concurrent_jobs=1,
            accounts={TARGET: {"servers_per_job": 2, "concurrent_jobs": 3}},
        )
    )
    two_accounts(world)
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    app = outcome.execution.waves[1]
    assert [len(chunk.servers) for chunk in app.chunks] == [2, 2, 2]  # the target account's job size
    assert [len(chunk.servers) for chunk in outcome.execution.waves[0].chunks] == [1, 1]

    ticking = world.use_cases().ticking
    running: list[int] = []
    for _ in range(200):
        result = ticking.tick(execution_id)
        running.append(sum(1 for job in world.drs.started() if job.region == THERE))
        if result.finished:
            break
        world.clock.advance(result.wait_seconds)
    execution = world.stored(execution_id)

    assert execution.status.value == "COMPLETED"
    # The target account's three jobs started at once (its concurrent_jobs); own-account jobs one by one.
    there = [ids for region, ids in starts(world) if region == THERE]
    assert sorted(there) == sorted([tuple(APP[0:2]), tuple(APP[2:4]), tuple(APP[4:6])])
    assert 3 in running and 1 not in running and 2 not in running
    own = [job for job in world.drs.started() if job.region == REGION]
    assert len(own) == len(DB) + len(WEB)
    launch = timedelta(seconds=world.drs.launch_seconds)
    for earlier, later in itertools.pairwise(own):  # own account: one job at a time
        assert later.created_at >= earlier.created_at + launch


def test_a_full_quota_in_the_own_account_does_not_hold_back_a_wave_in_another() -> None:
    world = World(limits=Limits(concurrent_jobs=1))
    two_accounts(world)
    world.drs.add_servers(REGION, ["s-0000000000000f00d"])
    # Someone else's job fills the bot's own account's one job at a time in this region.
    world.drs.start_recovery(home(REGION), ["s-0000000000000f00d"], is_drill=True, tags={})
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    ticking = world.use_cases().ticking

    ticking.tick(execution_id)
    assert starts(world) == [(REGION, ("s-0000000000000f00d",))]  # Databases waits for the quota
    world.drs.jobs.clear()  # (the other job is over: it is not counted any more)
    execution = world.run(execution_id)

    assert execution.status.value == "COMPLETED"
    there = [job for job in world.drs.started() if job.region == THERE]
    assert [job.server_ids for job in there] == [tuple(APP)]


def test_a_full_quota_in_a_target_account_holds_back_only_its_wave() -> None:
    world = World(limits=Limits(accounts={TARGET: {"concurrent_jobs": 1}}))
    two_accounts(world)
    world.drs.add_servers(THERE, ["s-0000000000000f00d"])
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    ticking = world.use_cases().ticking
    ticking.tick(execution_id)  # Databases starts in the own account
    assert [region for region, _ in starts(world)] == [REGION]
    # Before Databases ends, someone else's job takes the target account's one job at a time.
    world.clock.advance(world.drs.launch_seconds - 1)
    world.drs.start_recovery(AccountRegion(TARGET, REGION), ["s-0000000000000f00d"], is_drill=True, tags={})
    for _ in range(3):
        world.clock.advance(30)
        ticking.tick(execution_id)
    execution = world.stored(execution_id)
    assert [w.status for w in execution.waves] == [
        WaveStatus.COMPLETED,
        WaveStatus.IN_PROGRESS,
        WaveStatus.PENDING,
    ]
    assert [job.server_ids for job in world.drs.started() if job.region == THERE] == [
        ("s-0000000000000f00d",)
    ]

    execution = world.run(execution_id)  # the other job ends: App starts, then Web
    assert execution.status.value == "COMPLETED"
    assert [job.server_ids for job in world.drs.started() if job.region == THERE][1:] == [tuple(APP)]


def test_an_unreachable_account_fails_its_wave_with_the_reason_and_continue_goes_on() -> None:
    world = World()
    two_accounts(world, app={"on_failure": "continue"})
    outcome = world.request()
    assert outcome.execution is not None
    world.drs.unreachable[TARGET] = DENIED  # the role is refused once the execution runs

    execution = world.run(outcome.execution.execution_id)

    db, app, web = execution.waves
    assert (db.status, app.status, web.status) == (
        WaveStatus.COMPLETED,
        WaveStatus.FAILED,
        WaveStatus.COMPLETED,
    )
    assert execution.status.value == "PARTIAL"
    for server in app.servers():
        assert server.status is ServerStatus.FAILED
        assert server.error is not None
        assert server.error.startswith("not launched: AccessDenied: cannot assume ")
        assert f"arn:aws:iam::{TARGET}:role/drs-chatops-target in account {TARGET}" in server.error
        assert DENIED in server.error
        assert f"still after {Limits().unreachable_retries} tries" in server.error
    assert not [job for job in world.drs.started() if job.region == THERE]  # nothing called there


def test_an_unreachable_account_with_on_failure_stop_skips_the_rest() -> None:
    world = World()
    two_accounts(world, app={"on_failure": "stop"})
    outcome = world.request()
    assert outcome.execution is not None
    world.drs.unreachable[TARGET] = DENIED  # the role is refused once the execution runs

    execution = world.run(outcome.execution.execution_id)

    assert [w.status for w in execution.waves] == [
        WaveStatus.COMPLETED,
        WaveStatus.FAILED,
        WaveStatus.SKIPPED,
    ]
    assert execution.status.value == "FAILED"
    assert [job.region for job in world.drs.started()] == [REGION]  # Databases only


def test_an_account_reachable_again_within_the_tries_launches_each_server_once() -> None:
    world = World()
    two_accounts(world, app={"on_failure": "stop"})
    outcome = world.request()
    assert outcome.execution is not None
    world.drs.unreachable[TARGET] = DENIED  # the role is refused once the execution runs
    execution_id = outcome.execution.execution_id
    ticking = world.use_cases().ticking
    for _ in range(200):  # until App has tried to start a few times
        result = ticking.tick(execution_id)
        app = world.stored(execution_id).waves[1]
        if app.chunks[0].unreachable >= Limits().unreachable_retries - 2:
            break
        world.clock.advance(result.wait_seconds)
    del world.drs.unreachable[TARGET]  # the role's trust policy is fixed

    execution = world.run(execution_id)

    assert execution.status.value == "COMPLETED"
    launched = [sid for job in world.drs.started() for sid in job.server_ids]
    assert sorted(launched) == sorted([*DB, *APP, *WEB])  # each once


def test_an_earlier_try_that_may_have_started_a_job_is_reported_as_outcome_unknown() -> None:
    world = World()
    two_accounts(world, app={"on_failure": "continue"})
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    ticking = world.use_cases().ticking
    result = ticking.tick(execution_id)  # Databases starts
    world.drs.unavailable["StartRecovery"] = 1  # the next one, App's, goes unanswered
    while world.stored(execution_id).waves[1].chunks[0].attempts == 0:
        world.clock.advance(result.wait_seconds)
        result = ticking.tick(execution_id)
    app = world.stored(execution_id).waves[1].chunks[0]
    assert (app.status.value, app.attempts) == ("PLANNED", 1)  # back in the queue: it may have started
    world.drs.unreachable[TARGET] = DENIED

    execution = world.run(execution_id)

    assert execution.waves[1].status is WaveStatus.FAILED
    errors = {server.error for server in execution.waves[1].servers()}
    assert len(errors) == 1
    (error,) = errors
    assert error is not None and error.startswith("outcome unknown: AccessDenied: cannot assume ")
    assert "an earlier try may have started a job, which could not be looked for" in error


def test_jobs_that_started_before_their_account_became_unreachable_time_out_as_outcome_unknown() -> None:
    world = World()
    two_accounts(world, app={"on_failure": "continue", "timeout": "30m"})
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    ticking = world.use_cases().ticking
    result = ticking.tick(execution_id)
    while not world.stored(execution_id).waves[1].job_ids:  # App's job starts in the target account
        world.clock.advance(result.wait_seconds)
        result = ticking.tick(execution_id)
    world.drs.unreachable[TARGET] = DENIED  # then its role is refused: its job cannot be followed

    execution = world.run(execution_id)

    app = execution.waves[1]
    assert app.status is WaveStatus.FAILED and execution.waves[2].status is WaveStatus.COMPLETED
    for server in app.servers():
        assert server.error is not None
        assert server.error.startswith("outcome unknown: timed out 30 min after the wave started")
        assert f"in account {TARGET}" in server.error


def test_a_place_whose_quota_load_is_throttled_starts_nothing_until_drs_answers() -> None:
    world = World()
    two_accounts(world)
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    ticking = world.use_cases().ticking
    world.drs.load_unavailable.add(THERE)  # DRS in the target account cannot say its jobs at once
    result = ticking.tick(execution_id)
    while world.stored(execution_id).waves[0].status is not WaveStatus.COMPLETED:
        world.clock.advance(result.wait_seconds)
        result = ticking.tick(execution_id)  # the own account's wave goes on meanwhile

    app = world.stored(execution_id).waves[1]
    assert app.status is WaveStatus.IN_PROGRESS and app.chunks[0].status.value == "PLANNED"
    assert app.chunks[0].attempts == 0  # not even claimed: the quota there is not known
    assert not [job for job in world.drs.started() if job.region == THERE]
    world.drs.load_unavailable.clear()

    execution = world.run(execution_id)

    assert execution.status.value == "COMPLETED"
    assert [job.server_ids for job in world.drs.started() if job.region == THERE] == [tuple(APP)]
