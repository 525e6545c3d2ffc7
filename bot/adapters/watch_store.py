"""The readiness watch's memory in DynamoDB: one item per plan in the executions table.

  ExecutionId = WATCH, Item = PLAN#<name>   the plan's WatchState (bot/domain/watch.py)

One partition, so a watch round reads every plan's state with one Query. The items carry none of the
indexes' attributes (PlanId, ChannelId, ActiveShard, CreatedAt): history and the executor never see them.
Each write is conditioned on the Version read, so of two rounds at once only one stores a change and
tells its news; the news waits in the item (`pending`) until posted, under a claim with a lease.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bot.domain.execution import ExecutionSummary
from bot.domain.strict_json import load_json
from bot.domain.watch import WatchState
from bot.errors import StaleWatchState, StoredByNewerRelease

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PARTITION = "WATCH"
PLAN = "PLAN#"
# Raise when the stored shape of WatchState changes, and add the step from the previous version.
WATCH_SCHEMA = 1


def _conditional(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoWatchStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def states(self) -> dict[str, WatchState]:
        found: dict[str, WatchState] = {}
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "ExecutionId = :p AND begins_with(#item, :plan)",
            "ExpressionAttributeNames": {"#item": "Item"},
            "ExpressionAttributeValues": {":p": {"S": PARTITION}, ":plan": {"S": PLAN}},
            "ConsistentRead": True,
        }
        while True:
            page = self._client.query(**arguments)
            for item in page.get("Items", []):
                state = _state(item)
                found[state.plan_name] = state
            if "LastEvaluatedKey" not in page:
                return found
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def save(
        self, state: WatchState, *, claim_owner: str | None = None, claim_until: datetime | None = None
    ) -> WatchState:
        """Store `state` if nobody saved since it was read (its version); StaleWatchState otherwise.
        With a claim, this round also takes the pending news to post it."""
        saved = state.model_copy(update={"version": state.version + 1})
        item: dict[str, Any] = {
            "ExecutionId": {"S": PARTITION},
            "Item": {"S": PLAN + state.plan_name},
            "SchemaVersion": {"N": str(WATCH_SCHEMA)},
            "Version": {"N": str(saved.version)},
            "Level": {"S": saved.level.value},
            "Body": {"S": saved.model_dump_json(exclude={"version", "pending"})},
        }
        if saved.pending is not None:
            item["PendingKey"] = {"S": saved.pending.key}
            item["Pending"] = {"S": saved.pending.model_dump_json()}
        if claim_owner and claim_until:
            item["ClaimOwner"] = {"S": claim_owner}
            item["ClaimUntil"] = {"S": claim_until.isoformat()}
        condition = (
            {"ConditionExpression": "attribute_not_exists(ExecutionId)"}
            if state.version == 0
            else {
                "ConditionExpression": "Version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(state.version)}},
            }
        )
        try:
            self._client.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as error:
            if _conditional(error):
                raise StaleWatchState(state.plan_name) from None
            raise
        return saved

    def last_successful_drill(self, plan_name: str) -> datetime | None:
        """When the plan's newest COMPLETED drill ended: the ByPlan index, newest first, filtered.
        Read here rather than through DynamoExecutionStore so the watch's role stays read-only on
        executions (tests/infrastructure/test_iam.py grants per adapter class)."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "ByPlan",
            "KeyConditionExpression": "PlanId = :plan",
            "FilterExpression": "ExecutionType = :drill AND #status = :completed",
            "ExpressionAttributeNames": {"#status": "Status"},
            "ExpressionAttributeValues": {
                ":plan": {"S": plan_name},
                ":drill": {"S": "DRILL"},
                ":completed": {"S": "COMPLETED"},
            },
            "ScanIndexForward": False,
        }
        while True:
            page = self._client.query(**arguments)
            for item in page.get("Items", []):
                if "Summary" in item:
                    return ExecutionSummary.model_validate_json(item["Summary"]["S"]).end_time
            if "LastEvaluatedKey" not in page:
                return None
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(self, plan_name: str, key: str, owner: str, now: datetime, until: datetime) -> bool:
        """Take the plan's pending news `key` to post it, unless another round holds a live claim."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"ExecutionId": {"S": PARTITION}, "Item": {"S": PLAN + plan_name}},
                # The version moves too: a round that read before this claim cannot overwrite it.
                UpdateExpression="SET ClaimOwner = :owner, ClaimUntil = :until, Version = Version + :one",
                ConditionExpression="PendingKey = :key AND (attribute_not_exists(ClaimUntil) OR ClaimUntil < :now)",
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"S": until.isoformat()},
                    ":key": {"S": key},
                    ":now": {"S": now.isoformat()},
                    ":one": {"N": "1"},
                },
            )
        except ClientError as error:
            if _conditional(error):
                return False
            raise
        return True

    def release(self, plan_name: str, key: str, owner: str) -> None:
        """Give up the claim on news `key` (posting failed): the next round may take it at once."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"ExecutionId": {"S": PARTITION}, "Item": {"S": PLAN + plan_name}},
                UpdateExpression="SET Version = Version + :one REMOVE ClaimOwner, ClaimUntil",
                ConditionExpression="PendingKey = :key AND ClaimOwner = :owner",
                ExpressionAttributeValues={":key": {"S": key}, ":owner": {"S": owner}, ":one": {"N": "1"}},
            )
        except ClientError as error:
            if not _conditional(error):
                raise

    def delivered(self, plan_name: str, key: str) -> None:
        """The news `key` is out: forget it, unless a newer change replaced it meanwhile."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"ExecutionId": {"S": PARTITION}, "Item": {"S": PLAN + plan_name}},
                UpdateExpression="SET Version = Version + :one REMOVE PendingKey, Pending, ClaimOwner, ClaimUntil",
                ConditionExpression="PendingKey = :key",
                ExpressionAttributeValues={":key": {"S": key}, ":one": {"N": "1"}},
            )
        except ClientError as error:
            if not _conditional(error):
                raise

    def forget(self, plan_name: str) -> None:
        """Delete a removed plan's state, unless news was saved meanwhile (a later round posts it)."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"ExecutionId": {"S": PARTITION}, "Item": {"S": PLAN + plan_name}},
                ConditionExpression="attribute_not_exists(PendingKey)",
            )
        except ClientError as error:
            if not _conditional(error):
                raise


def _state(item: dict[str, Any]) -> WatchState:
    found = int(item["SchemaVersion"]["N"])
    if found > WATCH_SCHEMA:
        raise StoredByNewerRelease("a plan's readiness watch state", found, WATCH_SCHEMA)
    body = load_json(item["Body"]["S"])
    assert isinstance(body, dict)
    pending = load_json(item["Pending"]["S"]) if "Pending" in item else None
    return WatchState.model_validate({**body, "pending": pending, "version": int(item["Version"]["N"])})
