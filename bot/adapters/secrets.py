"""Slack credentials: from Secrets Manager through Powertools (cached), or given directly.

Read on Slack's ack path (the signing secret checks every request), so this module imports neither
pydantic nor boto3 up front: Powertools' parameters utility loads only when a secret id is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.domain.strict_json import DocumentError, load_json
from bot.errors import ConfigurationError

SECRET_MAX_AGE_SECONDS = 300
SECRET_KEYS = ("signing_secret", "bot_token")


@dataclass(frozen=True)
class SlackCredentials:
    signing_secret: str = field(repr=False)
    bot_token: str = field(repr=False)


def load_slack_credentials(
    secret_id: str | None, signing_secret: str | None, bot_token: str | None
) -> SlackCredentials:
    if signing_secret and bot_token:
        return SlackCredentials(signing_secret=signing_secret, bot_token=bot_token)
    if not secret_id:
        raise ConfigurationError(
            "Slack credentials missing: set DRS_BOT_SLACK_SECRET_ID (Secrets Manager) "
            "or DRS_BOT_SLACK_SIGNING_SECRET and DRS_BOT_SLACK_BOT_TOKEN"
        )
    from aws_lambda_powertools.utilities.parameters import get_secret
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        raw = get_secret(secret_id, max_age=SECRET_MAX_AGE_SECONDS)
    except GetParameterError as error:
        raise ConfigurationError(f"could not read the Slack secret {secret_id}: {error}") from None
    # Parsed here, not by Powertools' json transform: that keeps the last of two equal keys silently.
    try:
        value = load_json(raw)
    except DocumentError as error:
        raise ConfigurationError(error.about(f"the Slack secret {secret_id}")) from None
    return _from_secret(secret_id, value)


def _from_secret(secret_id: str, value: Any) -> SlackCredentials:
    if isinstance(value, dict) and all(isinstance(value.get(key), str) and value[key] for key in SECRET_KEYS):
        return SlackCredentials(signing_secret=value["signing_secret"], bot_token=value["bot_token"])
    raise ConfigurationError(
        f"the Slack secret {secret_id} must be JSON with non-empty strings signing_secret and bot_token"
    )
