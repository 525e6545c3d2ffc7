"""The execution history in DynamoDB: round trips, optimistic locking, the outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.adapters.dynamodb import DynamoCatalogStore, DynamoExecutionStore
from bot.domain import engine, retry
from bot.domain.execution import ChunkRef, ExecutionStatus, Limits
from bot.errors import ExecutionExists, PlanBusy, StaleExecution
from tests.unit.builders import T0, at, catalog, execution, job, observe


@pytest.fixture
def store(dynamodb: Any, tables: dict[str, str]) -> DynamoExecutionStore:
    return DynamoExecutionStore(dynamodb, tables["ExecutionsTable"])


def test_an_execution_reads_back_exactly_as_written(store: DynamoExecutionStore) -> None:
    started = engine.start_execution(execution(150, 3, servers_per_job=100), T0)
    created = store.create(started.execution, started.events)
    assert created.version == 1
    assert store.get(created.execution_id) == created
    assert [e.event.seq for e in store.pending_events(created.execution_id)] == [1]


def test_creating_the_same_execution_twice_is_refused(store: DynamoExecutionStore) -> None:
    ex = execution(2)
    store.create(ex, [])
    with pytest.raises(ExecutionExists):
        store.create(ex, [])


def test_a_save_based_on_an_old_read_is_refused_and_writes_nothing(store: DynamoExecutionStore) -> None:
    created = store.create(execution(2), [])
    first = engine.advance(created, observe(), at(1), Limits())
    saved = store.save(first.execution, created, first.events)
    assert saved.version == 2
    stale = engine.advance(created, observe(), at(2), Limits())
    with pytest.raises(StaleExecution):
        store.save(stale.execution, created, stale.events)
    assert store.get(created.execution_id) == saved


def test_only_changed_chunks_are_written_and_all_are_read(store: DynamoExecutionStore, dynamodb: Any) -> None:
    created = store.create(execution(250, servers_per_job=100), [])
    decision = engine.advance(created, observe(), at(1), Limits(concurrent_jobs=1))
    saved = store.save(decision.execution, created, decision.events)
    recorded = engine.record_jobs_started(saved, [(decision.starts[0], "drsjob-00000000000000001")], at(2))
    again = store.save(recorded.execution, saved, recorded.events)
    assert store.get(created.execution_id) == again
    servers = {s.source_server_id: s for s in again.waves[0].chunks[0].servers}
    done = job("drsjob-00000000000000001", "COMPLETED", **dict.fromkeys(servers, "LAUNCHED"))
    final = engine.advance(again, observe(done), at(500), Limits(concurrent_jobs=1))
    assert store.save(final.execution, again, final.events) == store.get(created.execution_id)


def test_the_anchor_survives_a_save_from_an_older_read(store: DynamoExecutionStore) -> None:
    created = store.create(execution(1), [])
    store.set_anchor(created.execution_id, "1764412345.000100")
    decision = engine.advance(created, observe(), at(1), Limits())
    store.save(decision.execution, created, decision.events)
    loaded = store.get(created.execution_id)
    assert loaded is not None and loaded.anchor_ts == "1764412345.000100"


def test_an_event_is_claimed_by_one_deliverer_at_a_time(store: DynamoExecutionStore) -> None:
    started = engine.start_execution(execution(1), T0)
    created = store.create(started.execution, started.events)
    eid = created.execution_id
    assert store.claim_event(eid, 1, at(0), 60)
    assert not store.claim_event(eid, 1, at(1), 60)
    assert store.claim_event(eid, 1, at(61), 60)  # the first deliverer died: the claim expired
    (entry,) = store.pending_events(eid)
    assert entry.attempts == 2
    store.mark_delivered(eid, 1, "1.1")
    assert store.pending_events(eid) == []
    assert not store.claim_event(eid, 1, at(200), 60)


def test_the_catalog_is_replaced_whole(dynamodb: Any, tables: dict[str, str]) -> None:
    catalogs = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    assert catalogs.load().plans == []
    catalogs.replace(catalog(2, 3), applied_by="ops", now=T0)
    assert catalogs.load() == catalog(2, 3)


def test_an_execution_stays_active_until_it_ended_and_its_messages_went_out(
    store: DynamoExecutionStore,
) -> None:
    created = store.create(execution(1), [])
    assert created.execution_id in store.active_ids()
    finished = created.model_copy(update={"status": ExecutionStatus.COMPLETED, "end_time": at(9)})
    store.save(finished, created, [])
    assert created.execution_id in store.active_ids()  # the runner still has messages to deliver
    store.retire(created.execution_id)
    assert created.execution_id not in store.active_ids()


def test_one_execution_per_plan_until_it_ends(store: DynamoExecutionStore) -> None:
    first = store.create(execution(1), [])
    second = execution(1).model_copy(update={"execution_id": "ex-0002"})
    with pytest.raises(PlanBusy) as busy:
        store.create(second, [])
    assert busy.value.execution_id == first.execution_id and busy.value.plan_name == "plan-x"
    assert store.get("ex-0002") is None  # nothing of the refused execution was written
    store.save(first.model_copy(update={"status": ExecutionStatus.COMPLETED, "end_time": at(9)}), first, [])
    assert store.create(second, []).version == 1


def test_a_4000_server_execution_fits_dynamodb_item_limits(
    store: DynamoExecutionStore, dynamodb: Any
) -> None:
    created = store.create(execution(4000, servers_per_job=100), [])
    assert store.get(created.execution_id) == created
    items = dynamodb.query(
        TableName=store._table,
        KeyConditionExpression="ExecutionId = :id",
        ExpressionAttributeValues={":id": {"S": created.execution_id}},
    )["Items"]
    assert len(items) == 1 + 20  # the header and 20 pages of 200 servers
    assert max(item_size(item) for item in items) < 400_000 / 4


def item_size(item: dict[str, Any]) -> int:
    """Roughly how DynamoDB counts an item: attribute names plus values."""
    size = 0
    for name, value in item.items():
        ((_kind, inner),) = value.items()
        size += len(name) + (len(inner) if isinstance(inner, bytes | str) else len(json.dumps(inner)))
    return size


def test_a_4000_server_failback_fits_too(store: DynamoExecutionStore, dynamodb: Any) -> None:
    from bot.domain.execution import FailbackPhase, FailbackRun, FailbackServer

    big = execution(4000, servers_per_job=100)
    servers = tuple(
        FailbackServer(
            wave=0,
            source_server_id=s.source_server_id,
            recovery_region="us-east-1",
            recovery_instance_id=f"i-{n:017x}",
            reversed_source_server_id=f"s-{n + 10**6:017x}",
            origin_region="us-west-2",
            replication_state="CONTINUOUS",
            ready=True,
        )
        for n, s in enumerate(big.servers())
    )
    run = FailbackRun(
        phase=FailbackPhase.SYNCING,
        recovery_execution_id="ex-0000",
        sync_timeout_seconds=21600,
        servers=servers,
    )
    failback = big.model_copy(update={"failback": run})
    created = store.create(failback, [])
    assert store.get(created.execution_id) == created
    header = dynamodb.get_item(
        TableName=store._table, Key={"ExecutionId": {"S": created.execution_id}, "Item": {"S": "EXECUTION"}}
    )["Item"]
    assert item_size(header) < 400_000 / 2


def test_of_two_saves_from_the_same_read_at_the_same_time_exactly_one_wins(
    store: DynamoExecutionStore,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for attempt in range(20):
        created = store.create(execution(2).model_copy(update={"execution_id": f"race-{attempt}"}), [])
        store.retire(created.execution_id)
        decided = engine.advance(created, observe(), at(1), Limits())
        recorded = engine.record_jobs_started(
            decided.execution.model_copy(update={"version": 1}),
            [(decided.starts[0], "drsjob-00000000000000001")],
            at(2),
        )
        candidates = [decided.execution, recorded.execution]

        def save(candidate: Any, created: Any = created) -> str:
            try:
                store.save(candidate, created, [])
                return "saved"
            except StaleExecution:
                return "stale"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(save, candidates))
        assert outcomes == ["saved", "stale"]
        stored = store.get(created.execution_id)
        assert stored is not None and stored.version == 2
        # The header and the server pages come from the same save.
        chunk = stored.waves[0].chunks[0]
        assert {s.recovery_job_id for s in chunk.servers} == {chunk.job_id}
        # Free the plan for the next attempt.
        store.save(stored.model_copy(update={"status": ExecutionStatus.CANCELLED}), stored, [])


def test_a_retried_execution_keeps_its_attempts_and_takes_its_plan_back(store: DynamoExecutionStore) -> None:
    first, second = (f"s-{n:017x}" for n in range(2))
    started = engine.start_execution(execution(2), T0)
    stored = store.create(started.execution, started.events)
    decision = engine.advance(stored, observe(), at(1), Limits())
    stored = store.save(decision.execution, stored, decision.events)
    recorded = engine.record_jobs_started(stored, [(ChunkRef(wave=0, chunk=0), "drsjob-1")], at(2))
    stored = store.save(recorded.execution, stored, recorded.events)
    ended = engine.advance(
        stored,
        observe(job("drsjob-1", "COMPLETED", **{first: "LAUNCHED", second: "FAILED"})),
        at(600),
        Limits(),
    )
    stored = store.save(ended.execution, stored, ended.events)
    assert stored.status is ExecutionStatus.PARTIAL and store.plan_holder("plan-x") is None

    ruling = retry.retry(stored, None, "U1", at(700), 100, {})
    assert ruling.decision is not None
    other = store.create(execution(1).model_copy(update={"execution_id": "ex-0002"}), [])
    with pytest.raises(PlanBusy):  # another execution of the plan runs now: the retry saves nothing
        store.save(ruling.decision.execution, stored, ruling.decision.events)
    assert store.get(stored.execution_id) == stored
    store.save(other.model_copy(update={"status": ExecutionStatus.CANCELLED, "end_time": at(800)}), other, [])

    reopened = store.save(ruling.decision.execution, stored, ruling.decision.events)
    assert store.plan_holder("plan-x") == stored.execution_id
    read = store.get(stored.execution_id)
    assert read == reopened and read.status is ExecutionStatus.IN_PROGRESS
    (retried,) = [s for s in read.servers() if s.source_server_id == second]
    assert retried.attempts[0].recovery_job_id == "drsjob-1" and retried.recovery_job_id is None
    assert read.waves[0].retried_at == at(700) and [c.server_ids for c in read.waves[0].chunks] == [
        [first],
        [second],
    ]
