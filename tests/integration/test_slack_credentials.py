"""The Slack credentials from Secrets Manager (moto's server over HTTP), as the deployed functions read them."""

from __future__ import annotations

import itertools
import json
from typing import Any

import boto3
import pytest

from bot.adapters.secrets import load_slack_credentials
from bot.errors import ConfigurationError

_names = itertools.count(1)


@pytest.fixture
def secrets(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    # Powertools builds its own client: point the default chain at moto, as the sandbox does.
    for name, value in {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    return boto3.client("secretsmanager", endpoint_url=moto_url, region_name="us-east-1")


def new_secret(secrets: Any, value: str) -> str:
    # A new name each time: Powertools caches a secret for SECRET_MAX_AGE_SECONDS.
    return str(secrets.create_secret(Name=f"drs-chatops-slack-{next(_names)}", SecretString=value)["ARN"])


def test_the_deployed_secret_gives_both_credentials_and_shows_neither(secrets: Any) -> None:
    arn = new_secret(secrets, json.dumps({"signing_secret": "s3cr3t-signing", "bot_token": "xoxb-s3cr3t"}))
    credentials = load_slack_credentials(arn, None, None)
    assert (credentials.signing_secret, credentials.bot_token) == ("s3cr3t-signing", "xoxb-s3cr3t")
    assert "s3cr3t" not in repr(credentials)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("signing_secret=abc", "is not valid JSON"),
        (
            json.dumps({"signing_secret": "abc"}),
            "must be JSON with non-empty strings signing_secret and bot_token",
        ),
        (json.dumps({"signing_secret": "abc", "bot_token": ""}), "non-empty strings"),
        (json.dumps(["abc", "xoxb"]), "non-empty strings"),
    ],
)
def test_a_malformed_secret_is_named_with_what_it_lacks(secrets: Any, value: str, expected: str) -> None:
    arn = new_secret(secrets, value)
    with pytest.raises(ConfigurationError, match=expected) as raised:
        load_slack_credentials(arn, None, None)
    assert arn in str(raised.value)


def test_a_secret_with_a_key_written_twice_is_refused_naming_the_key_not_the_values(secrets: Any) -> None:
    # Powertools' json transform would keep the second token silently.
    arn = new_secret(
        secrets, '{"signing_secret": "s3cr3t", "bot_token": "xoxb-old", "bot_token": "xoxb-new"}'
    )
    with pytest.raises(ConfigurationError) as raised:
        load_slack_credentials(arn, None, None)
    assert str(raised.value) == (
        f"the Slack secret {arn} is invalid: bot_token: written twice; the second would silently replace the first"
    )


def test_a_missing_secret_is_named(secrets: Any) -> None:
    with pytest.raises(ConfigurationError, match="could not read the Slack secret no-such-secret"):
        load_slack_credentials("no-such-secret", None, None)


def test_credentials_given_directly_need_no_secret() -> None:
    credentials = load_slack_credentials(None, "local-signing", "xoxb-local")
    assert credentials.bot_token == "xoxb-local"
    with pytest.raises(ConfigurationError, match="DRS_BOT_SLACK_SECRET_ID"):
        load_slack_credentials(None, "local-signing", None)
