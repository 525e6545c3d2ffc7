"""The Slack function's app, built from its environment with nothing its acks do not need.

bot.wiring builds the services, and importing it means pydantic, the domain's models and boto3
clients: ≈ 130 ms more on a cold start, before Slack's 3-second clock stops (benchmarks/README.md).
So the app is built from the few settings an ack reads, and bot.wiring is imported, and the settings
validated in full, by the first lazy listener. What the two read is the same environment variables:
tests/unit/test_slack_entry.py holds them to Settings' fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING

from slack_bolt import App

from bot.adapters.secrets import load_slack_credentials
from bot.domain.strict_json import DocumentError, load_json
from bot.errors import ConfigurationError
from bot.slack.app import build_app

if TYPE_CHECKING:
    from bot.slack.deps import SlackDeps

PREFIX = "DRS_BOT_"
# The Settings fields this module reads, by their variable names.
READS = ("slack_secret_id", "slack_signing_secret", "slack_bot_token", "slack_api_url", "access_policy")


def slack_app(environ: Mapping[str, str]) -> App:
    setting = {name: environ.get(PREFIX + name.upper()) or None for name in READS}
    credentials = load_slack_credentials(
        setting["slack_secret_id"], setting["slack_signing_secret"], setting["slack_bot_token"]
    )
    snapshot = dict(environ)

    @cache
    def services() -> SlackDeps:
        from bot.settings import Settings
        from bot.wiring import Container

        return Container(Settings.from_env(snapshot)).slack_deps()

    try:
        channels, misconfigured = allowed_channels(setting["access_policy"]), None
    except ConfigurationError as error:
        channels, misconfigured = frozenset(), str(error)
    return build_app(
        signing_secret=credentials.signing_secret,
        bot_token=credentials.bot_token,
        api_url=setting["slack_api_url"],
        allowed_channels=channels,
        deps=services,
        misconfigured=misconfigured,
    )


def allowed_channels(access_policy: str | None) -> frozenset[str]:
    """The access policy's channel allow-list, read without pydantic.

    The ack needs only this; AccessPolicy validates the whole policy when the services are built, and
    the lazy listener checks the channel again against it.
    """
    if not access_policy:
        return frozenset()
    try:
        policy = load_json(access_policy)
    except DocumentError as error:
        raise ConfigurationError(error.about(f"{PREFIX}ACCESS_POLICY")) from None
    channels = policy.get("allowed_channels", []) if isinstance(policy, dict) else None
    if not isinstance(channels, list) or not all(isinstance(channel, str) for channel in channels):
        raise ConfigurationError(
            f"{PREFIX}ACCESS_POLICY is invalid: it must be a JSON object whose allowed_channels is a "
            'list of channel ids, e.g. {"allowed_channels": ["C0DRILLS"]}'
        )
    return frozenset(channels)
