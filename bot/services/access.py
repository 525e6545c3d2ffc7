"""Who may do what, where: the access policy applied to a Slack user (and their user groups)."""

from __future__ import annotations

from bot.domain.execution import Execution
from bot.domain.policy import AccessPolicy
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

    def may_control(self, execution: Execution, user_id: str) -> bool:
        """Cancel and clean up: the requester, an approver, or (for a drill) anyone who may run drills."""
        if user_id == execution.initiated_by:
            return True
        groups = self.groups(user_id)
        if self.policy.may_approve(user_id, groups):
            return True
        return execution.execution_type.is_drill and self.policy.may_run_drill(user_id, groups)
