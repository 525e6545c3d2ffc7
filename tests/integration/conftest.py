"""Adapters against real local services: DynamoDB on moto's server over HTTP."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sandbox.moto_server import MotoServer
from sandbox.tables import create_tables

_suffix = itertools.count(1)


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with MotoServer() as server:
        yield server.url


@pytest.fixture
def dynamodb(moto_url: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def tables(dynamodb: Any) -> dict[str, str]:
    """Fresh tables for each test, created from cfn/template.yaml."""
    n = next(_suffix)
    names = {"CatalogTable": f"catalog-{n}", "ExecutionsTable": f"executions-{n}"}
    create_tables(dynamodb, names)
    return names
