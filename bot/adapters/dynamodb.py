"""The catalog and the execution history in DynamoDB (tables declared in cfn/template.yaml).

An execution is stored as several items under its id so that none nears the 400 KB item limit:
  EXECUTION            the header: status, times, who, Slack anchor, version, waves and their jobs
  PAGE#w0000#p0000     up to 200 servers of one wave (DRS's 4,000-server maximum makes 20 pages)
  EVENT#00000001       one status event waiting for (or done with) delivery to Slack (the outbox)
and, per plan, PLAN#<name> / LOCK naming the one execution of that plan that has not ended.
A save writes the header (conditioned on the version read), the pages that changed and the new
events in one transaction, so an event exists exactly when the state change that caused it does.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import TypeAdapter, ValidationError

from bot.domain.events import EVENT_ADAPTER, Event
from bot.domain.execution import Chunk, Execution, ExecutionSummary, ServerRun, WaveRun, summarize
from bot.domain.plans import Catalog
from bot.domain.strict_json import DocumentError, load_json
from bot.errors import ConfigurationError, ExecutionExists, PlanBusy, StaleExecution
from bot.services.ports import OutboxEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HEADER = "EXECUTION"
ACTIVE = "ACTIVE"
PAGE = "PAGE#"
OUTBOX = "EVENT#"  # sorts before EXECUTION and PAGE#: the state is one range query from the header on
LOCK = "LOCK"
SERVERS_PER_PAGE = 200
_SERVERS: TypeAdapter[list[ServerRun]] = TypeAdapter(list[ServerRun])


def _page_key(wave: int, page: int) -> str:
    return f"{PAGE}w{wave:04d}#p{page:04d}"


def _event_key(seq: int) -> str:
    return f"{OUTBOX}{seq:08d}"


def _plan_key(plan: str) -> str:
    return f"PLAN#{plan}"


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
        # Read strictly: the item can be edited in the console, and pydantic's model_validate_json
        # would keep the last of two equal keys without a word.
        try:
            return Catalog.model_validate(load_json(item["Body"]["S"]))
        except (DocumentError, ValidationError) as error:
            raise ConfigurationError(
                f"the catalog in table {self._table} is invalid ({' '.join(str(error).split())}); "
                "apply the plans file again (drs-bot plans apply)"
            ) from None

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
        self.items_written = 0  # for benchmarks: DynamoDB items written by this store

    # --- writing ---------------------------------------------------------------------------------

    def create(self, execution: Execution, events: Sequence[Event]) -> Execution:
        created = execution.model_copy(update={"version": 1})
        eid = created.execution_id
        writes = [
            self._put(self._header_item(created), condition="attribute_not_exists(ExecutionId)"),
            self._put(
                {**self._key(_plan_key(created.plan_name), LOCK), "Holder": _s(eid)},
                condition="attribute_not_exists(Holder)",
            ),
        ]
        writes += [self._put(item) for item in self._page_items(created)]
        writes += [self._put(self._event_item(eid, event)) for event in events]
        try:
            self._transact(writes)
        except ClientError as error:
            failed = _failed_conditions(error)
            if 0 in failed:
                raise ExecutionExists(eid) from None
            if 1 in failed:
                raise PlanBusy(created.plan_name, self.plan_holder(created.plan_name)) from None
            raise
        return created

    def save(self, execution: Execution, previous: Execution, events: Sequence[Event]) -> Execution:
        saved = execution.model_copy(update={"version": previous.version + 1})
        writes = [self._update_header(saved, expected_version=previous.version)]
        old_pages = dict(self._pages(previous))
        writes += [
            self._put(self._page_item(saved.execution_id, key, servers))
            for key, servers in self._pages(saved)
            if old_pages.get(key) != servers
        ]
        writes += [self._put(self._event_item(saved.execution_id, event)) for event in events]
        if saved.status.is_terminal and not previous.status.is_terminal:
            # The plan is free again in the same step that ends its execution.
            writes.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": self._key(_plan_key(saved.plan_name), LOCK),
                        "ConditionExpression": "attribute_not_exists(Holder) OR Holder = :me",
                        "ExpressionAttributeValues": {":me": _s(saved.execution_id)},
                    }
                }
            )
        try:
            self._transact(writes)
        except ClientError as error:
            if _failed_conditions(error) or _conflicted(error):
                raise StaleExecution(execution.execution_id) from None
            raise
        return saved

    def plan_holder(self, plan_name: str) -> str | None:
        item = self._client.get_item(
            TableName=self._table, Key=self._key(_plan_key(plan_name), LOCK), ConsistentRead=True
        ).get("Item")
        return item["Holder"]["S"] if item else None

    def set_anchor(self, execution_id: str, ts: str) -> None:
        # Beside the versioned state: the anchor is set once, whoever posted it.
        self._update(
            execution_id,
            HEADER,
            UpdateExpression="SET AnchorTs = if_not_exists(AnchorTs, :ts)",
            ExpressionAttributeValues={":ts": _s(ts)},
        )

    def reactivate(self, execution_id: str) -> None:
        self._update(
            execution_id,
            HEADER,
            UpdateExpression="SET ActiveShard = :active",
            ExpressionAttributeValues={":active": _s(ACTIVE)},
        )

    def retire(self, execution_id: str) -> None:
        """An ended execution whose messages are all delivered leaves the active index."""
        self._update(execution_id, HEADER, UpdateExpression="REMOVE ActiveShard")

    def claim_event(
        self, execution_id: str, seq: int, now: datetime, lease_seconds: float, owner: str = ""
    ) -> bool:
        return self._conditional_update(
            execution_id,
            _event_key(seq),
            UpdateExpression="SET ClaimedUntil = :until, ClaimedBy = :owner ADD Attempts :one",
            ConditionExpression=(
                "attribute_exists(ExecutionId) AND attribute_not_exists(DeliveredTs) "
                "AND (attribute_not_exists(ClaimedUntil) OR ClaimedUntil < :now)"
            ),
            ExpressionAttributeValues={
                ":until": _n(now.timestamp() + lease_seconds),
                ":now": _n(now.timestamp()),
                ":one": _n(1),
                ":owner": _s(owner or "-"),
            },
        )

    def renew_claim(
        self, execution_id: str, seq: int, now: datetime, lease_seconds: float, owner: str
    ) -> bool:
        # Whoever delivered, released or re-claimed the event since changed DeliveredTs or ClaimedBy.
        return self._conditional_update(
            execution_id,
            _event_key(seq),
            UpdateExpression="SET ClaimedUntil = :until",
            ConditionExpression="ClaimedBy = :owner AND attribute_not_exists(DeliveredTs)",
            ExpressionAttributeValues={":until": _n(now.timestamp() + lease_seconds), ":owner": _s(owner)},
        )

    def release_event(self, execution_id: str, seq: int, owner: str = "") -> None:
        # Only one's own claim: a claim that expired meanwhile may be someone else's now.
        self._conditional_update(
            execution_id,
            _event_key(seq),
            UpdateExpression="REMOVE ClaimedUntil, ClaimedBy",
            ConditionExpression="ClaimedBy = :owner",
            ExpressionAttributeValues={":owner": _s(owner or "-")},
        )

    def block_slack(self, execution_id: str, error: str, now: datetime) -> None:
        self._update(
            execution_id,
            HEADER,
            UpdateExpression=(
                "SET SlackBlocked = :error, SlackBlockedSince = if_not_exists(SlackBlockedSince, :now), "
                "SlackCheckedAt = :now"
            ),
            ExpressionAttributeValues={":error": _s(error), ":now": _s(now.isoformat())},
        )

    def unblock_slack(self, execution_id: str) -> None:
        self._update(
            execution_id, HEADER, UpdateExpression="REMOVE SlackBlocked, SlackBlockedSince, SlackCheckedAt"
        )

    def _conditional_update(self, execution_id: str, item: str, **kwargs: Any) -> bool:
        try:
            self._update(execution_id, item, **kwargs)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark_delivered(self, execution_id: str, seq: int, message_ts: str | None) -> None:
        self._update(
            execution_id,
            _event_key(seq),
            UpdateExpression="SET DeliveredTs = :ts REMOVE Pending",
            ExpressionAttributeValues={":ts": _s(message_ts or "")},
        )

    # --- reading ---------------------------------------------------------------------------------

    def get(self, execution_id: str) -> Execution | None:
        header: dict[str, Any] | None = None
        pages: dict[int, list[ServerRun]] = {}
        for item in self._query(
            KeyConditionExpression="ExecutionId = :id AND Item >= :header",
            ExpressionAttributeValues={":id": _s(execution_id), ":header": _s(HEADER)},
            ConsistentRead=True,
        ):
            if item["Item"]["S"] == HEADER:
                header = item
            elif item["Item"]["S"].startswith(PAGE):
                # Pages arrive in key order, so each wave's servers are appended in order.
                pages.setdefault(int(item["Wave"]["N"]), []).extend(_SERVERS.validate_json(item["Body"]["S"]))
        if header is None:
            return None
        return _assemble(header, pages)

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
        ids = self.recent_ids(index="ByChannel", key="ChannelId", value=channel_id, limit=1)
        return self.get(ids[0]) if ids else None

    def history(self, *, plan_name: str | None, channel_id: str | None, limit: int) -> list[ExecutionSummary]:
        """Newest first, by plan or by channel: a query on an index, never a scan."""
        index, key, value = (
            ("ByPlan", "PlanId", plan_name) if plan_name else ("ByChannel", "ChannelId", channel_id)
        )
        if value is None:
            return []
        page = self._client.query(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression=f"{key} = :value",
            ExpressionAttributeValues={":value": _s(value)},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [
            ExecutionSummary.model_validate_json(item["Summary"]["S"])
            for item in page.get("Items", [])
            if "Summary" in item
        ]

    def recent_ids(self, *, index: str, key: str, value: str, limit: int) -> list[str]:
        page = self._client.query(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression=f"{key} = :value",
            ExpressionAttributeValues={":value": _s(value)},
            ScanIndexForward=False,
            Limit=limit,
        )
        return [item["ExecutionId"]["S"] for item in page.get("Items", [])]

    # --- items -----------------------------------------------------------------------------------

    def _header_item(self, execution: Execution) -> dict[str, Any]:
        # The servers live in their pages: leave them out of the header's dump altogether.
        body = execution.model_dump(
            mode="json",
            exclude={
                "version": True,
                "anchor_ts": True,
                "slack_blocked": True,
                "waves": {"__all__": {"chunks": {"__all__": {"servers"}}}},
            },
        )
        for wave, run in zip(body["waves"], execution.waves, strict=True):
            for chunk, planned in zip(wave["chunks"], run.chunks, strict=True):
                chunk["size"] = len(planned.servers)
        item = {
            **self._key(execution.execution_id, HEADER),
            # Compressed: per-wave and per-server state (a failback's, say) repeats its keys thousands
            # of times, and the header must stay far below the 400 KB item limit at 4,000 servers.
            "Body": {"B": zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6)},
            "Version": _n(execution.version),
            "PlanId": _s(execution.plan_name),
            "Status": _s(execution.status.value),
            "CreatedAt": _s(execution.created_at.isoformat()),
            # A history line is read from the index alone, without the server pages.
            "Summary": _s(summarize(execution).model_dump_json()),
            # Stays until the outbox is drained (retire), so the runner delivers the last messages.
            "ActiveShard": _s(ACTIVE),
        }
        if execution.channel_id:
            item["ChannelId"] = _s(execution.channel_id)
        if execution.anchor_ts:
            item["AnchorTs"] = _s(execution.anchor_ts)
        return item

    def _update_header(self, execution: Execution, *, expected_version: int) -> dict[str, Any]:
        # An update, not a put: the anchor ts and the active flag are managed beside the versioned state.
        item = self._header_item(execution)
        skip = ("ExecutionId", "Item", "AnchorTs", "ActiveShard")
        fields = {name: value for name, value in item.items() if name not in skip}
        values = {f":{name}": value for name, value in fields.items()}
        values[":expected"] = _n(expected_version)
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(execution.execution_id, HEADER),
                "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in fields),
                "ConditionExpression": "Version = :expected",
                "ExpressionAttributeNames": {f"#{name}": name for name in fields},
                "ExpressionAttributeValues": values,
            }
        }

    def _pages(self, execution: Execution) -> Iterator[tuple[str, tuple[ServerRun, ...]]]:
        for wave in execution.waves:
            servers = tuple(wave.servers())
            for page, start in enumerate(range(0, len(servers), SERVERS_PER_PAGE)):
                yield _page_key(wave.index, page), servers[start : start + SERVERS_PER_PAGE]

    def _page_items(self, execution: Execution) -> list[dict[str, Any]]:
        return [
            self._page_item(execution.execution_id, key, servers) for key, servers in self._pages(execution)
        ]

    def _page_item(self, execution_id: str, key: str, servers: tuple[ServerRun, ...]) -> dict[str, Any]:
        wave = int(key[len(PAGE) + 1 : len(PAGE) + 5])
        body = _SERVERS.dump_json(list(servers), exclude_none=True).decode()
        return {**self._key(execution_id, key), "Wave": _n(wave), "Body": _s(body)}

    def _event_item(self, execution_id: str, event: Event) -> dict[str, Any]:
        return {
            **self._key(execution_id, _event_key(event.seq)),
            "Body": _s(event.model_dump_json()),
            "Pending": _s("1"),
        }

    def _key(self, execution_id: str, item: str) -> dict[str, Any]:
        return {"ExecutionId": _s(execution_id), "Item": _s(item)}

    def _put(self, item: dict[str, Any], *, condition: str | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self._table, "Item": item}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    def _update(self, execution_id: str, item: str, **kwargs: Any) -> None:
        self._client.update_item(TableName=self._table, Key=self._key(execution_id, item), **kwargs)
        self.items_written += 1

    def _transact(self, writes: list[dict[str, Any]]) -> None:
        self._client.transact_write_items(TransactItems=writes)  # type: ignore[arg-type]
        self.items_written += len(writes)

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(TableName=self._table, **kwargs):
            yield from page.get("Items", [])


def _assemble(header: dict[str, Any], pages: dict[int, list[ServerRun]]) -> Execution:
    raw = header["Body"]
    body = json.loads(zlib.decompress(raw["B"]) if "B" in raw else raw["S"])
    waves = []
    for wave in body.pop("waves"):
        servers = pages.get(wave["index"], [])
        chunks, start = [], 0
        for chunk in wave["chunks"]:
            size = chunk.pop("size")
            chunks.append(Chunk.model_validate({**chunk, "servers": servers[start : start + size]}))
            start += size
        wave["chunks"] = chunks
        waves.append(WaveRun.model_validate(wave))
    body["waves"] = waves
    body["version"] = int(header["Version"]["N"])
    if "AnchorTs" in header:
        body["anchor_ts"] = header["AnchorTs"]["S"]
    if "SlackBlocked" in header:
        body["slack_blocked"] = {
            "error": header["SlackBlocked"]["S"],
            "since": header["SlackBlockedSince"]["S"],
            "checked_at": header["SlackCheckedAt"]["S"],
        }
    return Execution.model_validate(body)


def _failed_conditions(error: ClientError) -> set[int]:
    """Indexes of the transaction's writes whose condition failed."""
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return {0}
    reasons = error.response.get("CancellationReasons", []) if code == "TransactionCanceledException" else []
    return {index for index, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"}


def _conflicted(error: ClientError) -> bool:
    # A concurrent transaction on the same items: someone else is saving this execution.
    reasons = error.response.get("CancellationReasons", [])
    return any(reason.get("Code") == "TransactionConflict" for reason in reasons)
