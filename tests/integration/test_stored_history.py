"""The history where it lives: the seed's fields as plain attributes of the header (console, PartiQL),
a schema version on every stored body, and what release a349e01 stored still loads to the same history."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.dynamodb import HEADER_SCHEMA, PAGE_SCHEMA, DynamoCatalogStore, DynamoExecutionStore
from bot.domain.execution import Execution, ExecutionStatus, ExecutionType
from bot.domain.history import to_history
from bot.domain.plans import Catalog
from bot.errors import StoredByNewerRelease
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import CHANNEL, World, build_world
from tests.integration.test_plans_cli import drs_bot
from tests.unit.builders import server_ids

FIXTURE = json.loads((Path(__file__).parent / "stored_a349e01" / "items.json").read_text())
RUNNING = "2d8c8701884954f3"  # ended with undelivered messages and a scheduled cleanup


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def put_raw(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for item in items:
        raw = {
            name: {"B": base64.b64decode(value["B"])} if "B" in value else value
            for name, value in item.items()
        }
        dynamodb.put_item(TableName=table, Item=raw)


def load_release_a349e01(dynamodb: Any, tables: dict[str, str], *, with_catalog: bool = True) -> None:
    for name, items in FIXTURE["tables"].items():
        if with_catalog or name != "CatalogTable":
            put_raw(dynamodb, tables[name], items)


def raw_header(dynamodb: Any, table: str, execution_id: str) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(
        TableName=table, Key={"ExecutionId": {"S": execution_id}, "Item": {"S": "EXECUTION"}}
    )["Item"]
    return item


def plain(execution: Execution) -> dict[str, Any]:
    """What the header must show as plain attributes: the seed's fields as to_history gives them."""
    history = to_history(execution)
    seed = ("ExecutionId", "PlanId", "ExecutionType", "Status", "StartTime", "EndTime", "InitiatedBy")
    shown = {name: history[name] for name in seed if history[name] is not None}
    if execution.channel_id:
        shown["ChannelId"] = execution.channel_id
    if execution.anchor_ts:
        shown["AnchorTs"] = execution.anchor_ts
    return shown


def shown(item: dict[str, Any]) -> dict[str, Any]:
    names = ("ExecutionId", "PlanId", "ExecutionType", "Status", "StartTime", "EndTime", "InitiatedBy")
    out: dict[str, Any] = {}
    for name in (*names, "ChannelId", "AnchorTs"):
        if name in item:
            value = item[name]
            out[name] = int(float(value["N"])) if "N" in value else value["S"]
    return out


def keeps(before: Any, after: Any, where: str = "") -> None:
    """Everything release a349e01 stored reads back with the same value; later releases may add fields
    (the wave options, the failback's claims) beside it, never drop or change one."""
    if isinstance(before, dict):
        assert isinstance(after, dict), where
        for name, value in before.items():
            assert name in after, f"{where}.{name} is gone"
            keeps(value, after[name], f"{where}.{name}")
    elif isinstance(before, list):
        assert isinstance(after, list) and len(after) == len(before), where
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            keeps(old, new, f"{where}[{index}]")
    else:
        assert after == before, f"{where}: {before!r} became {after!r}"


def as_this_release_reads(stored: dict[str, Any]) -> dict[str, Any]:
    """Release a349e01's execution as this release's model reads it (renamed and regrouped fields)."""
    return Execution.model_validate(stored).model_dump(mode="json")


def test_what_release_a349e01_stored_loads_to_the_same_history(dynamodb: Any, tables: dict[str, str]) -> None:
    load_release_a349e01(dynamodb, tables)
    store = DynamoExecutionStore(dynamodb, tables["ExecutionsTable"])
    assert len(FIXTURE["executions"]) == 5
    for execution_id, expected in FIXTURE["executions"].items():
        loaded = store.get(execution_id)
        assert loaded is not None, execution_id
        keeps(expected["history"], to_history(loaded), execution_id)
        assert loaded.model_dump(mode="json") == as_this_release_reads(expected["execution"])
        pending = [entry.event.model_dump(mode="json") for entry in store.pending_events(execution_id)]
        keeps(expected["pending_events"], pending, f"{execution_id} pending")
    failed = [
        server
        for wave in FIXTURE["executions"]["97a227759a5858f2"]["history"]["Waves"]
        for server in wave["Servers"]
        if server["Status"] == "FAILED"
    ]
    assert len(failed) == 1 and "UnauthorizedOperation" in failed[0]["Error"]  # the fixture is realistic
    catalog = DynamoCatalogStore(dynamodb, tables["CatalogTable"]).load()
    assert catalog.model_dump(mode="json") == FIXTURE["catalog"]
    listed = store.history_of_plan("plan-x", 10)
    assert {s.execution_id for s in listed} == {
        eid for eid, e in FIXTURE["executions"].items() if e["history"]["PlanId"] == "plan-x"
    }
    assert store.plan_holder("plan-batch") is None and store.active_ids() == [RUNNING]


def plans() -> Catalog:
    return Catalog.model_validate(
        {
            "protection_groups": [
                {"name": "db", "region": "us-east-1", "source_servers": server_ids("d", 2)},
                {"name": "app", "region": "us-east-1", "source_servers": server_ids("a", 3)},
                {"name": "batch", "region": "us-east-1", "source_servers": ["s-b0000000000000001"]},
            ],
            "plans": [
                {
                    "name": "plan-x",
                    "waves": [
                        {"name": "Databases", "protection_group": "db"},
                        {"name": "Apps", "protection_group": "app"},
                    ],
                },
                {"name": "plan-batch", "waves": [{"name": "Batch", "protection_group": "batch"}]},
            ],
        }
    )


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, plans(), slack)
    yield built
    server.stop()


def test_the_header_shows_the_seed_fields_in_step_with_every_save(world: World) -> None:
    table = world.tables["ExecutionsTable"]
    world.emulator.fail_launch(server_ids("a", 3)[1])
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    seen_statuses = set()
    for _ in range(200):
        result = use_cases.ticking.tick(execution_id)
        execution = world.store().get(execution_id)
        assert execution is not None
        header = raw_header(world.dynamodb, table, execution_id)
        assert shown(header) == plain(execution)
        assert header["SchemaVersion"] == {"N": str(HEADER_SCHEMA)}
        seen_statuses.add(execution.status)
        if result.finished:
            break
        world.clock.advance(30)
    assert seen_statuses == {ExecutionStatus.IN_PROGRESS, ExecutionStatus.PARTIAL}
    final = shown(raw_header(world.dynamodb, table, execution_id))
    assert final["Status"] == "PARTIAL" and final["ExecutionType"] == "DRILL"
    assert final["InitiatedBy"] == "U0OPS" and final["ChannelId"] == CHANNEL
    assert final["EndTime"] >= final["StartTime"] > 0
    # Every other item of the execution carries its body's schema version too.
    items = world.dynamodb.query(
        TableName=table,
        KeyConditionExpression="ExecutionId = :id",
        ExpressionAttributeValues={":id": {"S": execution_id}},
    )["Items"]
    assert {i["Item"]["S"].split("#")[0]: i["SchemaVersion"]["N"] for i in items} == {
        "EXECUTION": str(HEADER_SCHEMA),
        "PAGE": str(PAGE_SCHEMA),
        "EVENT": "1",
    }


def test_partiql_finds_executions_by_plan_status_and_type(world: World) -> None:
    load_release_a349e01(world.dynamodb, world.tables, with_catalog=False)
    use_cases = world.use_cases()
    drill = world.start_drill(use_cases)
    world.run(use_cases, drill)
    # An auditor's query in the console's PartiQL editor.
    found = world.dynamodb.execute_statement(
        Statement=f'SELECT ExecutionId, InitiatedBy, StartTime, EndTime FROM "{world.tables["ExecutionsTable"]}" '
        "WHERE PlanId = ? AND Status = ? AND ExecutionType = ?",
        Parameters=[{"S": "plan-x"}, {"S": "COMPLETED"}, {"S": "DRILL"}],
    )["Items"]
    assert [item["ExecutionId"]["S"] for item in found] == [drill]
    assert found[0]["InitiatedBy"] == {"S": "U0OPS"}
    assert float(found[0]["EndTime"]["N"]) > float(found[0]["StartTime"]["N"])
    none = world.dynamodb.execute_statement(
        Statement=f'SELECT ExecutionId FROM "{world.tables["ExecutionsTable"]}" '
        "WHERE PlanId = ? AND ExecutionType = ?",
        Parameters=[{"S": "plan-x"}, {"S": "RECOVERY"}],
    )["Items"]
    # Release a349e01's recoveries were stored before the plain attributes existed (see history upgrade).
    assert none == []


def test_an_execution_in_flight_at_the_upgrade_finishes_and_is_stored_anew(world: World) -> None:
    load_release_a349e01(world.dynamodb, world.tables, with_catalog=False)
    table = world.tables["ExecutionsTable"]
    assert "SchemaVersion" not in raw_header(world.dynamodb, table, RUNNING)
    # The Slack of that run is gone: its thread is re-created in this fake and the anchor pointed at it.
    anchor = world.slack.post_user_message(CHANNEL, "U0BOT", "Drill of plan-batch")
    world.dynamodb.update_item(
        TableName=table,
        Key={"ExecutionId": {"S": RUNNING}, "Item": {"S": "EXECUTION"}},
        UpdateExpression="SET AnchorTs = :ts",
        ExpressionAttributeValues={":ts": {"S": anchor}},
    )
    use_cases = world.use_cases()
    world.clock.advance(3600)  # past its scheduled cleanup
    final = world.run(use_cases, RUNNING)
    assert final.status is ExecutionStatus.COMPLETED and final.execution_type is ExecutionType.DRILL
    assert world.store().pending_events(RUNNING) == []
    replies = [m.get("text", "") for m in world.slack.thread(CHANNEL, anchor)]
    assert any("Drill of plan-batch COMPLETED" in text for text in replies), replies
    header = raw_header(world.dynamodb, table, RUNNING)
    assert header["SchemaVersion"] == {"N": str(HEADER_SCHEMA)} and shown(header) == plain(final)
    before = FIXTURE["executions"][RUNNING]["history"]
    keeps(before["Waves"], to_history(final)["Waves"], "Waves")


# EVENT#00000007: not delivered yet.
@pytest.mark.parametrize("item", ["EXECUTION", "PAGE#w0000#p0000", "EVENT#00000007"])
def test_an_item_from_a_newer_release_is_refused_not_half_read(world: World, item: str) -> None:
    load_release_a349e01(world.dynamodb, world.tables, with_catalog=False)
    table = world.tables["ExecutionsTable"]
    key = {"ExecutionId": {"S": RUNNING}, "Item": {"S": item}}
    world.dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET SchemaVersion = :v",
        ExpressionAttributeValues={":v": {"N": "9"}},
    )
    store = world.store()
    with pytest.raises(StoredByNewerRelease) as refused:
        if item.startswith("EVENT"):
            store.pending_events(RUNNING)
        else:
            store.get(RUNNING)
    assert f"execution {RUNNING}" in str(refused.value)
    assert "stored schema version 9" in str(refused.value) and "written by a newer release" in str(
        refused.value
    )


def test_a_catalog_from_a_newer_release_is_refused(dynamodb: Any, tables: dict[str, str]) -> None:
    load_release_a349e01(dynamodb, tables)
    dynamodb.update_item(
        TableName=tables["CatalogTable"],
        Key={"CatalogId": {"S": "current"}},
        UpdateExpression="SET SchemaVersion = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    with pytest.raises(StoredByNewerRelease, match="the plan catalog has stored schema version 2"):
        DynamoCatalogStore(dynamodb, tables["CatalogTable"]).load()


def test_history_upgrade_rewrites_what_the_release_stored_and_nothing_changes_meaning(
    moto_url: str, dynamodb: Any, tables: dict[str, str]
) -> None:
    load_release_a349e01(dynamodb, tables)
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "DRS_BOT_REGION": "us-east-1",
        "DRS_BOT_CATALOG_TABLE": tables["CatalogTable"],
        "DRS_BOT_EXECUTIONS_TABLE": tables["ExecutionsTable"],
    }
    table = tables["ExecutionsTable"]
    query = f'SELECT ExecutionId FROM "{table}" WHERE PlanId = ? AND ExecutionType = ?'
    recoveries = [{"S": "plan-x"}, {"S": "RECOVERY"}]
    assert dynamodb.execute_statement(Statement=query, Parameters=recoveries)["Items"] == []

    upgraded = drs_bot("history", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "5 execution(s) rewritten" in upgraded.stdout

    found = dynamodb.execute_statement(Statement=query, Parameters=recoveries)["Items"]
    assert sorted(item["ExecutionId"]["S"] for item in found) == sorted(
        eid for eid, e in FIXTURE["executions"].items() if e["history"]["ExecutionType"] == "RECOVERY"
    )
    store = DynamoExecutionStore(dynamodb, table)
    for execution_id, expected in FIXTURE["executions"].items():
        header = raw_header(dynamodb, table, execution_id)
        assert header["SchemaVersion"] == {"N": str(HEADER_SCHEMA)}
        loaded = store.get(execution_id)
        assert loaded is not None
        assert loaded.model_dump(mode="json") == as_this_release_reads(expected["execution"])
        assert shown(header) == plain(loaded)
    again = drs_bot("history", "upgrade", env=env)
    assert "0 execution(s) rewritten" in again.stdout
