"""Bad input gets a clear answer and changes nothing."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sandbox.stack import signed_command
from tests.e2e.conftest import Sandbox


def nothing_happened(sandbox: Sandbox, channel: str, drs_calls_before: int) -> None:
    sandbox.settle()
    assert sandbox.public(channel) == []
    assert sandbox.stack.bot.store.latest_in_channel(channel) is None
    starts = [c for c in sandbox.stack.drs.calls[drs_calls_before:] if c.operation == "StartRecovery"]
    assert starts == []


def test_a_forged_signature_gets_401_and_nothing_is_read_or_written(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    reply = sandbox.command("execute plan-x drill", channel=channel, secret="not-the-secret")
    assert reply.status == 401
    nothing_happened(sandbox, channel, before)
    assert sandbox.ephemeral(channel) == []


def test_a_replayed_old_request_gets_401(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    reply = sandbox.command("execute plan-x drill", channel=channel, age=6 * 60)
    assert reply.status == 401
    nothing_happened(sandbox, channel, before)


def test_a_body_altered_after_signing_gets_401(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    body, headers = signed_command(
        "help",
        signing_secret=sandbox.secret,
        response_url=sandbox.stack.slack.new_response_url(channel, "U0MALLORY"),
        user_id="U0MALLORY",
        channel_id=channel,
        timestamp=int(time.time()),
    )
    tampered = body.replace(b"text=help", b"text=" + urllib.parse.quote_plus("execute plan-x drill").encode())
    before = len(sandbox.stack.drs.calls)
    assert sandbox.post(tampered, headers).status == 401
    nothing_happened(sandbox, channel, before)


def test_an_unknown_plan_names_the_known_plans_and_writes_nothing(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    reply = sandbox.command("execute plan-y drill", channel=channel)
    assert reply.status == 200
    nothing_happened(sandbox, channel, before)
    (message,) = sandbox.ephemeral(channel)
    assert "There is no plan `plan-y`." in message
    assert "`plan-x`" in message and "`plan-flaky`" in message
    assert "Did you mean `plan-x`?" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("execute plan-x", "needs a plan and a type"),
        ("execute plan-x dril", "Did you mean `drill`?"),
        ("exec plan-x drill", "is not a /drs command"),
        ("execute", "needs a plan and a type"),
    ],
)
def test_a_malformed_command_gets_usage_help_and_writes_nothing(
    sandbox: Sandbox, text: str, expected: str
) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    reply = sandbox.command(text, channel=channel)
    assert reply.status == 200
    assert reply.body["response_type"] == "ephemeral"
    assert expected in reply.body["text"] and "/drs execute &lt;plan&gt; drill" in reply.body["text"]
    nothing_happened(sandbox, channel, before)


@pytest.mark.parametrize("word", ["payload", "token", "command", "response_url", "trigger_id", "text="])
def test_slack_field_names_in_the_text_do_not_confuse_the_parser(sandbox: Sandbox, word: str) -> None:
    channel = sandbox.new_channel()
    reply = sandbox.command(f"execute {word} drill", channel=channel)
    assert reply.status == 200, reply
    assert reply.body["response_type"] == "ephemeral"
    sandbox.settle()
    assert any("There is no plan" in text for text in sandbox.ephemeral(channel))


@contextmanager
def slack_function_with(
    monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox, **variables: str
) -> Iterator[None]:
    """The Slack function redeployed with other settings; put right afterwards."""
    from handlers import slack_http

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    slack_http._slack_handler.cache_clear()
    try:
        yield
    finally:
        sandbox.settle()
        monkeypatch.undo()
        slack_http._slack_handler.cache_clear()


def test_an_invalid_setting_is_named_to_the_user_and_nothing_runs(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    with slack_function_with(monkeypatch, sandbox, DRS_BOT_LIMITS='{"servers_per_job": 100'):
        reply = sandbox.command("execute plan-x drill", channel=channel)
        # The ack reads none of the broken setting; the services, which need it, are never built.
        assert reply.status == 200
        assert reply.body["text"] == "Checking `plan-x` and starting a drill…"
        nothing_happened(sandbox, channel, before)
    (message,) = sandbox.ephemeral(channel)
    assert message.startswith(
        "Nothing was done: the bot's configuration is invalid (DRS_BOT_LIMITS is not valid JSON"
    )


def test_a_failure_after_the_ack_is_told_to_the_user_not_only_logged(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    # As if the executions table were unreachable: every read and write of it fails.
    with slack_function_with(monkeypatch, sandbox, DRS_BOT_EXECUTIONS_TABLE="drs-chatops-gone"):
        for text in ("status", "execute plan-x drill"):
            assert sandbox.command(text, channel=channel).status == 200
        sandbox.settle()
    nothing_happened(sandbox, channel, before)
    told = sorted(sandbox.ephemeral(channel))  # the two lazy listeners ran side by side: any order
    assert len(told) == 2
    assert told[0].startswith("I could not finish `/drs execute plan-x drill`: ResourceNotFoundException")
    assert told[1].startswith("I could not finish `/drs status`: ResourceNotFoundException")
    assert all("check `/drs status` before trying again" in text for text in told)
