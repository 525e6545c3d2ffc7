"""The catalog and the execution history in DynamoDB (tables declared in cfn/template.yaml).

An execution is stored as several items under its id so that none nears the 400 KB item limit:
  EXECUTION            the header (status, times, who, Slack anchor, version) and the wave summaries
  CHUNK#w0000#c0000    the servers of one StartRecovery chunk
  OUTBOX#00000001      one status event of the outbox, with its delivery state
A save writes the header (conditioned on the version read), the chunks that changed and the new events
in one transaction, so an event exists exactly when the state change that caused it does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import TypeAdapter

from bot.domain.events import EVENT_ADAPTER, Event
from bot.domain.execution import Chunk, Execution, WaveRun
from bot.domain.plans import Catalog
from bot.errors import ExecutionExists, StaleExecution
from bot.services.ports import OutboxEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HEADER = "EXECUTION"
ACTIVE = "ACTIVE"
OUTBOX = "OUTBOX#"  # sorts after EXECUTION and CHUNK#: the state is one range query
_CHUNKS_ADAPTER: TypeAdapter[tuple[Chunk, ...]] = TypeAdapter(tuple[Chunk, ...])


def _chunk_key(wave: int, chunk: int) -> str:
    return f"CHUNK#w{wave:04d}#c{chunk:04d}"


def _event_key(seq: int) -> str:
    return f"{OUTBOX}{seq:08d}"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": str(value)}


class DynamoCatalogStore:
    KEY = "current"

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def load(self) -> Catalog:
        item = self._client.get_item(
            TableName=self._table, Key={"CatalogId": _s(self.KEY)}, ConsistentRead=True
        ).get("Item")
        if not item:
            return Catalog()
        return Catalog.model_validate_json(item["Body"]["S"])

    def replace(self, catalog: Catalog, *, applied_by: str, now: datetime) -> None:
        # One item: a reader never sees half of an apply (a whole catalog is far below 400 KB).
        self._client.put_item(
            TableName=self._table,
            Item={
                "CatalogId": _s(self.KEY),
                "Body": _s(catalog.model_dump_json()),
                "AppliedBy": _s(applied_by),
                "AppliedAt": _s(now.isoformat()),
            },
        )


class DynamoExecutionStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    # --- writing ---------------------------------------------------------------------------------

    def create(self, execution: Execution, events: Sequence[Event]) -> Execution:
        created = execution.model_copy(update={"version": 1})
        writes = [self._put(self._header_item(created), condition="attribute_not_exists(ExecutionId)")]
        writes += [self._put(self._chunk_item(created, w, c)) for w, c in _all_chunks(created)]
        writes += [self._put(self._event_item(created.execution_id, event)) for event in events]
        try:
            self._transact(writes)
        except ClientError as error:
            if _condition_failed(error):
                raise ExecutionExists(execution.execution_id) from None
            raise
        return created

    def save(self, execution: Execution, previous: Execution, events: Sequence[Event]) -> Execution:
        saved = execution.model_copy(update={"version": previous.version + 1})
        writes = [self._update_header(saved, expected_version=previous.version)]
        for w, c in _all_chunks(saved):
            if saved.waves[w].chunks[c] != previous.waves[w].chunks[c]:
                writes.append(self._put(self._chunk_item(saved, w, c)))
        writes += [self._put(self._event_item(saved.execution_id, event)) for event in events]
        try:
            self._transact(writes)
        except ClientError as error:
            if _condition_failed(error):
                raise StaleExecution(execution.execution_id) from None
            raise
        return saved

    def set_anchor(self, execution_id: str, ts: str) -> None:
        # Not part of the versioned state: the anchor is set once, whoever posted it.
        self._client.update_item(
            TableName=self._table,
            Key=self._key(execution_id, HEADER),
            UpdateExpression="SET AnchorTs = if_not_exists(AnchorTs, :ts)",
            ExpressionAttributeValues={":ts": _s(ts)},
        )

    def claim_event(self, execution_id: str, seq: int, now: datetime, lease_seconds: float) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(execution_id, _event_key(seq)),
                UpdateExpression="SET ClaimedUntil = :until ADD Attempts :one",
                ConditionExpression=(
                    "attribute_exists(ExecutionId) AND attribute_not_exists(DeliveredTs) "
                    "AND (attribute_not_exists(ClaimedUntil) OR ClaimedUntil < :now)"
                ),
                ExpressionAttributeValues={
                    ":until": _n(now.timestamp() + lease_seconds),
                    ":now": _n(now.timestamp()),
                    ":one": _n(1),
                },
            )
        except ClientError as error:
            if _condition_failed(error):
                return False
            raise
        return True

    def release_event(self, execution_id: str, seq: int) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(execution_id, _event_key(seq)),
            UpdateExpression="REMOVE ClaimedUntil",
        )

    def mark_delivered(self, execution_id: str, seq: int, message_ts: str | None) -> None:
        self._client.update_item(
            TableName=self._table,
            Key=self._key(execution_id, _event_key(seq)),
            UpdateExpression="SET DeliveredTs = :ts REMOVE Pending",
            ExpressionAttributeValues={":ts": _s(message_ts or "")},
        )

    # --- reading ---------------------------------------------------------------------------------

    def get(self, execution_id: str) -> Execution | None:
        header: dict[str, Any] | None = None
        chunks: dict[tuple[int, int], Chunk] = {}
        for item in self._query(
            KeyConditionExpression="ExecutionId = :id AND Item < :outbox",
            ExpressionAttributeValues={":id": _s(execution_id), ":outbox": _s(OUTBOX)},
            ConsistentRead=True,
        ):
            kind = item["Item"]["S"]
            if kind == HEADER:
                header = item
            elif kind.startswith("CHUNK#"):
                chunk = Chunk.model_validate_json(item["Body"]["S"])
                chunks[(int(item["Wave"]["N"]), chunk.index)] = chunk
        if header is None:
            return None
        body = json.loads(header["Body"]["S"])
        waves = []
        for wave in body.pop("waves"):
            count = wave.pop("chunk_count")
            wave["chunks"] = [chunks[(wave["index"], c)] for c in range(count)]
            waves.append(WaveRun.model_validate(wave))
        body["waves"] = waves
        body["version"] = int(header["Version"]["N"])
        if "AnchorTs" in header:
            body["anchor_ts"] = header["AnchorTs"]["S"]
        return Execution.model_validate(body)

    def pending_events(self, execution_id: str) -> list[OutboxEntry]:
        entries = []
        for item in self._query(
            KeyConditionExpression="ExecutionId = :id AND begins_with(Item, :outbox)",
            FilterExpression="attribute_not_exists(DeliveredTs)",
            ExpressionAttributeValues={":id": _s(execution_id), ":outbox": _s(OUTBOX)},
            ConsistentRead=True,
        ):
            event = EVENT_ADAPTER.validate_json(item["Body"]["S"])
            entries.append(OutboxEntry(event=event, attempts=int(item.get("Attempts", {"N": "0"})["N"])))
        return entries

    def active_ids(self) -> list[str]:
        return [
            item["ExecutionId"]["S"]
            for item in self._query(
                IndexName="Active",
                KeyConditionExpression="ActiveShard = :active",
                ExpressionAttributeValues={":active": _s(ACTIVE)},
            )
        ]

    def latest_in_channel(self, channel_id: str) -> Execution | None:
        page = self._client.query(
            TableName=self._table,
            IndexName="ByChannel",
            KeyConditionExpression="ChannelId = :channel",
            ExpressionAttributeValues={":channel": _s(channel_id)},
            ScanIndexForward=False,
            Limit=1,
        )
        items = page.get("Items", [])
        return self.get(items[0]["ExecutionId"]["S"]) if items else None

    # --- items -----------------------------------------------------------------------------------

    def _header_item(self, execution: Execution) -> dict[str, Any]:
        body = execution.model_dump(mode="json", exclude={"version", "anchor_ts"})
        for wave in body["waves"]:
            wave["chunk_count"] = len(wave.pop("chunks"))
        item = {
            **self._key(execution.execution_id, HEADER),
            "Body": _s(json.dumps(body, separators=(",", ":"))),
            "Version": _n(execution.version),
            "PlanId": _s(execution.plan_name),
            "Status": _s(execution.status.value),
            "CreatedAt": _s(execution.created_at.isoformat()),
        }
        if execution.channel_id:
            item["ChannelId"] = _s(execution.channel_id)
        if execution.anchor_ts:
            item["AnchorTs"] = _s(execution.anchor_ts)
        if not execution.status.is_terminal:
            item["ActiveShard"] = _s(ACTIVE)
        return item

    def _update_header(self, execution: Execution, *, expected_version: int) -> dict[str, Any]:
        # An update, not a put: the anchor ts is written beside the versioned state and must survive.
        item = self._header_item(execution)
        fields = {
            name: value for name, value in item.items() if name not in ("ExecutionId", "Item", "AnchorTs")
        }
        names = {f"#{name}": name for name in fields}
        values = {f":{name}": value for name, value in fields.items()}
        values[":expected"] = _n(expected_version)
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in fields)
        if "ActiveShard" not in fields:
            names["#ActiveShard"] = "ActiveShard"
            update += " REMOVE #ActiveShard"
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(execution.execution_id, HEADER),
                "UpdateExpression": update,
                "ConditionExpression": "Version = :expected",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _chunk_item(self, execution: Execution, wave: int, chunk: int) -> dict[str, Any]:
        return {
            **self._key(execution.execution_id, _chunk_key(wave, chunk)),
            "Wave": _n(wave),
            "Body": _s(execution.waves[wave].chunks[chunk].model_dump_json()),
        }

    def _event_item(self, execution_id: str, event: Event) -> dict[str, Any]:
        return {
            **self._key(execution_id, _event_key(event.seq)),
            "Body": _s(event.model_dump_json()),
            "Pending": _s("1"),
        }

    def _key(self, execution_id: str, item: str) -> dict[str, Any]:
        return {"ExecutionId": _s(execution_id), "Item": _s(item)}

    def _put(
        self, item: dict[str, Any], *, condition: str | None = None, values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": item}
        if condition:
            put["ConditionExpression"] = condition
        if values:
            put["ExpressionAttributeValues"] = values
        return {"Put": put}

    def _transact(self, writes: list[dict[str, Any]]) -> None:
        self._client.transact_write_items(TransactItems=writes)  # type: ignore[arg-type]

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(TableName=self._table, **kwargs):
            yield from page.get("Items", [])


def _all_chunks(execution: Execution) -> Iterator[tuple[int, int]]:
    for wave in execution.waves:
        for chunk in wave.chunks:
            yield wave.index, chunk.index


def _condition_failed(error: ClientError) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return True
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        # A concurrent transaction on the same items is the same situation: someone else saved.
        return any(
            reason.get("Code") in ("ConditionalCheckFailed", "TransactionConflict") for reason in reasons
        )
    return False
