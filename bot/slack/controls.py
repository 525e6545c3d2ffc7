"""Retry failed and Skip this wave, the buttons on a wave's thread message: decided in a lazy listener.

The click was acknowledged at once (bot/slack/ack.py). The button's value names the execution and the
wave; the service decides on the execution as it is now, so a button clicked after its moment (the
wave already retried, or started) is answered with what happened instead, and changes nothing."""

from __future__ import annotations

from typing import Any

from slack_bolt import Respond

from bot.domain.execution import ActionKind
from bot.slack import replies
from bot.slack.ack import CHANNEL_REFUSAL, clicked_channel, clicked_execution
from bot.slack.deps import SlackDeps


def on_click(deps: SlackDeps, body: dict[str, Any], respond: Respond, kind: ActionKind) -> None:
    def answer(text: str) -> None:
        respond(response_type="ephemeral", replace_original=False, text=text)

    if not deps.policy.channel_allowed(clicked_channel(body)):
        answer(CHANNEL_REFUSAL)
        return
    execution_id, _, wave = clicked_execution(body).rpartition(":")
    execution = deps.queries.get(execution_id) if wave.isdigit() else None
    if execution is None:
        answer(replies.no_execution(execution_id))
        return
    wave_ref = str(int(wave) + 1)  # the command's numbering: 1-based
    user_id = body["user"]["id"]
    if kind is ActionKind.RETRY:
        outcome = deps.controlling.retry(execution_id, user_id, wave_ref)
    else:
        outcome = deps.controlling.skip(execution_id, user_id, wave_ref, "skipped with the thread's button")
    answer(replies.control_reply(kind, outcome, execution, execution_id))
