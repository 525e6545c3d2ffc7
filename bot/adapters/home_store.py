"""Who has the App Home tab, in DynamoDB: one small item per user in the executions table.

  ExecutionId = HOME, Item = USER#<id>   OpenedAt (ISO), ExpiresAt (epoch seconds), SchemaVersion
  ExecutionId = HOME, Item = CATALOG     Digest: the catalog the tabs were last published from

One partition, so a republish reads every viewer with one Query. The table's TTL (`ExpiresAt`) deletes
a user not seen for `FORGET_AFTER`; DynamoDB may take days to, so reading skips expired items too. No
index attributes: history and the executor never see these items.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.errors import StoredByNewerRelease

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PARTITION = "HOME"
USER = "USER#"
CATALOG = "CATALOG"  # the digest of the catalog the tabs were last published from
# Raise when the stored shape changes, and read the previous one too.
HOME_SCHEMA = 1
# A user who has not opened the tab for this long is no longer republished to.
FORGET_AFTER = timedelta(days=30)


class DynamoHomeViewers:
    def __init__(self, client: DynamoDBClient, table: str, *, forget_after: timedelta = FORGET_AFTER) -> None:
        self._client = client
        self._table = table
        self._forget_after = forget_after

    def remember(self, user_id: str, now: datetime) -> None:
        """The user opened the tab: republish to them until `forget_after` from now."""
        self._client.put_item(
            TableName=self._table,
            Item={
                "ExecutionId": {"S": PARTITION},
                "Item": {"S": USER + user_id},
                "SchemaVersion": {"N": str(HOME_SCHEMA)},
                "OpenedAt": {"S": now.isoformat()},
                "ExpiresAt": {"N": str(int((now + self._forget_after).timestamp()))},
            },
        )

    def viewers(self, now: datetime) -> list[str]:
        """The users who opened the tab within `forget_after`, in user id order."""
        found: list[str] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "ExecutionId = :p AND begins_with(#item, :user)",
            "ExpressionAttributeNames": {"#item": "Item"},
            "ExpressionAttributeValues": {":p": {"S": PARTITION}, ":user": {"S": USER}},
        }
        while True:
            page = self._client.query(**arguments)
            for item in page.get("Items", []):
                version = int(item["SchemaVersion"]["N"])
                if version > HOME_SCHEMA:
                    raise StoredByNewerRelease("a Home tab viewer", version, HOME_SCHEMA)
                if int(item["ExpiresAt"]["N"]) > now.timestamp():
                    found.append(item["Item"]["S"].removeprefix(USER))
            if "LastEvaluatedKey" not in page:
                return found
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def catalog_shown(self) -> str | None:
        """The digest of the catalog the tabs were last published from (a Query: the watch's role
        reads its table with Query only)."""
        page = self._client.query(
            TableName=self._table,
            KeyConditionExpression="ExecutionId = :p AND #item = :catalog",
            ExpressionAttributeNames={"#item": "Item"},
            ExpressionAttributeValues={":p": {"S": PARTITION}, ":catalog": {"S": CATALOG}},
            ConsistentRead=True,
        )
        items = page.get("Items", [])
        return items[0]["Digest"]["S"] if items else None

    def showing_catalog(self, digest: str) -> None:
        self._client.put_item(
            TableName=self._table,
            Item={
                "ExecutionId": {"S": PARTITION},
                "Item": {"S": CATALOG},
                "SchemaVersion": {"N": str(HOME_SCHEMA)},
                "Digest": {"S": digest},
            },
        )
