"""The Slack function's cold path: what its acks read, and what they must not import.

The ack of a cold Lambda is built from a few DRS_BOT_* variables without pydantic (bot/slack/entry.py);
the full Settings are validated later, by the first lazy listener. These tests hold the two readings
together and keep pydantic, the domain's models and the services off the way to the first answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.policy import AccessPolicy
from bot.errors import ConfigurationError
from bot.settings import PREFIX, Settings
from bot.slack import ack, entry
from sandbox.stack import http_api_event, signed_command

ROOT = Path(__file__).resolve().parents[2]
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


CHILD = """
import json, sys, types
events = json.loads(sys.stdin.read())
import handlers.slack_http as slack_http
context = types.SimpleNamespace(
    function_name="drs-chatops-slack", function_version="$LATEST", memory_limit_in_mb=512,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:drs-chatops-slack",
    aws_request_id="entry-test", log_group_name="", log_stream_name="",
    get_remaining_time_in_millis=lambda: 30000,
)
answers = [slack_http.handler(event, context) for event in events]
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] == "pydantic" or name.startswith("bot.services")
    or name in ("bot.wiring", "bot.settings", "bot.domain.execution", "bot.slack.blocks")
)
print(json.dumps({"answers": answers, "heavy": heavy}))
"""


def run_cold(events: list[dict[str, Any]], extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DRS_BOT_", "AWS_", "POWERTOOLS_"))
    }
    env.update(
        {
            "DRS_BOT_SLACK_SIGNING_SECRET": SECRET,
            "DRS_BOT_SLACK_BOT_TOKEN": "xoxb-entry-test",
            # Any Slack or AWS call would go nowhere: the acks tested here make none.
            "DRS_BOT_SLACK_API_URL": "http://127.0.0.1:9/api/",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            **(extra_env or {}),
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def command_event(text: str, channel: str = "C0DRILLS") -> dict[str, Any]:
    body, headers = signed_command(
        text,
        signing_secret=SECRET,
        response_url="http://127.0.0.1:9/response",
        user_id="U0ALICE",
        channel_id=channel,
        timestamp=int(time.time()),
    )
    return http_api_event("/slack/events", headers, body)


def test_a_cold_start_answers_help_typos_and_refusals_without_pydantic_or_the_services() -> None:
    result = run_cold(
        [command_event("help"), command_event("exectue plan-x drill"), command_event("plans", "C0ELSEWHERE")],
        {"DRS_BOT_ACCESS_POLICY": '{"allowed_channels": ["C0DRILLS"]}'},
    )
    help_, typo, elsewhere = (json.loads(answer["body"]) for answer in result["answers"])
    assert "`/drs execute <plan> drill" in help_["text"]
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
