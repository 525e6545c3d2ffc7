"""The Bolt app, built by a factory so the Lambda handler, Socket Mode and tests share one wiring."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.slack import listeners

if TYPE_CHECKING:
    from bot.slack.deps import SlackDeps


def build_app(
    *,
    signing_secret: str,
    bot_token: str,
    api_url: str | None,
    allowed_channels: Collection[str],
    deps: Callable[[], SlackDeps],
    misconfigured: str | None = None,
) -> App:
    """`deps` builds the services when a lazy listener first needs them; the acks never do.
    With `misconfigured` (what is wrong) the app answers every command with that, and does nothing."""

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        # One workspace, one bot token: no auth.test round trip to Slack before the first ack.
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=bot_token)

    app = App(
        name="drs-chatops",  # without a name Bolt inspects the call stack to make one up
        signing_secret=signing_secret,
        authorize=authorize,
        client=WebClient(base_url=api_url or WebClient.BASE_URL),
        # Lambda freezes the process after the response: finish listeners before answering.
        process_before_response=True,
    )
    listeners.register(app, allowed_channels=allowed_channels, deps=deps, misconfigured=misconfigured)
    return app
