"""The /drs command's slow half, run by a lazy listener after the ack (bot/slack/ack.py) answered.

Bolt runs lazy listeners even when the ack refused the request, so this half parses the text again
and acts only on what the ack accepted. Lambda may deliver the lazy invocation twice: starting an
execution is keyed on the Slack request, so the second delivery finds it already started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond

from bot.domain import commands
from bot.domain.cleanup import CleanupRefusal
from bot.domain.commands import Cancel, Check, Cleanup, Execute, History, ListPlans, ShowPlan, Status
from bot.domain.execution import Execution
from bot.domain.snapshot_ages import minutes
from bot.errors import AmbiguousExecution
from bot.services.executions import CancelResult, RequestResult
from bot.slack import blocks, watch_blocks
from bot.slack.ack import CHANNEL_REFUSAL
from bot.slack.deps import SlackDeps
from bot.slack.mrkdwn import Mrkdwn, channel, clip, md

logger = logging.getLogger(__name__)


def _reply(respond: Respond, text: Mrkdwn) -> None:
    """Every answer here is Mrkdwn (bot/slack/mrkdwn.py): what the user typed is echoed escaped."""
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
    elif isinstance(parsed, Check):
        _check(deps, parsed, respond)
    elif isinstance(parsed, ShowPlan):
        _reply(respond, blocks.plan_text(deps.catalog.load(), parsed.plan_name))
    elif isinstance(parsed, ListPlans):
        catalog = deps.catalog.load()
        _reply(
            respond,
            blocks.plans_list(catalog, watch_blocks.notes(catalog, deps.watch.plans(catalog), deps.clock())),
        )
    elif isinstance(parsed, Status):
        _status(deps, parsed, command, respond)
    elif isinstance(parsed, Cancel):
        _cancel(deps, parsed, command, respond)
    elif isinstance(parsed, History):
        found = deps.executions.history(parsed.plan_name, command["channel_id"], parsed.limit)
        _reply(respond, blocks.history_text(found, parsed.plan_name, deps.clock()))
    # Help, Invalid and reserved words were fully answered by the ack.


def _execute(deps: SlackDeps, parsed: Execute, command: dict[str, Any], respond: Respond) -> None:
    outcome = deps.executions.request(
        plan_name=parsed.plan_name,
        execution_type=parsed.execution_type,
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        request_key=command.get("trigger_id"),
        force=parsed.force,
        at=parsed.at,
    )
    if outcome.result is RequestResult.UNKNOWN_PLAN:
        _reply(respond, blocks.unknown_plan(parsed.plan_name, outcome.known_plans))
    elif outcome.result is RequestResult.PLAN_BUSY:
        _reply(respond, _plan_busy(parsed.plan_name, outcome.busy_with))
    elif outcome.result is RequestResult.NOT_READY and outcome.verdict:
        verdict = outcome.verdict
        _reply(
            respond,
            blocks.readiness_text(verdict.level.value, verdict.summary_lines(), plan_name=parsed.plan_name)
            + md(
                "\n\nThe drill did not start. Fix the above, or start it anyway: "
                "`/drs execute {} drill --force`.",
                parsed.plan_name,
            ),
        )
    elif outcome.result is RequestResult.NO_SNAPSHOT and parsed.at:
        more = len(outcome.without_snapshot) - 10
        _reply(
            respond,
            md(
                "Nothing was launched: {} server(s) have no recovery snapshot at or before "
                "{:%Y-%m-%d %H:%M:%S} UTC: {}{}. Pick a later time, or launch from the latest data "
                "without `--at`.",
                len(outcome.without_snapshot),
                parsed.at,
                Mrkdwn(", ").join(md("`{}`", sid) for sid in outcome.without_snapshot[:10]),
                md(" and {} more", more) if more > 0 else Mrkdwn(""),
            ),
        )
    elif outcome.result is RequestResult.TOO_LARGE:
        _reply(
            respond,
            md(
                "Nothing was launched: `{}` is larger than the bot can run: {}. Split the plan in plans.yml "
                "(`drs-bot plans validate` checks these limits) and apply it again.",
                parsed.plan_name,
                outcome.error,
            ),
        )
    elif outcome.result is RequestResult.DRS_UNAVAILABLE:
        _reply(respond, md("Nothing was launched: DRS did not answer ({}). Try again.", outcome.error))
    elif outcome.result in REFUSALS:
        _reply(respond, REFUSALS[outcome.result](parsed))
    elif outcome.result is RequestResult.CARD_NOT_POSTED and outcome.execution:
        _reply(
            respond,
            md(
                "Nothing was requested: {}, so nobody could see the approval card. The request `{}` was "
                "withdrawn at once and `{}` is free: request it again once the bot can post here.",
                cannot_post(outcome.slack_error),
                outcome.execution.execution_id,
                parsed.plan_name,
            ),
        )
    elif outcome.result is RequestResult.APPROVAL_REQUESTED and outcome.execution:
        where = (
            Mrkdwn("the card is in the channel")
            if outcome.card_posted
            else md(
                "Slack did not take the card yet ({}); it follows in the channel",
                outcome.slack_error or "busy",
            )
        )
        _reply(
            respond,
            md(
                "Approval requested for a {} of `{}` (`{}`): {}. Nothing launches until someone else approves it.",
                parsed.execution_type.value.lower(),
                parsed.plan_name,
                outcome.execution.execution_id,
                where,
            ),
        )
    elif outcome.result is RequestResult.STARTED and outcome.slack_blocked and outcome.execution:
        _reply(
            respond,
            md(
                "The drill `{0}` is running, but {1}. Its messages follow if that is fixed while it runs (the "
                "bot tries again every few minutes); `/drs status {0}` shows it meanwhile.",
                outcome.execution.execution_id,
                cannot_post(outcome.slack_error),
            ),
        )
    elif outcome.result is RequestResult.STARTED and outcome.slack_error and outcome.execution:
        _reply(
            respond,
            md(
                "The drill `{}` is running, but Slack did not take its status message yet ({}); the messages "
                "follow.",
                outcome.execution.execution_id,
                outcome.slack_error,
            ),
        )


def cannot_post(error: str | None) -> Mrkdwn:
    """Why the bot cannot post in the channel, and what to do about it."""
    if error in ("not_in_channel", "channel_not_found"):
        return Mrkdwn("I am not a member of this channel: invite me with `/invite @DRS ChatOps`")
    if error == "is_archived":
        return Mrkdwn("this channel is archived")
    return md("Slack refuses my messages here (`{}`): whoever runs the bot must check its Slack app", error)


REFUSALS: dict[RequestResult, Callable[[Execute], Mrkdwn]] = {
    RequestResult.CHANNEL_NOT_ALLOWED: lambda _: CHANNEL_REFUSAL,
    RequestResult.NOT_ALLOWED: lambda p: md(
        "You may not run a {}: the bot's access policy does not list you (or a user group of yours). "
        "Ask a DR lead to add you.",
        p.execution_type.value.lower(),
    ),
    RequestResult.NO_APPROVERS: lambda p: md(
        'A {} needs an approver, and none is configured. Set "approvers" (Slack user or user group ids) '
        'in DRS_BOT_ACCESS_POLICY, e.g. `{{"approvers": ["U012ABCDEF"], "recovery_requesters": '
        '["S0DRLEADS"]}}`.',
        p.execution_type.value.lower(),
    ),
    RequestResult.FUTURE_TIME: lambda p: md(
        "`--at` must be in the past ({:%Y-%m-%d %H:%M:%S} UTC is not): "
        "recovery snapshots are taken from what already happened.",
        p.at,
    ),
    RequestResult.NO_RECOVERY: lambda p: md(
        "Nothing to fail back: `{0}` has no recovery that launched servers (COMPLETED or PARTIAL) since "
        "its last failback. Failback undoes a recovery: run `/drs history {0}` to check.",
        p.plan_name,
    ),
}


def _cleanup(deps: SlackDeps, parsed: Cleanup, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    outcome = deps.executions.cleanup(execution.execution_id, command["user_id"])
    name = md("`{}` ({})", execution.execution_id, execution.plan_name)
    if outcome.refusal is CleanupRefusal.NOT_ALLOWED:
        text = md(
            "You may not clean up {}: only its requester, an approver, or someone who may run drills can.",
            name,
        )
    elif outcome.refusal is CleanupRefusal.NOT_A_DRILL:
        text = md(
            "{} is a {}, not a drill: its recovery instances are your running systems now, and cleanup "
            "never touches them. Terminate them deliberately in DRS if you must.",
            name,
            execution.execution_type.value,
        )
    elif outcome.refusal is CleanupRefusal.STILL_RUNNING:
        text = md("{} is still running; clean it up when it has ended (or `/drs cancel` it first).", name)
    elif outcome.refusal is CleanupRefusal.IN_PROGRESS:
        text = md("A cleanup of {} is already under way; its progress is in the execution's thread.", name)
    else:
        text = md(
            "Cleaning up {}: its drill instances are being terminated; the thread has the details.", name
        )
    _reply(respond, text)


def _check(deps: SlackDeps, parsed: Check, respond: Respond) -> None:
    report = deps.executions.check(parsed.plan_name)
    if report is None:
        _reply(respond, blocks.unknown_plan(parsed.plan_name, deps.executions.known_plans()))
        return
    verdict = report.verdict
    text = blocks.readiness_text(verdict.level.value, verdict.summary_lines(), plan_name=parsed.plan_name)
    text = md("{}\n_{} servers checked._", text, verdict.servers_checked)
    text += md(
        "\n_Readiness watch: {}._",
        watch_blocks.watched(deps.watch.state(parsed.plan_name), deps.clock()),
    )
    pending = report.snapshot_ages
    if pending is not None:
        text += md(
            "\n_Recovery snapshot ages (rpo_target {}) take one DRS call per server: they follow in a moment._",
            minutes(pending.rpo_target_seconds),
        )
    _reply(respond, text)
    ages = deps.executions.check_snapshot_ages(report)
    if ages is not None:
        level = "WARN" if verdict.level.value == "READY" and ages.findings else verdict.level.value
        _reply(
            respond,
            blocks.readiness_text(level, ages.lines(), plan_name=parsed.plan_name)
            + md("\n_Recovery snapshot ages of {:,} of {:,} servers read._", ages.checked, ages.total),
        )


def _plan_busy(plan_name: str, running: Execution | None) -> Mrkdwn:
    if running is None:
        return md("`{}` is already running; one execution per plan at a time.", plan_name)
    where = md(" in {}", channel(running.channel_id)) if running.channel_id else Mrkdwn("")
    return md(
        "`{}` is already running: `{}` ({}, {}){}. One execution per plan at a time: follow it there, "
        "or stop it with `/drs cancel {}`.",
        plan_name,
        running.execution_id,
        running.execution_type.value.lower(),
        running.status.value,
        where,
        running.execution_id,
    )


def _cancel(deps: SlackDeps, parsed: Cancel, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    outcome = deps.executions.cancel(execution.execution_id, command["user_id"])
    name = md("`{}` ({})", execution.execution_id, execution.plan_name)
    texts = {
        CancelResult.NOT_ALLOWED: md(
            "You may not cancel {}: only its requester, an approver, or (for a drill) someone who may run "
            "drills can.",
            name,
        ),
        CancelResult.CANCELLING: md("Cancelling {}: nothing new starts; running jobs are followed.", name),
        CancelResult.ALREADY_CANCELLING: md("{} is already being cancelled.", name),
        CancelResult.ALREADY_ENDED: md(
            "{} already ended ({}); nothing to cancel.", name, execution.status.value
        ),
        CancelResult.NOT_FOUND: _no_execution(parsed.execution_ref),
    }
    _reply(respond, texts[outcome.result])


def _find(deps: SlackDeps, ref: str, command: dict[str, Any], respond: Respond) -> Execution | None:
    """The execution the user named, or None once they have been told why not."""
    try:
        execution = deps.executions.find(ref, command["channel_id"])
    except AmbiguousExecution as error:
        _reply(
            respond,
            md(
                "`{}` is the start of {} executions in this channel ({}): type more of the id.",
                _typed(ref),
                len(error.matches),
                Mrkdwn(", ").join(md("`{}`", execution_id) for execution_id in error.matches[:5]),
            ),
        )
        return None
    if execution is None:
        _reply(respond, _no_execution(ref))
    return execution


def _typed(word: str) -> Mrkdwn:
    """A word the user typed, echoed in a code span: escaped, short, without a backtick to end it."""
    return clip(word.replace("`", "'"), 80)


def _no_execution(ref: str) -> Mrkdwn:
    return md(
        "There is no execution `{}` (use its id from the thread, or its first 6+ characters in the "
        "channel where it runs).",
        _typed(ref),
    )


def _status(deps: SlackDeps, parsed: Status, command: dict[str, Any], respond: Respond) -> None:
    if parsed.execution_ref:
        execution = _find(deps, parsed.execution_ref, command, respond)
        if execution is None:
            return
    else:
        execution = deps.executions.latest_in_channel(command["channel_id"])
        if execution is None:
            _reply(respond, Mrkdwn("No execution has run in this channel yet."))
            return
    _reply(respond, blocks.status_text(execution, deps.clock()))
