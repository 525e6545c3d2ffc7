"""Every Slack listener, registered in one place.

The acks (bot/slack/ack.py) import only Bolt and the /drs grammar. The slow halves need the services,
pydantic and boto3; their modules are imported by the lazy listeners when they first run, and the
services are built then (`deps`), so none of it is on a cold start's way to its first ack.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.errors import ConfigurationError
from bot.slack import ack
from bot.slack.ids import (
    APPROVE_ACTION,
    CONTINUE_ACTION,
    PAUSE_ACTION,
    REASON_VIEW,
    REJECT_ACTION,
    RESUME_ACTION,
    RETRY_ACTION,
    SKIP_ACTION,
    STOP_ACTION,
)
from bot.slack.mrkdwn import Mrkdwn, clip, md

if TYPE_CHECKING:
    from bot.slack.deps import SlackDeps

logger = logging.getLogger(__name__)

# The steering buttons (bot/slack/steering.py) and the control each makes (ActionKind's value: the ack
# path does not import the domain's models).
STEERING_BUTTONS = {
    CONTINUE_ACTION: "CONTINUE",
    STOP_ACTION: "STOP",
    PAUSE_ACTION: "PAUSE",
    RESUME_ACTION: "RESUME",
}

FAILED = (
    "I could not finish {what}: {error}. It may have stopped part-way: check `/drs status` before "
    "trying again. The details are in the bot's log."
)
MISCONFIGURED = (
    "Nothing was done: the bot's configuration is invalid ({error}). "
    "Whoever deployed it must fix the function's DRS_BOT_* settings."
)


def register(
    app: App,
    *,
    allowed_channels: Collection[str],
    deps: Callable[[], SlackDeps],
    misconfigured: str | None = None,
) -> None:
    """`deps` builds the services (from the fully validated settings) when a lazy listener first runs."""
    if misconfigured is not None:
        # Fail closed: say what is wrong to whoever asks, act on nothing.
        app.command("/drs")(ack.refusal(md(MISCONFIGURED, error=misconfigured)))
        for action in (APPROVE_ACTION, REJECT_ACTION, RETRY_ACTION, SKIP_ACTION, *STEERING_BUTTONS):
            app.action(action)(ack.acknowledge)
        app.view(REASON_VIEW)(ack.acknowledge)
        app.event("app_home_opened")(ack.acknowledge)
        return
    # Commands the ack answers fully (help, a typo, a refusal) skip the lazy re-invocation altogether.
    acknowledge_command = ack.command_acknowledger(allowed_channels)
    app.command("/drs", matchers=[ack.needs_follow_up(allowed_channels)])(
        ack=acknowledge_command, lazy=[_run_command(deps)]
    )
    app.command("/drs")(acknowledge_command)
    app.action(APPROVE_ACTION)(ack=ack.acknowledge, lazy=[_approve(deps)])
    app.action(REJECT_ACTION)(ack.reason_asker(allowed_channels))
    app.view(REASON_VIEW)(ack=ack.acknowledge, lazy=[_reject(deps)])
    for action, kind in STEERING_BUTTONS.items():
        app.action(action)(ack=ack.acknowledge, lazy=[_steer(deps, kind)])
    app.action(RETRY_ACTION)(ack=ack.acknowledge, lazy=[_wave_control(deps, "retry")])
    app.action(SKIP_ACTION)(ack=ack.acknowledge, lazy=[_wave_control(deps, "skip")])
    # Slack sends it for the Messages tab too; only the Home tab is ours to draw.
    app.event("app_home_opened", matchers=[_home_tab])(ack=ack.acknowledge, lazy=[_publish_home(deps)])
    app.event("app_home_opened")(ack.acknowledge)


def _run_command(deps: Callable[[], SlackDeps]) -> Callable[..., None]:
    def run_command(command: dict[str, Any], respond: Respond) -> None:
        from bot.slack import slash_command  # after the ack: see the module docstring

        typed = clip(f"/drs {command.get('text') or ''}".strip().replace("`", "'"), 100)
        with _told_if_failed(md("`{}`", typed), lambda text: respond(response_type="ephemeral", text=text)):
            slash_command.run(deps(), command, respond)

    return run_command


def _approve(deps: Callable[[], SlackDeps]) -> Callable[..., None]:
    def on_approve(body: dict[str, Any], respond: Respond) -> None:
        from bot.slack import approvals  # after the ack: see the module docstring

        with _told_if_failed(
            Mrkdwn("your approval"),
            lambda text: respond(response_type="ephemeral", replace_original=False, text=text),
        ):
            approvals.approve(deps(), body, respond)

    return on_approve


def _reject(deps: Callable[[], SlackDeps]) -> Callable[..., None]:
    def on_reason(body: dict[str, Any], client: WebClient) -> None:
        from bot.slack import approvals  # after the ack: see the module docstring

        _, channel_id = ack.reason_form_target(body)
        user_id = body["user"]["id"]
        with _told_if_failed(
            Mrkdwn("your rejection"),
            lambda text: client.chat_postEphemeral(channel=channel_id, user=user_id, text=text),
        ):
            approvals.reject(deps(), body, client)

    return on_reason


def _steer(deps: Callable[[], SlackDeps], kind: str) -> Callable[..., None]:
    def on_steer(body: dict[str, Any], respond: Respond) -> None:
        from bot.domain.execution import ActionKind  # after the ack: see the module docstring
        from bot.slack import steering

        with _told_if_failed(
            md("your click ({})", kind.lower()),
            lambda text: respond(response_type="ephemeral", replace_original=False, text=text),
        ):
            steering.click(deps(), body, respond, ActionKind(kind))

    return on_steer


def _wave_control(deps: Callable[[], SlackDeps], word: str) -> Callable[..., None]:
    def on_click(body: dict[str, Any], respond: Respond) -> None:
        from bot.domain.execution import ActionKind  # after the ack: see the module docstring
        from bot.slack import controls

        with _told_if_failed(
            md("your {}", word),
            lambda text: respond(response_type="ephemeral", replace_original=False, text=text),
        ):
            controls.on_click(deps(), body, respond, ActionKind(word.upper()))

    return on_click


def _home_tab(event: dict[str, Any]) -> bool:
    return event.get("tab") == "home"


def _publish_home(deps: Callable[[], SlackDeps]) -> Callable[..., None]:
    def publish_home(event: dict[str, Any], client: WebClient) -> None:
        from bot.slack import home  # after the ack: see the module docstring

        user_id = str(event["user"])
        try:
            # Remembered, so that the tab is republished when what it shows changes.
            client.views_publish(user_id=user_id, view=home.view(deps().home.opened(user_id)))
        except Exception:
            # No one to tell: the tab keeps its last view until the user opens it again.
            logger.exception("Could not publish the Home tab of %s", user_id)

    return publish_home


@contextmanager
def _told_if_failed(what: Mrkdwn, tell: Callable[[Mrkdwn], object]) -> Iterator[None]:
    """Bolt only logs what a lazy listener raises, and Lambda does not retry it: without this, the user
    would see the ack's "Looking that up…" and then nothing."""
    try:
        yield
    except ConfigurationError as error:
        logger.error("The bot's configuration is invalid: %s", error)
        tell(md(MISCONFIGURED, error=str(error)))
    except Exception as error:
        logger.exception("%s failed", what)
        tell(md(FAILED, what=what, error=_brief(error)))


def _brief(error: Exception) -> str:
    text = " ".join(str(error).split()) or "no message"
    return f"{type(error).__name__}: {text[:300]}{'…' if len(text) > 300 else ''}"
