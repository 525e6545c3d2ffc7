"""Everything that runs before Slack gets its answer: the acks.

Slack allows 3 seconds, a Lambda cold start included, so this module and what it imports are kept to
Bolt and the standard library: the /drs grammar, the channel allow-list and the reject-reason form.
Importing pydantic and building the domain's models costs ≈ 130 ms of a cold start by itself
(benchmarks/README.md); those load with the slow halves, in the lazy listeners (bot/slack/listeners.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from typing import Any

from slack_bolt import Ack
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from bot.domain import commands
from bot.domain.commands import Execute, Help, Invalid, NotYetAvailable
from bot.slack.ids import REASON_BLOCK, REASON_INPUT, REASON_VIEW
from bot.slack.mrkdwn import Mrkdwn, escape, md

CHANNEL_REFUSAL = Mrkdwn(
    "Recovery plans cannot be run from this channel; use one of the channels in the bot's access policy."
)
DECISION_REFUSAL = (
    "Nothing changed: recovery requests cannot be decided from this channel; the bot's access policy does "
    "not allow it."
)
# views.open runs inside the click's 3 seconds (the ack is sent when the listener returns), after a cold
# start perhaps: it gets what is left, and no in-place retry (the trigger id expires anyway).
FORM_TIMEOUT_SECONDS = 1.5
TELL_TIMEOUT_SECONDS = 1
FORM_FAILED = (
    "Slack did not open the rejection form in time ({error}); nothing changed. Click *Reject* again."
)


def help_text(usage: str = commands.USAGE) -> Mrkdwn:
    # The usage names its arguments in angle brackets (`<plan>`): escaped, so Slack shows them as typed.
    return md("*DRS ChatOps* runs AWS Elastic Disaster Recovery plans from Slack.\n{}", usage)


def channel_allowed(allowed_channels: Collection[str], channel_id: str) -> bool:
    """As AccessPolicy.channel_allowed: an empty allow-list allows every channel."""
    return not allowed_channels or channel_id in allowed_channels


def needs_follow_up(allowed_channels: Collection[str]) -> Callable[[dict[str, Any]], bool]:
    """Bolt matcher: does this command need its lazy half? Help, typos and refusals do not."""

    def matcher(command: dict[str, Any]) -> bool:
        if not channel_allowed(allowed_channels, command.get("channel_id") or ""):
            return False
        parsed = commands.parse(command.get("text") or "")
        return not isinstance(parsed, Help | Invalid | NotYetAvailable)

    return matcher


def command_acknowledger(allowed_channels: Collection[str]) -> Callable[..., None]:
    def acknowledge_command(ack: Ack, command: dict[str, Any]) -> None:
        """Parsing and configuration only: no AWS or Slack call."""
        if not channel_allowed(allowed_channels, command.get("channel_id") or ""):
            ack(response_type="ephemeral", text=CHANNEL_REFUSAL)
            return
        ack(response_type="ephemeral", text=ack_text(commands.parse(command.get("text") or "")))

    return acknowledge_command


def ack_text(parsed: commands.Command) -> Mrkdwn:
    """The grammar's answers are plain words around the user's own (echoed): escaped whole."""
    if isinstance(parsed, Help):
        return help_text()
    if isinstance(parsed, Invalid):
        return escape(parsed.message)
    if isinstance(parsed, NotYetAvailable):
        return md("`/drs {}` is not available in this version yet.\n\n{}", parsed.keyword, commands.USAGE)
    at = (
        md(" from the snapshots at or before {:%Y-%m-%d %H:%M:%S} UTC", parsed.at)
        if (isinstance(parsed, Execute) and parsed.at)
        else Mrkdwn("")
    )
    if isinstance(parsed, Execute) and parsed.execution_type.is_drill:
        return md("Checking `{}` and starting a drill{}…", parsed.plan_name, at)
    if isinstance(parsed, Execute):
        return md(
            "Requesting approval for a {} of `{}`{}…",
            parsed.execution_type.value.lower(),
            parsed.plan_name,
            at,
        )
    return Mrkdwn("Looking that up…")


def refusal(text: Mrkdwn) -> Callable[..., None]:
    def refuse(ack: Ack) -> None:
        ack(response_type="ephemeral", text=text)

    return refuse


def acknowledge(ack: Ack) -> None:
    """A click or a form: answered at once; the decision is taken in the lazy listener."""
    ack()


def reason_asker(allowed_channels: Collection[str]) -> Callable[..., None]:
    def ask_reason(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        """Reject opens the reason form at once: Slack's trigger ids expire after 3 seconds."""
        ack()
        channel = clicked_channel(body)
        if not channel_allowed(allowed_channels, channel):
            _tell(body, DECISION_REFUSAL)
            return
        quick = WebClient(
            token=client.token,
            base_url=client.base_url,
            timeout=FORM_TIMEOUT_SECONDS,  # type: ignore[arg-type]  # annotated int; urllib takes a float
            retry_handlers=[],
        )
        try:
            quick.views_open(
                trigger_id=body["trigger_id"], view=reason_modal(clicked_execution(body), channel)
            )
        except SlackApiError as error:
            _tell(body, FORM_FAILED.format(error=f"Slack answered `{error.response.get('error', 'error')}`"))
        except (SlackClientError, OSError):
            _tell(body, FORM_FAILED.format(error=f"no answer within {FORM_TIMEOUT_SECONDS:g} s"))

    return ask_reason


def _tell(body: dict[str, Any], text: str) -> None:
    """An ephemeral answer to the clicker through the click's response_url, within the ack's time."""
    url = body.get("response_url")
    if not url:
        return
    # If Slack is not answering at all, nothing more can be done inside the 3 seconds.
    with contextlib.suppress(SlackClientError, OSError):
        WebhookClient(url, timeout=TELL_TIMEOUT_SECONDS).send(
            text=text, response_type="ephemeral", replace_original=False
        )


def clicked_channel(body: dict[str, Any]) -> str:
    return str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")


def clicked_execution(body: dict[str, Any]) -> str:
    return str(body["actions"][0]["value"])


def reason_form_target(body: dict[str, Any]) -> tuple[str, str]:
    """The execution and channel a submitted reason form is about (what reason_modal stored)."""
    execution_id, _, channel_id = str(body["view"].get("private_metadata", "")).partition("|")
    return execution_id, channel_id


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
