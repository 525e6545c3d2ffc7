"""Block Kit rendering: pure functions from domain objects to Slack messages (with text fallbacks)."""

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
    FailbackSyncFinished,
    FailbackSyncProgress,
    ProgressUpdated,
    ReadinessReported,
    ServerFailure,
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
    WaveStatus,
    tally,
)
from bot.domain.plans import Catalog
from bot.services.ports import Message
from bot.slack.ids import APPROVE_ACTION, REJECT_ACTION

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


def _section(text: str) -> dict[str, Any]:
    if len(text) > SECTION_LIMIT:
        text = text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]}


TEXT_LIMIT = 40_000  # a message's `text`: Slack refuses a longer one (msg_too_long)


def _fit(lines: list[str], more: str, limit: int = SECTION_LIMIT, hidden: int = 0) -> str:
    """Whole lines within `limit` characters; `more` ("…and {n} more") counts the lines left out."""
    budget = limit - len(more) - 10
    kept: list[str] = []
    for index, line in enumerate(lines):
        budget -= len(line) + 1
        if budget < 0:
            return "\n".join([*kept, more.format(n=len(lines) - index + hidden)])
        kept.append(line)
    return "\n".join([*kept, more.format(n=hidden)] if hidden else kept)


def progress_line(view: ProgressUpdated, now: datetime) -> str:
    started = view.started_at or view.at
    elapsed = ((view.ended_at or now) - started).total_seconds()
    to_go = view.total - view.launched - view.failed
    return (
        f"Waves {view.waves_done}/{view.wave_count} · servers {view.launched} launched, "
        f"{view.failed} failed, {to_go} to go · {duration(elapsed)}"
    )


def anchor(view: ProgressUpdated, now: datetime) -> Message:
    """The channel message every status reply threads under; edited as the execution progresses."""
    icon = _STATUS_ICON[view.status]
    title = f"{icon} *{_kind(view.execution_type)} of `{view.plan_name}`* — {view.status.value}"
    waves = _fit(
        [
            f"{_WAVE_ICON[wave.status]} {index + 1}. {wave.name} — `{wave.protection_group}` "
            f"({wave.servers} servers, {wave.region})"
            for index, wave in enumerate(view.waves)
        ],
        "…and {n} more waves",
        hidden=max(0, view.wave_count - len(view.waves)),
    )
    if view.status is ExecutionStatus.PENDING_APPROVAL:
        return _approval_card(view, waves)
    progress = progress_line(view, now)
    meta = f"Execution `{view.execution_id}` · started by <@{view.initiated_by}>"
    text = f"{_kind(view.execution_type)} of {view.plan_name}: {view.status.value}. {progress}"
    blocks = [_section(title), _section(waves)]
    if view.approvals_required:
        blocks.append(_context(_decision_line(view)))
    if view.status not in (ExecutionStatus.REJECTED, ExecutionStatus.EXPIRED):
        blocks.append(_context(progress))
    blocks.append(_context(meta))
    return Message(text=text, blocks=blocks)


def _approval_card(view: ProgressUpdated, waves: str) -> Message:
    kind = _kind(view.execution_type)
    expires = f"{view.expires_at:%Y-%m-%d %H:%M} UTC" if view.expires_at else "never"
    approvers = ", ".join(f"<@{user}>" for user in view.approved_by) or "none yet"
    facts = (
        f"*Plan:* `{view.plan_name}`   *Type:* {view.execution_type.value}\n"
        f"*Waves:* {view.wave_count}   *Servers:* {view.server_count}   *Regions:* {', '.join(view.regions)}\n"
        f"*Requested by:* <@{view.initiated_by}>   *Expires:* {expires}\n"
        f"*Approvals:* {len(view.approved_by)}/{view.approvals_required} ({approvers})"
    )
    confirm = {
        "title": {"type": "plain_text", "text": f"Start this {kind.lower()}?"},
        "text": {
            "type": "mrkdwn",
            "text": f"This launches {view.server_count} servers of `{view.plan_name}` for real "
            f"({view.execution_type.value}), not a drill.",
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
    title = f":rotating_light: *Approval needed: {kind} of `{view.plan_name}`*"
    text = (
        f"Approval needed: {kind} of {view.plan_name} requested by <@{view.initiated_by}> "
        f"({view.server_count} servers); expires {expires}."
    )
    if view.readiness_level:
        facts += "\n" + readiness_text(view.readiness_level, view.readiness_lines)
    meta = f"Execution `{view.execution_id}` · the requester cannot approve their own request"
    return Message(
        text=text, blocks=[_section(title), _section(facts), _section(waves), buttons, _context(meta)]
    )


def _decision_line(view: ProgressUpdated) -> str:
    if view.rejected_by:
        return f":no_entry: Rejected by <@{view.rejected_by}>: {view.rejection_reason}"
    if view.status is ExecutionStatus.EXPIRED:
        return f":alarm_clock: Expired at {view.ended_at or view.expires_at:%Y-%m-%d %H:%M} UTC: not approved in time"
    approvers = ", ".join(f"<@{user}>" for user in view.approved_by)
    return f":white_check_mark: Approved by {approvers}"


def event(event: Event) -> Message:
    if isinstance(event, ProgressUpdated):
        return anchor(event, event.at)
    if isinstance(event, ExecutionStarted):
        text = (
            f":rocket: {_kind(event.execution_type)} of `{event.plan_name}` started by "
            f"<@{event.initiated_by}>: {event.wave_count} waves, {event.server_count} servers."
        )
        if event.point_in_time:
            text += f" Point in time: each server from its newest snapshot at or before {event.point_in_time:%Y-%m-%d %H:%M:%S} UTC."
    elif isinstance(event, WaveStarted):
        jobs = ", ".join(f"`{job}`" for job in event.job_ids)
        text = (
            f":arrow_forward: Wave {event.wave_index + 1}/{event.wave_count} *{event.wave_name}* started: "
            f"{event.server_count} servers of `{event.protection_group}` in {event.region} — job {jobs}"
        )
    elif isinstance(event, WaveFinished):
        text = _wave_finished(event)
    elif isinstance(event, WaveScheduled):
        text = (
            f":hourglass: Wave {event.wave_index + 1}/{event.wave_count} *{event.wave_name}* starts at "
            f"{event.starts_at:%H:%M:%S} UTC (waits {duration(event.wait_seconds)} after the previous wave)"
        )
    elif isinstance(event, WavesSkipped):
        names = ", ".join(f"*{name}*" for name in event.wave_names)
        text = f":fast_forward: Skipped {names}: {event.reason}."
    elif isinstance(event, CleanupScheduled):
        text = (
            f":broom: Drill instances will be terminated automatically at {event.due_at:%Y-%m-%d %H:%M} UTC "
            "(the plan's cleanup_after). `/drs cleanup` does it now."
        )
    elif isinstance(event, CleanupStarted):
        who = f"<@{event.requested_by}>" if event.requested_by else "the plan's cleanup_after"
        jobs = ", ".join(f"`{job}`" for job in event.job_ids) or "none"
        text = (
            f":broom: Cleanup by {who}: terminating {event.terminating} drill instance(s) "
            f"(TERMINATE job {jobs}); {event.already_gone} already gone."
        )
        if event.failures:
            text += "\nNot terminated:\n" + _failure_lines(event.failures)
    elif isinstance(event, CleanupFinished):
        icon = ":white_check_mark:" if not event.failures else ":warning:"
        text = (
            f"{icon} Cleanup done: {event.terminated} drill instance(s) terminated, "
            f"{event.already_gone} were already gone."
        )
        if event.failures:
            text += "\nStill there:\n" + _failure_lines(event.failures)
    elif isinstance(event, ReadinessReported):
        text = readiness_text(event.level, event.lines, forced=event.forced)
    elif isinstance(event, ApprovalRequested):
        who = ", ".join(_principal(p) for p in event.approvers)
        text = (
            f":rotating_light: <@{event.requested_by}> requests a real {_kind(event.execution_type).lower()} of "
            f"`{event.plan_name}`. It needs {event.approvals_required} approval(s) from {who} "
            f"(not the requester) by {event.expires_at:%H:%M} UTC."
        )
    elif isinstance(event, ApprovalRecorded):
        text = (
            f":ballot_box_with_check: Approved by <@{event.approved_by}> "
            f"({event.approvals}/{event.approvals_required}); waiting for another approver."
        )
    elif isinstance(event, ExecutionApproved):
        text = ":white_check_mark: Approved by " + ", ".join(f"<@{u}>" for u in event.approved_by) + "."
    elif isinstance(event, ExecutionRejected):
        text = f":no_entry: Rejected by <@{event.rejected_by}>: {event.reason}. Nothing was launched."
    elif isinstance(event, ApprovalExpired):
        text = ":alarm_clock: The request expired before it was approved. Nothing was launched."
    elif isinstance(event, CancelRequested):
        following = (
            f" {event.jobs_running} running job(s) will be followed to their end and reported."
            if event.jobs_running
            else ""
        )
        text = (
            f":octagonal_sign: Cancel requested by <@{event.requested_by}>: nothing new will start."
            f"{following}"
        )
    elif isinstance(event, FailbackReversed):
        regions = ", ".join(event.origin_regions) or "no region"
        icon = ":leftwards_arrow_with_hook:" if not event.failures else ":warning:"
        text = (
            f"{icon} Reverse replication started for {event.reversed}/{event.total} recovery instance(s), "
            f"replicating back to {regions}. Waiting for them to reach CONTINUOUS before launching there."
        )
        if event.failures:
            text += "\nNot reversed (they will not fail back):\n" + _server_failure_lines(
                event.failures, event.more_failures
            )
    elif isinstance(event, FailbackSyncProgress):
        states = ", ".join(f"{state} {count}" for state, count in sorted(event.states.items()))
        text = (
            f":arrows_counterclockwise: Failback sync: {event.continuous}/{event.total} server(s) CONTINUOUS "
            f"({states}); waiting until {event.deadline:%Y-%m-%d %H:%M} UTC at most."
        )
    elif isinstance(event, FailbackSyncFinished):
        icon = ":white_check_mark:" if not event.failures else ":warning:"
        text = (
            f"{icon} Failback sync done: {event.ready}/{event.total} server(s) ready to launch in the "
            "origin region."
        )
        if event.failures:
            text += "\nLeft out:\n" + _server_failure_lines(event.failures, event.more_failures)
    elif isinstance(event, FailbackReprotected):
        icon = ":shield:" if not event.failures else ":warning:"
        text = (
            f"{icon} Re-protect: {event.reprotected}/{event.total} instance(s) in the origin region "
            "replicate to the recovery region again."
        )
        if event.failures:
            text += "\nNot re-protected:\n" + _server_failure_lines(event.failures, event.more_failures)
    else:
        text = (
            f"{_STATUS_ICON[event.status]} {_kind(event.execution_type)} of `{event.plan_name}` "
            f"*{event.status.value}*: {event.launched}/{event.total} servers launched, "
            f"{event.failed} failed, in {duration(event.duration_seconds)}."
        )
    return Message(text=_plain(text)[:TEXT_LIMIT], blocks=[_section(text)])


_READINESS_ICON = {
    "READY": ":large_green_circle:",
    "WARN": ":large_yellow_circle:",
    "BLOCKED": ":red_circle:",
}


def readiness_text(
    level: str, lines: list[str], *, forced: bool = False, plan_name: str | None = None
) -> str:
    icon = _READINESS_ICON.get(level, ":grey_question:")
    head = f"{icon} *Readiness: {level}*" + (f" for `{plan_name}`" if plan_name else "")
    if forced:
        head += " — started anyway (--force)"
    return "\n".join([head, *(f"• {line}" for line in lines)])


def _principal(principal: str) -> str:
    if principal == "*":
        return "anyone"
    return f"<!subteam^{principal}>" if principal.startswith("S") else f"<@{principal}>"


def _wave_finished(event: WaveFinished) -> str:
    total = event.launched + event.failed + event.not_started
    text = (
        f"{_WAVE_ICON[event.status]} Wave {event.wave_index + 1}/{event.wave_count} *{event.wave_name}* "
        f"{event.status.value}: {event.launched}/{total} launched in {duration(event.duration_seconds)} (RTO)"
    )
    if event.not_started:
        text += f", {event.not_started} not started"
    if event.failures:
        more = (
            f"\n…and {event.more_failures} more failed servers (see `/drs status`)"
            if event.more_failures
            else ""
        )
        text += "\nFailed:"
        # The listed errors share one section (20 of DRS's longest still fit); the history keeps them whole.
        share = (SECTION_LIMIT - len(text) - len(more)) // len(event.failures) - 30
        for failure in event.failures:
            error = " ".join(failure.error.split())
            if len(error) > share:
                error = error[: max(share, 20) - 1] + "…"
            text += f"\n• `{failure.source_server_id}`: {error}"
        text += more
    return text


def _plain(text: str) -> str:
    return text.replace("*", "").replace("`", "")


def plans_list(catalog: Catalog) -> str:
    if not catalog.plans:
        return "No recovery plans yet. Apply a plans file with `drs-bot plans apply plans.yml`."
    lines = []
    for plan in catalog.plans:
        groups = [catalog.group(w.protection_group) for w in plan.waves]
        servers = f"{sum(len(g.source_servers) for g in groups)} servers"
        if any(g.by_tags for g in groups):
            servers += " listed, more selected by tags at run time"
        description = f" — {plan.description[:150]}" if plan.description else ""
        lines.append(f"• `{plan.name}`{description} ({len(plan.waves)} waves, {servers})")
    return "*Recovery plans*\n" + _fit(lines, "…and {n} more plans", TEXT_LIMIT - 20)


def status_text(execution: Execution, now: datetime) -> str:
    lines = [
        f"{_STATUS_ICON[execution.status]} *{_kind(execution.execution_type)} of `{execution.plan_name}`* "
        f"— {execution.status.value} (`{execution.execution_id}`)",
        progress_line(ProgressUpdated(seq=0, **progress_fields(execution, now)), now),
    ]
    if execution.failback is not None:
        lines.append(_failback_line(execution))
    for wave in execution.waves[:STATUS_WAVES]:
        counts = tally(wave.servers())
        lines.append(
            f"{_WAVE_ICON[wave.status]} {wave.name}: {wave.status.value}, "
            f"{counts.launched}/{counts.total} launched, {counts.failed} failed"
        )
    if len(execution.waves) > STATUS_WAVES:
        lines.append(f"…and {len(execution.waves) - STATUS_WAVES} more waves")
    if execution.readiness is not None:  # snapshot ages arrive after the launch: show them as they stand
        note = execution.readiness
        lines.append(readiness_text(note.current_level, list(note.all_lines()[:READINESS_LINES])))
    failed = [s for s in execution.servers() if s.status is ServerStatus.FAILED]
    if failed:
        # DRS's own error text, shortened; the history keeps it whole.
        lines.append(f"*Failed servers* ({len(failed)}):")
        lines += [f"• `{s.source_server_id}`: {(s.error or '')[:200]}" for s in failed[:STATUS_FAILURES]]
        if len(failed) > STATUS_FAILURES:
            lines.append(f"…and {len(failed) - STATUS_FAILURES} more (the stored history lists them all)")
    return _fit(lines, "…and {n} more lines", limit=TEXT_LIMIT)


STATUS_WAVES = 40

_FAILBACK_STEP = {
    "REVERSING": "reversing replication",
    "SYNCING": "waiting for the origin-region servers to reach CONTINUOUS",
    "LAUNCHING": "launching in the origin region",
    "REPROTECTING": "re-protecting the launched instances",
    "DONE": "done",
}


def _failback_line(execution: Execution) -> str:
    run = execution.failback
    assert run is not None
    servers = run.servers
    reversed_ = sum(1 for s in servers if s.reversed_source_server_id)
    ready = sum(1 for s in servers if s.ready)
    left_out = sum(1 for s in servers if s.failed)
    reprotected = sum(1 for s in servers if s.reprotected)
    return (
        f"Failback of recovery `{run.recovery_execution_id}` — step: {_FAILBACK_STEP[run.phase.value]}; "
        f"{reversed_}/{len(servers)} reversed, {ready} CONTINUOUS, {left_out} left out, {reprotected} re-protected"
    )


STATUS_FAILURES = 25


def history_text(summaries: list[ExecutionSummary], plan_name: str | None, now: datetime) -> str:
    where = f"`{plan_name}`" if plan_name else "this channel"
    if not summaries:
        return f"No executions of {where} yet."
    lines = [f"*Recent executions of {where}* (newest first)"]
    for summary in summaries:
        started = summary.start_time or summary.created_at
        took = duration(((summary.end_time or now) - started).total_seconds())
        failed = f", {summary.failed} failed" if summary.failed else ""
        lines.append(
            f"{_STATUS_ICON[summary.status]} `{summary.execution_id}` "
            f"{_kind(summary.execution_type).lower()} of `{summary.plan_name}` — {summary.status.value}, "
            f"{summary.launched}/{summary.total} launched{failed} · {started:%Y-%m-%d %H:%M} UTC, {took} "
            f"· <@{summary.initiated_by}>"
        )
    return "\n".join(lines)


def plan_text(catalog: Catalog, plan_name: str) -> str:
    plan = catalog.plan(plan_name)
    if plan is None:
        return unknown_plan(plan_name, tuple(catalog.plan_names()))
    lines = [f"*Plan `{plan.name}`*" + (f" — {plan.description}" if plan.description else "")]
    total = 0
    for index, wave in enumerate(plan.waves, start=1):
        group = catalog.group(wave.protection_group)
        total += len(group.source_servers)
        options = [f"timeout {duration(wave.timeout)}"]
        if wave.wait_before:
            options.insert(0, f"waits {duration(wave.wait_before)} after the previous wave")
        if wave.on_failure.value == "stop":
            options.append("stops the plan if any server fails")
        members = (
            "servers tagged " + ", ".join(f"{k}={v}" for k, v in group.source_server_tags.items())
            if group.by_tags
            else f"{len(group.source_servers)} servers"
        )
        lines.append(
            f"{index}. *{wave.name}* — `{group.name}`: {members} in {group.region} ({'; '.join(options)})"
        )
    lines.append(f"{len(plan.waves)} waves, {total} servers. Run a drill: `/drs execute {plan.name} drill`")
    return _fit(lines, "…and {n} more lines", limit=TEXT_LIMIT)


def unknown_plan(name: str, known: tuple[str, ...]) -> str:
    if not known:
        return (
            f"There is no plan `{name}`: no plans are loaded yet. Apply one with `drs-bot plans apply FILE`."
        )
    guess = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean `{guess[0]}`?" if guess else ""
    listed = ", ".join(f"`{p}`" for p in known[:30])
    more = f" and {len(known) - 30} more (`/drs plans` lists them)" if len(known) > 30 else ""
    return f"There is no plan `{name}`.{hint} Known plans: {listed}{more}"


def _server_failure_lines(failures: list[ServerFailure], more: int) -> str:
    lines = [f"• `{f.source_server_id}`: {f.error[:300]}" for f in failures[:10]]
    hidden = len(failures) - len(lines) + more
    if hidden > 0:
        lines.append(f"…and {hidden} more (the history lists them all)")
    return "\n".join(lines)


def _failure_lines(failures: list[str], shown: int = 10) -> str:
    """A cleanup's failures within one section: the first few, shortened, and a count of the rest."""
    lines = [f"• {failure[:150]}" for failure in failures[:shown]]
    if len(failures) > shown:
        lines.append(f"…and {len(failures) - shown} more (the stored history lists them all)")
    return "\n".join(lines)
