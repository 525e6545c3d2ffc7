"""The sandbox's own configuration (--config FILE): how the emulated world behaves."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain.execution import Limits
from bot.domain.policy import AccessPolicy
from sandbox.drs_emulator.lifecycle import FAILURES


class ServerBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    launch: Literal["succeed", "fail"] = "succeed"
    # The job log event that ends a failing launch (a JobLogEvent failure, e.g. CONVERSION_FAIL).
    event: str = "LAUNCH_FAILED"
    error: str | None = None  # DRS's error text when the launch fails
    replication_state: str = "CONTINUOUS"
    slow_conversion_seconds: float = 0

    @field_validator("event")
    @classmethod
    def _known_failure(cls, event: str) -> str:
        if event not in FAILURES:
            raise ValueError(f"must be one of {', '.join(FAILURES)}")
        return event

    @model_validator(mode="after")
    def _failure_details_need_a_failure(self) -> ServerBehaviour:
        given = self.model_fields_set & {"event", "error"}
        if given and self.launch != "fail":
            raise ValueError(f"{' and '.join(sorted(given))} given without launch: fail")
        return self


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_scale: float = Field(default=60.0, gt=0, description="60: one emulated minute per real second")
    poll_seconds: float = Field(default=1.0, gt=0)
    limits: Limits = Limits()
    signing_secret: str = "sandbox-signing-secret"
    bot_token: str = "xoxb-sandbox"
    channel_id: str = "C0DRILLS"
    seed: int = 7
    drs_events: bool = Field(default=True, description="DRS launch-result events trigger an early tick")
    servers: dict[str, ServerBehaviour] = Field(default_factory=dict)
    # The deployed bot's DRS_BOT_ACCESS_POLICY; by default anyone may run drills in any channel.
    access_policy: AccessPolicy = AccessPolicy()
    # Slack user groups of the fake workspace (usergroups.users.list), for policies that name groups.
    usergroups: dict[str, list[str]] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> SandboxConfig:
        if path is None:
            return cls()
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
