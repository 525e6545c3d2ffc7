"""Slack credentials: from Secrets Manager through Powertools (cached), or given directly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr

SECRET_MAX_AGE_SECONDS = 300


class SlackCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    signing_secret: SecretStr
    bot_token: SecretStr


def load_slack_credentials(
    secret_id: str | None, signing_secret: SecretStr | None, bot_token: SecretStr | None
) -> SlackCredentials:
    if signing_secret is not None and bot_token is not None:
        return SlackCredentials(signing_secret=signing_secret, bot_token=bot_token)
    if not secret_id:
        raise RuntimeError(
            "Slack credentials missing: set DRS_BOT_SLACK_SECRET_ID (Secrets Manager) "
            "or DRS_BOT_SLACK_SIGNING_SECRET and DRS_BOT_SLACK_BOT_TOKEN"
        )
    from aws_lambda_powertools.utilities.parameters import get_secret

    value = get_secret(secret_id, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
    return SlackCredentials.model_validate(value)
