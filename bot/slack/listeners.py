"""The /drs command: a fast acknowledgement, then the slow part in a lazy listener.

Bolt runs lazy listeners even when the ack refused the request, so the lazy half parses the text again
and acts only on what the ack accepted. Lambda may deliver the lazy invocation twice: starting an
execution is keyed on the Slack request, so the second delivery finds it already started.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from functools import cached_property
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.domain import commands
from bot.domain.commands import Cancel, Execute, Help, History, Invalid, ListPlans, NotYetAvailable, Status
from bot.domain.execution import Execution
from bot.services.executions import CancelResult, Executions, RequestResult
from bot.services.ports import CatalogStore, Clock
from bot.slack import blocks

logger = logging.getLogger(__name__)


class SlackDeps:
    """What the listeners use, built on first use: acknowledging a command creates no AWS client."""

    def __init__(
        self, *, executions: Callable[[], Executions], catalog: Callable[[], CatalogStore], clock: Clock
    ) -> None:
        self._executions = executions
        self._catalog = catalog
        self.clock = clock

    @cached_property
    def executions(self) -> Executions:
        return self._executions()

    @cached_property
    def catalog(self) -> CatalogStore:
        return self._catalog()


def register(app: App, deps: SlackDeps) -> None:
    # Commands the ack answers fully (help, a typo) skip the lazy re-invocation altogether.
    app.command("/drs", matchers=[needs_follow_up])(ack=acknowledge, lazy=[_lazy(deps)])
    app.command("/drs")(acknowledge)


def needs_follow_up(command: dict[str, Any]) -> bool:
    parsed = commands.parse(command.get("text") or "")
    return not isinstance(parsed, Help | Invalid | NotYetAvailable)


def acknowledge(ack: Ack, command: dict[str, Any]) -> None:
    """Answer within Slack's 3 seconds: pure parsing only, no AWS or Slack call."""
    parsed = commands.parse(command.get("text") or "")
    ack(response_type="ephemeral", text=_ack_text(parsed))


def _ack_text(parsed: commands.Command) -> str:
    if isinstance(parsed, Help):
        return blocks.help_text(commands.USAGE)
    if isinstance(parsed, Invalid):
        return parsed.message
    if isinstance(parsed, NotYetAvailable):
        return f"`/drs {parsed.keyword}` is not available in this version yet.\n\n{commands.USAGE}"
    if isinstance(parsed, Execute):
        return f"Starting a {parsed.execution_type.value.lower()} of `{parsed.plan_name}`…"
    return "Looking that up…"


def _lazy(deps: SlackDeps) -> Callable[..., None]:
    def run_command(command: dict[str, Any], respond: Respond) -> None:
        parsed = commands.parse(command.get("text") or "")
        if isinstance(parsed, Execute):
            _execute(deps, parsed, command, respond)
        elif isinstance(parsed, ListPlans):
            respond(response_type="ephemeral", text=blocks.plans_list(deps.catalog.load()))
        elif isinstance(parsed, Status):
            _status(deps, parsed, command, respond)
        elif isinstance(parsed, Cancel):
            _cancel(deps, parsed, command, respond)
        elif isinstance(parsed, History):
            found = deps.executions.history(parsed.plan_name, command["channel_id"], parsed.limit)
            respond(
                response_type="ephemeral", text=blocks.history_text(found, parsed.plan_name, deps.clock())
            )
        # Help, Invalid and reserved words were fully answered by the ack.

    return run_command


def _execute(deps: SlackDeps, parsed: Execute, command: dict[str, Any], respond: Respond) -> None:
    if not parsed.execution_type.is_drill:
        respond(
            response_type="ephemeral",
            text="Real recoveries and failbacks need approvals, which this version does not offer yet. "
            "Only drills can run: `/drs execute <plan> drill`.",
        )
        return
    outcome = deps.executions.request(
        plan_name=parsed.plan_name,
        execution_type=parsed.execution_type,
        user_id=command["user_id"],
        channel_id=command["channel_id"],
        request_key=command.get("trigger_id"),
    )
    if outcome.result is RequestResult.UNKNOWN_PLAN:
        respond(response_type="ephemeral", text=_unknown_plan(parsed.plan_name, outcome.known_plans))
    elif outcome.result is RequestResult.PLAN_BUSY:
        respond(response_type="ephemeral", text=_plan_busy(parsed.plan_name, outcome.busy_with))
    elif outcome.result is RequestResult.STARTED and outcome.slack_error and outcome.execution:
        respond(
            response_type="ephemeral",
            text=f"The drill `{outcome.execution.execution_id}` is running, but I could not post its status "
            f"here ({outcome.slack_error}). Invite me with `/invite @DRS ChatOps`; the messages follow.",
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


def _unknown_plan(name: str, known: tuple[str, ...]) -> str:
    if not known:
        return (
            f"There is no plan `{name}`: no plans are loaded yet. Apply one with `drs-bot plans apply FILE`."
        )
    guess = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean `{guess[0]}`?" if guess else ""
    return f"There is no plan `{name}`.{hint} Known plans: " + ", ".join(f"`{p}`" for p in known)


def _cancel(deps: SlackDeps, parsed: Cancel, command: dict[str, Any], respond: Respond) -> None:
    execution = deps.executions.find(parsed.execution_ref, command["channel_id"])
    if execution is None:
        respond(response_type="ephemeral", text=_no_execution(parsed.execution_ref))
        return
    outcome = deps.executions.cancel(execution.execution_id, command["user_id"])
    name = f"`{execution.execution_id}` ({execution.plan_name})"
    texts = {
        CancelResult.CANCELLING: f"Cancelling {name}: nothing new starts; running jobs are followed.",
        CancelResult.ALREADY_CANCELLING: f"{name} is already being cancelled.",
        CancelResult.ALREADY_ENDED: f"{name} already ended ({execution.status.value}); nothing to cancel.",
        CancelResult.NOT_FOUND: _no_execution(parsed.execution_ref),
    }
    respond(response_type="ephemeral", text=texts[outcome.result])


def _no_execution(ref: str) -> str:
    return (
        f"There is no execution `{ref}` (use its id from the thread, or its first 6+ characters "
        "in the channel where it runs)."
    )


def _status(deps: SlackDeps, parsed: Status, command: dict[str, Any], respond: Respond) -> None:
    if parsed.execution_ref:
        execution = deps.executions.find(parsed.execution_ref, command["channel_id"])
        if execution is None:
            respond(response_type="ephemeral", text=_no_execution(parsed.execution_ref))
            return
    else:
        execution = deps.executions.latest_in_channel(command["channel_id"])
        if execution is None:
            respond(response_type="ephemeral", text="No execution has run in this channel yet.")
            return
    respond(response_type="ephemeral", text=blocks.status_text(execution, deps.clock()))
