"""`drs-bot history export`: which executions, oldest first, read whole through the store.

An operator's tool, run with their own credentials (without --plan it scans the table's headers, which
no function of the stack may do); with --plan it queries the ByPlan index.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.adapters.dynamodb import HEADER, DynamoExecutionStore
from bot.domain.execution import Execution

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class HistoryExport:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table
        self._store = DynamoExecutionStore(client, table)

    def executions(self, *, plan_name: str | None, since: datetime | None) -> Iterator[Execution]:
        """Every execution (of the plan) created at or after `since`, oldest first."""
        for _, execution_id in sorted(self._headers(plan_name, since)):
            execution = self._store.get(execution_id)
            if execution is not None:
                yield execution

    def _headers(self, plan_name: str | None, since: datetime | None) -> list[tuple[str, str]]:
        # CreatedAt is ISO text, which sorts by time; the prefix without a zone sorts before any zone.
        after = " AND CreatedAt >= :since" if since else ""
        values: dict[str, Any] = {":since": {"S": f"{since:%Y-%m-%dT%H:%M:%S}"}} if since else {}
        if plan_name is not None:
            pages = self._client.get_paginator("query").paginate(
                TableName=self._table,
                IndexName="ByPlan",
                KeyConditionExpression="PlanId = :plan" + after,
                ExpressionAttributeValues={**values, ":plan": {"S": plan_name}},
                ProjectionExpression="ExecutionId, CreatedAt",
            )
        else:
            pages = self._client.get_paginator("scan").paginate(
                TableName=self._table,
                FilterExpression="#item = :header" + after,
                ExpressionAttributeNames={"#item": "Item"},
                ExpressionAttributeValues={**values, ":header": {"S": HEADER}},
                ProjectionExpression="ExecutionId, CreatedAt",
            )
        return [
            (item["CreatedAt"]["S"], item["ExecutionId"]["S"])
            for page in pages
            for item in page.get("Items", [])
        ]
