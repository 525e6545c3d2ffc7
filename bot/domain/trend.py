"""Whether a plan's executions get faster: each one's RTO, and the trend per kind (drill, recovery…).

The RTO here runs from the request to the last server launched, as the thread's timeline shows it: what
a team measures its drills by. `/drs history <plan>` shows it (bot/slack/replies.py, history_text).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bot.domain.execution import ExecutionSummary, ExecutionType


def rto_seconds(summary: ExecutionSummary) -> float | None:
    """Request to last launch; None while nothing launched (or for a summary stored before launch times)."""
    if summary.last_launch_time is None:
        return None
    return max(0.0, (summary.last_launch_time - summary.created_at).total_seconds())


class Trend(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution_type: ExecutionType
    rtos: tuple[float, ...]  # oldest first

    @property
    def change_seconds(self) -> float:
        """Newest minus oldest: negative when the executions got faster."""
        return self.rtos[-1] - self.rtos[0]


def trends(summaries: list[ExecutionSummary]) -> list[Trend]:
    """One trend per kind of execution with at least two RTOs, oldest first (any order in)."""
    ordered = sorted(summaries, key=lambda summary: summary.created_at)
    found = []
    for kind in ExecutionType:
        rtos = tuple(
            rto
            for summary in ordered
            if summary.execution_type is kind and (rto := rto_seconds(summary)) is not None
        )
        if len(rtos) >= 2:
            found.append(Trend(execution_type=kind, rtos=rtos))
    return found
