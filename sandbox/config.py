"""The sandbox's own configuration (--config FILE): how the emulated world behaves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.execution import Limits
from bot.domain.policy import AccessPolicy
from bot.domain.strict_json import DocumentError
from bot.domain.strict_yaml import MAX_BYTES, load_yaml
from sandbox.drs_emulator.lifecycle import FAILURES
from sandbox.drs_emulator.model import service_model


class InvalidSandboxConfig(ValueError):
    """A --config file that cannot be used; the message names the file and what is wrong."""


class ServerBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    launch: Literal["succeed", "fail"] = "succeed"
    # The job log event that ends a failing launch (a JobLogEvent failure, e.g. CONVERSION_FAIL).
    event: str = "LAUNCH_FAILED"
    error: str | None = None  # DRS's error text when the launch fails
    replication_state: str = "CONTINUOUS"
    # CONTINUOUS: its lagDuration. Another state: how long ago it stopped replicating healthily, so its
    # newest recovery snapshot is at least that old.
    lag_seconds: float = Field(default=0, ge=0)
    slow_conversion_seconds: float = 0
    # Its recovery instances refuse ReverseReplication (not ready) this long after they run, or forever.
    reverse_not_ready_seconds: Annotated[float, Field(ge=0)] | Literal["forever"] = 0
    # Health checks: its recovery instances' EC2 instance status check, and their SSM agent.
    status_check: Literal["passing", "failing"] = "passing"
    ssm_agent: Literal["online", "offline"] = "online"
    # What a Run Command (health_check.ssm_command) does there: exits 0, exits 1, or never ends.
    ssm_command: Literal["success", "failing", "hanging"] = "success"

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


class SlackChannelSetup(BaseModel):
    """A channel of the fake workspace that is not the usual one where the bot is a member."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    is_member: bool = True  # false: the bot was not invited (not_in_channel; channel_not_found if private)
    is_private: bool = False
    is_archived: bool = False  # every post and edit answers is_archived


class SlackFaultSetup(BaseModel):
    """A fault of the fake Slack Web API (sandbox.slack_fake.faults.Fault), armed when the sandbox starts."""

    model_config = ConfigDict(extra="forbid")

    method: str  # a Web API method ("chat.postMessage", "views.open"), "response_url" or "*"
    kind: Literal["ratelimited", "server_error", "timeout", "not_in_channel", "refused", "slow", "ambiguous"]
    count: int = Field(default=1, ge=1)
    retry_after: int = Field(default=1, ge=0)  # ratelimited: the Retry-After header, seconds
    status: int | None = Field(default=None, ge=400, le=599)
    drop: bool = False
    delay: float = Field(default=2.0, ge=0)  # timeout and slow: seconds the request is held
    error: str = "not_in_channel"  # refused: Slack's error code (is_archived, invalid_auth...)


class SlackSetup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: dict[str, SlackChannelSetup] = Field(default_factory=dict)
    faults: list[SlackFaultSetup] = Field(default_factory=list)


class AccountQuotas(BaseModel):
    """DRS's quotas in one of the sandbox's other accounts (the emulator's; the bot plans with `limits`)."""

    model_config = ConfigDict(extra="forbid")

    servers_per_job: int = Field(default=100, ge=1, le=200)
    concurrent_jobs: int = Field(default=20, ge=1)
    servers_in_active_jobs: int = Field(default=500, ge=1)


class AccountSetup(BaseModel):
    """Another AWS account the sandbox serves (SandboxStack.add_account), and its faults."""

    model_config = ConfigDict(extra="forbid")

    regions: list[str] = Field(default_factory=lambda: ["us-east-1"], min_length=1)
    # assumable: the bot's role is there; unassumable: it is, and STS refuses it; missing: no role at all.
    role: Literal["assumable", "unassumable", "missing"] = "assumable"
    deny: list[str] = Field(default_factory=list)  # DRS operations the bot's role there lacks
    quotas: AccountQuotas = AccountQuotas()

    @field_validator("deny")
    @classmethod
    def _drs_operations(cls, operations: list[str]) -> list[str]:
        known = service_model()["operations"]
        unknown = [operation for operation in operations if operation not in known]
        if unknown:
            raise ValueError(f"not DRS operations: {', '.join(unknown)}")
        return operations


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
    # The readiness watch's schedule, in emulated minutes (the stack's WatchMinutes); none: only DRS's
    # replication-stalled events and SandboxStack.run_watch start a round.
    watch_minutes: float | None = Field(default=None, gt=0)
    servers: dict[str, ServerBehaviour] = Field(default_factory=dict)
    # CloudWatch alarms (on moto) that plans' health checks name, in the state given.
    alarms: dict[str, Literal["OK", "ALARM", "INSUFFICIENT_DATA"]] = Field(default_factory=dict)
    # The deployed bot's DRS_BOT_ACCESS_POLICY; by default anyone may run drills in any channel.
    access_policy: AccessPolicy = AccessPolicy()
    # Slack user groups of the fake workspace (usergroups.users.list), for policies that name groups.
    usergroups: dict[str, list[str]] = Field(default_factory=dict)
    # Hostile Slack conditions: channels the bot is not in or that are archived, and Web API faults.
    slack: SlackSetup = SlackSetup()
    # The bot's role in the other accounts SandboxStack.add_account serves (#18), as the stack's
    # parameters TargetAccountRoleName and TargetAccountExternalId name it.
    target_role_name: str = Field(default="drs-chatops-target", max_length=64, pattern=r"^[\w+=,.@-]+$")
    target_external_id: str | None = Field(
        default="drs-chatops-sandbox", min_length=2, max_length=1224, pattern=r"^[\w+=,.@:/-]+$"
    )
    # Other accounts, by 12-digit id, with their regions and faults.
    accounts: dict[Annotated[str, Field(pattern=r"^\d{12}$")], AccountSetup] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> SandboxConfig:
        if path is None:
            return cls()
        try:
            with path.open("rb") as file:
                data = load_yaml(file.read(MAX_BYTES + 1)) or {}
            return cls.model_validate(data)
        except OSError as error:
            raise InvalidSandboxConfig(f"{path}: cannot read: {error.strerror}") from None
        except DocumentError as error:
            raise InvalidSandboxConfig(
                "\n".join(f"{path}: {problem}" for problem in error.problems)
            ) from None
        except ValidationError as error:
            problems = [
                f"{path}: {'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
            ]
            raise InvalidSandboxConfig("\n".join(problems)) from None
