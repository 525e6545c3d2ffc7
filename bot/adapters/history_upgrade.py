"""`drs-bot history upgrade`: rewrite the execution headers older releases stored in this release's shape.

An operator's tool, run with their own credentials after an upgrade (it scans the table, which no
function of the stack may do): executions that ended before the upgrade are never saved again, so without
it they would lack the plain attributes the console and PartiQL filter on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from bot.adapters.dynamodb import HEADER, HEADER_SCHEMA, upgrade_header

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class HistoryUpgrade:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def run(self) -> int:
        """How many headers were rewritten. One changed since it was read is left alone: the save that
        changed it wrote the new shape. A second run finds nothing to do."""
        rewritten = 0
        for page in self._client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="#item = :header AND (attribute_not_exists(SchemaVersion) OR SchemaVersion < :now)",
            ExpressionAttributeNames={"#item": "Item"},
            ExpressionAttributeValues={":header": {"S": HEADER}, ":now": {"N": str(HEADER_SCHEMA)}},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                if self._rewrite(item):
                    rewritten += 1
        return rewritten

    def _rewrite(self, item: dict[str, Any]) -> bool:
        conditions, values = ["Version = :Version"], {":Version": item["Version"]}
        for name in ("SchemaVersion", "AnchorTs", "ActiveShard"):  # the last two are written beside saves
            if name in item:
                conditions.append(f"{name} = :{name}")
                values[f":{name}"] = item[name]
            else:
                conditions.append(f"attribute_not_exists({name})")
        try:
            self._client.put_item(
                TableName=self._table,
                Item=upgrade_header(item),
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
