"""The catalog item, as someone may edit it in the DynamoDB console, is read back as strictly as plans.yml."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.dynamodb import DynamoCatalogStore
from bot.domain.plans import Catalog, parse_catalog
from bot.errors import ConfigurationError
from tests.integration.test_plans_cli import GOOD


def edit_body(dynamodb: Any, table: str, edit: Any) -> str:
    item = dynamodb.get_item(TableName=table, Key={"CatalogId": {"S": DynamoCatalogStore.KEY}})["Item"]
    body = str(edit(item["Body"]["S"]))
    dynamodb.update_item(
        TableName=table,
        Key={"CatalogId": {"S": DynamoCatalogStore.KEY}},
        UpdateExpression="SET Body = :body",
        ExpressionAttributeValues={":body": {"S": body}},
    )
    return body


def test_a_body_edited_to_hold_a_key_twice_is_refused_not_half_read(
    dynamodb: Any, tables: dict[str, str]
) -> None:
    store = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    store.replace(parse_catalog(GOOD, "plans.yml"), applied_by="test", now=datetime.now(UTC))
    # A second source_servers list after the first, as a console edit might leave it.
    body = edit_body(
        dynamodb,
        tables["CatalogTable"],
        lambda text: text.replace(
            '"source_servers":["s-1234567890abcdef0","s-0123456789abcdef1"]',
            '"source_servers":["s-1234567890abcdef0","s-0123456789abcdef1"],"source_servers":["s-1234567890abcdef0"]',
        ),
    )
    # What pydantic alone would have read: one server fewer, silently.
    assert Catalog.model_validate_json(body).group("web-tier").source_servers == ["s-1234567890abcdef0"]
    with pytest.raises(ConfigurationError) as refused:
        store.load()
    assert str(refused.value) == (
        f"the catalog in table {tables['CatalogTable']} is invalid (protection_groups[0].source_servers: "
        "written twice; the second would silently replace the first); apply the plans file again "
        "(drs-bot plans apply)"
    )


def test_a_body_edited_into_an_invalid_catalog_is_refused(dynamodb: Any, tables: dict[str, str]) -> None:
    store = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    store.replace(parse_catalog(GOOD, "plans.yml"), applied_by="test", now=datetime.now(UTC))
    edit_body(
        dynamodb, tables["CatalogTable"], lambda text: text.replace('"name":"web-tier"', '"name":"web tier"')
    )
    with pytest.raises(ConfigurationError, match=r"is invalid \(.*name.*\); apply the plans file again"):
        store.load()
