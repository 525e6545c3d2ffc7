"""The /drs command's slow half, run by a lazy listener after the ack (bot/slack/ack.py) answered.

Bolt runs lazy listeners even when the ack refused the request, so this half parses the text again
and acts only on what the ack accepted. Lambda may deliver the lazy invocation twice: starting an
execution is keyed on the Slack request, so the second delivery finds it already started.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Respond

from bot.domain import commands
from bot.domain.commands import (
    Cancel,
    Check,
    Cleanup,
    Execute,
    History,
    ListPlans,
    Pause,
    Report,
    Resume,
    Retry,
    ShowPlan,
    Skip,
    Status,
)
from bot.domain.execution import ActionKind, Execution
from bot.errors import AmbiguousExecution, SlackError
from bot.services.report import ReportUnavailable
from bot.services.requesting import RequestResult
from bot.slack import layout, replies
from bot.slack.ack import CHANNEL_REFUSAL
from bot.slack.deps import SlackDeps
from bot.slack.mrkdwn import Mrkdwn

logger = logging.getLogger(__name__)


def _reply(respond: Respond, text: Mrkdwn) -> None:
    """Every answer here is Mrkdwn from bot/slack/replies.py: what the user typed is echoed escaped."""
    respond(response_type="ephemeral", text=text)


def run(deps: SlackDeps, command: dict[str, Any], respond: Respond) -> None:
    """The slow half of a /drs command the ack accepted, with the validated access policy."""
    if not deps.policy.channel_allowed(command.get("channel_id") or ""):
        _reply(respond, CHANNEL_REFUSAL)
        return
    parsed = commands.parse(command.get("text") or "")
    if isinstance(parsed, Execute):
        _execute(deps, parsed, command, respond)
    elif isinstance(parsed, Cleanup):
        _cleanup(deps, parsed, command, respond)
    elif isinstance(parsed, Report):
        _report(deps, parsed, command, respond)
    elif isinstance(parsed, Check):
        _check(deps, parsed, respond)
    elif isinstance(parsed, ShowPlan):
        _reply(respond, replies.plan_text(deps.catalog.load(), parsed.plan_name))
    elif isinstance(parsed, ListPlans):
        catalog = deps.catalog.load()
        _reply(
            respond,
            replies.plans_list(catalog, layout.notes(catalog, deps.watch.plans(catalog), deps.clock())),
        )
    elif isinstance(parsed, Status):
        _status(deps, parsed, command, respond)
    elif isinstance(parsed, Cancel):
        _cancel(deps, parsed, command, respond)
    elif isinstance(parsed, Pause | Resume):
        _steer(deps, parsed, command, respond)
    elif isinstance(parsed, Retry | Skip):
        _control(deps, parsed, command, respond)
    elif isinstance(parsed, History):
        found = deps.queries.history(parsed.plan_name, command["channel_id"], parsed.limit)
        _reply(respond, replies.history_text(found, parsed.plan_name, deps.clock()))
    # Help, Invalid and reserved words were fully answered by the ack.


def _execute(deps: SlackDeps, parsed: Execute, command: dict[str, Any], respond: Respond) -> None:
    outcome = deps.requesting.request(
        plan_name=parsed.plan_name,
        execution_type=parsed.execution_type,
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        request_key=command.get("trigger_id"),
        force=parsed.force,
        at=parsed.at,
        step=parsed.step,
    )
    result, execution = outcome.result, outcome.execution
    text: Mrkdwn | None = None
    if result is RequestResult.UNKNOWN_PLAN:
        text = replies.unknown_plan(parsed.plan_name, outcome.known_plans)
    elif result is RequestResult.PLAN_BUSY:
        text = replies.plan_busy(parsed.plan_name, outcome.busy_with)
    elif result is RequestResult.NOT_READY and outcome.verdict:
        text = replies.not_ready(outcome.verdict, parsed.plan_name)
    elif result is RequestResult.NO_SNAPSHOT and parsed.at:
        text = replies.no_snapshot(parsed.at, outcome.without_snapshot)
    elif result is RequestResult.TOO_LARGE:
        text = replies.too_large(parsed.plan_name, outcome.error)
    elif result is RequestResult.DRS_UNAVAILABLE:
        text = replies.drs_unavailable(outcome.error)
    elif result in replies.REFUSALS:
        text = replies.REFUSALS[result](parsed)
    elif result is RequestResult.CARD_NOT_POSTED and execution:
        text = replies.card_not_posted(outcome.slack_error, execution.execution_id, parsed.plan_name)
    elif result is RequestResult.APPROVAL_REQUESTED and execution:
        text = replies.approval_requested(
            parsed, execution.execution_id, outcome.card_posted, outcome.slack_error
        )
    elif result is RequestResult.STARTED and outcome.slack_blocked and execution:
        text = replies.drill_not_shown(execution.execution_id, outcome.slack_error)
    elif result is RequestResult.STARTED and outcome.slack_error and execution:
        text = replies.drill_messages_late(execution.execution_id, outcome.slack_error)
    if text is not None:
        _reply(respond, text)


def _cleanup(deps: SlackDeps, parsed: Cleanup, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    outcome = deps.controlling.cleanup(execution.execution_id, command["user_id"])
    _reply(respond, replies.cleanup_reply(outcome.refusal, execution))


def _report(deps: SlackDeps, parsed: Report, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    reports = deps.reports
    if reports is None:
        _reply(respond, replies.REPORTS_OFF)
        return
    if not execution.status.is_terminal:
        _reply(respond, replies.report_not_ended(execution))
        return
    try:
        linked = reports.link(execution)
    except ReportUnavailable as error:
        _reply(respond, replies.report_unavailable(execution, error))
        return
    # Evidence the channel sees: the picture, verdict and fresh link again in the execution's thread.
    try:
        posted = deps.outbox.post_report(execution, linked)
        where = replies.REPORT_POSTED if posted else replies.REPORT_NO_THREAD
    except SlackError as error:
        logger.warning("report of %s not posted in its thread: %s", execution.execution_id, error)
        where = replies.report_not_posted(error.error)
    _reply(respond, replies.report_link(execution, linked.report.judgement, linked.url, where))


def _check(deps: SlackDeps, parsed: Check, respond: Respond) -> None:
    report = deps.requesting.check(parsed.plan_name)
    if report is None:
        _reply(respond, replies.unknown_plan(parsed.plan_name, deps.queries.known_plans()))
        return
    watched = layout.watched(deps.watch.state(parsed.plan_name), deps.clock())
    _reply(respond, replies.check_verdict(report.verdict, parsed.plan_name, report.snapshot_ages, watched))
    ages = deps.requesting.check_snapshot_ages(report)
    if ages is not None:
        _reply(respond, replies.check_snapshot_ages(report.verdict, ages, parsed.plan_name))


def _cancel(deps: SlackDeps, parsed: Cancel, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    outcome = deps.controlling.cancel(execution.execution_id, command["user_id"])
    _reply(respond, replies.cancel_reply(outcome.result, execution, parsed.execution_ref))


def _steer(deps: SlackDeps, parsed: Pause | Resume, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    kind = ActionKind.PAUSE if isinstance(parsed, Pause) else ActionKind.RESUME
    outcome = deps.controlling.steer(execution.execution_id, command["user_id"], kind)
    _reply(respond, replies.steer_reply(kind, outcome, outcome.execution or execution))


def _control(deps: SlackDeps, parsed: Retry | Skip, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    if isinstance(parsed, Retry):
        outcome = deps.controlling.retry(execution.execution_id, command["user_id"], parsed.wave_ref)
        kind = ActionKind.RETRY
    else:
        outcome = deps.controlling.skip(
            execution.execution_id, command["user_id"], parsed.wave_ref, parsed.reason
        )
        kind = ActionKind.SKIP
    _reply(respond, replies.control_reply(kind, outcome, execution, parsed.execution_ref))


def _find(deps: SlackDeps, ref: str, command: dict[str, Any], respond: Respond) -> Execution | None:
    """The execution the user named, or None once they have been told why not."""
    try:
        execution = deps.queries.find(ref, command["channel_id"])
    except AmbiguousExecution as error:
        _reply(respond, replies.ambiguous(ref, error.matches))
        return None
    if execution is None:
        _reply(respond, replies.no_execution(ref))
    return execution


def _status(deps: SlackDeps, parsed: Status, command: dict[str, Any], respond: Respond) -> None:
    if parsed.execution_ref:
        execution = _find(deps, parsed.execution_ref, command, respond)
        if execution is None:
            return
    else:
        execution = deps.queries.latest_in_channel(command["channel_id"])
        if execution is None:
            _reply(respond, replies.NO_EXECUTION_HERE)
            return
    _reply(respond, replies.status_text(execution, deps.clock()))
