"""Approve and Reject on a recovery's approval card: the decisions, taken in lazy listeners.

The click was acknowledged at once (bot/slack/ack.py); here the service decides, and the first valid
decision wins. A Reject first asked why, in a form opened by its ack; it rejects when that is submitted.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.domain.approval import Vote, VoteResult
from bot.slack import replies
from bot.slack.ack import clicked_channel, clicked_execution, reason_form_target
from bot.slack.deps import SlackDeps
from bot.slack.ids import REASON_BLOCK, REASON_INPUT
from bot.slack.mrkdwn import Mrkdwn

logger = logging.getLogger(__name__)


def approve(deps: SlackDeps, body: dict[str, Any], respond: Respond) -> None:
    execution_id = clicked_execution(body)
    user_id = body["user"]["id"]
    report = deps.controlling.vote(execution_id, Vote.APPROVE, user_id, channel_id=clicked_channel(body))
    text = _vote_reply(report.outcome.result, execution_id, deps)
    if text:
        respond(response_type="ephemeral", replace_original=False, text=text)


def reject(deps: SlackDeps, body: dict[str, Any], client: WebClient) -> None:
    """The reason form was submitted."""
    execution_id, channel_id = reason_form_target(body)
    values = (body["view"].get("state") or {}).get("values") or {}
    reason = str(((values.get(REASON_BLOCK) or {}).get(REASON_INPUT) or {}).get("value") or "")
    user_id = body["user"]["id"]
    report = deps.controlling.vote(execution_id, Vote.REJECT, user_id, reason=reason, channel_id=channel_id)
    text = _vote_reply(report.outcome.result, execution_id, deps)
    if text and channel_id:
        client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)


def _vote_reply(result: VoteResult, execution_id: str, deps: SlackDeps) -> Mrkdwn | None:
    status = None
    if result is VoteResult.ALREADY_DECIDED:  # read only then: the other answers need nothing stored
        execution = deps.queries.get(execution_id)
        status = execution.status.value if execution else None
    return replies.vote_reply(result, status)
