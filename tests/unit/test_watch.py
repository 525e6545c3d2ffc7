"""The readiness watch's decision: news only when the verdict changes, with the reasons that changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.readiness import Finding, Level, Verdict
from bot.domain.watch import observe

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
CHANNEL = "C0DRILLS1"
STALLED = Finding(level=Level.BLOCKED, reason="replication is STALLED", servers=("s-b00000000000000e2",))
LAGGING = Finding(
    level=Level.WARN, reason="replication lag is over the plan's rpo_target of 15 min", servers=("s-1",)
)
IN_A_JOB = Finding(
    level=Level.BLOCKED, reason="already in a DRS job that has not ended (a new launch would conflict)"
)


def verdict(*findings: Finding) -> Verdict:
    level = (
        Level.BLOCKED
        if any(f.level is Level.BLOCKED for f in findings)
        else Level.WARN
        if findings
        else Level.READY
    )
    return Verdict(plan_name="plan-x", level=level, findings=findings, servers_checked=2, checked_at=T0)


def test_a_ready_plan_seen_first_is_stored_and_not_news() -> None:
    outcome = observe(None, verdict(), CHANNEL, T0)
    assert outcome.news is None
    assert outcome.state.level is Level.READY and outcome.state.since == T0 and outcome.state.checked_at == T0


def test_a_change_is_news_once_with_the_reasons_that_changed() -> None:
    ready = observe(None, verdict(), CHANNEL, T0).state
    later = T0 + timedelta(minutes=30)
    blocked = observe(ready, verdict(STALLED), CHANNEL, later)
    assert blocked.news is not None
    assert (blocked.news.previous, blocked.news.level) == (Level.READY, Level.BLOCKED)
    assert [r.text for r in blocked.news.new_reasons] == ["replication is STALLED"]
    assert blocked.news.resolved == ()
    assert blocked.state.since == later and blocked.state.pending == blocked.news

    # The same verdict again, even with one more reason of the same level: no news, since kept.
    again = observe(blocked.state, verdict(STALLED, LAGGING), CHANNEL, later + timedelta(minutes=30))
    assert again.news is None and again.state.since == later
    assert again.state.checked_at == later + timedelta(minutes=30)

    healed = observe(again.state, verdict(), CHANNEL, later + timedelta(hours=1))
    assert healed.news is not None
    assert (healed.news.previous, healed.news.level) == (Level.BLOCKED, Level.READY)
    assert {r.text for r in healed.news.resolved} == {STALLED.reason, LAGGING.reason}
    assert healed.news.key != blocked.news.key


def test_a_plan_first_seen_not_ready_is_news() -> None:
    outcome = observe(None, verdict(LAGGING), CHANNEL, T0)
    assert outcome.news is not None and outcome.news.previous is None and outcome.news.level is Level.WARN


def test_without_a_channel_the_verdict_is_stored_and_nobody_is_told() -> None:
    ready = observe(None, verdict(), None, T0).state
    outcome = observe(ready, verdict(STALLED), None, T0 + timedelta(minutes=30))
    assert outcome.news is None and outcome.state.level is Level.BLOCKED


def test_a_running_job_is_not_the_watchs_news() -> None:
    # During a drill of the plan its servers are in a DRS job: a launch now would conflict, but the
    # plan is as ready as before.
    ready = observe(None, verdict(), CHANNEL, T0).state
    outcome = observe(ready, verdict(IN_A_JOB), CHANNEL, T0 + timedelta(minutes=30))
    assert outcome.news is None and outcome.state.level is Level.READY


def test_an_overdue_plan_is_reminded_once_then_weekly_until_a_drill_succeeds() -> None:
    from bot.domain.watch import remind

    state = observe(None, verdict(), CHANNEL, T0).state
    drilled = T0 - timedelta(days=91)

    def check(at: datetime, last: datetime | None = drilled) -> tuple[bool, object]:
        nonlocal state
        outcome = remind(
            observe(state, verdict(), CHANNEL, at), drill_every=90, channel=CHANNEL, last_success=last, now=at
        )
        state = outcome.state.model_copy(update={"pending": None})  # delivered
        return outcome.news is not None, outcome.news

    told, first = check(T0)
    assert told and first is not None
    assert [check(T0 + timedelta(hours=h))[0] for h in (1, 24, 6 * 24)] == [False, False, False]
    assert check(T0 + timedelta(days=7))[0]
    assert not check(T0 + timedelta(days=8))[0]
    # A successful drill: no longer overdue, and the next time it is, the channel is told at once.
    assert not check(T0 + timedelta(days=9), last=T0 + timedelta(days=9))[0]
    assert state.reminded_at is None
    assert check(T0 + timedelta(days=100), last=T0 + timedelta(days=9))[0]


def test_a_plan_never_drilled_is_overdue_and_readiness_news_goes_first() -> None:
    from bot.domain.watch import remind

    ready = observe(None, verdict(), CHANNEL, T0).state
    blocked = observe(ready, verdict(STALLED), CHANNEL, T0)
    outcome = remind(blocked, drill_every=30, channel=CHANNEL, last_success=None, now=T0)
    assert outcome.news is not None and outcome.news.kind == "readiness"
    posted = outcome.state.model_copy(update={"pending": None})
    later = remind(
        observe(posted, verdict(STALLED), CHANNEL, T0),
        drill_every=30,
        channel=CHANNEL,
        last_success=None,
        now=T0,
    )
    assert later.news is not None and later.news.kind == "reminder" and later.news.last_success is None
