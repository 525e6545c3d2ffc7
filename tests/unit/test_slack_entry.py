"""The Slack function's cold path: what its acks read, and what they must not import.

The ack of a cold Lambda is built from a few DRS_BOT_* variables without pydantic (bot/slack/entry.py);
the full Settings are validated later, by the first lazy listener. These tests hold the two readings
together and keep pydantic, the domain's models and the services off the way to the first answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.policy import AccessPolicy
from bot.errors import ConfigurationError
from bot.settings import PREFIX, Settings
from bot.slack import ack, entry
from tests import slack_process

SECRET = "entry-test-signing-secret"


def test_the_ack_reads_only_settings_that_exist_under_the_same_names() -> None:
    assert entry.PREFIX == PREFIX
    assert set(entry.READS) <= set(Settings.model_fields)


def test_no_allow_list_allows_every_channel() -> None:
    assert entry.allowed_channels(None) == frozenset()
    assert entry.allowed_channels('{"approvers": ["U0APPROVER"]}') == frozenset()
    assert ack.channel_allowed(frozenset(), "C0ANYWHERE")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{not json", "DRS_BOT_ACCESS_POLICY is not valid JSON"),
        ('["C0DRILLS"]', "must be a JSON object whose allowed_channels is a list"),
        ('{"allowed_channels": "C0DRILLS"}', "must be a JSON object whose allowed_channels is a list"),
        ('{"allowed_channels": [42]}', "must be a JSON object whose allowed_channels is a list"),
    ],
)
def test_an_unreadable_access_policy_is_named(raw: str, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        entry.allowed_channels(raw)


channel_ids = st.from_regex(r"[CGD][A-Z0-9]{2,10}", fullmatch=True)


@given(allowed=st.lists(channel_ids, max_size=4), asked=channel_ids)
def test_the_ack_and_the_access_policy_agree_on_every_channel(allowed: list[str], asked: str) -> None:
    policy = AccessPolicy(allowed_channels=allowed)
    read = entry.allowed_channels(policy.model_dump_json())
    for channel in [asked, *allowed]:
        assert ack.channel_allowed(read, channel) == policy.channel_allowed(channel)


CHILD = (
    "import json, sys\nevents = json.loads(sys.stdin.read())\nimport handlers.slack_http as slack_http\n"
    + slack_process.CONTEXT
    + """
answers = [slack_http.handler(event, context) for event in events]
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("pydantic", "PIL") or name.startswith("bot.services")
    or name in ("bot.wiring", "bot.settings", "bot.domain.execution", "bot.slack.layout")
)
print(json.dumps({"answers": answers, "heavy": heavy}))
"""
)


def run_cold(events: list[dict[str, Any]], extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    env = {
        "DRS_BOT_SLACK_SIGNING_SECRET": SECRET,
        "DRS_BOT_SLACK_BOT_TOKEN": "xoxb-entry-test",
        # Any Slack call would go nowhere: the acks tested here make none.
        "DRS_BOT_SLACK_API_URL": f"{slack_process.NOWHERE}/api/",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    return slack_process.run(CHILD, events, env | (extra_env or {}))


def command_event(text: str, channel: str = "C0DRILLS") -> dict[str, Any]:
    return slack_process.command_event(text, secret=SECRET, channel=channel)


def test_a_cold_start_answers_help_typos_and_refusals_without_pydantic_or_the_services() -> None:
    result = run_cold(
        [command_event("help"), command_event("exectue plan-x drill"), command_event("plans", "C0ELSEWHERE")],
        {"DRS_BOT_ACCESS_POLICY": '{"allowed_channels": ["C0DRILLS"]}'},
    )
    help_, typo, elsewhere = (json.loads(answer["body"]) for answer in result["answers"])
    assert "`/drs execute &lt;plan&gt; drill" in help_["text"]  # Slack shows &lt; as <
    assert "Did you mean `execute`?" in typo["text"]
    assert elsewhere["text"] == ack.CHANNEL_REFUSAL
    assert result["heavy"] == []


def test_a_forged_request_gets_401_on_a_cold_start() -> None:
    event = command_event("help")
    event["headers"]["x-slack-signature"] = "v0=" + "0" * 64
    result = run_cold([event])
    assert result["answers"][0]["statusCode"] == 401


def test_an_unreadable_access_policy_is_told_to_every_command_and_nothing_more() -> None:
    result = run_cold([command_event("execute plan-x drill")], {"DRS_BOT_ACCESS_POLICY": "{oops"})
    (answer,) = result["answers"]
    assert answer["statusCode"] == 200
    text = json.loads(answer["body"])["text"]
    assert text.startswith("Nothing was done: the bot's configuration is invalid")
    assert "DRS_BOT_ACCESS_POLICY is not valid JSON" in text
