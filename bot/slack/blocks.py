"""Block Kit rendering: pure functions from domain objects to Slack messages (with text fallbacks).

Every text here is `Mrkdwn` built with `md()` (bot/slack/mrkdwn.py): names, descriptions, reasons and
DRS's errors are escaped wherever they appear, and only ids shaped as Slack's become mentions.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

from bot.domain.engine import READINESS_LINES, progress_fields
from bot.domain.events import (
    ApprovalExpired,
    ApprovalRecorded,
    ApprovalRequested,
    CancelRequested,
    CleanupFinished,
    CleanupScheduled,
    CleanupStarted,
    Event,
    ExecutionApproved,
    ExecutionRejected,
    ExecutionStarted,
    FailbackReprotected,
    FailbackReversed,
    FailbackReverseWaiting,
    FailbackSyncFinished,
    FailbackSyncProgress,
    ProgressUpdated,
    ReadinessReported,
    ServerFailure,
    TimelineReady,
    WaveFinished,
    WaveScheduled,
    WavesSkipped,
    WaveStarted,
)
from bot.domain.execution import (
    Execution,
    ExecutionStatus,
    ExecutionSummary,
    ExecutionType,
    ServerStatus,
    SlackBlock,
    WaveStatus,
    tally,
)
from bot.domain.plans import Catalog, OnFailure, PlanOptions, WaveOptions
from bot.domain.trend import Trend, rto_seconds, trends
from bot.services.ports import Message
from bot.slack.ids import APPROVE_ACTION, REJECT_ACTION
from bot.slack.mrkdwn import Mrkdwn, clip, md, plain, user, usergroup, users

SECTION_LIMIT = 3000
_STATUS_ICON = {
    ExecutionStatus.PENDING_APPROVAL: ":hourglass_flowing_sand:",
    ExecutionStatus.IN_PROGRESS: ":arrows_counterclockwise:",
    ExecutionStatus.COMPLETED: ":white_check_mark:",
    ExecutionStatus.PARTIAL: ":warning:",
    ExecutionStatus.FAILED: ":x:",
    ExecutionStatus.REJECTED: ":no_entry:",
    ExecutionStatus.EXPIRED: ":alarm_clock:",
    ExecutionStatus.CANCELLED: ":octagonal_sign:",
}
_WAVE_ICON = {
    WaveStatus.PENDING: ":white_circle:",
    WaveStatus.IN_PROGRESS: ":arrows_counterclockwise:",
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


def _kind(execution_type: ExecutionType) -> str:
    return {"DRILL": "Drill", "RECOVERY": "Recovery", "FAILBACK": "Failback"}[execution_type.value]


def _section(text: Mrkdwn) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}


def _context(text: Mrkdwn) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}]}


def _message(text: Mrkdwn, blocks: list[dict[str, Any]]) -> Message:
    """A message and its notification fallback, which Slack parses as mrkdwn too: escaped the same."""
    return Message(text=clip(plain(text), TEXT_LIMIT), blocks=blocks)


TEXT_LIMIT = 40_000  # a message's `text`: Slack refuses a longer one (msg_too_long)


def _fit(lines: list[Mrkdwn], more: Mrkdwn, limit: int = SECTION_LIMIT, hidden: int = 0) -> Mrkdwn:
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


def anchor(view: ProgressUpdated, now: datetime) -> Message:
    """The channel message every status reply threads under; edited as the execution progresses."""
    icon = Mrkdwn(_STATUS_ICON[view.status])
    title = md("{} *{} of `{}`* — {}", icon, _kind(view.execution_type), view.plan_name, view.status.value)
    waves = _fit(
        [
            md(
                "{} {}. {} — `{}` ({} servers, {})",
                Mrkdwn(_WAVE_ICON[wave.status]),
                index + 1,
                wave.name,
                wave.protection_group,
                wave.servers,
                wave.region,
            )
            for index, wave in enumerate(view.waves)
        ],
        Mrkdwn("…and {n} more waves"),
        hidden=max(0, view.wave_count - len(view.waves)),
    )
    if view.status is ExecutionStatus.PENDING_APPROVAL:
        return _approval_card(view, waves)
    progress = progress_line(view, now)
    meta = md("Execution `{}` · started by {}", view.execution_id, user(view.initiated_by))
    if view.point_in_time:
        meta += md(" · point in time: {}", point_in_time(view.point_in_time))
    text = md("{} of {}: {}. {}", _kind(view.execution_type), view.plan_name, view.status.value, progress)
    blocks = [_section(title), _section(waves)]
    if view.approvals_required:
        blocks.append(_context(_decision_line(view)))
    if view.status not in (ExecutionStatus.REJECTED, ExecutionStatus.EXPIRED):
        blocks.append(_context(progress))
    blocks.append(_context(meta))
    return _message(text, blocks)


def _approval_card(view: ProgressUpdated, waves: Mrkdwn) -> Message:
    kind = _kind(view.execution_type)
    expires = md("{:%Y-%m-%d %H:%M} UTC", view.expires_at) if view.expires_at else Mrkdwn("never")
    approvers = users(view.approved_by) or Mrkdwn("none yet")
    facts = md(
        "*Plan:* `{}`   *Type:* {}\n"
        "*Waves:* {}   *Servers:* {}   *Regions:* {}\n"
        "*Requested by:* {}   *Expires:* {}\n"
        "*Approvals:* {}/{} ({})",
        view.plan_name,
        view.execution_type.value,
        view.wave_count,
        view.server_count,
        ", ".join(view.regions),
        user(view.initiated_by),
        expires,
        len(view.approved_by),
        view.approvals_required,
        approvers,
    )
    if view.point_in_time:
        # The approvers decide on the data they launch from: the instant in UTC, not as typed.
        facts += md("\n*Point in time:* {}", point_in_time(view.point_in_time))
    confirm = {
        "title": {"type": "plain_text", "text": f"Start this {kind.lower()}?"},
        "text": {
            "type": "mrkdwn",
            "text": md(
                "This launches {} servers of `{}` for real ({}), not a drill.",
                view.server_count,
                view.plan_name,
                view.execution_type.value,
            ),
        },
        "confirm": {"type": "plain_text", "text": "Approve"},
        "deny": {"type": "plain_text", "text": "Back"},
    }
    buttons = {
        "type": "actions",
        "block_id": "decision",
        "elements": [
            {
                "type": "button",
                "action_id": APPROVE_ACTION,
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "value": view.execution_id,
                "confirm": confirm,
            },
            {
                "type": "button",
                "action_id": REJECT_ACTION,
                "text": {"type": "plain_text", "text": "Reject"},
                "style": "danger",
                "value": view.execution_id,
            },
        ],
    }
    title = md(":rotating_light: *Approval needed: {} of `{}`*", kind, view.plan_name)
    text = md(
        "Approval needed: {} of {} requested by {} ({} servers); expires {}.",
        kind,
        view.plan_name,
        user(view.initiated_by),
        view.server_count,
        expires,
    )
    if view.readiness_level:
        facts += Mrkdwn("\n") + readiness_text(view.readiness_level, view.readiness_lines)
    meta = md("Execution `{}` · the requester cannot approve their own request", view.execution_id)
    return _message(text, [_section(title), _section(facts), _section(waves), buttons, _context(meta)])


def _decision_line(view: ProgressUpdated) -> Mrkdwn:
    if view.rejected_by:
        return md(":no_entry: Rejected by {}: {}", user(view.rejected_by), view.rejection_reason or "")
    if view.status is ExecutionStatus.EXPIRED:
        return md(
            ":alarm_clock: Expired at {:%Y-%m-%d %H:%M} UTC: not approved in time",
            view.ended_at or view.expires_at,
        )
    return md(":white_check_mark: Approved by {}", users(view.approved_by))


def event(event: Event) -> Message:
    if isinstance(event, ProgressUpdated):
        return anchor(event, event.at)
    text = _event_text(event)
    return _message(text, [_section(text)])


def _event_text(event: Event) -> Mrkdwn:
    if isinstance(event, ProgressUpdated):
        raise TypeError("progress is shown by editing the anchor (anchor()), not as a reply")
    if isinstance(event, ExecutionStarted):
        text = md(
            ":rocket: {} of `{}` started by {}: {} waves, {} servers.",
            _kind(event.execution_type),
            event.plan_name,
            user(event.initiated_by),
            event.wave_count,
            event.server_count,
        )
        if event.point_in_time:
            text += md(" Point in time: {}.", point_in_time(event.point_in_time))
        return text
    if isinstance(event, WaveStarted):
        return md(
            ":arrow_forward: Wave {}/{} *{}* started: {} servers of `{}` in {} — job {}",
            event.wave_index + 1,
            event.wave_count,
            event.wave_name,
            event.server_count,
            event.protection_group,
            event.region,
            Mrkdwn(", ").join(md("`{}`", job) for job in event.job_ids),
        )
    if isinstance(event, WaveFinished):
        return _wave_finished(event)
    if isinstance(event, WaveScheduled):
        return md(
            ":hourglass: Wave {}/{} *{}* starts at {:%H:%M:%S} UTC (waits {} after the previous wave)",
            event.wave_index + 1,
            event.wave_count,
            event.wave_name,
            event.starts_at,
            duration(event.wait_seconds),
        )
    if isinstance(event, WavesSkipped):
        names = Mrkdwn(", ").join(md("*{}*", name) for name in event.wave_names)
        return md(":fast_forward: Skipped {}: {}.", names, event.reason)
    if isinstance(event, CleanupScheduled):
        return md(
            ":broom: Drill instances will be terminated automatically at {:%Y-%m-%d %H:%M} UTC "
            "(the plan's cleanup_after). `/drs cleanup` does it now.",
            event.due_at,
        )
    if isinstance(event, CleanupStarted):
        who = user(event.requested_by) if event.requested_by else "the plan's cleanup_after"
        jobs = Mrkdwn(", ").join(md("`{}`", job) for job in event.job_ids) or "none"
        text = md(
            ":broom: Cleanup by {}: terminating {} drill instance(s) (TERMINATE job {}); {} already gone.",
            who,
            event.terminating,
            jobs,
            event.already_gone,
        )
        if event.failures:
            text += Mrkdwn("\nNot terminated:\n") + _failure_lines(event.failures)
        return text
    if isinstance(event, CleanupFinished):
        icon = Mrkdwn(":white_check_mark:" if not event.failures else ":warning:")
        text = md(
            "{} Cleanup done: {} drill instance(s) terminated, {} were already gone.",
            icon,
            event.terminated,
            event.already_gone,
        )
        if event.failures:
            text += Mrkdwn("\nStill there:\n") + _failure_lines(event.failures)
        return text
    if isinstance(event, ReadinessReported):
        return readiness_text(event.level, event.lines, forced=event.forced)
    if isinstance(event, ApprovalRequested):
        return md(
            ":rotating_light: {} requests a real {} of `{}`. It needs {} approval(s) from {} "
            "(not the requester) by {:%H:%M} UTC.",
            user(event.requested_by),
            _kind(event.execution_type).lower(),
            event.plan_name,
            event.approvals_required,
            Mrkdwn(", ").join(_principal(p) for p in event.approvers),
            event.expires_at,
        )
    if isinstance(event, ApprovalRecorded):
        return md(
            ":ballot_box_with_check: Approved by {} ({}/{}); waiting for another approver.",
            user(event.approved_by),
            event.approvals,
            event.approvals_required,
        )
    if isinstance(event, ExecutionApproved):
        return md(":white_check_mark: Approved by {}.", users(event.approved_by))
    if isinstance(event, ExecutionRejected):
        return md(
            ":no_entry: Rejected by {}: {}. Nothing was launched.", user(event.rejected_by), event.reason
        )
    if isinstance(event, ApprovalExpired):
        return Mrkdwn(":alarm_clock: The request expired before it was approved. Nothing was launched.")
    if isinstance(event, CancelRequested):
        following = (
            md(" {} running job(s) will be followed to their end and reported.", event.jobs_running)
            if event.jobs_running
            else Mrkdwn("")
        )
        return md(
            ":octagonal_sign: Cancel requested by {}: nothing new will start.{}",
            user(event.requested_by),
            following,
        )
    if isinstance(event, FailbackReversed):
        icon = Mrkdwn(":leftwards_arrow_with_hook:" if not event.failures else ":warning:")
        text = md(
            "{} Reverse replication started for {}/{} recovery instance(s), replicating back to {}. "
            "Waiting for them to reach CONTINUOUS before launching there.",
            icon,
            event.reversed,
            event.total,
            ", ".join(event.origin_regions) or "no region",
        )
        if event.failures:
            text += Mrkdwn("\nNot reversed (they will not fail back):\n") + _server_failure_lines(
                event.failures, event.more_failures
            )
        return text
    if isinstance(event, FailbackReverseWaiting):
        return md(
            ":hourglass_flowing_sand: DRS is not ready to reverse replication for {}/{} recovery instance(s) "
            "yet; asking again until {:%Y-%m-%d %H:%M} UTC at most:\n{}",
            event.waiting,
            event.total,
            event.deadline,
            _server_failure_lines(event.servers, event.more_servers),
        )
    if isinstance(event, FailbackSyncProgress):
        return md(
            ":arrows_counterclockwise: Failback sync: {}/{} server(s) CONTINUOUS ({}); "
            "waiting until {:%Y-%m-%d %H:%M} UTC at most.",
            event.continuous,
            event.total,
            ", ".join(f"{state} {count}" for state, count in sorted(event.states.items())),
            event.deadline,
        )
    if isinstance(event, FailbackSyncFinished):
        icon = Mrkdwn(":white_check_mark:" if not event.failures else ":warning:")
        text = md(
            "{} Failback sync done: {}/{} server(s) ready to launch in the origin region.",
            icon,
            event.ready,
            event.total,
        )
        if event.failures:
            text += Mrkdwn("\nLeft out:\n") + _server_failure_lines(event.failures, event.more_failures)
        return text
    if isinstance(event, FailbackReprotected):
        icon = Mrkdwn(":shield:" if not event.failures else ":warning:")
        text = md(
            "{} Re-protect: {}/{} instance(s) in the origin region replicate to the recovery region again.",
            icon,
            event.reprotected,
            event.total,
        )
        if event.failures:
            text += Mrkdwn("\nNot re-protected:\n") + _server_failure_lines(
                event.failures, event.more_failures
            )
        return text
    if isinstance(event, TimelineReady):
        return timeline_caption(event)
    return md(
        "{} {} of `{}` *{}*: {}/{} servers launched, {} failed, in {}.",
        Mrkdwn(_STATUS_ICON[event.status]),
        _kind(event.execution_type),
        event.plan_name,
        event.status.value,
        event.launched,
        event.total,
        event.failed,
        duration(event.duration_seconds),
    )


def timeline_caption(event: TimelineReady) -> Mrkdwn:
    """The verdict line posted with the timeline picture."""
    return md(
        ":bar_chart: Timeline of {} `{}`: *{}*, {}/{} servers launched in {}.",
        _kind(event.execution_type).lower(),
        event.execution_id,
        event.status.value,
        event.launched,
        event.total,
        duration(event.duration_seconds),
    )


def picture_refused(event: TimelineReady, error: str) -> Message:
    """The verdict line alone, when Slack refuses the picture for good (say, no files:write scope)."""
    text = timeline_caption(event) + md(
        "\n_The timeline picture was not posted: Slack answered `{}`._", error
    )
    return _message(text, [_section(text)])


_READINESS_ICON = {
    "READY": ":large_green_circle:",
    "WARN": ":large_yellow_circle:",
    "BLOCKED": ":red_circle:",
}


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


def _principal(principal: str) -> Mrkdwn:
    if principal == "*":
        return Mrkdwn("anyone")
    return usergroup(principal) if principal.startswith("S") else user(principal)


def _wave_finished(event: WaveFinished) -> Mrkdwn:
    total = event.launched + event.failed + event.not_started
    text = md(
        "{} Wave {}/{} *{}* {}: {}/{} launched in {} (RTO)",
        Mrkdwn(_WAVE_ICON[event.status]),
        event.wave_index + 1,
        event.wave_count,
        event.wave_name,
        event.status.value,
        event.launched,
        total,
        duration(event.duration_seconds),
    )
    if event.not_started:
        text += md(", {} not started", event.not_started)
    if event.failures:
        more = (
            md("\n…and {} more failed servers (see `/drs status`)", event.more_failures)
            if event.more_failures
            else Mrkdwn("")
        )
        text += Mrkdwn("\nFailed:")
        # The listed errors share one section (20 of DRS's longest still fit); the history keeps them whole.
        share = (SECTION_LIMIT - len(text) - len(more)) // len(event.failures) - 30
        for failure in event.failures:
            error = clip(" ".join(failure.error.split()), max(share, 20))
            text += md("\n• `{}`: {}", failure.source_server_id, error)
        text += more
    return text


def plans_list(catalog: Catalog) -> Mrkdwn:
    if not catalog.plans:
        return Mrkdwn("No recovery plans yet. Apply a plans file with `drs-bot plans apply plans.yml`.")
    lines = []
    for plan in catalog.plans:
        groups = [catalog.group(w.protection_group) for w in plan.waves]
        servers = f"{sum(len(g.source_servers) for g in groups)} servers"
        if any(g.by_tags for g in groups):
            servers += " listed, more selected by tags at run time"
        description = md(" — {}", clip(plan.description, 150)) if plan.description else Mrkdwn("")
        lines.append(md("• `{}`{} ({} waves, {})", plan.name, description, len(plan.waves), servers))
    return Mrkdwn("*Recovery plans*\n") + _fit(lines, Mrkdwn("…and {n} more plans"), TEXT_LIMIT - 20)


def status_text(execution: Execution, now: datetime) -> Mrkdwn:
    lines = [
        md(
            "{} *{} of `{}`* — {} (`{}`)",
            Mrkdwn(_STATUS_ICON[execution.status]),
            _kind(execution.execution_type),
            execution.plan_name,
            execution.status.value,
            execution.execution_id,
        ),
        progress_line(ProgressUpdated(seq=0, **progress_fields(execution, now)), now),
    ]
    if execution.point_in_time:
        lines.append(md("Point in time: {}", point_in_time(execution.point_in_time)))
    if execution.failback is not None:
        lines.append(_failback_line(execution))
    if execution.slack_blocked is not None:
        lines.append(_slack_blocked_line(execution.slack_blocked))
    for wave in execution.waves[:STATUS_WAVES]:
        counts = tally(wave.servers())
        lines.append(
            md(
                "{} {}: {}, {}/{} launched, {} failed",
                Mrkdwn(_WAVE_ICON[wave.status]),
                wave.name,
                wave.status.value,
                counts.launched,
                counts.total,
                counts.failed,
            )
        )
    if len(execution.waves) > STATUS_WAVES:
        lines.append(md("…and {} more waves", len(execution.waves) - STATUS_WAVES))
    if execution.readiness is not None:  # snapshot ages arrive after the launch: show them as they stand
        note = execution.readiness
        lines.append(readiness_text(note.current_level, list(note.all_lines()[:READINESS_LINES])))
    failed = [s for s in execution.servers() if s.status is ServerStatus.FAILED]
    if failed:
        # DRS's own error text, shortened; the history keeps it whole.
        lines.append(md("*Failed servers* ({}):", len(failed)))
        lines += [
            md("• `{}`: {}", s.source_server_id, clip(s.error or "", 200)) for s in failed[:STATUS_FAILURES]
        ]
        if len(failed) > STATUS_FAILURES:
            lines.append(
                md("…and {} more (the stored history lists them all)", len(failed) - STATUS_FAILURES)
            )
    return _fit(lines, Mrkdwn("…and {n} more lines"), limit=TEXT_LIMIT)


STATUS_WAVES = 40


def _slack_blocked_line(block: SlackBlock) -> Mrkdwn:
    code = block.error if block.error.replace("_", "").isalnum() else "refused"  # Slack's codes are a-z_
    return md(
        ":warning: Its messages are not in its channel: Slack refuses them (`{}`) since "
        "{:%Y-%m-%d %H:%M} UTC. The history has everything.",
        code,
        block.since,
    )


_FAILBACK_STEP = {
    "REVERSING": "reversing replication",
    "SYNCING": "waiting for the origin-region servers to reach CONTINUOUS",
    "LAUNCHING": "launching in the origin region",
    "REPROTECTING": "re-protecting the launched instances",
    "DONE": "done",
}


def _failback_line(execution: Execution) -> Mrkdwn:
    run = execution.failback
    assert run is not None
    servers = run.servers
    return md(
        "Failback of recovery `{}` — step: {}; {}/{} reversed, {} CONTINUOUS, {} left out, {} re-protected",
        run.recovery_execution_id,
        _FAILBACK_STEP[run.phase.value],
        sum(1 for s in servers if s.reversed_source_server_id),
        len(servers),
        sum(1 for s in servers if s.ready),
        sum(1 for s in servers if s.failed),
        sum(1 for s in servers if s.reprotected),
    )


STATUS_FAILURES = 25


def history_text(summaries: list[ExecutionSummary], plan_name: str | None, now: datetime) -> Mrkdwn:
    where = md("`{}`", plan_name) if plan_name else Mrkdwn("this channel")
    if not summaries:
        return md("No executions of {} yet.", where)
    lines = [md("*Recent executions of {}* (newest first)", where)]
    for summary in summaries:
        started = summary.start_time or summary.created_at
        took = duration(((summary.end_time or now) - started).total_seconds())
        failed = f", {summary.failed} failed" if summary.failed else ""
        rto = rto_seconds(summary)
        lines.append(
            md(
                "{} `{}` {} of `{}` — {}, {}/{} launched{}{} · {:%Y-%m-%d %H:%M} UTC, {} · {}",
                Mrkdwn(_STATUS_ICON[summary.status]),
                summary.execution_id,
                _kind(summary.execution_type).lower(),
                summary.plan_name,
                summary.status.value,
                summary.launched,
                summary.total,
                failed,
                f" · RTO {duration(rto)}" if rto is not None else "",
                started,
                took,
                user(summary.initiated_by),
            )
        )
    if plan_name:
        lines += [_trend_line(trend) for trend in trends(summaries)]
    return Mrkdwn("\n").join(lines)


def _trend_line(trend: Trend) -> Mrkdwn:
    """RTOs oldest → newest (request to last launch), and how the newest compares with the oldest."""
    change = trend.change_seconds
    verdict = (
        f"{duration(-change)} faster than the oldest"
        if change < 0
        else f"{duration(change)} slower than the oldest"
        if change > 0
        else "the same as the oldest"
    )
    shown = list(trend.rtos[-TREND_SHOWN:])
    more = len(trend.rtos) - len(shown)
    return md(
        "{} *RTO of {}* (request → last launch, oldest → newest): {}{} · newest {}",
        Mrkdwn(":chart_with_upwards_trend:" if change > 0 else ":chart_with_downwards_trend:"),
        _PLURAL[trend.execution_type],
        "… → " if more else "",
        " → ".join(duration(rto) for rto in shown),
        verdict,
    )


_PLURAL = {
    ExecutionType.DRILL: "drills",
    ExecutionType.RECOVERY: "recoveries",
    ExecutionType.FAILBACK: "failbacks",
}
TREND_SHOWN = 10  # RTOs listed in a trend line; the comparison still spans every execution shown


def wave_options_text(options: WaveOptions) -> list[str]:
    """A wave's options as `/drs plan` shows them (the timeout always: it decides when servers fail)."""
    shown = [f"timeout {duration(options.timeout)}"]
    if options.wait_before:
        shown.insert(0, f"waits {duration(options.wait_before)} after the previous wave")
    if options.on_failure is OnFailure.STOP:
        shown.append("stops the plan if any server fails")
    return shown


def plan_options_text(options: PlanOptions) -> list[str]:
    shown: list[str] = []
    if options.rpo_target is not None:
        shown.append(f"Readiness warns beyond an RPO of {duration(options.rpo_target)} (rpo_target).")
    if options.cleanup_after is not None:
        shown.append(
            f"Drills are cleaned up {duration(options.cleanup_after)} after they end (cleanup_after)."
        )
    return shown


def plan_text(catalog: Catalog, plan_name: str) -> Mrkdwn:
    plan = catalog.plan(plan_name)
    if plan is None:
        return unknown_plan(plan_name, tuple(catalog.plan_names()))
    description = md(" — {}", plan.description) if plan.description else Mrkdwn("")
    lines = [md("*Plan `{}`*{}", plan.name, description)]
    total = 0
    for index, wave in enumerate(plan.waves, start=1):
        group = catalog.group(wave.protection_group)
        total += len(group.source_servers)
        options = wave_options_text(wave.options)
        members = (
            "servers tagged " + ", ".join(f"{k}={v}" for k, v in group.source_server_tags.items())
            if group.by_tags
            else f"{len(group.source_servers)} servers"
        )
        lines.append(
            md(
                "{}. *{}* — `{}`: {} in {} ({})",
                index,
                wave.name,
                group.name,
                members,
                group.region,
                "; ".join(options),
            )
        )
    lines += [md("{}", line) for line in plan_options_text(plan.options)]
    lines.append(
        md("{} waves, {} servers. Run a drill: `/drs execute {} drill`", len(plan.waves), total, plan.name)
    )
    return _fit(lines, Mrkdwn("…and {n} more lines"), limit=TEXT_LIMIT)


def unknown_plan(name: str, known: tuple[str, ...]) -> Mrkdwn:
    """`name` is what the user typed: escaped, and clipped so a pasted essay is not echoed whole."""
    typed = clip(name.replace("`", "'"), 80)
    if not known:
        return md(
            "There is no plan `{}`: no plans are loaded yet. Apply one with `drs-bot plans apply FILE`.",
            typed,
        )
    guess = difflib.get_close_matches(name, known, n=1)
    hint = md(" Did you mean `{}`?", guess[0]) if guess else Mrkdwn("")
    listed = Mrkdwn(", ").join(md("`{}`", p) for p in known[:30])
    more = md(" and {} more (`/drs plans` lists them)", len(known) - 30) if len(known) > 30 else Mrkdwn("")
    return md("There is no plan `{}`.{} Known plans: {}{}", typed, hint, listed, more)


def _server_failure_lines(failures: list[ServerFailure], more: int) -> Mrkdwn:
    lines = [md("• `{}`: {}", f.source_server_id, clip(f.error, 300)) for f in failures[:10]]
    hidden = len(failures) - len(lines) + more
    if hidden > 0:
        lines.append(md("…and {} more (the history lists them all)", hidden))
    return Mrkdwn("\n").join(lines)


def _failure_lines(failures: list[str], shown: int = 10) -> Mrkdwn:
    """A cleanup's failures within one section: the first few, shortened, and a count of the rest."""
    lines = [md("• {}", clip(failure, 150)) for failure in failures[:shown]]
    if len(failures) > shown:
        lines.append(md("…and {} more (the stored history lists them all)", len(failures) - shown))
    return Mrkdwn("\n").join(lines)
