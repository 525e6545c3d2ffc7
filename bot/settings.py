"""Typed configuration, read from the environment (DRS_BOT_*) in one place."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.execution import Limits
from bot.domain.policy import AccessPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRS_BOT_", env_nested_delimiter="__", extra="ignore")

    catalog_table: str = "drs-chatops-catalog"
    executions_table: str = "drs-chatops-executions"
    region: str = Field(default="us-east-1", description="Region of the bot's own tables and state machine")

    # Secrets: a Secrets Manager secret (JSON with signing_secret and bot_token) on AWS;
    # plain values only for local runs (the sandbox, Socket Mode on a laptop).
    slack_secret_id: str | None = None
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_api_url: str | None = None

    state_machine_arn: str | None = None
    access_policy: AccessPolicy = AccessPolicy()
    # Local rehearsals only (the sandbox): the bot's clock runs in step with the emulated DRS, which
    # compresses real timings, so RTOs, wait_before and timeouts read as they would in production.
    clock_scale: float = Field(default=1.0, gt=0)
    clock_origin: datetime | None = None
    poll_seconds: float = Field(default=15.0, gt=0)
    limits: Limits = Limits()
