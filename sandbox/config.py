"""The sandbox's own configuration (--config FILE): how the emulated world behaves."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from bot.domain.execution import Limits
from bot.domain.policy import AccessPolicy


class ServerBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    launch: Literal["succeed", "fail"] = "succeed"
    error: str | None = None  # DRS's error text when the launch fails
    replication_state: str = "CONTINUOUS"
    # CONTINUOUS: its lagDuration. Another state: how long ago it stopped replicating healthily, so its
    # newest recovery snapshot is at least that old.
    lag_seconds: float = Field(default=0, ge=0)
    slow_conversion_seconds: float = 0


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
