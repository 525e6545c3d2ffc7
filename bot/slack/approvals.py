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
from bot.slack.ack import clicked_channel, clicked_execution, reason_form_target
from bot.slack.deps import SlackDeps
from bot.slack.ids import REASON_BLOCK, REASON_INPUT
from bot.slack.mrkdwn import Mrkdwn, md

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
    """What the clicker alone is told; a decision that took effect shows on the card for everyone."""
    if result in (VoteResult.APPROVED, VoteResult.RECORDED, VoteResult.REJECTED):
        return None
    if result is VoteResult.ALREADY_DECIDED:
        execution = deps.queries.get(execution_id)
        status = execution.status.value if execution else "gone"
        return md("This request was already decided ({}); your click changed nothing.", status)
    replies = {
        VoteResult.SELF_APPROVAL: Mrkdwn(
            "You requested this recovery, so you cannot approve it: another approver must."
        ),
        VoteResult.NOT_ALLOWED: Mrkdwn(
            "You are not an approver for recoveries. Approvers are set in the bot's access "
            "policy (DRS_BOT_ACCESS_POLICY)."
        ),
        VoteResult.ALREADY_VOTED: Mrkdwn("You already approved this request; it needs another approver."),
        VoteResult.EXPIRED: Mrkdwn(
            "This request has expired; nothing was launched. Request it again if still needed."
        ),
        VoteResult.CHANNEL_NOT_ALLOWED: Mrkdwn(
            "Nothing changed: recovery requests cannot be decided from this channel "
            "(the bot's access policy does not allow it here, or this is not the request's own card)."
        ),
    }
    return replies[result]
