"""Who may do what, where: the access policy applied to a Slack user (and their user groups)."""

from __future__ import annotations

from bot.domain.execution import ActionKind, Execution
from bot.domain.policy import AccessPolicy, may_control
from bot.services.ports import Directory


class Access:
    def __init__(self, policy: AccessPolicy, directory: Directory | None = None) -> None:
        self.policy = policy
        self._directory = directory

    def groups(self, user_id: str) -> set[str]:
        candidates = self.policy.groups()
        if not candidates or self._directory is None:
            return set()
        return self._directory.groups_of(user_id, candidates)

    def may_control(self, execution: Execution, user_id: str, kind: ActionKind) -> bool:
        """The permission table (bot/domain/policy.py CONTROLS) applied to this user and execution."""
        return may_control(self.policy, kind, execution, user_id, self.groups(user_id))
