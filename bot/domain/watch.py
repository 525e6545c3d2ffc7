"""The readiness watch: between drills, tell a plan's channel when its verdict changes, and only then.

Pure. The watch service gathers the facts and the verdict (bot/domain/readiness.py); this decides, from
the plan's stored state and the new verdict, what to store and whether there is news. The stored state
is the memory that makes the news happen once: the same verdict again is not news, whatever changed in
the servers it names.

The watch judges what stays true between drills (replication, lag against rpo_target, servers missing,
a last launch that failed), not what only holds at the moment of a launch: DRS jobs running and the
quotas they use (a drill of the plan itself would turn it BLOCKED for its duration), or drill instances
awaiting their cleanup. Those `/drs check` and `execute` still report.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot.domain.readiness import Finding, Level, Verdict

# Reasons are kept whole in the state and in the news, but a plan of 4,000 servers can have many:
# enough to say what changed, few enough that a state item stays far below DynamoDB's 400 KB.
MAX_REASONS = 20
# An overdue plan's channel is told once, then again each week until a successful drill.
REMIND_EVERY = timedelta(days=7)


class Reason(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: Level
    text: str
    servers: tuple[str, ...] = ()  # a few of them, as examples
    count: int = 0  # how many servers in all


class News(BaseModel):
    """What the channel is told: the verdict changed from `previous` to `level`, or (a reminder) the
    plan is overdue for a drill."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["readiness", "reminder"] = "readiness"
    plan_name: str
    channel: str
    previous: Level | None  # None: the first time the watch saw the plan (told only if not READY)
    level: Level
    since: datetime
    new_reasons: tuple[Reason, ...] = ()
    resolved: tuple[Reason, ...] = ()
    key: str  # one message per key: a delivery retried after a crash finds the first post
    # Reminders: the plan's drill_every (days) and when its last successful drill ended (None: never).
    drill_every: int | None = None
    last_success: datetime | None = None


class WatchState(BaseModel):
    """One plan's readiness as the watch last saw it (stored per plan; `version` guards each write)."""

    model_config = ConfigDict(frozen=True)

    plan_name: str
    level: Level
    reasons: tuple[Reason, ...] = ()
    since: datetime  # when the verdict became `level`
    checked_at: datetime
    changes: int = 0  # how many times the verdict changed: makes each news key unique
    pending: News | None = None  # news decided and saved, not yet posted (the outbox of one)
    reminded_at: datetime | None = None  # the last drill reminder, while the plan stays overdue
    version: int = 0


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    state: WatchState
    news: News | None = None


_TRANSIENT = (
    "already in a DRS job that has not ended",
    "drill instances from an earlier drill still run",
)


def lasting(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """The findings the watch reports: not jobs in flight (the region's quota findings are not made by
    the watch, which passes no load) nor drill instances that cleanup_after will terminate."""
    return tuple(f for f in findings if not any(f.reason.startswith(t) for t in _TRANSIENT))


def reasons_of(findings: tuple[Finding, ...], examples: int = 3) -> tuple[Reason, ...]:
    ordered = sorted(findings, key=lambda f: (f.level is not Level.BLOCKED, f.reason))
    return tuple(
        Reason(level=f.level, text=f.reason, servers=f.servers[:examples], count=len(f.servers))
        for f in ordered[:MAX_REASONS]
    )


def level_of(reasons: tuple[Reason, ...]) -> Level:
    if any(r.level is Level.BLOCKED for r in reasons):
        return Level.BLOCKED
    return Level.WARN if reasons else Level.READY


def observe(stored: WatchState | None, verdict: Verdict, channel: str | None, now: datetime) -> Outcome:
    """The state to store after this check, and the news if the verdict changed and there is a channel.

    A plan seen for the first time is news only if it is not READY (READY is what everyone assumes)."""
    reasons = reasons_of(lasting(verdict.findings))
    level = level_of(reasons)
    if stored is not None and stored.level is level:
        return Outcome(state=stored.model_copy(update={"reasons": reasons, "checked_at": now}))
    changes = (stored.changes if stored else 0) + 1
    state = WatchState(
        plan_name=verdict.plan_name,
        level=level,
        reasons=reasons,
        since=now,
        checked_at=now,
        changes=changes,
        pending=stored.pending if stored else None,
        reminded_at=stored.reminded_at if stored else None,
        version=stored.version if stored else 0,
    )
    if channel is None or (stored is None and level is Level.READY):
        return Outcome(state=state)
    before = {(r.level, r.text) for r in stored.reasons} if stored else set()
    after = {(r.level, r.text) for r in reasons}
    news = News(
        plan_name=verdict.plan_name,
        channel=channel,
        previous=stored.level if stored else None,
        level=level,
        since=now,
        new_reasons=tuple(r for r in reasons if (r.level, r.text) not in before),
        resolved=tuple(r for r in (stored.reasons if stored else ()) if (r.level, r.text) not in after),
        key=f"watch:{verdict.plan_name}:{changes}",
    )
    # A newer change replaces news not yet posted: the channel hears the verdict as it is now.
    return Outcome(state=state.model_copy(update={"pending": news}), news=news)


def overdue(drill_every_days: int, last_success: datetime | None, now: datetime) -> bool:
    """No successful drill on record, or the last one ended longer ago than drill_every."""
    return last_success is None or now - last_success > timedelta(days=drill_every_days)


def remind(
    outcome: Outcome,
    *,
    drill_every: int | None,
    channel: str | None,
    last_success: datetime | None,
    now: datetime,
) -> Outcome:
    """Add a drill reminder to this check's outcome if the plan is overdue and was not reminded in the
    last week. One piece of news at a time: with readiness news pending, the reminder waits a round."""
    state = outcome.state
    if drill_every is None or channel is None or not overdue(drill_every, last_success, now):
        return (
            outcome
            if state.reminded_at is None
            else outcome.model_copy(update={"state": state.model_copy(update={"reminded_at": None})})
        )
    if outcome.news is not None or state.pending is not None:
        return outcome
    if state.reminded_at is not None and now - state.reminded_at < REMIND_EVERY:
        return outcome
    news = News(
        kind="reminder",
        plan_name=state.plan_name,
        channel=channel,
        previous=None,
        level=state.level,
        since=now,
        key=f"remind:{state.plan_name}:{now.isoformat()}",
        drill_every=drill_every,
        last_success=last_success,
    )
    return Outcome(state=state.model_copy(update={"pending": news, "reminded_at": now}), news=news)
