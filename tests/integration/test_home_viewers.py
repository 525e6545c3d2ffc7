"""Who has the Home tab, stored in the executions table (moto): remembered when they open it, forgotten
30 days after they last did, and refused when a newer release stored it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.adapters.home_store import HOME_SCHEMA, DynamoHomeViewers
from bot.errors import StoredByNewerRelease
from tests.unit.builders import T0


@pytest.fixture
def viewers(dynamodb: Any, tables: dict[str, str]) -> DynamoHomeViewers:
    return DynamoHomeViewers(dynamodb, tables["ExecutionsTable"])


def test_a_user_is_republished_to_for_30_days_after_last_opening_the_tab(viewers: DynamoHomeViewers) -> None:
    viewers.remember("U0HOMEA", T0)
    viewers.remember("U0HOMEB", T0 + timedelta(days=20))
    assert viewers.viewers(T0 + timedelta(days=29)) == ["U0HOMEA", "U0HOMEB"]
    assert viewers.viewers(T0 + timedelta(days=31)) == ["U0HOMEB"]  # DynamoDB's TTL may lag: read skips it
    viewers.remember("U0HOMEA", T0 + timedelta(days=31))  # opened again
    assert viewers.viewers(T0 + timedelta(days=45)) == ["U0HOMEA", "U0HOMEB"]
    assert viewers.viewers(T0 + timedelta(days=62)) == []


def test_the_item_expires_by_the_tables_ttl_and_a_newer_shape_is_refused(
    viewers: DynamoHomeViewers, dynamodb: Any, tables: dict[str, str]
) -> None:
    viewers.remember("U0HOMEC", T0)
    key = {"ExecutionId": {"S": "HOME"}, "Item": {"S": "USER#U0HOMEC"}}
    item = dynamodb.get_item(TableName=tables["ExecutionsTable"], Key=key)["Item"]
    assert int(item["ExpiresAt"]["N"]) == int((T0 + timedelta(days=30)).timestamp())
    assert "PlanId" not in item and "ActiveShard" not in item  # invisible to history and the executor
    dynamodb.put_item(
        TableName=tables["ExecutionsTable"], Item={**item, "SchemaVersion": {"N": str(HOME_SCHEMA + 1)}}
    )
    with pytest.raises(StoredByNewerRelease):
        viewers.viewers(T0)


def test_the_catalog_digest_the_tabs_show_is_kept(viewers: DynamoHomeViewers) -> None:
    assert viewers.catalog_shown() is None
    viewers.showing_catalog("abc")
    viewers.showing_catalog("def")
    assert viewers.catalog_shown() == "def"
    assert viewers.viewers(T0) == []  # not a viewer
