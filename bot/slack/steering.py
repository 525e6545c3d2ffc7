"""Continue / Stop here on a gate's card, Pause / Resume on the anchor: the decisions, in lazy listeners.

The click was acknowledged at once (bot/slack/ack.py). The thread says what a click did; the person who
clicked is told only when it changed nothing (refused, or the button was stale), and how it stands now.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from bot.domain.execution import ActionKind
from bot.services.controlling import SteerResult
from bot.slack import replies
from bot.slack.ack import clicked_channel, clicked_execution
from bot.slack.deps import SlackDeps
from bot.slack.mrkdwn import Mrkdwn

CHANNEL_REFUSAL = (
    "Nothing changed: executions cannot be steered from this channel; the bot's access policy does not "
    "allow it."
)


def button_target(value: str) -> tuple[str, int | None]:
    """The execution a button is for, and the gate's wave ("<execution>:<wave>" on a gate's card)."""
    execution_id, _, wave = value.partition(":")
    return execution_id, int(wave) if wave.isdigit() else None


def click(deps: SlackDeps, body: dict[str, Any], respond: Respond, kind: ActionKind) -> None:
    def tell(text: Mrkdwn | str) -> None:
        respond(response_type="ephemeral", replace_original=False, text=text)

    if not deps.policy.channel_allowed(clicked_channel(body)):
        tell(CHANNEL_REFUSAL)
        return
    execution_id, wave = button_target(clicked_execution(body))
    outcome = deps.controlling.steer(execution_id, body["user"]["id"], kind, wave)
    if outcome.result is SteerResult.DONE:
        return  # the thread and the anchor say it, to everyone
    if outcome.execution is None:
        tell(replies.no_execution(execution_id))
        return
    tell(replies.steer_reply(kind, outcome, outcome.execution))
