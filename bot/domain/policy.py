"""Who may do what, by Slack user id or user group id — never by display name."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Scheduled drills start as this identity; "*" (every person) does not include it: it must be named.
SCHEDULER = "scheduler"
# A user (U…/W…), a user group (S…), "*" for everyone, or the scheduler.
Principal = Annotated[str, StringConstraints(pattern=r"^(\*|[UW][A-Z0-9]{2,}|S[A-Z0-9]{2,}|scheduler)$")]
ChannelId = Annotated[str, StringConstraints(pattern=r"^[CGD][A-Z0-9]{2,}$")]


class AccessPolicy(BaseModel):
    """Set with DRS_BOT_ACCESS_POLICY (JSON); see the README's "Access policy"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drill_runners: list[Principal] = Field(default_factory=lambda: ["*"])
    recovery_requesters: list[Principal] = Field(default_factory=list)
    approvers: list[Principal] = Field(default_factory=list)
    approvals_required: int = Field(default=1, ge=1, le=2)
    approval_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    allowed_channels: list[ChannelId] = Field(default_factory=list)  # empty: any channel

    def channel_allowed(self, channel_id: str) -> bool:
        return not self.allowed_channels or channel_id in self.allowed_channels

    def groups(self) -> set[str]:
        """Every user group the policy names: membership is looked up only for these."""
        named = self.drill_runners + self.recovery_requesters + self.approvers
        return {principal for principal in named if principal.startswith("S")}

    def may_run_drill(self, user_id: str, groups: set[str]) -> bool:
        return _matches(self.drill_runners, user_id, groups)

    def may_request_recovery(self, user_id: str, groups: set[str]) -> bool:
        return _matches(self.recovery_requesters, user_id, groups)

    def may_approve(self, user_id: str, groups: set[str]) -> bool:
        return _matches(self.approvers, user_id, groups)


def _matches(principals: list[str], user_id: str, groups: set[str]) -> bool:
    if user_id == SCHEDULER:
        return SCHEDULER in principals
    return "*" in principals or user_id in principals or bool(groups.intersection(principals))
