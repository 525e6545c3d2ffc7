"""Every status change of an execution and its parts, as tables the code checks.

A status moves only through the functions here (`tests/unit/test_transitions.py` holds `bot/` to it):
each looks the move up in its table, refuses one the table does not hold (`IllegalTransition`), and
sets what goes with the new status (start and end times, the job, the error)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from bot.domain.execution import (
    Chunk,
    ChunkStatus,
    CleanupRun,
    CleanupStatus,
    Execution,
    ExecutionStatus,
    FailbackPhase,
    FailbackRun,
    HookRun,
    HookStatus,
    ServerAttempt,
    ServerRun,
    ServerStatus,
    WaveRun,
    WaveStatus,
)
from bot.domain.frozen import check_fields


class IllegalTransition(ValueError):
    """A move the table does not hold (COMPLETED → IN_PROGRESS), or without what it needs: a bug,
    refused before anything is saved."""

    def __init__(self, kind: str, before: StrEnum, after: StrEnum, why: str = "not in the table") -> None:
        self.kind = kind
        self.before = before
        self.after = after
        super().__init__(f"{kind} {before.value} → {after.value}: {why}")


@dataclass(frozen=True)
class Table[T: StrEnum]:
    kind: str  # in the users' words: execution, wave, server…
    field: str  # the model's status attribute
    initial: frozenset[T]  # statuses an object is created with
    moves: Mapping[T, frozenset[T]]
    # Moves out of an end that only /drs retry makes (reopen_* below); every other move refuses them.
    reopens: Mapping[T, frozenset[T]] = dataclasses.field(default_factory=dict)

    def allows(self, before: T, after: T) -> bool:
        return after in self.moves.get(before, frozenset())

    def reopens_to(self, before: T, after: T) -> bool:
        return after in self.reopens.get(before, frozenset())


E, W, SV, C = ExecutionStatus, WaveStatus, ServerStatus, ChunkStatus

EXECUTION = Table[ExecutionStatus](
    kind="execution",
    field="status",
    initial=frozenset({E.IN_PROGRESS, E.PENDING_APPROVAL}),  # a drill runs at once; the others wait
    moves={
        E.PENDING_APPROVAL: frozenset({E.IN_PROGRESS, E.REJECTED, E.EXPIRED, E.CANCELLED}),
        E.IN_PROGRESS: frozenset({E.COMPLETED, E.PARTIAL, E.FAILED, E.CANCELLED}),
        E.COMPLETED: frozenset(),
        E.PARTIAL: frozenset(),
        E.FAILED: frozenset(),
        E.REJECTED: frozenset(),
        E.EXPIRED: frozenset(),
        E.CANCELLED: frozenset(),
    },
    # /drs retry after the execution ended PARTIAL or FAILED: it runs again.
    reopens={E.PARTIAL: frozenset({E.IN_PROGRESS}), E.FAILED: frozenset({E.IN_PROGRESS})},
)

WAVE = Table[WaveStatus](
    kind="wave",
    field="status",
    initial=frozenset({W.PENDING}),
    moves={
        # PENDING → GATED: pause_before or --step; GATED → IN_PROGRESS (or PREPARING): Continue;
        # → SKIPPED: Stop here, /drs skip, or a cancel at the gate.
        W.PENDING: frozenset({W.IN_PROGRESS, W.GATED, W.PREPARING, W.SKIPPED}),
        W.GATED: frozenset({W.IN_PROGRESS, W.PREPARING, W.SKIPPED}),
        # hooks (#15): before-hooks, then the launch; FAILED: a hook with on_failure stop failed;
        # SKIPPED: cancelled before anything launched.
        W.PREPARING: frozenset({W.IN_PROGRESS, W.FAILED, W.SKIPPED}),
        # SKIPPED from IN_PROGRESS: cancelled before its first job started.
        W.IN_PROGRESS: frozenset({W.COMPLETED, W.PARTIAL, W.FAILED, W.SKIPPED, W.CHECKING, W.FINISHING}),
        # health: launched; the checks decide (bot/domain/health.py), then the after-hooks if any.
        W.CHECKING: frozenset({W.COMPLETED, W.PARTIAL, W.FAILED, W.FINISHING}),
        # hooks (#15): after-hooks once launched and healthy, ending as the servers did (FAILED: a stop
        # hook failed).
        W.FINISHING: frozenset({W.COMPLETED, W.PARTIAL, W.FAILED}),
        W.COMPLETED: frozenset(),
        W.PARTIAL: frozenset(),
        W.FAILED: frozenset(),
        W.SKIPPED: frozenset(),
    },
    # /drs retry: the retried wave runs again; the waves its on_failure: stop skipped wait again.
    reopens={
        W.PARTIAL: frozenset({W.IN_PROGRESS}),
        W.FAILED: frozenset({W.IN_PROGRESS}),
        W.SKIPPED: frozenset({W.PENDING}),
    },
)

SERVER = Table[ServerStatus](
    kind="server",
    field="status",
    # FAILED at creation: a failback leaves out a server that could not replicate back.
    initial=frozenset({SV.PENDING, SV.FAILED}),
    moves={
        # PENDING → FAILED: StartRecovery refused, or the wave timed out before its job started.
        SV.PENDING: frozenset({SV.LAUNCHING, SV.FAILED}),
        SV.LAUNCHING: frozenset({SV.LAUNCHED, SV.FAILED}),
        # LAUNCHED → FAILED: still unhealthy when the wave's health checks timed out.
        SV.LAUNCHED: frozenset({SV.FAILED}),
        SV.FAILED: frozenset(),
    },
    # /drs retry: a failed server is launched again (its failed launch kept in `attempts`).
    reopens={SV.FAILED: frozenset({SV.PENDING})},
)

CHUNK = Table[ChunkStatus](
    kind="chunk",
    field="status",
    initial=frozenset({C.PLANNED, C.DONE}),  # DONE: a failback's servers left out
    moves={
        C.PLANNED: frozenset({C.STARTING, C.DONE}),
        # STARTING → STARTING: a claim left by a crashed tick is taken again; → PLANNED: DRS was unavailable.
        C.STARTING: frozenset({C.STARTING, C.PLANNED, C.RUNNING, C.DONE}),
        C.RUNNING: frozenset({C.DONE}),
        C.DONE: frozenset(),
    },
)

CLEANUP = Table[CleanupStatus](
    kind="cleanup",
    field="status",
    initial=frozenset({CleanupStatus.SCHEDULED, CleanupStatus.REQUESTED}),
    moves={
        CleanupStatus.SCHEDULED: frozenset({CleanupStatus.REQUESTED}),
        # REQUESTED → DONE: nothing left to terminate.
        CleanupStatus.REQUESTED: frozenset({CleanupStatus.TERMINATING, CleanupStatus.DONE}),
        CleanupStatus.TERMINATING: frozenset({CleanupStatus.DONE}),
        # DONE → REQUESTED: `/drs cleanup` again, for what the last one could not terminate.
        CleanupStatus.DONE: frozenset({CleanupStatus.REQUESTED}),
    },
)

FAILBACK = Table[FailbackPhase](
    kind="failback",
    field="phase",
    initial=frozenset({FailbackPhase.REVERSING}),
    moves={
        # REVERSING → LAUNCHING: cancelled before the launch (the engine then skips every wave).
        FailbackPhase.REVERSING: frozenset({FailbackPhase.SYNCING, FailbackPhase.LAUNCHING}),
        FailbackPhase.SYNCING: frozenset({FailbackPhase.LAUNCHING}),
        FailbackPhase.LAUNCHING: frozenset({FailbackPhase.REPROTECTING}),
        FailbackPhase.REPROTECTING: frozenset({FailbackPhase.DONE}),
        FailbackPhase.DONE: frozenset(),
    },
)

HK = HookStatus
HOOK = Table[HookStatus](
    kind="hook",
    field="status",
    initial=frozenset({HK.PENDING, HK.SKIPPED}),  # SKIPPED: drill: false in a drill
    moves={
        HK.PENDING: frozenset({HK.STARTING, HK.SKIPPED}),
        # STARTING → STARTING: a claim of a crashed tick taken again; → PENDING: AWS was unavailable;
        # → SUCCEEDED/FAILED/TIMED_OUT: a Lambda's answer within the call; FAILED: refused, or unknown.
        HK.STARTING: frozenset({HK.STARTING, HK.PENDING, HK.RUNNING, HK.SUCCEEDED, HK.FAILED, HK.TIMED_OUT}),
        HK.RUNNING: frozenset({HK.SUCCEEDED, HK.FAILED, HK.TIMED_OUT}),
        HK.SUCCEEDED: frozenset(),
        HK.FAILED: frozenset(),
        HK.TIMED_OUT: frozenset(),
        HK.SKIPPED: frozenset(),
    },
)

TABLES: tuple[Table[Any], ...] = (EXECUTION, WAVE, SERVER, CHUNK, CLEANUP, FAILBACK, HOOK)


def _move[T: StrEnum, Model: BaseModel](
    table: Table[T], model: Model, after: T, update: Mapping[str, Any]
) -> Model:
    before: T = getattr(model, table.field)
    if not table.allows(before, after):
        raise IllegalTransition(table.kind, before, after)
    check_fields(model, update)
    # BaseModel's own copy: the fields are checked above, and the status is set only here.
    return BaseModel.model_copy(model, update={**update, table.field: after})


def _reopen[T: StrEnum, Model: BaseModel](
    table: Table[T], model: Model, after: T, update: Mapping[str, Any]
) -> Model:
    before: T = getattr(model, table.field)
    if not table.reopens_to(before, after):
        raise IllegalTransition(table.kind, before, after, "not a move a retry makes")
    check_fields(model, update)
    return BaseModel.model_copy(model, update={**update, table.field: after})


def reopen_execution(execution: Execution) -> Execution:
    """/drs retry after the end: running again, from its first start (the RTO counts from there)."""
    return _reopen(EXECUTION, execution, E.IN_PROGRESS, {"end_time": None})


def reopen_wave(wave: WaveRun, now: datetime) -> WaveRun:
    """The retried wave runs again (its start stays the first; its timeout counts from `now`); a wave
    its on_failure: stop skipped waits again."""
    if wave.status is W.SKIPPED:
        return _reopen(WAVE, wave, W.PENDING, {"start_time": None, "end_time": None, "not_before": None})
    return _reopen(WAVE, wave, W.IN_PROGRESS, {"end_time": None, "retried_at": now, "paused_seconds": 0})


def retry_server(server: ServerRun, attempt: ServerAttempt) -> ServerRun:
    """A failed server back to PENDING, its failed launch kept as an attempt."""
    cleared = {"recovery_job_id": None, "instance_id": None, "launch_time": None, "error": None}
    return _reopen(SERVER, server, SV.PENDING, {**cleared, "attempts": (*server.attempts, attempt)})


def move_execution(execution: Execution, to: ExecutionStatus, now: datetime, **fields: Any) -> Execution:
    """Running sets the start time; every end sets the end time."""
    stamps: dict[str, Any] = {"start_time": now} if to is E.IN_PROGRESS else {"end_time": now}
    return _move(EXECUTION, execution, to, {**stamps, **fields})


def move_wave(wave: WaveRun, to: WaveStatus, now: datetime) -> WaveRun:
    """A wave that ran ends at `now`; one skipped before it started has no times; a gate says when.
    CHECKING notes when its health checks began (their timeout counts from then)."""
    stamps: dict[str, Any] = {}
    if to is W.GATED:
        stamps["gated_at"] = now
    elif to is W.IN_PROGRESS:
        stamps["start_time"] = now
    elif to is W.CHECKING:
        stamps["checks_started_at"] = now
    elif wave.status in (W.IN_PROGRESS, W.PREPARING, W.CHECKING, W.FINISHING) and to.is_terminal:
        stamps["end_time"] = now
    return _move(WAVE, wave, to, stamps)


def move_server(
    server: ServerRun,
    to: ServerStatus,
    *,
    now: datetime | None = None,
    job_id: str | None = None,
    instance_id: str | None = None,
    error: str | None = None,
) -> ServerRun:
    """LAUNCHING names its job; LAUNCHED its instance and time; FAILED says why (the thread shows it)."""
    fields: dict[str, Any]
    if to is SV.LAUNCHING:
        if job_id is None:
            raise IllegalTransition(SERVER.kind, server.status, to, "no recovery job")
        fields = {"recovery_job_id": job_id}
    elif to is SV.LAUNCHED:
        if now is None:
            raise IllegalTransition(SERVER.kind, server.status, to, "no launch time")
        fields = {"instance_id": instance_id, "launch_time": now}
    elif to is SV.FAILED:
        if not error:
            raise IllegalTransition(SERVER.kind, server.status, to, "no error text")
        fields = {"error": error}
    else:
        fields = {}
    return _move(SERVER, server, to, fields)


def move_chunk(
    chunk: Chunk,
    to: ChunkStatus,
    *,
    now: datetime | None = None,
    job_id: str | None = None,
    servers: tuple[ServerRun, ...] | None = None,
) -> Chunk:
    """STARTING is a claim (when, and how many times); RUNNING follows its DRS job."""
    fields: dict[str, Any] = {} if servers is None else {"servers": servers}
    if to is C.STARTING:
        if now is None:
            raise IllegalTransition(CHUNK.kind, chunk.status, to, "no claim time")
        fields |= {"claimed_at": now, "attempts": chunk.attempts + 1}
    elif to is C.RUNNING:
        if job_id is None:
            raise IllegalTransition(CHUNK.kind, chunk.status, to, "no recovery job")
        fields["job_id"] = job_id
    return _move(CHUNK, chunk, to, fields)


def move_cleanup(run: CleanupRun, to: CleanupStatus, now: datetime, **fields: Any) -> CleanupRun:
    """DONE sets the end time."""
    stamps: dict[str, Any] = {"ended_at": now} if to is CleanupStatus.DONE else {}
    return _move(CLEANUP, run, to, {**stamps, **fields})


def move_hook(hook: HookRun, to: HookStatus, now: datetime, **fields: Any) -> HookRun:
    """STARTING is a claim (when, how many times); RUNNING names the call; an end sets its time."""
    stamps: dict[str, Any] = {}
    if to is HK.STARTING:
        stamps = {"claimed_at": now, "attempts": hook.attempts + 1}
    elif to is HK.RUNNING:
        if not fields.get("run_id"):
            raise IllegalTransition(HOOK.kind, hook.status, to, "no automation execution id")
        stamps = {"started_at": now}
    elif to.is_terminal:
        stamps = {"ended_at": now}
        if to.failed and not fields.get("error"):
            raise IllegalTransition(HOOK.kind, hook.status, to, "no error text")
    return _move(HOOK, hook, to, {**stamps, **fields})


def move_failback(run: FailbackRun, to: FailbackPhase, **fields: Any) -> FailbackRun:
    return _move(FAILBACK, run, to, fields)
