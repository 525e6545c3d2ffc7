"""Approve and Reject on a recovery's approval card.

The click is acknowledged at once; the decision is taken in a lazy listener, which asks the service,
where the first valid decision wins. A Reject first asks why, in a modal (opened within the click's
3 seconds: Slack's trigger ids expire), and rejects when the form is submitted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, Respond
from slack_sdk import WebClient

from bot.domain.approval import Vote, VoteResult
from bot.slack.deps import SlackDeps

logger = logging.getLogger(__name__)

REASON_VIEW = "drs_reject_reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"


def acknowledge_click(ack: Ack) -> None:
    ack()


def approve(deps: SlackDeps) -> Callable[..., None]:
    def on_approve(body: dict[str, Any], respond: Respond) -> None:
        execution_id = _clicked_execution(body)
        user_id = body["user"]["id"]
        report = deps.executions.vote(execution_id, Vote.APPROVE, user_id)
        text = _vote_reply(report.outcome.result, execution_id, deps)
        if text:
            respond(response_type="ephemeral", replace_original=False, text=text)

    return on_approve


def ask_reason(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
    """Open the reason form; the rejection itself happens when it is submitted."""
    ack()
    execution_id = _clicked_execution(body)
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
    client.views_open(trigger_id=body["trigger_id"], view=reason_modal(execution_id, channel))


def reason_modal(execution_id: str, channel_id: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": REASON_VIEW,
        "private_metadata": f"{execution_id}|{channel_id}",
        "title": {"type": "plain_text", "text": "Reject the request"},
        "submit": {"type": "plain_text", "text": "Reject"},
        "close": {"type": "plain_text", "text": "Back"},
        "blocks": [
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": {"type": "plain_text", "text": "Why? (recorded in the history and the thread)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_INPUT,
                    "multiline": True,
                    "max_length": 500,
                },
            }
        ],
    }


def acknowledge_reason(ack: Ack) -> None:
    ack()


def reject(deps: SlackDeps) -> Callable[..., None]:
    def on_reason(body: dict[str, Any], client: WebClient) -> None:
        view = body["view"]
        execution_id, _, channel_id = str(view.get("private_metadata", "")).partition("|")
        values = (view.get("state") or {}).get("values") or {}
        reason = str(((values.get(REASON_BLOCK) or {}).get(REASON_INPUT) or {}).get("value") or "")
        user_id = body["user"]["id"]
        report = deps.executions.vote(execution_id, Vote.REJECT, user_id, reason=reason)
        text = _vote_reply(report.outcome.result, execution_id, deps)
        if text and channel_id:
            client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)

    return on_reason


def _clicked_execution(body: dict[str, Any]) -> str:
    return str(body["actions"][0]["value"])


def _vote_reply(result: VoteResult, execution_id: str, deps: SlackDeps) -> str | None:
    """What the clicker alone is told; a decision that took effect shows on the card for everyone."""
    if result in (VoteResult.APPROVED, VoteResult.RECORDED, VoteResult.REJECTED):
        return None
    if result is VoteResult.ALREADY_DECIDED:
        execution = deps.executions.get(execution_id)
        status = execution.status.value if execution else "gone"
        return f"This request was already decided ({status}); your click changed nothing."
    replies = {
        VoteResult.SELF_APPROVAL: "You requested this recovery, so you cannot approve it: another approver must.",
        VoteResult.NOT_ALLOWED: "You are not an approver for recoveries. Approvers are set in the bot's access "
        "policy (DRS_BOT_ACCESS_POLICY).",
        VoteResult.ALREADY_VOTED: "You already approved this request; it needs another approver.",
        VoteResult.EXPIRED: "This request has expired; nothing was launched. Request it again if still needed.",
    }
    return replies[result]
