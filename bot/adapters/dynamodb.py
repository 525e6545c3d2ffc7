"""The catalog and the execution history in DynamoDB (tables declared in cfn/template.yaml).

An execution is stored as several items under its id so that none nears the 400 KB item limit:
  EXECUTION            the header: the seed's fields as plain attributes (ExecutionId, PlanId,
                       ExecutionType, Status, StartTime, EndTime, InitiatedBy, ChannelId, AnchorTs), so
                       the table reads and filters in the console and PartiQL; the rest (waves and their
                       jobs, approvals, cleanup, failback) in a compressed body
  PAGE#w0000#p0000     up to 200 servers of one wave (DRS's 4,000-server maximum makes 20 pages)
  EVENT#00000001       one status event waiting for (or done with) delivery to Slack (the outbox)
and, per plan, PLAN#<name> / LOCK naming the one execution of that plan that has not ended.
A save writes the header (conditioned on the version read), the pages that changed and the new
events in one transaction, so an event exists exactly when the state change that caused it does.

Every item with a body carries the SchemaVersion of its kind. An item without one was written before
versions existed (release a349e01): version 1. Reading upgrades older versions step by step; a version
newer than this release knows is refused (StoredByNewerRelease) rather than read with fields dropped.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from pydantic import TypeAdapter, ValidationError

from bot.adapters.telemetry import ExecutionMetrics
from bot.domain.events import EVENT_ADAPTER, Event
from bot.domain.execution import Chunk, Execution, ExecutionSummary, ServerRun, WaveRun, summarize
from bot.domain.plans import Catalog
from bot.domain.strict_json import DocumentError, load_json
from bot.errors import ConfigurationError, ExecutionExists, PlanBusy, StaleExecution, StoredByNewerRelease
from bot.services.ports import OutboxEntry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HEADER = "EXECUTION"
ACTIVE = "ACTIVE"
PAGE = "PAGE#"
OUTBOX = "EVENT#"  # sorts before EXECUTION and PAGE#: the state is one range query from the header on
LOCK = "LOCK"
SERVERS_PER_PAGE = 200
# Stored schema versions, one per kind of item; raise one when its stored shape changes, and add the
# upgrade from the previous version.
# 2: the seed's fields became plain attributes and left the body; 3: gates and pause, retry, health checks (a
# paused execution saved back by a release without them would silently resume).
HEADER_SCHEMA = 4
PAGE_SCHEMA = 2  # 2: servers' retried attempts and health check results (a release before would drop them)
EVENT_SCHEMA = 1
CATALOG_SCHEMA = 1
# The execution's fields stored as plain attributes of the header (v2) rather than in its body.
PLAIN_FIELDS = (
    "execution_id",
    "plan_name",
    "execution_type",
    "status",
    "initiated_by",
    "created_at",
    "start_time",
    "end_time",
    "channel_id",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


def _epoch(moment: datetime) -> dict[str, str]:
    """Epoch seconds as in the seed's history, to the microsecond so that a read gives back the time."""
    delta = moment - _EPOCH
    seconds = delta.days * 86400 + delta.seconds
    return {"N": f"{seconds}.{delta.microseconds:06d}".rstrip("0").rstrip(".")}


def _moment(value: dict[str, str]) -> datetime:
    whole, _, fraction = value["N"].partition(".")
    return _EPOCH + timedelta(seconds=int(whole), microseconds=int(fraction.ljust(6, "0")[:6] or 0))


def _schema(item: dict[str, Any], known: int, what: str) -> int:
    found = int(item["SchemaVersion"]["N"]) if "SchemaVersion" in item else 1
    if found > known:
        raise StoredByNewerRelease(what, found, known)
    return found


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
        _schema(item, CATALOG_SCHEMA, "the plan catalog")
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
                "SchemaVersion": _n(CATALOG_SCHEMA),
                "AppliedBy": _s(applied_by),
                "AppliedAt": _s(now.isoformat()),
            },
        )


class DynamoExecutionStore:
    def __init__(
        self, client: DynamoDBClient, table: str, *, metrics: ExecutionMetrics | None = None
    ) -> None:
        self._client = client
        self._table = table
        self._metrics = metrics
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
        if self._metrics:
            self._metrics.saved(created, None, events)
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
        lock = None
        if previous.status.is_terminal and not saved.status.is_terminal:
            # /drs retry re-opened it: it holds its plan again, unless another execution of it runs now.
            lock = len(writes)
            writes.append(
                self._put(
                    {**self._key(_plan_key(saved.plan_name), LOCK), "Holder": _s(saved.execution_id)},
                    condition="attribute_not_exists(Holder) OR Holder = :me",
                    values={":me": _s(saved.execution_id)},
                )
            )
        try:
            self._transact(writes)
        except ClientError as error:
            failed = _failed_conditions(error)
            if lock is not None and lock in failed and 0 not in failed:
                raise PlanBusy(saved.plan_name, self.plan_holder(saved.plan_name)) from None
            if failed or _conflicted(error):
                raise StaleExecution(execution.execution_id) from None
            raise
        if self._metrics:
            self._metrics.saved(saved, previous, events)
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
                _schema(item, PAGE_SCHEMA, f"execution {execution_id}'s {item['Item']['S']}")
                # Pages arrive in key order, so each wave's servers are appended in order.
                pages.setdefault(int(item["Wave"]["N"]), []).extend(_SERVERS.validate_json(item["Body"]["S"]))
        if header is None:
            return None
        return _assemble(upgrade_header(header), pages)

    def pending_events(self, execution_id: str) -> list[OutboxEntry]:
        entries = []
        for item in self._query(
            KeyConditionExpression="ExecutionId = :id AND begins_with(Item, :outbox)",
            FilterExpression="attribute_not_exists(DeliveredTs)",
            ExpressionAttributeValues={":id": _s(execution_id), ":outbox": _s(OUTBOX)},
            ConsistentRead=True,
        ):
            _schema(item, EVENT_SCHEMA, f"execution {execution_id}'s {item['Item']['S']}")
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
        ids = self.recent_in_channel(channel_id, 1)
        return self.get(ids[0]) if ids else None

    def recent_in_channel(self, channel_id: str, limit: int) -> list[str]:
        return [
            item["ExecutionId"]["S"] for item in self._newest("ByChannel", "ChannelId", channel_id, limit)
        ]

    def history_in_channel(self, channel_id: str, limit: int) -> list[ExecutionSummary]:
        return self._summaries(self._newest("ByChannel", "ChannelId", channel_id, limit))

    def history_of_plan(self, plan_name: str, limit: int) -> list[ExecutionSummary]:
        return self._summaries(self._newest("ByPlan", "PlanId", plan_name, limit))

    def _newest(self, index: str, key: str, value: str, limit: int) -> list[dict[str, Any]]:
        """Newest first, from one page of an index query: never a scan."""
        page = self._client.query(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression=f"{key} = :value",
            ExpressionAttributeValues={":value": _s(value)},
            ScanIndexForward=False,
            Limit=limit,
        )
        return list(page.get("Items", []))

    def _summaries(self, items: list[dict[str, Any]]) -> list[ExecutionSummary]:
        items = [item for item in items if "Summary" in item]
        for item in items:
            _schema(item, HEADER_SCHEMA, f"execution {item['ExecutionId']['S']}")
        return [ExecutionSummary.model_validate_json(item["Summary"]["S"]) for item in items]

    # --- items -----------------------------------------------------------------------------------

    def _header_item(self, execution: Execution) -> dict[str, Any]:
        # The servers live in their pages: leave them out of the header's dump altogether.
        body = execution.model_dump(
            mode="json",
            exclude={
                "version": True,
                "anchor_ts": True,
                "slack_blocked": True,
                **dict.fromkeys(PLAIN_FIELDS, True),
                "waves": {"__all__": {"chunks": {"__all__": {"servers"}}}},
            },
        )
        for wave, run in zip(body["waves"], execution.waves, strict=True):
            for chunk, planned in zip(wave["chunks"], run.chunks, strict=True):
                chunk["size"] = len(planned.servers)
        item = {
            **_plain_attributes(execution.model_dump(mode="json", include=set(PLAIN_FIELDS))),
            "Item": _s(HEADER),
            "SchemaVersion": _n(HEADER_SCHEMA),
            # Compressed: per-wave and per-server state (a failback's, say) repeats its keys thousands
            # of times, and the header must stay far below the 400 KB item limit at 4,000 servers.
            "Body": _compress(body),
            "Version": _n(execution.version),
            # A history line is read from the index alone, without the server pages.
            "Summary": _s(summarize(execution).model_dump_json()),
            # Stays until the outbox is drained (retire), so the runner delivers the last messages.
            "ActiveShard": _s(ACTIVE),
        }
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
        gone = [name for name in OPTIONAL_ATTRIBUTES if name not in item]
        expression = "SET " + ", ".join(f"#{name} = :{name}" for name in fields)
        if gone:
            expression += " REMOVE " + ", ".join(f"#{name}" for name in gone)
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(execution.execution_id, HEADER),
                "UpdateExpression": expression,
                "ConditionExpression": "Version = :expected",
                "ExpressionAttributeNames": {f"#{name}": name for name in [*fields, *gone]},
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
        return {
            **self._key(execution_id, key),
            "Wave": _n(wave),
            "SchemaVersion": _n(PAGE_SCHEMA),
            "Body": _s(body),
        }

    def _event_item(self, execution_id: str, event: Event) -> dict[str, Any]:
        return {
            **self._key(execution_id, _event_key(event.seq)),
            "SchemaVersion": _n(EVENT_SCHEMA),
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


# Plain attributes of the header that an execution may not have yet (or ever).
OPTIONAL_ATTRIBUTES = ("StartTime", "EndTime", "ChannelId")


def _plain_attributes(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields`: the execution's PLAIN_FIELDS as JSON (the v1 body's very shape)."""
    item = {
        "ExecutionId": _s(fields["execution_id"]),
        "PlanId": _s(fields["plan_name"]),
        "ExecutionType": _s(fields["execution_type"]),
        "Status": _s(fields["status"]),
        "InitiatedBy": _s(fields["initiated_by"]),
        # Also the sort key of the ByPlan, ByChannel and Active indexes: ISO text sorts by time.
        "CreatedAt": _s(fields["created_at"]),
    }
    for field, name in (("start_time", "StartTime"), ("end_time", "EndTime")):
        if fields.get(field):
            item[name] = _epoch(datetime.fromisoformat(fields[field]))
    if fields.get("channel_id"):
        item["ChannelId"] = _s(fields["channel_id"])
    return item


def _plain_fields(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "execution_id": item["ExecutionId"]["S"],
        "plan_name": item["PlanId"]["S"],
        "execution_type": item["ExecutionType"]["S"],
        "status": item["Status"]["S"],
        "initiated_by": item["InitiatedBy"]["S"],
        "created_at": datetime.fromisoformat(item["CreatedAt"]["S"]),
        "start_time": _moment(item["StartTime"]) if "StartTime" in item else None,
        "end_time": _moment(item["EndTime"]) if "EndTime" in item else None,
        "channel_id": item["ChannelId"]["S"] if "ChannelId" in item else None,
    }


def _body(item: dict[str, Any]) -> dict[str, Any]:
    raw = item["Body"]
    body: dict[str, Any] = json.loads(zlib.decompress(raw["B"]) if "B" in raw else raw["S"])
    return body


def _compress(body: dict[str, Any]) -> dict[str, bytes]:
    return {"B": zlib.compress(json.dumps(body, separators=(",", ":")).encode(), 6)}


def _header_v1_to_v2(item: dict[str, Any]) -> dict[str, Any]:
    """Release a349e01 kept every field in the body (PlanId, Status, CreatedAt, ChannelId were copies
    beside it): the seed's fields become plain attributes, the body keeps the rest."""
    body = _body(item)
    plain = _plain_attributes({name: body.pop(name, None) for name in PLAIN_FIELDS})
    return {**item, **plain, "Body": _compress(body), "SchemaVersion": _n(2)}


def _header_v2_to_v3(item: dict[str, Any]) -> dict[str, Any]:
    """Steering (--step, paused, a wave's gate), retry (optional servers, the last retry time) and health
    checks added fields whose defaults fit every older item: nothing to move. The version alone keeps a
    release before them from loading an item and saving it back without them."""
    return {**item, "SchemaVersion": _n(3)}


def _header_v3_to_v4(item: dict[str, Any]) -> dict[str, Any]:
    """Several accounts (#18): a wave's account, a cleanup's TERMINATE jobs' accounts, a failback
    server's recovery and origin accounts; None (the bot's own) fits every older item. The version keeps
    a release before them from loading an execution and calling DRS for another account's wave in its
    own account."""
    return {**item, "SchemaVersion": _n(4)}


_HEADER_UPGRADES = {1: _header_v1_to_v2, 2: _header_v2_to_v3, 3: _header_v3_to_v4}


def upgrade_header(item: dict[str, Any]) -> dict[str, Any]:
    """The header item as this release stores it, from any older version, one step at a time."""
    schema = _schema(item, HEADER_SCHEMA, f"execution {item['ExecutionId']['S']}")
    while schema < HEADER_SCHEMA:
        item = _HEADER_UPGRADES[schema](item)
        schema += 1
    return item


def _assemble(header: dict[str, Any], pages: dict[int, list[ServerRun]]) -> Execution:
    body = _body(header)
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
    body.update(_plain_fields(header))
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
