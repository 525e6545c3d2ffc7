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
from bot.slack import blocks
from bot.slack.ack import CHANNEL_REFUSAL
from bot.slack.deps import SlackDeps

logger = logging.getLogger(__name__)


def run(deps: SlackDeps, command: dict[str, Any], respond: Respond) -> None:
    """The slow half of a /drs command the ack accepted, with the validated access policy."""
    if not deps.policy.channel_allowed(command.get("channel_id") or ""):
        respond(response_type="ephemeral", text=CHANNEL_REFUSAL)
        return
    parsed = commands.parse(command.get("text") or "")
    if isinstance(parsed, Execute):
        _execute(deps, parsed, command, respond)
    elif isinstance(parsed, Cleanup):
        _cleanup(deps, parsed, command, respond)
    elif isinstance(parsed, Check):
        _check(deps, parsed, respond)
    elif isinstance(parsed, ShowPlan):
        respond(response_type="ephemeral", text=blocks.plan_text(deps.catalog.load(), parsed.plan_name))
    elif isinstance(parsed, ListPlans):
        respond(response_type="ephemeral", text=blocks.plans_list(deps.catalog.load()))
    elif isinstance(parsed, Status):
        _status(deps, parsed, command, respond)
    elif isinstance(parsed, Cancel):
        _cancel(deps, parsed, command, respond)
    elif isinstance(parsed, History):
        found = deps.executions.history(parsed.plan_name, command["channel_id"], parsed.limit)
        respond(response_type="ephemeral", text=blocks.history_text(found, parsed.plan_name, deps.clock()))
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
        respond(response_type="ephemeral", text=blocks.unknown_plan(parsed.plan_name, outcome.known_plans))
    elif outcome.result is RequestResult.PLAN_BUSY:
        respond(response_type="ephemeral", text=_plan_busy(parsed.plan_name, outcome.busy_with))
    elif outcome.result is RequestResult.NOT_READY and outcome.verdict:
        verdict = outcome.verdict
        respond(
            response_type="ephemeral",
            text=blocks.readiness_text(
                verdict.level.value, verdict.summary_lines(), plan_name=parsed.plan_name
            )
            + f"\n\nThe drill did not start. Fix the above, or start it anyway: "
            f"`/drs execute {parsed.plan_name} drill --force`.",
        )
    elif outcome.result is RequestResult.NO_SNAPSHOT and parsed.at:
        shown = ", ".join(f"`{sid}`" for sid in outcome.without_snapshot[:10])
        more = len(outcome.without_snapshot) - 10
        respond(
            response_type="ephemeral",
            text=f"Nothing was launched: {len(outcome.without_snapshot)} server(s) have no recovery snapshot at or "
            f"before {parsed.at:%Y-%m-%d %H:%M:%S} UTC: {shown}"
            + (f" and {more} more" if more > 0 else "")
            + ". Pick a later time, or launch from the latest data without `--at`.",
        )
    elif outcome.result is RequestResult.DRS_UNAVAILABLE:
        respond(
            response_type="ephemeral",
            text=f"Nothing was launched: DRS did not answer ({outcome.error}). Try again.",
        )
    elif outcome.result in REFUSALS:
        respond(response_type="ephemeral", text=REFUSALS[outcome.result](parsed))
    elif outcome.result is RequestResult.APPROVAL_REQUESTED and outcome.execution:
        respond(
            response_type="ephemeral",
            text=f"Approval requested for a {parsed.execution_type.value.lower()} of `{parsed.plan_name}` "
            f"(`{outcome.execution.execution_id}`): the card is in the channel. Nothing launches until "
            "someone else approves it.",
        )
    elif outcome.result is RequestResult.STARTED and outcome.slack_error and outcome.execution:
        respond(
            response_type="ephemeral",
            text=f"The drill `{outcome.execution.execution_id}` is running, but I could not post its status "
            f"here ({outcome.slack_error}). Invite me with `/invite @DRS ChatOps`; the messages follow.",
        )


REFUSALS: dict[RequestResult, Callable[[Execute], str]] = {
    RequestResult.CHANNEL_NOT_ALLOWED: lambda _: CHANNEL_REFUSAL,
    RequestResult.NOT_ALLOWED: lambda p: (
        f"You may not run a {p.execution_type.value.lower()}: the bot's access "
        "policy does not list you (or a user group of yours). Ask a DR lead to add you."
    ),
    RequestResult.NO_APPROVERS: lambda p: (
        f"A {p.execution_type.value.lower()} needs an approver, and none is "
        'configured. Set "approvers" (Slack user or user group ids) in DRS_BOT_ACCESS_POLICY, e.g. '
        '`{"approvers": ["U012ABCDEF"], "recovery_requesters": ["S0DRLEADS"]}`.'
    ),
    RequestResult.FUTURE_TIME: lambda p: (
        f"`--at` must be in the past ({p.at:%Y-%m-%d %H:%M:%S} UTC is not): "
        "recovery snapshots are taken from what already happened."
    ),
    RequestResult.NO_RECOVERY: lambda p: (
        f"Nothing to fail back: `{p.plan_name}` has no recovery that launched servers (COMPLETED or "
        "PARTIAL) since its last failback. Failback undoes a recovery: run `/drs history "
        f"{p.plan_name}` to check."
    ),
}


def _cleanup(deps: SlackDeps, parsed: Cleanup, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    outcome = deps.executions.cleanup(execution.execution_id, command["user_id"])
    name = f"`{execution.execution_id}` ({execution.plan_name})"
    if outcome.refusal is CleanupRefusal.NOT_ALLOWED:
        text = f"You may not clean up {name}: only its requester, an approver, or someone who may run drills can."
    elif outcome.refusal is CleanupRefusal.NOT_A_DRILL:
        text = (
            f"{name} is a {execution.execution_type.value}, not a drill: its recovery instances are your running "
            "systems now, and cleanup never touches them. Terminate them deliberately in DRS if you must."
        )
    elif outcome.refusal is CleanupRefusal.STILL_RUNNING:
        text = f"{name} is still running; clean it up when it has ended (or `/drs cancel` it first)."
    elif outcome.refusal is CleanupRefusal.IN_PROGRESS:
        text = f"A cleanup of {name} is already under way; its progress is in the execution's thread."
    else:
        text = f"Cleaning up {name}: its drill instances are being terminated; the thread has the details."
    respond(response_type="ephemeral", text=text)


def _check(deps: SlackDeps, parsed: Check, respond: Respond) -> None:
    report = deps.executions.check(parsed.plan_name)
    if report is None:
        respond(
            response_type="ephemeral",
            text=blocks.unknown_plan(parsed.plan_name, deps.executions.known_plans()),
        )
        return
    verdict = report.verdict
    text = blocks.readiness_text(verdict.level.value, verdict.summary_lines(), plan_name=parsed.plan_name)
    text += f"\n_{verdict.servers_checked} servers checked._"
    pending = report.snapshot_ages
    if pending is not None:
        text += (
            f"\n_Recovery snapshot ages (rpo_target {minutes(pending.rpo_target_seconds)}) take one DRS call per "
            "server: they follow in a moment._"
        )
    respond(response_type="ephemeral", text=text)
    ages = deps.executions.check_snapshot_ages(report)
    if ages is not None:
        level = "WARN" if verdict.level.value == "READY" and ages.findings else verdict.level.value
        respond(
            response_type="ephemeral",
            text=blocks.readiness_text(level, ages.lines(), plan_name=parsed.plan_name)
            + f"\n_Recovery snapshot ages of {ages.checked:,} of {ages.total:,} servers read._",
        )


def _plan_busy(plan_name: str, running: Execution | None) -> str:
    if running is None:
        return f"`{plan_name}` is already running; one execution per plan at a time."
    where = f" in <#{running.channel_id}>" if running.channel_id else ""
    return (
        f"`{plan_name}` is already running: `{running.execution_id}` "
        f"({running.execution_type.value.lower()}, {running.status.value}){where}. One execution per plan "
        f"at a time: follow it there, or stop it with `/drs cancel {running.execution_id}`."
    )


def _cancel(deps: SlackDeps, parsed: Cancel, command: dict[str, Any], respond: Respond) -> None:
    execution = _find(deps, parsed.execution_ref, command, respond)
    if execution is None:
        return
    outcome = deps.executions.cancel(execution.execution_id, command["user_id"])
    name = f"`{execution.execution_id}` ({execution.plan_name})"
    texts = {
        CancelResult.NOT_ALLOWED: f"You may not cancel {name}: only its requester, an approver, or (for a drill) "
        "someone who may run drills can.",
        CancelResult.CANCELLING: f"Cancelling {name}: nothing new starts; running jobs are followed.",
        CancelResult.ALREADY_CANCELLING: f"{name} is already being cancelled.",
        CancelResult.ALREADY_ENDED: f"{name} already ended ({execution.status.value}); nothing to cancel.",
        CancelResult.NOT_FOUND: _no_execution(parsed.execution_ref),
    }
    respond(response_type="ephemeral", text=texts[outcome.result])


def _find(deps: SlackDeps, ref: str, command: dict[str, Any], respond: Respond) -> Execution | None:
    """The execution the user named, or None once they have been told why not."""
    try:
        execution = deps.executions.find(ref, command["channel_id"])
    except AmbiguousExecution as error:
        shown = ", ".join(f"`{execution_id}`" for execution_id in error.matches[:5])
        respond(
            response_type="ephemeral",
            text=f"`{ref}` is the start of {len(error.matches)} executions in this channel ({shown}): "
            "type more of the id.",
        )
        return None
    if execution is None:
        respond(response_type="ephemeral", text=_no_execution(ref))
    return execution


def _no_execution(ref: str) -> str:
    return (
        f"There is no execution `{ref}` (use its id from the thread, or its first 6+ characters "
        "in the channel where it runs)."
    )


def _status(deps: SlackDeps, parsed: Status, command: dict[str, Any], respond: Respond) -> None:
    if parsed.execution_ref:
        execution = _find(deps, parsed.execution_ref, command, respond)
        if execution is None:
            return
    else:
        execution = deps.executions.latest_in_channel(command["channel_id"])
        if execution is None:
            respond(response_type="ephemeral", text="No execution has run in this channel yet.")
            return
    respond(response_type="ephemeral", text=blocks.status_text(execution, deps.clock()))
