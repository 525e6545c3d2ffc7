"""What every Slack message of the bot is made of: sections within Slack's limits, status icons,
durations, the progress line, the readiness verdict. Pure; every text is `Mrkdwn` built with `md()`
(bot/slack/mrkdwn.py). Thread messages (thread_messages.py) and command replies (replies.py) use it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.events import ProgressUpdated
from bot.domain.execution import ExecutionStatus, ExecutionType, WaveStatus
from bot.domain.plans import Catalog
from bot.domain.watch import WatchState
from bot.services.ports import Message
from bot.services.watch import PlanWatch
from bot.slack.mrkdwn import Mrkdwn, clip, md, plain

SECTION_LIMIT = 3000
TEXT_LIMIT = 40_000  # a message's `text`: Slack refuses a longer one (msg_too_long)
STATUS_ICON = {
    ExecutionStatus.PENDING_APPROVAL: ":hourglass_flowing_sand:",
    ExecutionStatus.IN_PROGRESS: ":arrows_counterclockwise:",
    ExecutionStatus.COMPLETED: ":white_check_mark:",
    ExecutionStatus.PARTIAL: ":warning:",
    ExecutionStatus.FAILED: ":x:",
    ExecutionStatus.REJECTED: ":no_entry:",
    ExecutionStatus.EXPIRED: ":alarm_clock:",
    ExecutionStatus.CANCELLED: ":octagonal_sign:",
}


WAVE_ICON = {
    WaveStatus.PENDING: ":white_circle:",
    WaveStatus.GATED: ":raised_hand:",
    WaveStatus.PREPARING: ":gear:",  # hooks (#15): before-hooks running
    WaveStatus.IN_PROGRESS: ":arrows_counterclockwise:",
    WaveStatus.CHECKING: ":stethoscope:",
    WaveStatus.FINISHING: ":gear:",  # hooks (#15): after-hooks running
    WaveStatus.COMPLETED: ":white_check_mark:",
    WaveStatus.PARTIAL: ":warning:",
    WaveStatus.FAILED: ":x:",
    WaveStatus.SKIPPED: ":fast_forward:",
}


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def kind_label(execution_type: ExecutionType) -> str:
    return {"DRILL": "Drill", "RECOVERY": "Recovery", "FAILBACK": "Failback"}[execution_type.value]


def section(text: Mrkdwn) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def context(text: Mrkdwn) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}]}


def message(text: Mrkdwn, blocks: list[dict[str, Any]]) -> Message:
    """A message and its notification fallback, which Slack parses as mrkdwn too: escaped the same."""
    return Message(text=clip(plain(text), TEXT_LIMIT), blocks=blocks)


def fit(lines: list[Mrkdwn], more: Mrkdwn, limit: int = SECTION_LIMIT, hidden: int = 0) -> Mrkdwn:
    """Whole lines within `limit` characters; `more` ("…and {n} more") counts the lines left out."""
    budget = limit - len(more) - 10
    kept: list[Mrkdwn] = []
    for index, line in enumerate(lines):
        budget -= len(line) + 1
        if budget < 0:
            return Mrkdwn("\n").join([*kept, more.format(n=len(lines) - index + hidden)])
        kept.append(line)
    return Mrkdwn("\n").join([*kept, more.format(n=hidden)] if hidden else kept)


def progress_line(view: ProgressUpdated, now: datetime) -> Mrkdwn:
    started = view.started_at or view.at
    elapsed = ((view.ended_at or now) - started).total_seconds()
    to_go = view.total - view.launched - view.failed
    return md(
        "Waves {}/{} · servers {} launched, {} failed, {} to go · {}",
        view.waves_done,
        view.wave_count,
        view.launched,
        view.failed,
        to_go,
        duration(elapsed),
    )


def point_in_time(moment: datetime) -> Mrkdwn:
    """`--at`: the instant in UTC, whatever offset the user typed it with."""
    return md("each server from its newest snapshot at or before {:%Y-%m-%d %H:%M:%S} UTC", moment)


_READINESS_ICON = {
    "READY": ":large_green_circle:",
    "WARN": ":large_yellow_circle:",
    "BLOCKED": ":red_circle:",
}


def place(region: str, account: str | None) -> str:
    """Where a wave runs, as people read it: the region, with its account when not the bot's own."""
    return f"{account}/{region}" if account else region


def readiness_text(
    level: str, lines: list[str], *, forced: bool = False, plan_name: str | None = None
) -> Mrkdwn:
    """The readiness verdict; its lines name waves and quote DRS, so each is escaped."""
    icon = Mrkdwn(_READINESS_ICON.get(level, ":grey_question:"))
    head = md("{} *Readiness: {}*", icon, level)
    if plan_name:
        head += md(" for `{}`", plan_name)
    if forced:
        head += Mrkdwn(" — started anyway (--force)")
    return Mrkdwn("\n").join([head, *(md("• {}", line) for line in lines)])


# The readiness watch's verdict and a plan's last drill, as `/drs plans`, `/drs check` and the Home tab
# show them, and the times its news gives.
WATCH_ICON = {"READY": ":large_green_circle:", "WARN": ":large_yellow_circle:", "BLOCKED": ":red_circle:"}


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def ago(moment: datetime, now: datetime) -> str:
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def watched(state: WatchState | None, now: datetime) -> Mrkdwn:
    """The stored verdict, for `/drs plans` and `/drs check`."""
    if state is None:
        return Mrkdwn("not watched yet")
    return md(
        "{} {} since {}, checked {}",
        Mrkdwn(WATCH_ICON[state.level.value]),
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
