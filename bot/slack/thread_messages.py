"""Thread messages: what the channel sees of an execution. The anchor (edited as it progresses, the
approval card while it waits) and one reply in its thread per status event, rendered through `RENDERERS`,
a table keyed by event type (an event type without a renderer fails tests/unit/test_thread_messages.py).

Pure functions from events to `Message`s; every text is `Mrkdwn` built with `md()` (bot/slack/mrkdwn.py):
names, reasons and DRS's errors are escaped wherever they appear.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.domain.events import (
    ApprovalExpired,
    ApprovalRecorded,
    ApprovalRequested,
    CancelRequested,
    CleanupFinished,
    CleanupScheduled,
    CleanupStarted,
    ControlRecorded,
    Event,
    ExecutionApproved,
    ExecutionFinished,
    ExecutionRejected,
    ExecutionStarted,
    FailbackReprotected,
    FailbackReversed,
    FailbackReverseWaiting,
    FailbackSyncFinished,
    FailbackSyncProgress,
    HookFinished,
    ProgressUpdated,
    ReadinessReported,
    RetryRequested,
    ServerFailure,
    StatusEvent,
    TimelineReady,
    WaveChecking,
    WaveFinished,
    WaveGated,
    WaveScheduled,
    WaveSkippedByUser,
    WavesSkipped,
    WaveStarted,
)
from bot.domain.execution import ActionKind, ExecutionStatus, WaveStatus
from bot.domain.report import Report
from bot.domain.snapshot_ages import servers_text
from bot.domain.watch import News, Reason
from bot.services.ports import Message, ReportNote
from bot.slack.ids import (
    APPROVE_ACTION,
    CONTINUE_ACTION,
    PAUSE_ACTION,
    REJECT_ACTION,
    RESUME_ACTION,
    RETRY_ACTION,
    SKIP_ACTION,
    STOP_ACTION,
)
from bot.slack.layout import (
    SECTION_LIMIT,
    STATUS_ICON,
    WATCH_ICON,
    WAVE_ICON,
    ago,
    context,
    duration,
    fit,
    kind_label,
    message,
    place,
    point_in_time,
    progress_line,
    readiness_text,
    section,
    when,
)
from bot.slack.mrkdwn import Mrkdwn, clip, link, md, user, usergroup, users


def anchor(view: ProgressUpdated, now: datetime) -> Message:
    """The channel message every status reply threads under; edited as the execution progresses."""
    icon = Mrkdwn(STATUS_ICON[view.status])
    title = md(
        "{} *{} of `{}`* — {}", icon, kind_label(view.execution_type), view.plan_name, view.status.value
    )
    waves = fit(
        [
            md(
                "{} {}. {} — `{}` ({} servers, {})",
                Mrkdwn(WAVE_ICON[wave.status]),
                index + 1,
                wave.name,
                wave.protection_group,
                wave.servers,
                place(wave.region, wave.account),
            )
            + (md(" — {}/{} healthy", wave.healthy, wave.servers) if wave.healthy is not None else Mrkdwn(""))
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
    text = md(
        "{} of {}: {}. {}", kind_label(view.execution_type), view.plan_name, view.status.value, progress
    )
    blocks = [section(title), section(waves)]
    if view.approvals_required:
        blocks.append(context(_decision_line(view)))
    if view.status not in (ExecutionStatus.REJECTED, ExecutionStatus.EXPIRED):
        blocks.append(context(progress))
    if view.status is ExecutionStatus.IN_PROGRESS and not view.cancelling:
        blocks += _steering(view)
    blocks.append(context(meta))
    return message(text, blocks)


def _steering(view: ProgressUpdated) -> list[dict[str, Any]]:
    """A running execution's held state, and the one anchor button possible now: Pause or Resume."""
    blocks: list[dict[str, Any]] = []
    if view.paused_by:
        blocks.append(
            context(
                md(
                    ":double_vertical_bar: *Paused* by {} since {:%H:%M} UTC: no new job or wave starts "
                    "until resumed.",
                    user(view.paused_by),
                    view.paused_at or view.at,
                )
            )
        )
    if view.gated_wave:
        blocks.append(
            context(md(":raised_hand: *Gated*: waiting for Continue before wave {}.", view.gated_wave))
        )
    button = (
        _button(RESUME_ACTION, "Resume", view.execution_id, "primary")
        if view.paused_by
        else _button(PAUSE_ACTION, "Pause", view.execution_id)
    )
    blocks.append({"type": "actions", "block_id": "steering", "elements": [button]})
    return blocks


def _button(action_id: str, text: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}}
    button["value"] = value
    if style:
        button["style"] = style
    return button


def _approval_card(view: ProgressUpdated, waves: Mrkdwn) -> Message:
    kind = kind_label(view.execution_type)
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
    return message(text, [section(title), section(facts), section(waves), buttons, context(meta)])


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
    """The thread reply for a status event; progress edits the anchor instead."""
    if isinstance(event, ProgressUpdated):
        return anchor(event, event.at)
    text = RENDERERS[type(event)](event)
    if isinstance(event, WaveGated):
        return message(text, [section(text), _gate_buttons(event)])
    return message(text, [section(text), *_wave_buttons(event)])


def wave_button_value(execution_id: str, wave_index: int) -> str:
    return f"{execution_id}:{wave_index}"


def _wave_buttons(event: Event) -> list[dict[str, Any]]:
    """Retry failed on a wave that ended PARTIAL or FAILED; Skip on a wave waiting its wait_before.
    A click later than the moment is answered with the current state (bot/slack/controls.py)."""
    if (
        isinstance(event, WaveFinished)
        and event.status in (WaveStatus.PARTIAL, WaveStatus.FAILED)
        and event.failed
    ):
        button = {"action_id": RETRY_ACTION, "text": {"type": "plain_text", "text": "Retry failed"}}
    elif isinstance(event, WaveScheduled):
        button = {"action_id": SKIP_ACTION, "text": {"type": "plain_text", "text": "Skip this wave"}}
    else:
        return []
    value = wave_button_value(event.execution_id, event.wave_index)
    return [
        {
            "type": "actions",
            "block_id": "wave_control",
            "elements": [{"type": "button", **button, "value": value}],
        }
    ]


def _execution_started(event: ExecutionStarted) -> Mrkdwn:
    text = md(
        ":rocket: {} of `{}` started by {}: {} waves, {} servers.",
        kind_label(event.execution_type),
        event.plan_name,
        user(event.initiated_by),
        event.wave_count,
        event.server_count,
    )
    if event.point_in_time:
        text += md(" Point in time: {}.", point_in_time(event.point_in_time))
    return text


def _wave_started(event: WaveStarted) -> Mrkdwn:
    return md(
        ":arrow_forward: Wave {}/{} *{}* started: {} servers of `{}` in {} — job {}",
        event.wave_index + 1,
        event.wave_count,
        event.wave_name,
        event.server_count,
        event.protection_group,
        place(event.region, event.account),
        Mrkdwn(", ").join(md("`{}`", job) for job in event.job_ids),
    )


def _wave_scheduled(event: WaveScheduled) -> Mrkdwn:
    return md(
        ":hourglass: Wave {}/{} *{}* starts at {:%H:%M:%S} UTC (waits {} after the previous wave)",
        event.wave_index + 1,
        event.wave_count,
        event.wave_name,
        event.starts_at,
        duration(event.wait_seconds),
    )


def _waves_skipped(event: WavesSkipped) -> Mrkdwn:
    names = Mrkdwn(", ").join(md("*{}*", name) for name in event.wave_names)
    return md(":fast_forward: Skipped {}: {}.", names, event.reason)


def _wave_gated(event: WaveGated) -> Mrkdwn:
    """The gate's card: what ran, what failed, what comes next, and who may continue."""
    who = (
        Mrkdwn("anyone who may run drills")
        if event.execution_type.is_drill
        else md("an approver other than {}", user(event.initiated_by))
    )
    why = Mrkdwn("its `pause_before`") if event.why == "pause_before" else Mrkdwn("`--step`")
    if event.reminder:
        head = md(
            ":bell: *Still waiting at the gate before wave {}/{} {}* since {:%H:%M} UTC: nothing launches "
            "until someone decides.",
            event.wave_index + 1,
            event.wave_count,
            event.wave_name,
            event.gated_at or event.at,
        )
    else:
        head = md(
            ":raised_hand: *Gate before wave {}/{} {}* ({}): nothing launches until someone decides.",
            event.wave_index + 1,
            event.wave_count,
            event.wave_name,
            why,
        )
    ran = (
        Mrkdwn(", ").join(md("{} {}", Mrkdwn(WAVE_ICON[w.status]), clip(w.name, 40)) for w in event.done)
        if event.done
        else Mrkdwn("nothing yet")
    )
    if event.waves_done > len(event.done):
        ran = md("{} earlier waves, then ", event.waves_done - len(event.done)) + ran
    servers = Mrkdwn(", ").join(md("`{}`", s) for s in event.first_servers)
    if event.server_count > len(event.first_servers):
        servers += md(" and {} more", event.server_count - len(event.first_servers))
    return md(
        "{}\n*Ran:* {} — {} launched, {} failed\n*Next:* `{}` in {}: {} servers ({})\n"
        "*Continue* needs {}; *Stop here* ends the execution (the remaining waves are skipped).",
        head,
        ran,
        event.launched,
        event.failed,
        event.protection_group,
        place(event.region, event.account),
        event.server_count,
        servers,
        who,
    )


def _gate_buttons(event: WaveGated) -> dict[str, Any]:
    value = f"{event.execution_id}:{event.wave_index}"
    confirm = {
        "title": {"type": "plain_text", "text": "Stop here?"},
        "text": {"type": "plain_text", "text": "Nothing more starts; the remaining waves are skipped."},
        "confirm": {"type": "plain_text", "text": "Stop here"},
        "deny": {"type": "plain_text", "text": "Back"},
    }
    stop = _button(STOP_ACTION, "Stop here", value, "danger")
    stop["confirm"] = confirm
    return {
        "type": "actions",
        "block_id": "gate",
        # Skip: this wave does not run, the next one comes to its own gate or starts (bot/domain/retry.py).
        "elements": [
            _button(CONTINUE_ACTION, "Continue", value, "primary"),
            _button(SKIP_ACTION, "Skip this wave", value),
            stop,
        ],
    }


def _control_recorded(event: ControlRecorded) -> Mrkdwn:
    who, at = user(event.user_id), md("{:%H:%M:%S} UTC", event.at)
    wave = md("wave {}/{} *{}*", (event.wave_index or 0) + 1, event.wave_count, event.wave_name or "")
    if event.control is ActionKind.CONTINUE:
        return md(":arrow_forward: {} continued past the gate at {}: {} starts now.", who, at, wave)
    if event.control is ActionKind.STOP:
        return md(":octagonal_sign: {} stopped the execution at the gate before {} at {}.", who, wave, at)
    if event.control is ActionKind.PAUSE:
        following = (
            md(" {} running job(s) are followed to their end and reported.", event.jobs_running)
            if event.jobs_running
            else Mrkdwn("")
        )
        return md(
            ":double_vertical_bar: Paused by {} at {}: no new job or wave starts.{}", who, at, following
        )
    if event.control is ActionKind.RESUME:
        return md(":arrow_forward: Resumed by {} at {}: the execution goes on where it stopped.", who, at)
    return md("{} by {} at {}.", event.control.value.lower(), who, at)


def _retry_requested(event: RetryRequested) -> Mrkdwn:
    servers = Mrkdwn(", ").join(md("`{}`", sid) for sid in event.servers)
    more = event.server_count - len(event.servers)
    text = md(
        ":repeat: Retry of wave {}/{} *{}* requested by {} at {:%H:%M:%S} UTC: {} failed server(s) launch again: {}",
        event.wave_index + 1,
        event.wave_count,
        event.wave_name,
        user(event.requested_by),
        event.at,
        event.server_count,
        servers,
    )
    if more > 0:
        text += md(" and {} more", more)
    if event.reopened_execution:
        text += Mrkdwn(". The execution runs again")
    if event.reopened_waves:
        names = Mrkdwn(", ").join(md("*{}*", name) for name in event.reopened_waves)
        text += md("; {} (skipped by its on_failure: stop) will run after it", names)
    return text + Mrkdwn(".")


def _wave_skipped_by_user(event: WaveSkippedByUser) -> Mrkdwn:
    return md(
        ":fast_forward: Wave {}/{} *{}* skipped by {} at {:%H:%M:%S} UTC: {}",
        event.wave_index + 1,
        event.wave_count,
        event.wave_name,
        user(event.skipped_by),
        event.at,
        event.reason,
    )


_HOOK_OUTCOME = {
    "SUCCEEDED": (":white_check_mark:", "succeeded"),
    "FAILED": (":x:", "failed"),
    "TIMED_OUT": (":alarm_clock:", "timed out"),
    "SKIPPED": (":fast_forward:", "skipped"),
}


def automation_console_url(region: str, execution_id: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/systems-manager/automation/execution/"
        f"{execution_id}?region={region}"
    )


def _hook_finished(event: HookFinished) -> Mrkdwn:
    icon, word = _HOOK_OUTCOME.get(event.status, (":grey_question:", event.status.lower()))
    text = md(
        "{} {}-hook {}/{} of wave {}/{} *{}*: {} `{}` {}",
        Mrkdwn(icon),
        event.phase.capitalize(),
        event.hook_index + 1,
        event.hook_count,
        event.wave_index + 1,
        event.wave_count,
        event.wave_name,
        "automation" if event.hook_kind == "automation" else "Lambda",
        event.target,
        word,
    )
    if event.duration_seconds is not None and event.status != "SKIPPED":
        text += md(" in {}", duration(event.duration_seconds))
    if event.error:
        text += md(": {}", event.error)
    if event.stops:
        text += Mrkdwn(" — its on_failure is stop: the plan stops here.")
    elif event.status in ("FAILED", "TIMED_OUT"):
        text += Mrkdwn(" — its on_failure is continue: the plan goes on.")
    if event.run_id and event.hook_kind == "automation":
        # The region and id are AWS's; link() shows anything that is not one plain URL as text.
        text += md(
            " {} (`{}`)", link(automation_console_url(event.region, event.run_id), "Automation"), event.run_id
        )
    elif event.run_id:
        text += md(" (request `{}`)", event.run_id)
    if event.output:
        text += md("\n```{}```", event.output)
    return text


def _cleanup_scheduled(event: CleanupScheduled) -> Mrkdwn:
    return md(
        ":broom: Drill instances will be terminated automatically at {:%Y-%m-%d %H:%M} UTC "
        "(the plan's cleanup_after). `/drs cleanup` does it now.",
        event.due_at,
    )


def _cleanup_started(event: CleanupStarted) -> Mrkdwn:
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


def _cleanup_finished(event: CleanupFinished) -> Mrkdwn:
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


def _readiness_reported(event: ReadinessReported) -> Mrkdwn:
    return readiness_text(event.level, event.lines, forced=event.forced)


def _approval_requested(event: ApprovalRequested) -> Mrkdwn:
    return md(
        ":rotating_light: {} requests a real {} of `{}`. It needs {} approval(s) from {} "
        "(not the requester) by {:%H:%M} UTC.",
        user(event.requested_by),
        kind_label(event.execution_type).lower(),
        event.plan_name,
        event.approvals_required,
        Mrkdwn(", ").join(_principal(p) for p in event.approvers),
        event.expires_at,
    )


def _approval_recorded(event: ApprovalRecorded) -> Mrkdwn:
    return md(
        ":ballot_box_with_check: Approved by {} ({}/{}); waiting for another approver.",
        user(event.approved_by),
        event.approvals,
        event.approvals_required,
    )


def _execution_approved(event: ExecutionApproved) -> Mrkdwn:
    return md(":white_check_mark: Approved by {}.", users(event.approved_by))


def _execution_rejected(event: ExecutionRejected) -> Mrkdwn:
    return md(":no_entry: Rejected by {}: {}. Nothing was launched.", user(event.rejected_by), event.reason)


def _approval_expired(event: ApprovalExpired) -> Mrkdwn:
    return Mrkdwn(":alarm_clock: The request expired before it was approved. Nothing was launched.")


def _cancel_requested(event: CancelRequested) -> Mrkdwn:
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


def _failback_reversed(event: FailbackReversed) -> Mrkdwn:
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


def _failback_reverse_waiting(event: FailbackReverseWaiting) -> Mrkdwn:
    return md(
        ":hourglass_flowing_sand: DRS is not ready to reverse replication for {}/{} recovery instance(s) "
        "yet; asking again until {:%Y-%m-%d %H:%M} UTC at most:\n{}",
        event.waiting,
        event.total,
        event.deadline,
        _server_failure_lines(event.servers, event.more_servers),
    )


def _failback_sync_progress(event: FailbackSyncProgress) -> Mrkdwn:
    return md(
        ":arrows_counterclockwise: Failback sync: {}/{} server(s) CONTINUOUS ({}); "
        "waiting until {:%Y-%m-%d %H:%M} UTC at most.",
        event.continuous,
        event.total,
        ", ".join(f"{state} {count}" for state, count in sorted(event.states.items())),
        event.deadline,
    )


def _failback_sync_finished(event: FailbackSyncFinished) -> Mrkdwn:
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


def _failback_reprotected(event: FailbackReprotected) -> Mrkdwn:
    icon = Mrkdwn(":shield:" if not event.failures else ":warning:")
    text = md(
        "{} Re-protect: {}/{} instance(s) in the origin region replicate to the recovery region again.",
        icon,
        event.reprotected,
        event.total,
    )
    if event.failures:
        text += Mrkdwn("\nNot re-protected:\n") + _server_failure_lines(event.failures, event.more_failures)
    return text


def _execution_finished(event: ExecutionFinished) -> Mrkdwn:
    text = md(
        "{} {} of `{}` *{}*: {}/{} servers launched, {} failed, in {}.",
        Mrkdwn(STATUS_ICON[event.status]),
        kind_label(event.execution_type),
        event.plan_name,
        event.status.value,
        event.launched,
        event.total,
        event.failed,
        duration(event.duration_seconds),
    )
    if event.healthy_seconds is not None:  # only a plan with health checks has two RTOs
        text += _rtos(event.launch_seconds, event.healthy_seconds)
    return text


def _rtos(to_launch: float | None, to_healthy: float | None) -> Mrkdwn:
    parts = []
    if to_launch is not None:
        parts.append(md("to launch {}", duration(to_launch)))
    if to_healthy is not None:
        parts.append(md("to healthy {}", duration(to_healthy)))
    return md(" RTO: {}.", Mrkdwn(", ").join(parts)) if parts else Mrkdwn("")


def _wave_checking(event: WaveChecking) -> Mrkdwn:
    text = md(
        "{} Wave {}/{} *{}* CHECKING: {}/{} healthy ({}; gives up {} after the checks began)",
        Mrkdwn(WAVE_ICON[WaveStatus.CHECKING]),
        event.wave_index + 1,
        event.wave_count,
        event.wave_name,
        event.healthy,
        event.launched,
        ", ".join(event.checks),
        duration(event.timeout_seconds),
    )
    if event.failing:
        text += Mrkdwn("\nNot healthy yet:")
        share = (SECTION_LIMIT - len(text) - 80) // len(event.failing) - 30
        for failing in event.failing:
            detail = clip(" ".join(failing.detail.split()), max(share, 20))
            text += md("\n• `{}`: {}: {}", failing.source_server_id, failing.check, detail)
        if event.more_failing:
            text += md("\n…and {} more (see `/drs status`)", event.more_failing)
    return text


def _wave_finished(event: WaveFinished) -> Mrkdwn:
    total = event.launched + event.failed + event.not_started
    head = md(
        "{} Wave {}/{} *{}* {}: ",
        Mrkdwn(WAVE_ICON[event.status]),
        event.wave_index + 1,
        event.wave_count,
        event.wave_name,
        event.status.value,
    )
    if event.checked:
        # Two RTOs: launched (DRS), then healthy (the wave's health_check).
        text = head + md(
            "{}/{} launched in {}, *{}*: {}/{} healthy",
            event.checked_servers,
            total,
            duration(event.launch_seconds or 0),
            "HEALTHY" if event.healthy == total else "UNHEALTHY",
            event.healthy,
            total,
        )
        if event.healthy_seconds is not None:
            text += md(" in {}", duration(event.healthy_seconds))
        text += Mrkdwn(" (RTO to launch, to healthy)")
    else:
        text = head + md(
            "{}/{} launched in {} (RTO)", event.launched, total, duration(event.duration_seconds)
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


def timeline_caption(event: TimelineReady) -> Mrkdwn:
    """The verdict line posted with the timeline picture."""
    return md(
        ":bar_chart: Timeline of {} `{}`: *{}*, {}/{} servers launched in {}.",
        kind_label(event.execution_type).lower(),
        event.execution_id,
        event.status.value,
        event.launched,
        event.total,
        duration(event.duration_seconds),
    )


def picture_refused(caption: Message, error: str) -> Message:
    """The verdict alone, when Slack refuses the picture for good (say, no files:write scope)."""
    text = Mrkdwn(caption.text) + md("\n_The timeline picture was not posted: Slack answered `{}`._", error)
    return message(text, [section(text)])


# A verdict's reasons and DRS's errors, clipped so that the caption stays one readable message.
REASON_CHARS = 300
SHOWN_REASONS = 8


def report_verdict(head: Message, note: ReportNote) -> Message:
    """The report's verdict under `head`, its reasons one per line, DRS's error for each server that did
    not launch, and a short-lived link to the HTML report when the deployment keeps reports."""
    judgement = note.report.judgement
    lines = [md("• {}", clip(reason, REASON_CHARS)) for reason in (*judgement.failures, *judgement.findings)]
    failed = [s for w in note.report.waves for s in w.servers if s.error]
    lines += [
        md("• `{}`: {}", s.source_server_id, clip(" ".join((s.error or "").split()), REASON_CHARS))
        for s in failed
    ]
    if len(lines) > SHOWN_REASONS:
        lines = [
            *lines[: SHOWN_REASONS - 1],
            md("…and {} more (in the report)", len(lines) - SHOWN_REASONS + 1),
        ]
    text = Mrkdwn(head.text) + md("\n*Verdict: {}*", judgement.verdict.value)
    if lines:
        text += Mrkdwn("\n") + Mrkdwn("\n").join(lines)
    execution_id = note.report.execution_id
    if note.url is not None:
        text += md(
            "\n{} — the link works for {} minutes; `/drs report {}` makes a fresh one.",
            link(note.url, "Open the report"),
            note.link_seconds // 60,
            execution_id,
        )
    elif note.unavailable is not None:
        text += md(
            "\n_The report could not be stored just now ({}); it is written on a later tick, and "
            "`/drs report {}` links it._",
            clip(note.unavailable, REASON_CHARS),
            execution_id,
        )
    return message(text, [section(text)])


def report_head(report: Report) -> Message:
    """The first line of a report posted again on request (`/drs report`)."""
    text = md(
        ":bar_chart: Report of {} `{}` ({}): *{}*.",
        kind_label(report.execution_type).lower(),
        report.execution_id,
        report.plan_id,
        report.status.value,
    )
    return message(text, [section(text)])


def _principal(principal: str) -> Mrkdwn:
    if principal == "*":
        return Mrkdwn("anyone")
    return usergroup(principal) if principal.startswith("S") else user(principal)


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


def _row[E: StatusEvent](
    kind: type[E], render: Callable[[E], Mrkdwn]
) -> tuple[type[E], Callable[[Any], Mrkdwn]]:
    return kind, render  # mypy checks that each renderer takes its own event type


# One renderer per event type that becomes a thread reply (ProgressUpdated edits the anchor).
_ROWS = (
    _row(ExecutionStarted, _execution_started),
    _row(ReadinessReported, _readiness_reported),
    _row(ApprovalRequested, _approval_requested),
    _row(ApprovalRecorded, _approval_recorded),
    _row(ExecutionApproved, _execution_approved),
    _row(ExecutionRejected, _execution_rejected),
    _row(ApprovalExpired, _approval_expired),
    _row(WaveScheduled, _wave_scheduled),
    _row(WaveStarted, _wave_started),
    _row(WaveFinished, _wave_finished),
    _row(WaveChecking, _wave_checking),
    _row(WavesSkipped, _waves_skipped),
    _row(HookFinished, _hook_finished),
    _row(CancelRequested, _cancel_requested),
    _row(WaveGated, _wave_gated),
    _row(ControlRecorded, _control_recorded),
    _row(RetryRequested, _retry_requested),
    _row(WaveSkippedByUser, _wave_skipped_by_user),
    _row(ExecutionFinished, _execution_finished),
    _row(TimelineReady, timeline_caption),
    _row(CleanupScheduled, _cleanup_scheduled),
    _row(CleanupStarted, _cleanup_started),
    _row(CleanupFinished, _cleanup_finished),
    _row(FailbackReversed, _failback_reversed),
    _row(FailbackReverseWaiting, _failback_reverse_waiting),
    _row(FailbackSyncProgress, _failback_sync_progress),
    _row(FailbackSyncFinished, _failback_sync_finished),
    _row(FailbackReprotected, _failback_reprotected),
)
RENDERERS: Mapping[type[StatusEvent], Callable[[Any], Mrkdwn]] = dict(_ROWS)


# The readiness watch's news in a plan's channel, and a scheduled drill that did not start.


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


def watch_news(news: News) -> Message:
    if news.kind == "reminder":
        text = _reminder(news)
        section = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}
        return Message(text=clip(text, SECTION_LIMIT), blocks=[section])
    icon = Mrkdwn(WATCH_ICON[news.level.value])
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


def drill_skipped(plan_name: str, scheduled_time: str, reasons: list[str]) -> Message:
    """A scheduled drill that did not start, and why (the reasons quote DRS: escaped)."""
    text = md(
        ":fast_forward: *Scheduled drill of `{}` skipped* (scheduled for {}):", plan_name, scheduled_time
    )
    text = Mrkdwn("\n").join([text, *(md("• {}", reason) for reason in reasons)])
    section = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_LIMIT)}}
    return Message(text=clip(text, SECTION_LIMIT), blocks=[section])
