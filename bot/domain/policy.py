"""Who may do what, by Slack user id or user group id — never by display name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from bot.domain.execution import ActionKind, Execution

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


class Role(StrEnum):
    """What a person is to one execution."""

    REQUESTER = "the requester"
    APPROVER = "an approver"
    DRILL_RUNNER = "a drill runner"


@dataclass(frozen=True)
class Permission:
    """Who may make one control: any of `roles`; `approver_not_requester` is the two-person rule (the
    requester never passes alone, even when they are an approver)."""

    roles: frozenset[Role]
    approver_not_requester: bool = False


_ANYONE_ENTITLED = Permission(frozenset({Role.REQUESTER, Role.APPROVER, Role.DRILL_RUNNER}))
_REQUESTER_OR_APPROVER = Permission(frozenset({Role.REQUESTER, Role.APPROVER}))
_APPROVERS = Permission(frozenset({Role.APPROVER}))
_OTHER_APPROVERS = Permission(frozenset({Role.APPROVER}), approver_not_requester=True)

# The README's permission table ("Steering a running execution") is this table: for a drill, then for a
# RECOVERY or FAILBACK. APPROVE and REJECT are decided by bot/domain/approval.py.
CONTROLS: Mapping[ActionKind, tuple[Permission, Permission]] = {
    ActionKind.CANCEL: (_ANYONE_ENTITLED, _REQUESTER_OR_APPROVER),
    ActionKind.CLEANUP: (_ANYONE_ENTITLED, _REQUESTER_OR_APPROVER),
    ActionKind.CONTINUE: (_ANYONE_ENTITLED, _OTHER_APPROVERS),
    ActionKind.STOP: (_ANYONE_ENTITLED, _REQUESTER_OR_APPROVER),
    ActionKind.PAUSE: (_ANYONE_ENTITLED, _REQUESTER_OR_APPROVER),
    ActionKind.RESUME: (_ANYONE_ENTITLED, _REQUESTER_OR_APPROVER),
    ActionKind.RETRY: (_ANYONE_ENTITLED, _APPROVERS),
    ActionKind.SKIP: (_ANYONE_ENTITLED, _APPROVERS),
}


def permission(kind: ActionKind, execution: Execution) -> Permission:
    drill, other = CONTROLS[kind]
    return drill if execution.execution_type.is_drill else other


def may_control(
    policy: AccessPolicy, kind: ActionKind, execution: Execution, user_id: str, groups: set[str]
) -> bool:
    allowed = permission(kind, execution)
    requester = user_id == execution.initiated_by
    if allowed.approver_not_requester and requester:
        return False
    return (
        (Role.REQUESTER in allowed.roles and requester)
        or (Role.APPROVER in allowed.roles and policy.may_approve(user_id, groups))
        or (Role.DRILL_RUNNER in allowed.roles and policy.may_run_drill(user_id, groups))
    )
