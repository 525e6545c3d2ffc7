"""The baseline: the smallest Bolt app on Lambda that answers a slash command, configured as ours is.

`process_before_response=True` (mandatory on Lambda) and `token_verification_enabled=False` (no
auth.test on a cold start), credentials from the environment, one `/hello` command acknowledged at once.
It imports what any Bolt-on-Lambda function imports (slack_bolt, slack_sdk, and boto3 through Bolt's
Lambda adapter), so the difference to handlers/slack_http.py is what the bot itself adds.
"""

from __future__ import annotations

import os
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.aws_lambda import SlackRequestHandler

app = App(
    process_before_response=True,
    signing_secret=os.environ["DRS_BOT_SLACK_SIGNING_SECRET"],
    token=os.environ["DRS_BOT_SLACK_BOT_TOKEN"],
    token_verification_enabled=False,
)
# Bolt still calls auth.test on the first request (its SingleTeamAuthorization middleware caches the
# result); the benchmark sends it to a local fake Slack, as it does the bot's, instead of slack.com.
app.client.base_url = os.environ.get("DRS_BOT_SLACK_API_URL") or app.client.base_url
app.command("/hello")(lambda ack: ack("hi"))


def _nothing() -> None:
    """A lazy listener that does nothing: `/hello-lazy` pays only for Bolt's Lambda re-invocation."""


# Diagnostic only: the same ack plus a lazy listener, as /drs has. With process_before_response=True
# Bolt re-invokes the function (boto3 Lambda client + Invoke) before the handler returns its answer.
app.command("/hello-lazy")(ack=lambda ack: ack("hi"), lazy=[_nothing])

_slack_handler = SlackRequestHandler(app)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result: dict[str, Any] = _slack_handler.handle(event, context)
    return result
