"""Drill cleanup: terminate exactly the recovery instances a drill's own jobs launched.

DRS never terminates drill instances; they bill until someone does. Only DRILL executions are
cleaned up, and only instances that DRS reports as drill instances of this execution's jobs: a
recovery instance of the same source server is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.accounts import AccountRegion
from bot.domain.drs import RecoveryInstanceInfo
from bot.domain.engine import Decision, EventLog
from bot.domain.events import CleanupFinished, CleanupStarted
from bot.domain.execution import Action, ActionKind, CleanupRun, CleanupStatus, Execution, ExecutionType
from bot.domain.frozen import Frozen
from bot.domain.transitions import move_cleanup


class CleanupRefusal(StrEnum):
    NOT_ALLOWED = "not_allowed"
    NOT_A_DRILL = "not_a_drill"
    STILL_RUNNING = "still_running"
    IN_PROGRESS = "in_progress"


class CleanupRequest(Frozen):
    refusal: CleanupRefusal | None = None
    decision: Decision | None = None


def request(execution: Execution, user_id: str | None, now: datetime) -> CleanupRequest:
    if execution.execution_type is not ExecutionType.DRILL:
        return CleanupRequest(refusal=CleanupRefusal.NOT_A_DRILL)
    if not execution.status.is_terminal:
        return CleanupRequest(refusal=CleanupRefusal.STILL_RUNNING)
    current = execution.cleanup
    if current is not None and current.status in (CleanupStatus.REQUESTED, CleanupStatus.TERMINATING):
        return CleanupRequest(refusal=CleanupRefusal.IN_PROGRESS)
    run = CleanupRun(status=CleanupStatus.REQUESTED, requested_by=user_id)
    requested = execution.model_copy(update={"cleanup": run})
    if user_id is not None:  # None: the plan's cleanup_after, nobody's click
        requested = requested.acted(Action(user_id=user_id, kind=ActionKind.CLEANUP, at=now))
    return CleanupRequest(decision=Decision(execution=requested))


def due(execution: Execution, now: datetime) -> Decision | None:
    """A scheduled cleanup whose time has come becomes a request (made by nobody: automatic)."""
    run = execution.cleanup
    if run is None or run.status is not CleanupStatus.SCHEDULED or run.due_at is None or now < run.due_at:
        return None
    requested = move_cleanup(run, CleanupStatus.REQUESTED, now)
    return Decision(execution=execution.model_copy(update={"cleanup": requested}))


def claim(execution: Execution, now: datetime, stale_after: timedelta) -> Execution | None:
    """The tick that saves this claim terminates; a claim left by a crashed tick is taken again (and
    that tick's TERMINATE jobs are looked for first, since the first claim)."""
    run = execution.cleanup
    if run is None or run.status is not CleanupStatus.REQUESTED:
        return None
    if run.claimed_at is not None and now - run.claimed_at < stale_after:
        return None
    claimed = run.model_copy(
        update={
            "claimed_at": now,
            "first_claimed_at": run.first_claimed_at or now,
            "attempts": run.attempts + 1,
        }
    )
    return execution.model_copy(update={"cleanup": claimed})


def release(execution: Execution) -> Execution:
    """Not now (DRS still holds the servers): the next tick tries again."""
    run = execution.cleanup
    assert run is not None
    return execution.model_copy(update={"cleanup": run.model_copy(update={"claimed_at": None})})


def ours(execution: Execution, instances: Iterable[RecoveryInstanceInfo]) -> list[RecoveryInstanceInfo]:
    """This drill's own instances: drill instances launched by one of its jobs."""
    jobs = set(execution.job_ids())
    return [i for i in instances if i.is_drill and i.job_id in jobs]


def started(
    execution: Execution,
    *,
    terminating: list[str],
    already_gone: int,
    job_ids: list[str],
    job_regions: list[AccountRegion],
    failures: list[str],
    now: datetime,
) -> Decision:
    run = execution.cleanup
    assert run is not None
    status = CleanupStatus.TERMINATING if job_ids else CleanupStatus.DONE
    updated = move_cleanup(
        run,
        status,
        now,
        started_at=now,
        instance_ids=tuple(terminating),
        job_ids=tuple(job_ids),
        job_regions=tuple(where.region for where in job_regions),
        job_accounts=tuple(where.account for where in job_regions),
        already_gone=already_gone,
        failures=tuple(failures),
    )
    execution = execution.model_copy(update={"cleanup": updated})
    events = EventLog(execution)
    events.add(
        CleanupStarted,
        at=now,
        execution_id=execution.execution_id,
        requested_by=run.requested_by,
        terminating=len(terminating),
        already_gone=already_gone,
        job_ids=job_ids,
        failures=failures[:20],
    )
    if not job_ids:
        events.add(
            CleanupFinished,
            at=now,
            execution_id=execution.execution_id,
            terminated=0,
            already_gone=already_gone,
            failures=failures[:20],
        )
    return Decision(execution=events.stamp(execution), events=tuple(events.items))


def finished(execution: Execution, instances: Iterable[RecoveryInstanceInfo], now: datetime) -> Decision:
    """The TERMINATE jobs ended: count what is gone, and name what is not."""
    run = execution.cleanup
    assert run is not None
    states = {i.recovery_instance_id: i for i in instances}
    failures = list(run.failures)
    terminated = 0
    for instance_id in run.instance_ids:
        instance = states.get(instance_id)
        if instance is None or instance.gone:
            terminated += 1
        else:
            failures.append(f"{instance_id}: still {instance.ec2_state} after its TERMINATE job ended")
    done = move_cleanup(run, CleanupStatus.DONE, now, failures=tuple(failures))
    execution = execution.model_copy(update={"cleanup": done})
    events = EventLog(execution)
    events.add(
        CleanupFinished,
        at=now,
        execution_id=execution.execution_id,
        terminated=terminated,
        already_gone=run.already_gone,
        failures=failures[:20],
    )
    return Decision(execution=events.stamp(execution), events=tuple(events.items))
