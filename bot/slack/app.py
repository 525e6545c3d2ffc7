"""The Bolt app, built by a factory so the Lambda handler, Socket Mode and tests share one wiring."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk import WebClient

from bot.slack import listeners
from bot.slack.listeners import SlackDeps


def build_app(*, signing_secret: str, client: WebClient, deps: SlackDeps) -> App:
    app = App(
        signing_secret=signing_secret,
        client=client,
        # Lambda freezes the process after the response: finish listeners before answering.
        process_before_response=True,
        # No auth.test on a cold start: it would eat into Slack's 3 seconds.
        token_verification_enabled=False,
    )
    listeners.register(app, deps)
    return app
