"""A failback undoes the plan's latest recovery: asked for, approved, reversed, launched back."""

from __future__ import annotations

from bot.domain.accounts import AccountRegion
from bot.domain.approval import Vote, VoteResult
from bot.domain.execution import ExecutionStatus, ExecutionType, FailbackPhase, ServerStatus
from bot.services.requesting import RequestResult
from tests.fakes.store import InMemoryCatalogStore
from tests.unit.services.conftest import BOSS, ORIGIN, REGION, WEB, World, plans


def _recovered(world: World) -> str:
    outcome = world.request(ExecutionType.RECOVERY, key="trigger-recovery")
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)
    assert world.run(execution_id).status is ExecutionStatus.COMPLETED
    return execution_id


def test_a_failback_without_a_recovery_is_refused_and_creates_nothing(world: World) -> None:
    refused = world.request(ExecutionType.FAILBACK)

    assert refused.result is RequestResult.NO_RECOVERY
    assert world.store.active_ids() == []


def test_a_failback_reverses_the_recovery_instances_and_launches_them_back(world: World) -> None:
    recovery_id = _recovered(world)
    recovered = {s.instance_id for s in world.stored(recovery_id).servers()}

    outcome = world.request(ExecutionType.FAILBACK, key="trigger-failback")
    assert outcome.result is RequestResult.APPROVAL_REQUESTED
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    assert [w.name for w in outcome.execution.waves] == ["Databases", "Web"]
    approved = world.use_cases().controlling.vote(execution_id, Vote.APPROVE, BOSS)
    assert approved.outcome.result is VoteResult.APPROVED

    final = world.run(execution_id)

    assert final.status is ExecutionStatus.COMPLETED
    assert final.failback is not None and final.failback.phase is FailbackPhase.DONE
    calls = [(op, region) for op, region in world.drs.calls if op in ("StartRecovery", "ReverseReplication")]
    after_recovery = calls[2:]  # the recovery's own two launches first
    # Each recovery instance replicates back once, the waves launch in the origin region in order,
    # then each instance launched there is re-protected once.
    assert after_recovery == [
        *[("ReverseReplication", REGION)] * len(recovered),
        ("StartRecovery", ORIGIN),
        ("StartRecovery", ORIGIN),
        *[("ReverseReplication", ORIGIN)] * len(recovered),
    ]
    assert [wave.region for wave in final.waves] == [ORIGIN, ORIGIN]
    assert {s.status for s in final.servers()} == {ServerStatus.LAUNCHED}
    assert all(not job.is_drill for job in world.drs.started())


TARGET = "222233334444"  # not the fake's own account (tests/fakes/drs.py ACCOUNT)


def test_a_failback_of_a_wave_in_another_account_reverses_syncs_and_launches_in_that_account() -> None:
    world = World(target_accounts=(TARGET,))
    catalog = plans()
    web = catalog.group("web").model_copy(update={"account": TARGET})
    catalog = catalog.model_copy(
        update={"protection_groups": [web if g.name == "web" else g for g in catalog.protection_groups]}
    )
    world.catalog = InMemoryCatalogStore(catalog)
    world.drs.add_servers(f"{TARGET}/{REGION}", WEB)  # the web tier replicates into the other account
    recovery_id = _recovered(world)
    recovered = world.stored(recovery_id)
    assert [w.where for w in recovered.waves] == [AccountRegion(None, REGION), AccountRegion(TARGET, REGION)]

    outcome = world.request(ExecutionType.FAILBACK, key="trigger-failback")
    assert outcome.execution is not None
    world.use_cases().controlling.vote(outcome.execution.execution_id, Vote.APPROVE, BOSS)
    final = world.run(outcome.execution.execution_id)

    assert final.status is ExecutionStatus.COMPLETED
    assert [w.where for w in final.waves] == [AccountRegion(None, ORIGIN), AccountRegion(TARGET, ORIGIN)]
    calls = [(op, where) for op, where in world.drs.calls if op in ("StartRecovery", "ReverseReplication")]
    other = f"{TARGET}/"
    # Every call about the web tier's instances and reversed servers went to its account, none home.
    assert calls[2:] == [
        *[("ReverseReplication", REGION)] * 2,
        *[("ReverseReplication", other + REGION)] * len(WEB),
        ("StartRecovery", ORIGIN),
        ("StartRecovery", other + ORIGIN),
        *[("ReverseReplication", ORIGIN)] * 2,
        *[("ReverseReplication", other + ORIGIN)] * len(WEB),
    ]
    assert ("DescribeSourceServers", other + ORIGIN) in world.drs.calls  # the sync read there
    assert final.failback is not None
    assert {s.origin_account for s in final.failback.servers if s.source_server_id in WEB} == {TARGET}
