"""Block Kit rendering: pure functions from domain objects to Slack messages (with text fallbacks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.events import Event, ExecutionFinished, ExecutionStarted, WaveFinished, WaveStarted
from bot.domain.execution import Execution, ExecutionStatus, ExecutionType, WaveStatus, tally
from bot.domain.plans import Catalog
from bot.services.ports import Message

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


def progress_line(execution: Execution, now: datetime) -> str:
    counts = tally(execution.servers())
    waves_done = sum(1 for wave in execution.waves if wave.status.is_terminal)
    started = execution.start_time or execution.created_at
    elapsed = ((execution.end_time or now) - started).total_seconds()
    return (
        f"Waves {waves_done}/{len(execution.waves)} · servers {counts.launched} launched, "
        f"{counts.failed} failed, {counts.pending} to go · {duration(elapsed)}"
    )


def anchor(execution: Execution, now: datetime) -> Message:
    """The channel message every status reply threads under; refreshed with live progress."""
    icon = _STATUS_ICON[execution.status]
    title = (
        f"{icon} *{_kind(execution.execution_type)} of `{execution.plan_name}`* — {execution.status.value}"
    )
    waves = "\n".join(
        f"{_WAVE_ICON[wave.status]} {wave.index + 1}. {wave.name} — `{wave.protection_group}` "
        f"({sum(1 for _ in wave.servers())} servers, {wave.region})"
        for wave in execution.waves[:40]
    )
    if len(execution.waves) > 40:
        waves += f"\n…and {len(execution.waves) - 40} more waves"
    progress = progress_line(execution, now)
    meta = f"Execution `{execution.execution_id}` · started by <@{execution.initiated_by}>"
    text = f"{_kind(execution.execution_type)} of {execution.plan_name}: {execution.status.value}. {progress}"
    return Message(text=text, blocks=[_section(title), _section(waves), _context(progress), _context(meta)])


def event(event: Event) -> Message:
    if isinstance(event, ExecutionStarted):
        text = (
            f":rocket: {_kind(event.execution_type)} of `{event.plan_name}` started by "
            f"<@{event.initiated_by}>: {event.wave_count} waves, {event.server_count} servers."
        )
    elif isinstance(event, WaveStarted):
        jobs = ", ".join(f"`{job}`" for job in event.job_ids)
        text = (
            f":arrow_forward: Wave {event.wave_index + 1}/{event.wave_count} *{event.wave_name}* started: "
            f"{event.server_count} servers of `{event.protection_group}` in {event.region} — job {jobs}"
        )
    elif isinstance(event, WaveFinished):
        text = _wave_finished(event)
    elif isinstance(event, ExecutionFinished):
        text = (
            f"{_STATUS_ICON[event.status]} {_kind(event.execution_type)} of `{event.plan_name}` "
            f"*{event.status.value}*: {event.launched}/{event.total} servers launched, "
            f"{event.failed} failed, in {duration(event.duration_seconds)}."
        )
    return Message(text=_plain(text), blocks=[_section(text)])


def _wave_finished(event: WaveFinished) -> str:
    total = event.launched + event.failed
    text = (
        f"{_WAVE_ICON[event.status]} Wave {event.wave_index + 1}/{event.wave_count} *{event.wave_name}* "
        f"{event.status.value}: {event.launched}/{total} launched in {duration(event.duration_seconds)} (RTO)"
    )
    if event.failures:
        lines = [f"• `{f.source_server_id}`: {f.error}" for f in event.failures]
        if event.more_failures:
            lines.append(f"…and {event.more_failures} more failed servers (see `/drs status`)")
        text += "\nFailed:\n" + "\n".join(lines)
    return text


def _plain(text: str) -> str:
    return text.replace("*", "").replace("`", "")


def help_text(usage: str) -> str:
    return f"*DRS ChatOps* runs AWS Elastic Disaster Recovery plans from Slack.\n{usage}"


def plans_list(catalog: Catalog) -> str:
    if not catalog.plans:
        return "No recovery plans yet. Apply a plans file with `drs-bot plans apply plans.yml`."
    lines = []
    for plan in catalog.plans:
        servers = sum(len(catalog.group(w.protection_group).source_servers) for w in plan.waves)
        description = f" — {plan.description}" if plan.description else ""
        lines.append(f"• `{plan.name}`{description} ({len(plan.waves)} waves, {servers} servers)")
    return "*Recovery plans*\n" + "\n".join(lines)


def status_text(execution: Execution, now: datetime) -> str:
    lines = [
        f"{_STATUS_ICON[execution.status]} *{_kind(execution.execution_type)} of `{execution.plan_name}`* "
        f"— {execution.status.value} (`{execution.execution_id}`)",
        progress_line(execution, now),
    ]
    for wave in execution.waves[:40]:
        counts = tally(wave.servers())
        lines.append(
            f"{_WAVE_ICON[wave.status]} {wave.name}: {wave.status.value}, "
            f"{counts.launched}/{counts.total} launched, {counts.failed} failed"
        )
    return "\n".join(lines)
