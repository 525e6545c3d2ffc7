"""Status events: what changed in an execution, in the words the thread will use.

Events are saved with the state change that caused them (the outbox) and delivered to Slack later,
so each carries everything needed to render it without reading the execution again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from bot.domain.execution import ExecutionStatus, ExecutionType, WaveStatus

# A thread reply lists this many failed servers; the rest are counted, so a 4,000-server wave fits.
FAILURES_LISTED = 20


class StatusEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    execution_id: str


class ServerFailure(BaseModel):
    model_config = ConfigDict(frozen=True)

    source_server_id: str
    error: str
    job_id: str | None = None


class ExecutionStarted(StatusEvent):
    kind: Literal["execution_started"] = "execution_started"
    plan_name: str
    execution_type: ExecutionType
    initiated_by: str
    wave_count: int
    server_count: int


class WaveStarted(StatusEvent):
    kind: Literal["wave_started"] = "wave_started"
    wave_index: int
    wave_count: int
    wave_name: str
    protection_group: str
    region: str
    server_count: int
    job_ids: list[str]


class WaveFinished(StatusEvent):
    kind: Literal["wave_finished"] = "wave_finished"
    wave_index: int
    wave_count: int
    wave_name: str
    status: WaveStatus
    launched: int
    failed: int
    duration_seconds: float
    job_ids: list[str]
    failures: list[ServerFailure]  # the first FAILURES_LISTED
    more_failures: int = 0


class ExecutionFinished(StatusEvent):
    kind: Literal["execution_finished"] = "execution_finished"
    plan_name: str
    execution_type: ExecutionType
    status: ExecutionStatus
    launched: int
    failed: int
    total: int
    duration_seconds: float


Event = Annotated[
    ExecutionStarted | WaveStarted | WaveFinished | ExecutionFinished,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
