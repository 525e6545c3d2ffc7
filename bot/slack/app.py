"""The Bolt app, built by a factory so the Lambda handler, Socket Mode and tests share one wiring."""

from __future__ import annotations

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bot.slack import listeners
from bot.slack.deps import SlackDeps


def build_app(*, signing_secret: str, bot_token: str, api_url: str | None, deps: SlackDeps) -> App:
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
    listeners.register(app, deps)
    return app
