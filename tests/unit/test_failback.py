"""Failback's pure steps: planning from a recovery, reversal, sync with its deadline, re-protect."""

from __future__ import annotations

from datetime import timedelta

from bot.domain import engine, failback
from bot.domain.accounts import home
from bot.domain.events import (
    FailbackReprotected,
    FailbackReversed,
    FailbackReverseWaiting,
    FailbackSyncFinished,
    FailbackSyncProgress,
)
from bot.domain.execution import (
    ChunkStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    FailbackPhase,
    Limits,
    ServerStatus,
)
from tests.unit.builders import at, execution


def arn(sid: str, region: str = "us-west-2") -> str:
    return f"arn:aws:drs:{region}:123456789012:source-server/{sid}"


def recovery(*sizes: int) -> Execution:
    """A finished recovery: every server launched except the last one of the first wave."""
    rec = execution(*sizes, kind=ExecutionType.RECOVERY)
    waves = []
    for wave in rec.waves:
        chunks = []
        for chunk in wave.chunks:
            servers = tuple(
                s.model_copy(
                    update={"status": ServerStatus.LAUNCHED, "instance_id": f"i-{s.source_server_id[2:]}"}
                )
                for s in chunk.servers
            )
            chunks.append(chunk.model_copy(update={"servers": servers, "status": ChunkStatus.DONE}))
        waves.append(wave.model_copy(update={"chunks": tuple(chunks)}))
    first = waves[0]
    last = first.chunks[-1]
    failed = last.servers[-1].model_copy(update={"status": ServerStatus.FAILED, "instance_id": None})
    waves[0] = first.model_copy(
        update={
            "chunks": (*first.chunks[:-1], last.model_copy(update={"servers": (*last.servers[:-1], failed)}))
        }
    )
    return rec.model_copy(update={"waves": tuple(waves), "status": ExecutionStatus.PARTIAL})


def planned(*sizes: int) -> Execution:
    planned_ = failback.plan_failback(
        recovery(*sizes),
        execution_id="fb-1",
        initiated_by="U0OPS",
        channel_id="C1",
        now=at(0),
        servers_per_job=100,
        sync_timeout_seconds=3600,
    )
    assert planned_ is not None
    return planned_.model_copy(update={"status": ExecutionStatus.IN_PROGRESS, "start_time": at(0)})


def test_parse_source_server_arn() -> None:
    assert failback.parse_source_server_arn(arn("s-0123456789abcdef0")) == (
        "us-west-2",
        "s-0123456789abcdef0",
    )
    assert failback.parse_source_server_arn("arn:aws:drs:us-east-1:1:job/drsjob-1") is None


def test_plan_mirrors_the_recovery_with_the_servers_that_launched() -> None:
    fb = planned(3, 2)
    assert fb.execution_type is ExecutionType.FAILBACK
    assert [sum(1 for _ in w.servers()) for w in fb.waves] == [2, 2]
    assert fb.failback is not None and fb.failback.phase is FailbackPhase.REVERSING
    assert {s.recovery_instance_id for s in fb.failback.servers} == {
        s.instance_id for s in recovery(3, 2).servers() if s.instance_id
    }


def test_nothing_launched_nothing_to_fail_back() -> None:
    rec = execution(2, kind=ExecutionType.RECOVERY)
    made = failback.plan_failback(
        rec,
        execution_id="x",
        initiated_by="U",
        channel_id=None,
        now=at(0),
        servers_per_job=100,
        sync_timeout_seconds=60,
    )
    assert made is None


def test_the_engine_waits_while_reversing_and_syncing() -> None:
    fb = planned(2)
    decision = engine.advance(fb, engine.Observation(), at(1), Limits())
    assert decision.execution == fb and decision.starts == ()


def reversed_all(fb: Execution, refused: dict[str, str] | None = None) -> Execution:
    assert fb.failback is not None
    arns = {
        s.recovery_instance_id: arn(f"s-{n:017x}")
        for n, s in enumerate(fb.failback.servers)
        if s.recovery_instance_id not in (refused or {})
    }
    decision = failback.record_reversals(fb, arns, refused or {}, at(10), 100)
    assert any(isinstance(e, FailbackReversed) for e in decision.events)
    return decision.execution


def test_reversal_then_sync_then_launch_in_the_origin_region() -> None:
    fb = reversed_all(planned(2, 2))
    assert fb.failback is not None and fb.failback.phase is FailbackPhase.SYNCING
    assert fb.failback.sync_deadline == at(3610)
    ids = [s.reversed_source_server_id or "" for s in fb.failback.servers]
    progress = failback.record_sync(fb, dict.fromkeys(ids, "INITIAL_SYNC"), at(40), 100)
    (event,) = progress.events[:1]
    assert isinstance(event, FailbackSyncProgress) and event.states == {"INITIAL_SYNC": 3}
    again = failback.record_sync(progress.execution, dict.fromkeys(ids, "INITIAL_SYNC"), at(70), 100)
    assert again.events == ()  # nothing changed: nothing said
    done = failback.record_sync(again.execution, dict.fromkeys(ids, "CONTINUOUS"), at(100), 100)
    assert any(isinstance(e, FailbackSyncFinished) for e in done.events)
    launching = done.execution
    assert launching.failback is not None and launching.failback.phase is FailbackPhase.LAUNCHING
    assert {w.region for w in launching.waves} == {"us-west-2"}
    started = engine.advance(launching, engine.Observation(), at(100), Limits())
    assert len(started.starts) == 1  # the first wave only


def test_at_the_deadline_the_laggards_are_left_out() -> None:
    fb = reversed_all(planned(3))
    assert fb.failback is not None
    ids = [s.reversed_source_server_id or "" for s in fb.failback.servers]
    states = {ids[0]: "CONTINUOUS", ids[1]: "STALLED"}
    waiting = failback.record_sync(fb, states, at(600), 100).execution
    late = failback.record_sync(waiting, states, at(3610), 100)
    run = late.execution.failback
    assert run is not None and run.phase is FailbackPhase.LAUNCHING
    failed = [s for s in late.execution.servers() if s.status is ServerStatus.FAILED]
    assert [(s.source_server_id, s.error) for s in failed] == [
        (ids[1], "never reached CONTINUOUS within 1 h: STALLED")
    ]
    assert [s.source_server_id for s in late.execution.servers() if s.status is ServerStatus.PENDING] == [
        ids[0]
    ]


def test_a_refused_reversal_is_left_out_with_drss_text() -> None:
    fb = planned(2)
    assert fb.failback is not None
    instance = fb.failback.servers[0].recovery_instance_id
    out = reversed_all(fb, {instance: "ValidationException: drill instance"})
    assert out.failback is not None
    (gone,) = [s for s in out.failback.servers if s.failed]
    assert gone.error == "ReverseReplication refused: ValidationException: drill instance"
    # Every server refused: straight to launching, where the waves end FAILED.
    one = planned(2)  # one server launched in the recovery
    assert one.failback is not None
    all_refused = reversed_all(one, {s.recovery_instance_id: "no" for s in one.failback.servers})
    assert all_refused.failback is not None and all_refused.failback.phase is FailbackPhase.LAUNCHING
    finished = engine.advance(all_refused, engine.Observation(), at(20), Limits()).execution
    assert finished.status is ExecutionStatus.FAILED
    assert finished.failback is not None and finished.failback.phase is FailbackPhase.REPROTECTING
    assert failback.to_reprotect(finished) == []
    done = failback.record_reprotect(finished, {}, {}, at(30))
    assert done.execution.failback is not None and done.execution.failback.phase is FailbackPhase.DONE
    assert done.events == ()


def test_reprotect_records_each_answer() -> None:
    fb = reversed_all(planned(2))
    assert fb.failback is not None
    ids = [s.reversed_source_server_id or "" for s in fb.failback.servers]
    launching = failback.record_sync(fb, dict.fromkeys(ids, "CONTINUOUS"), at(60), 100).execution
    wave = launching.waves[0]
    chunk = wave.chunks[0]
    servers = tuple(
        s.model_copy(update={"status": ServerStatus.LAUNCHED, "instance_id": f"i-new{n}"})
        for n, s in enumerate(chunk.servers)
    )
    launched = launching.replace_wave(
        wave.model_copy(
            update={
                "chunks": (
                    chunk.model_copy(update={"servers": servers, "status": ChunkStatus.DONE, "job_id": "j"}),
                )
            }
        )
    )
    finished = engine.advance(launched, engine.Observation(), at(90), Limits()).execution
    assert finished.status is ExecutionStatus.COMPLETED and finished.needs_ticks()
    assert failback.to_reprotect(finished) == [(home("us-west-2"), "i-new0")]
    decision = failback.record_reprotect(finished, {}, {"i-new0": "ConflictException: not running"}, at(100))
    (event,) = decision.events
    assert isinstance(event, FailbackReprotected) and event.reprotected == 0
    assert event.failures[0].error == "i-new0: ReverseReplication refused: ConflictException: not running"
    assert not decision.execution.needs_ticks()


STALE = timedelta(seconds=120)


def test_one_claim_per_server_until_it_is_answered_or_goes_stale() -> None:
    fb = planned(2, 2)
    first = failback.claim_reversals(fb, at(0), STALE)
    assert first is not None and len(first.servers) == 3
    assert all(s.reverse_attempts == 1 for s in first.servers)
    assert failback.claim_reversals(first.execution, at(60), STALE) is None  # another tick holds them
    again = failback.claim_reversals(first.execution, at(120), STALE)  # that tick died
    assert again is not None and {s.reverse_attempts for s in again.servers} == {2}
    run = again.execution.failback
    assert run is not None and run.reverse_deadline == at(3600)  # from the first claim


def test_an_instance_not_ready_is_asked_again_until_the_deadline_then_left_out() -> None:
    fb = planned(2, 2)
    claim = failback.claim_reversals(fb, at(0), STALE)
    assert claim is not None and fb.failback is not None
    slow, *others = [s.recovery_instance_id for s in claim.servers]
    arns = {i: arn(f"s-{n:017x}") for n, i in enumerate(others)}
    text = "ConflictException: Recovery instance is not ready for reverse replication"
    waiting = failback.record_reversals(
        claim.execution, arns, {}, at(1), 100, not_ready={slow: text}, released=[slow, *others]
    )
    (event,) = waiting.events
    assert isinstance(event, FailbackReverseWaiting)
    assert (event.waiting, event.total, event.deadline) == (1, 3, at(3600))
    assert event.servers[0].source_server_id == slow and event.servers[0].error == text
    run = waiting.execution.failback
    assert run is not None and run.phase is FailbackPhase.REVERSING
    # Asked again: claimed alone, still not ready, and nothing more is said.
    retry = failback.claim_reversals(waiting.execution, at(31), STALE)
    assert retry is not None and [s.recovery_instance_id for s in retry.servers] == [slow]
    quiet = failback.record_reversals(retry.execution, {}, {}, at(32), 100, not_ready={slow: text})
    assert quiet.events == ()
    # At the deadline it is left out with DRS's own text; the others go on to sync.
    last = failback.claim_reversals(quiet.execution, at(3601), STALE)
    assert last is not None
    late = failback.record_reversals(last.execution, {}, {}, at(3602), 100, not_ready={slow: text})
    run = late.execution.failback
    assert run is not None and run.phase is FailbackPhase.SYNCING
    (gone,) = [s for s in run.servers if s.failed]
    assert gone.error == f"not ready to reverse replication within 1 h: {text}"
    reversed_event = next(e for e in late.events if isinstance(e, FailbackReversed))
    assert (reversed_event.reversed, reversed_event.total) == (2, 3)


def test_a_claimed_reprotect_is_not_claimed_twice_and_busy_is_retried() -> None:
    fb = reversed_all(planned(2))
    assert fb.failback is not None
    ids = [s.reversed_source_server_id or "" for s in fb.failback.servers]
    launching = failback.record_sync(fb, dict.fromkeys(ids, "CONTINUOUS"), at(60), 100).execution
    wave = launching.waves[0]
    chunk = wave.chunks[0]
    servers = tuple(
        s.model_copy(update={"status": ServerStatus.LAUNCHED, "instance_id": f"i-new{n}"})
        for n, s in enumerate(chunk.servers)
    )
    launched = launching.replace_wave(
        wave.model_copy(
            update={"chunks": (chunk.model_copy(update={"servers": servers, "status": ChunkStatus.DONE}),)}
        )
    )
    finished = engine.advance(launched, engine.Observation(), at(90), Limits()).execution
    claimed = failback.claim_reprotects(finished, at(100), STALE)
    assert claimed is not None and [c.instance_id for c in claimed[1]] == ["i-new0"]
    assert failback.claim_reprotects(claimed[0], at(130), STALE) is None
    busy = failback.record_reprotect(claimed[0], {}, {}, at(131), busy={"i-new0": "ConflictException: busy"})
    assert busy.events == () and failback.to_reprotect(busy.execution) == [(home("us-west-2"), "i-new0")]
    again = failback.claim_reprotects(busy.execution, at(160), STALE)
    assert again is not None and again[1][0].server.reprotect_attempts == 2
    done = failback.record_reprotect(again[0], {"i-new0": "arn"}, {}, at(161))
    (event,) = done.events
    assert isinstance(event, FailbackReprotected) and event.reprotected == 1


def test_the_origin_account_comes_from_the_reversed_servers_arn_and_an_unreachable_one_is_reported() -> None:
    def at(account: str) -> str:
        return f"arn:aws:drs:us-west-2:{account}:source-server/s-0123456789abcdef0"

    target, other, own = "111122223333", "444455556666", "999988887777"
    # A recovery in another account reverses into that account, or into one of the bot's targets.
    assert failback.origin_account(at(target), target, ()) == (target, None)
    assert failback.origin_account(at(other), target, (other,)) == (other, None)
    # A recovery in the bot's own account into an account that is no target: the bot's own.
    assert failback.origin_account(at(own), None, (target,)) == (None, None)
    # From another account into one the bot cannot reach: reported, not guessed.
    account, why = failback.origin_account(at(other), target, ())
    assert account is None and why == (
        f"ReverseReplication made {at(other)} in account {other}, which the bot has no role for: add it "
        "to the bot stack's TargetAccounts to fail back there"
    )
