"""Typed configuration, read from the environment (DRS_BOT_*) in one place.

The fields are validated by pydantic. The environment is read here rather than by pydantic-settings:
importing pydantic-settings (every settings source it offers) cost ≈ 66 ms of the Slack handler's
cold start, a fifth of the time Slack's 3-second ack allows us to spend (benchmarks/README.md).
Values are plain strings; fields that are models (limits, access_policy) take JSON, read strictly (a key
written twice is refused: bot/domain/strict_json.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.domain.accounts import Account
from bot.domain.execution import Limits
from bot.domain.policy import AccessPolicy
from bot.domain.strict_json import DocumentError, load_json
from bot.errors import ConfigurationError

PREFIX = "DRS_BOT_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

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
    # The S3 bucket execution reports go to (cfn/template.yaml, ReportsBucket); none: no reports kept.
    reports_bucket: str | None = None
    # `drs-bot plans apply`: where plans' schedules send their drills (the stack's outputs give both).
    scheduled_drill_arn: str | None = None
    scheduler_role_arn: str | None = None
    access_policy: AccessPolicy = AccessPolicy()
    # Local rehearsals only (the sandbox): the bot's clock runs in step with the emulated DRS, which
    # compresses real timings, so RTOs, wait_before and timeouts read as they would in production.
    clock_scale: float = Field(default=1.0, gt=0)
    clock_origin: datetime | None = None
    poll_seconds: float = Field(default=15.0, gt=0)
    limits: Limits = Limits()
    # Several accounts (README "Several accounts"): the accounts whose protection groups the bot may
    # recover, each reached through the role `target_role_name` (cfn/target-account.yaml) with the
    # external id. Comma-separated in the environment; none: the bot works in its own account only.
    target_accounts: tuple[Account, ...] = ()
    target_role_name: str = Field(default="drs-chatops-target", pattern=r"^[\w+=,.@-]{1,64}$")
    target_external_id: str | None = Field(
        default=None, min_length=2, max_length=1224, pattern=r"^[\w+=,.@:/-]+$"
    )

    @field_validator("target_accounts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("target_accounts")
    @classmethod
    def _listed_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("an account is listed twice")
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """DRS_BOT_<FIELD> for each field; a bad value fails naming its variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            raw = environ.get(PREFIX + name.upper())
            if raw is None:
                continue
            is_model = isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
            if is_model:
                try:
                    values[name] = load_json(raw)
                except DocumentError as error:
                    raise ConfigurationError(error.about(PREFIX + name.upper())) from None
            else:
                values[name] = raw
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            where = [str(part) for part in first["loc"]]
            variable = f"{PREFIX}{where[0].upper()}" if where else f"{PREFIX}*"
            detail = ".".join(where[1:])
            raise ConfigurationError(
                f"{variable} is invalid: {detail + ': ' if detail else ''}{first['msg']}"
            ) from None
