"""Fixtures for the DRS emulator suite: a ManualClock, the emulator served over HTTP, real boto3 clients."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock

from .helpers import OTHER_REGION, REGION, START, Exchange

# One botocore session for all clients: loading the model once keeps the suite fast.
_SESSION = boto3.session.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def emulator(clock: ManualClock) -> DrsEmulator:
    return DrsEmulator(regions=(REGION, OTHER_REGION), clock=clock, seed=7)


@pytest.fixture
def server(emulator: DrsEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator) as srv:
        yield srv


@pytest.fixture
def exchanges() -> list[Exchange]:
    """Every raw HTTP response seen by clients made with make_client (botocore drops unknown members)."""
    return []


@pytest.fixture
def make_client(server: EmulatorServer, exchanges: list[Exchange]) -> Callable[..., Any]:
    def make(
        region: str = REGION, *, validate: bool = True, attempts: int = 1, url: str | None = None
    ) -> Any:
        client = _SESSION.client(
            "drs",
            region_name=region,
            endpoint_url=url or server.url,
            config=Config(
                retries={"total_max_attempts": attempts, "mode": "standard"}, parameter_validation=validate
            ),
        )

        def capture(http_response: Any, model: Any, **_: Any) -> None:
            raw = http_response.content
            exchanges.append(
                Exchange(
                    model.name,
                    http_response.status_code,
                    {k.lower(): v for k, v in http_response.headers.items()},
                    json.loads(raw) if raw else None,
                )
            )

        client.meta.events.register("after-call.drs", capture)
        return client

    return make


@pytest.fixture
def drs(make_client: Callable[..., Any]) -> Any:
    return make_client()
