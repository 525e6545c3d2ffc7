"""The three kinds of execution, in a module of their own: the /drs grammar needs them on Slack's
ack path, which must not import pydantic (bot/slack/ack.py says why)."""

from __future__ import annotations

from enum import StrEnum


class ExecutionType(StrEnum):
    DRILL = "DRILL"
    RECOVERY = "RECOVERY"
    FAILBACK = "FAILBACK"

    @property
    def is_drill(self) -> bool:
        return self is ExecutionType.DRILL
