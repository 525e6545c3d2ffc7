"""The status tables: complete, checked, the only way `bot/` changes a status, and never left by the
engine whatever DRS, people and time do."""

from __future__ import annotations

import ast
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import approval, cleanup, engine
from bot.domain.accounts import home
from bot.domain.approval import Vote
from bot.domain.execution import (
    ChunkStatus,
    CleanupStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    FailbackPhase,
    HookStatus,
    Limits,
    ServerStatus,
    WaveStatus,
)
from bot.domain.frozen import UnknownField
from bot.domain.plans import OnFailure, WaveOptions
from bot.domain.policy import AccessPolicy
from bot.domain.transitions import (
    CHUNK,
    CLEANUP,
    EXECUTION,
    FAILBACK,
    SERVER,
    TABLES,
    WAVE,
    IllegalTransition,
    Table,
    move_execution,
    move_server,
    move_wave,
)
from tests.unit.builders import at, execution, job, observe

BOT = Path(__file__).resolve().parents[2] / "bot"
ENUMS: dict[str, type[StrEnum]] = {
    "execution": ExecutionStatus,
    "wave": WaveStatus,
    "server": ServerStatus,
    "chunk": ChunkStatus,
    "cleanup": CleanupStatus,
    "failback": FailbackPhase,
    "hook": HookStatus,
}
STATE_FIELDS = {table.field for table in TABLES}
MOVES = {
    "move_execution",
    "move_wave",
    "move_server",
    "move_chunk",
    "move_cleanup",
    "move_failback",
    "move_hook",
}


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.kind)
def test_every_status_is_in_its_table_and_reachable(table: Table[Any]) -> None:
    statuses = set(ENUMS[table.kind])
    assert set(table.moves) == statuses
    assert set().union(*table.moves.values()) <= statuses
    reached, todo = set(table.initial), list(table.initial)
    while todo:
        for after in table.moves[todo.pop()]:
            if after not in reached:
                reached.add(after)
                todo.append(after)
    assert reached == statuses


def test_terminal_statuses_have_no_way_out() -> None:
    for status in ExecutionStatus:
        assert (not EXECUTION.moves[status]) is status.is_terminal
    for wave_status in WaveStatus:
        assert (not WAVE.moves[wave_status]) is wave_status.is_terminal
    for server_status in ServerStatus:
        if server_status is ServerStatus.LAUNCHED:
            # Its launch is over (terminal for the launch), but a health check may still fail it.
            assert SERVER.moves[server_status] == {ServerStatus.FAILED}
            continue
        assert (not SERVER.moves[server_status]) is server_status.is_terminal


@cache
def _bot_calls() -> list[tuple[str, ast.Call]]:
    return [
        (f"{path.relative_to(BOT.parent)}:{node.lineno}", node)
        for path in sorted(BOT.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Call)
    ]


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def test_bot_changes_a_status_only_through_the_tables() -> None:
    offenders = []
    for where, call in _bot_calls():
        if _name(call) != "model_copy" or where.startswith(
            ("bot/domain/transitions.py", "bot/domain/frozen.py")
        ):
            continue
        for keyword in call.keywords:
            if keyword.arg != "update":
                continue
            if not isinstance(keyword.value, ast.Dict):
                offenders.append(f"{where}: an update that is not a literal dict")
                continue
            keys = {k.value for k in keyword.value.keys if isinstance(k, ast.Constant)}
            if keys & STATE_FIELDS or None in keyword.value.keys:
                offenders.append(f"{where}: {sorted(str(k) for k in keys & STATE_FIELDS)}")
    assert offenders == []


def test_every_status_the_code_moves_to_is_in_its_table() -> None:
    members = {enum.__name__: enum for enum in ENUMS.values()}
    targets = {table.kind: set().union(*table.moves.values()) for table in TABLES}
    seen = []
    for where, call in _bot_calls():
        if _name(call) not in MOVES or len(call.args) < 2:
            continue
        to = call.args[1]
        if isinstance(to, ast.Attribute) and isinstance(to.value, ast.Name) and to.value.id in members:
            kind = _name(call).removeprefix("move_")
            status = members[to.value.id][to.attr]
            assert status in targets[kind], f"{where}: {kind} → {status} is not in the table"
            seen.append(status)
    assert len(seen) >= 15  # the scan finds the moves (a rename of the functions would empty it)


def test_a_move_outside_the_table_is_refused() -> None:
    ex = execution(1)
    ended = move_execution(ex, ExecutionStatus.COMPLETED, at(60))
    assert ended.end_time == at(60)
    with pytest.raises(IllegalTransition, match=r"execution COMPLETED → IN_PROGRESS"):
        move_execution(ended, ExecutionStatus.IN_PROGRESS, at(61))
    wave = move_wave(ex.waves[0], WaveStatus.SKIPPED, at(1))
    with pytest.raises(IllegalTransition, match=r"wave SKIPPED → IN_PROGRESS"):
        move_wave(wave, WaveStatus.IN_PROGRESS, at(2))
    server = next(ex.servers())
    with pytest.raises(IllegalTransition, match=r"server PENDING → LAUNCHED"):
        move_server(server, ServerStatus.LAUNCHED, now=at(1), instance_id="i-1")


def test_a_move_without_what_goes_with_it_is_refused() -> None:
    server = next(execution(1).servers())
    with pytest.raises(IllegalTransition, match="no error text"):
        move_server(server, ServerStatus.FAILED, error="")
    with pytest.raises(IllegalTransition, match="no recovery job"):
        move_server(server, ServerStatus.LAUNCHING)


def test_a_misspelt_field_is_refused() -> None:
    ex = execution(1)
    with pytest.raises(UnknownField, match="Execution has no field cancel_requested_bye"):
        ex.model_copy(update={"cancel_requested_bye": "U1"})
    with pytest.raises(UnknownField, match="Execution has no field rejected"):
        move_execution(ex, ExecutionStatus.CANCELLED, at(1), rejected=None)
    with pytest.raises(UnknownField, match="WaveRun has no field not_befor"):
        ex.waves[0].model_copy(update={"not_befor": at(1)})
    assert ex.model_copy(update={"cancel_requested_by": "U1"}).cancel_requested_by == "U1"


# The property: whatever DRS answers, whoever clicks and whenever, each step moves every status only
# along its table. The step functions refuse a move themselves; comparing snapshots also catches a
# status set some other way.

POLICY = AccessPolicy(recovery_requesters=["*"], approvers=["U0BOSS"])
LIMITS = Limits(servers_per_job=2, concurrent_jobs=2, servers_in_active_jobs=3, claim_timeout_seconds=120)
LAUNCH_STATES = ("PENDING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TERMINATED")


def _statuses(ex: Execution) -> dict[tuple[Any, ...], tuple[Table[Any], StrEnum]]:
    found: dict[tuple[Any, ...], tuple[Table[Any], StrEnum]] = {("x",): (EXECUTION, ex.status)}
    for wave in ex.waves:
        found["w", wave.index] = (WAVE, wave.status)
        for chunk in wave.chunks:
            found["c", wave.index, chunk.index] = (CHUNK, chunk.status)
            for server in chunk.servers:
                found["s", server.source_server_id] = (SERVER, server.status)
    if ex.cleanup is not None:
        found["cleanup",] = (CLEANUP, ex.cleanup.status)
    if ex.failback is not None:
        found["failback",] = (FAILBACK, ex.failback.phase)
    return found


def _check_step(before: Execution, after: Execution) -> None:
    old = _statuses(before)
    for key, (table, status) in _statuses(after).items():
        if key in old and old[key][1] != status:
            assert table.allows(old[key][1], status), f"{table.kind} {old[key][1]} → {status}"


@st.composite
def _new_execution(draw: st.DrawFn) -> Execution:
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    kind = draw(st.sampled_from([ExecutionType.DRILL, ExecutionType.RECOVERY]))
    ex = execution(*sizes, servers_per_job=LIMITS.servers_per_job, kind=kind)
    for index in range(len(sizes)):
        options = WaveOptions(
            wait_before=draw(st.sampled_from([0, 0, 300])),
            timeout=draw(st.sampled_from([600, 3600])),
            on_failure=draw(st.sampled_from(list(OnFailure))),
        )
        ex = ex.replace_wave(ex.waves[index].model_copy(update={"options": options}))
    if kind.is_drill:
        ex = ex.model_copy(update={"plan_options": ex.plan_options.model_copy(update={"cleanup_after": 600})})
        return engine.start_execution(ex, at(0)).execution
    return approval.request_approval(ex, POLICY, at(0)).execution


def _step(ex: Execution, data: st.DataObject, now: int) -> Execution:
    step = data.draw(st.sampled_from(["tick", "tick", "tick", "other"]))
    if step == "tick":
        return _tick(ex, data, now)
    after = _person_or_time(ex, data, now)
    _check_step(ex, after)
    return after


def _person_or_time(ex: Execution, data: st.DataObject, now: int) -> Execution:
    step = data.draw(st.sampled_from(["tick", "tick", "tick", "vote", "expire", "cancel", "cleanup"]))
    if step == "vote":
        choice = data.draw(st.sampled_from(list(Vote)))
        who = data.draw(st.sampled_from(["U0BOSS", "U1", "U9"]))
        voted = approval.vote(ex, choice, user_id=who, groups=set(), policy=POLICY, now=at(now))
        return voted.decision.execution if voted.decision else ex
    if step == "expire":
        expired = approval.expire_if_due(ex, at(now))
        return expired.execution if expired else ex
    if step == "cancel":
        return engine.request_cancel(ex, "U1", at(now)).execution
    return _cleanup_step(ex, data, now)


def _tick(ex: Execution, data: st.DataObject, now: int) -> Execution:
    """What the executor does: advance on what DRS says, then record each start's outcome."""
    jobs = []
    for wave in ex.waves:
        for chunk in wave.chunks:
            if chunk.status is ChunkStatus.RUNNING and chunk.job_id:
                states = {
                    s.source_server_id: data.draw(st.sampled_from(LAUNCH_STATES)) for s in chunk.servers
                }
                status = data.draw(st.sampled_from(["PENDING", "STARTED", "COMPLETED"]))
                jobs.append(job(chunk.job_id, status, **states))
    decision = engine.advance(ex, observe(*jobs), at(now), LIMITS)
    _check_step(ex, decision.execution)
    ex = decision.execution
    for ref in (*decision.starts, *decision.reconcile):
        before = ex
        outcome = data.draw(st.sampled_from(["started", "refused", "unavailable", "not started", "crash"]))
        if outcome == "started":
            ex = engine.record_jobs_started(
                ex, [(ref, f"drsjob-{ref.wave}-{ref.chunk}-{now}")], at(now)
            ).execution
        elif outcome == "refused":
            ex = engine.record_start_refused(ex, ref, "ValidationException: no", at(now))
        elif outcome == "unavailable":
            ex = engine.release_chunk(ex, ref)
        elif outcome == "not started":
            ex = engine.record_not_started(ex, ref, "not started: the execution was cancelled")
        # crash: nothing recorded; the claim goes stale and a later tick takes it again
        _check_step(before, ex)
    return ex


def _cleanup_step(ex: Execution, data: st.DataObject, now: int) -> Execution:
    run = ex.cleanup
    if run is None or run.status is CleanupStatus.DONE:
        request = cleanup.request(ex, "U1", at(now))
        return request.decision.execution if request.decision else ex
    if run.status is CleanupStatus.SCHEDULED:
        due = cleanup.due(ex, at(now))
        return due.execution if due else ex
    if run.status is CleanupStatus.REQUESTED:
        jobs = data.draw(st.sampled_from([[], ["drsjob-t"]]))
        started = cleanup.started(
            ex,
            terminating=["i-1"],
            already_gone=0,
            job_ids=jobs,
            job_regions=[home("us-east-1")] * len(jobs),
            failures=[],
            now=at(now),
        )
        return started.execution
    return cleanup.finished(ex, [], at(now)).execution


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=_new_execution(), data=st.data())
def test_no_sequence_of_engine_steps_leaves_the_tables(start: Execution, data: st.DataObject) -> None:
    ex, now = start, 0
    for _ in range(data.draw(st.integers(5, 30))):
        now += data.draw(st.sampled_from([1, 30, 400, 1900, 4000]))
        ex = _step(ex, data, now)  # checks each call it makes
    if ex.status.is_terminal and ex.start_time is not None:
        assert all(wave.status.is_terminal for wave in ex.waves)  # an ended run left no wave behind
