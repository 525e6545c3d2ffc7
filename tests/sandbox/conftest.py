"""Fixtures for the sandbox fakes' own tests: each test gets fresh servers on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from sandbox.lambda_fake import FakeLambda
from sandbox.slack_fake import FakeSlack

CHANNEL = "C0DRILLS"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(usergroups={"S0APPROVERS": ["U0ALICE", "U0BOB"]}) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    """The real slack_sdk client with its default retry handlers (connection errors only)."""
    return WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5)


@pytest.fixture
def lam() -> Iterator[FakeLambda]:
    with FakeLambda() as fake:
        yield fake
