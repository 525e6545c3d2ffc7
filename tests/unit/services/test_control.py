"""Cancel and drill cleanup: who may, what DRS is asked, and that a repeat changes nothing."""

from __future__ import annotations

from bot.domain.cleanup import CleanupRefusal
from bot.domain.execution import CleanupStatus, ExecutionStatus, ExecutionType
from bot.services.controlling import CancelResult
from tests.unit.services.conftest import BOSS, CHANNEL, DB, OPS, World


def test_a_cancelled_drill_follows_its_running_wave_and_starts_no_other(world: World) -> None:
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    world.use_cases().ticking.tick(execution_id)  # wave 1 launching

    refused = world.use_cases().controlling.cancel(execution_id, "U0PASSERBY")
    cancel = world.use_cases().controlling.cancel(execution_id, OPS)
    again = world.use_cases().controlling.cancel(execution_id, OPS)

    # A drill may be cancelled by anyone who may run drills (the default policy: everyone).
    assert refused.result is CancelResult.CANCELLING
    assert cancel.result is CancelResult.ALREADY_CANCELLING
    assert again.result is CancelResult.ALREADY_CANCELLING
    final = world.run(execution_id)
    assert final.status is ExecutionStatus.CANCELLED
    assert [set(job.server_ids) for job in world.drs.started()] == [set(DB)]
    ended = world.use_cases().controlling.cancel(execution_id, OPS)
    assert ended.result is CancelResult.ALREADY_ENDED


def test_only_the_requester_or_an_approver_cancels_a_recovery(world: World) -> None:
    outcome = world.request(ExecutionType.RECOVERY)
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id

    refused = world.use_cases().controlling.cancel(execution_id, "U0PASSERBY")
    assert refused.result is CancelResult.NOT_ALLOWED
    assert world.stored(execution_id).status is ExecutionStatus.PENDING_APPROVAL

    withdrawn = world.use_cases().controlling.cancel(execution_id, BOSS)
    assert withdrawn.result is CancelResult.CANCELLING
    assert world.run(execution_id).status is ExecutionStatus.CANCELLED
    assert world.use_cases().controlling.cancel("nope", OPS).result is CancelResult.NOT_FOUND


def test_cleanup_terminates_exactly_the_drills_instances_once(world: World) -> None:
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    early = world.use_cases().controlling.cleanup(execution_id, OPS)
    assert early.refusal is CleanupRefusal.STILL_RUNNING
    drill = world.run(execution_id)
    launched = {server.instance_id for server in drill.servers()}

    cleanup = world.use_cases().controlling.cleanup(execution_id, OPS)
    assert cleanup.refusal is None
    # The drill's loop ended with it, and a closed loop's name is not reused: the cleanup gets its own.
    assert world.trigger.started[-1] == f"{execution_id}-cleanup-1"
    final = world.run(execution_id)
    again = world.use_cases().controlling.cleanup(execution_id, OPS)
    assert world.trigger.started[-1] == f"{execution_id}-cleanup-2"

    terminated = {i.recovery_instance_id for i in world.drs.instances.values() if i.ec2_state == "TERMINATED"}
    assert terminated == launched
    assert [op for op, _ in world.drs.calls].count("TerminateRecoveryInstances") == 1
    assert final.cleanup is not None and final.cleanup.status is CleanupStatus.DONE
    # A second cleanup finds every instance gone and says so; DRS is asked to terminate nothing more.
    assert again.refusal is None
    world.run(execution_id)
    assert [op for op, _ in world.drs.calls].count("TerminateRecoveryInstances") == 1
    assert world.notifier.thread(CHANNEL)[-1] == (
        ":white_check_mark: Cleanup done: 0 drill instance(s) terminated, 5 were already gone."
    )


def test_a_recovery_is_never_cleaned_up(world: World) -> None:
    outcome = world.request(ExecutionType.RECOVERY)
    assert outcome.execution is not None
    refused = world.use_cases().controlling.cleanup(outcome.execution.execution_id, OPS)
    assert refused.refusal is CleanupRefusal.NOT_A_DRILL
