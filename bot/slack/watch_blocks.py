"""What the readiness watch says: the news in a plan's channel, and the stored verdict in `/drs plans`
and `/drs check`. Pure, like bot/slack/replies.py (which shows the plan options through this module)."""

from __future__ import annotations

from datetime import datetime

from bot.domain.plans import Catalog, PlanOptions
from bot.domain.snapshot_ages import servers_text
from bot.domain.watch import News, Reason, WatchState
from bot.services.ports import Message
from bot.services.watch import PlanWatch
from bot.slack.layout import duration
from bot.slack.mrkdwn import Mrkdwn, clip, md

SECTION_LIMIT = 3000  # Slack refuses a longer section text
ICON = {"READY": ":large_green_circle:", "WARN": ":large_yellow_circle:", "BLOCKED": ":red_circle:"}


def plan_options_lines(options: PlanOptions) -> list[str]:
    """Plain lines (the caller escapes them) for `/drs plan`."""
    shown: list[str] = []
    if options.channel is not None:
        shown.append(f"Readiness changes and reminders go to channel {options.channel} (channel).")
    if options.drill_every is not None:
        shown.append(f"A drill is due every {options.drill_every} days (drill_every).")
    if options.schedule is not None:
        shown.append(
            f"Drills start by themselves on {options.schedule.expression} in {options.schedule.timezone} "
            "(schedule)."
        )
    return shown


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def ago(moment: datetime, now: datetime) -> str:
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def _reason(reason: Reason) -> Mrkdwn:
    return md("{}: {}{}", reason.level.value, reason.text, servers_text(reason.count, reason.servers))


def _reminder(news: News) -> Mrkdwn:
    if news.last_success is None:
        last = Mrkdwn("it has no successful drill on record")
    else:
        last = md(
            "its last successful drill ended {} ({})",
            when(news.last_success),
            ago(news.last_success, news.since),
        )
    return md(
        ":alarm_clock: *`{}` is due for a drill*: {}, and drill_every is {}d.\nRun one: `/drs execute {} drill`. "
        "_Reminded again each week until a drill succeeds._",
        news.plan_name,
        last,
        news.drill_every,
        news.plan_name,
    )


def news(news: News) -> Message:
    if news.kind == "reminder":
        text = _reminder(news)
        section = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}
        return Message(text=clip(text, SECTION_LIMIT), blocks=[section])
    icon = Mrkdwn(ICON[news.level.value])
    if news.previous is None:
        head = md("{} *Readiness of `{}`: {}*", icon, news.plan_name, news.level.value)
    else:
        head = md(
            "{} *Readiness of `{}` changed: {} → {}*",
            icon,
            news.plan_name,
            news.previous.value,
            news.level.value,
        )
    lines = [head]
    lines += [md("• Now: {}", _reason(reason)) for reason in news.new_reasons]
    lines += [md("• Resolved: {}", _reason(reason)) for reason in news.resolved]
    lines.append(
        md("_Seen by the readiness watch at {}. Details: `/drs check {}`_", when(news.since), news.plan_name)
    )
    text = Mrkdwn("\n").join(lines)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}
    return Message(text=clip(text, SECTION_LIMIT), blocks=[section])


def watched(state: WatchState | None, now: datetime) -> Mrkdwn:
    """The stored verdict, for `/drs plans` and `/drs check`."""
    if state is None:
        return Mrkdwn("not watched yet")
    return md(
        "{} {} since {}, checked {}",
        Mrkdwn(ICON[state.level.value]),
        state.level.value,
        when(state.since),
        ago(state.checked_at, now),
    )


def notes(catalog: Catalog, plans: dict[str, PlanWatch], now: datetime) -> dict[str, Mrkdwn]:
    """Under each plan of `/drs plans`: its verdict as the watch last saw it, and its last drill."""
    found: dict[str, Mrkdwn] = {}
    for plan in catalog.plans:
        seen = plans.get(plan.name) or PlanWatch()
        drill = seen.last_drill
        if drill is None:
            last = Mrkdwn("no drill yet")
        else:
            took = (
                md(", {} (RTO)", duration((drill.end_time - drill.start_time).total_seconds()))
                if drill.start_time and drill.end_time
                else Mrkdwn("")
            )
            last = md("{} {}{}", drill.status.value, when(drill.end_time or drill.created_at), took)
        line = md("Readiness: {} · Last drill: {}", watched(seen.state, now), last)
        every = plan.options.drill_every
        if every is not None:
            line += (
                md(" · *overdue* (drill_every {}d)", every)
                if seen.overdue
                else md(" · drill_every {}d", every)
            )
        found[plan.name] = line
    return found


def skipped(plan_name: str, scheduled_time: str, reasons: list[str]) -> Message:
    """A scheduled drill that did not start, and why (the reasons quote DRS: escaped)."""
    text = md(
        ":fast_forward: *Scheduled drill of `{}` skipped* (scheduled for {}):", plan_name, scheduled_time
    )
    text = Mrkdwn("\n").join([text, *(md("• {}", reason) for reason in reasons)])
    section = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}
    return Message(text=clip(text, SECTION_LIMIT), blocks=[section])
