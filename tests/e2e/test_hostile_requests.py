"""Hostile HTTP requests to the Slack endpoint get a clean 4xx from the real Lambda handler, and nothing
else happens: 401 for a timestamp or signature that is not Slack's, 413 for a body too large to be
Slack's, 400 for a body Slack would not send. No lazy listener runs, nothing is posted, DRS is not called,
and the refusal is logged once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.slack import requests
from bot.slack.requests import MAX_BODY_BYTES
from sandbox.lambda_fake import make_context
from sandbox.stack import SLACK_FUNCTION, http_api_event
from tests.e2e.conftest import Reply, Sandbox

FORM = "application/x-www-form-urlencoded"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    # By hand, not with slack_sdk's SignatureVerifier: it cannot sign a body that is not UTF-8.
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


def command_body(sandbox: Sandbox, channel: str, text: str = "execute plan-x drill") -> bytes:
    return urllib.parse.urlencode(
        {
            "team_id": "T0SANDBOX",
            "channel_id": channel,
            "user_id": "U0MALLORY",
            "command": "/drs",
            "text": text,
            "response_url": sandbox.stack.slack.new_response_url(channel, "U0MALLORY"),
            "trigger_id": f"{time.time():.0f}.hostile",
        }
    ).encode()


def headers(
    sandbox: Sandbox, body: bytes, *, timestamp: str | None = None, content_type: str | None = FORM
) -> dict[str, str]:
    """Correctly signed headers for `body` with this timestamp (now by default)."""
    timestamp = str(int(time.time())) if timestamp is None else timestamp
    result = {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(sandbox.secret, timestamp, body),
    }
    if content_type is not None:
        result["Content-Type"] = content_type
    return result


def invoke(event: dict[str, Any]) -> Reply:
    """The Lambda handler called with an event as API Gateway would build it (for what HTTP cannot carry)."""
    from handlers import slack_http

    result = slack_http.handler(event, make_context(SLACK_FUNCTION))
    body = result.get("body") or ""
    return Reply(
        status=int(result["statusCode"]), body=json.loads(body) if body.startswith("{") else {"raw": body}
    )


class Refusals(logging.Handler):
    """What the Lambda handler logs when it refuses a request itself (Bolt's own 401s log through the
    function's Powertools logger, whose level and handlers are the deployment's)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def refusals() -> Iterator[Refusals]:
    handler = Refusals()
    logger = logging.getLogger(requests.__name__)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


class Nothing:
    """What the stack did before a request; `happened` asserts it did nothing since."""

    def __init__(self, sandbox: Sandbox, channel: str) -> None:
        sandbox.settle()
        self.sandbox = sandbox
        self.channel = channel
        self.invocations = len(sandbox.stack.lambdas.invocations)
        self.drs_calls = len(sandbox.stack.drs.calls)
        self.messages = len(sandbox.stack.slack.messages())

    def happened(self) -> None:
        sandbox = self.sandbox
        sandbox.settle()
        assert sandbox.stack.lambdas.invocations[self.invocations :] == []  # no lazy listener
        assert sandbox.stack.drs.calls[self.drs_calls :] == []
        assert sandbox.stack.slack.messages()[self.messages :] == []
        assert sandbox.stack.bot.store.latest_in_channel(self.channel) is None


def refused_once(refusals: Refusals, reply: Reply, status: int, *, by: str = "handler") -> None:
    """Answered `status`: by the handler, which logs it once as a warning, or by Bolt (nothing of ours)."""
    assert reply.status == status, reply
    messages = [record.getMessage() for record in refusals.records]
    if by == "bolt":
        assert messages == [] and reply.body == {"error": "invalid request"}, (messages, reply)
        return
    assert len(messages) == 1 and messages[0].startswith(f"Refused a Slack request with {status}: "), messages
    assert refusals.records[0].levelno == logging.WARNING


# --- 401: the timestamp is not a Unix time Slack would send -----------------------------------------


@pytest.mark.parametrize(
    "timestamp",
    [
        "abc",
        "",
        "1e9",
        "-1",
        "1.5",
        "0x10",
        "9" * 5000,  # int() refuses more than 4,300 digits: a ValueError in slack_sdk's check
        "1_700_000_000",  # int() reads it, Slack never sends it
    ],
)
def test_a_timestamp_that_is_not_a_unix_time_gets_401(
    sandbox: Sandbox, refusals: Refusals, timestamp: str
) -> None:
    channel = sandbox.new_channel()
    nothing = Nothing(sandbox, channel)
    body = command_body(sandbox, channel)
    reply = sandbox.post(body, headers(sandbox, body, timestamp=timestamp))
    refused_once(refusals, reply, 401)
    nothing.happened()


@pytest.mark.parametrize("offset", [-10 * 365 * 86400, -301, 301, 10**10])
def test_a_timestamp_far_from_now_gets_401(sandbox: Sandbox, refusals: Refusals, offset: int) -> None:
    channel = sandbox.new_channel()
    nothing = Nothing(sandbox, channel)
    body = command_body(sandbox, channel)
    reply = sandbox.post(body, headers(sandbox, body, timestamp=str(int(time.time()) + offset)))
    refused_once(refusals, reply, 401, by="bolt")  # well formed: Bolt checks its age
    nothing.happened()


def test_a_request_with_no_timestamp_gets_401(sandbox: Sandbox, refusals: Refusals) -> None:
    channel = sandbox.new_channel()
    nothing = Nothing(sandbox, channel)
    body = command_body(sandbox, channel)
    signed = headers(sandbox, body)
    del signed["X-Slack-Request-Timestamp"]
    refused_once(refusals, sandbox.post(body, signed), 401)
    nothing.happened()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(timestamp=st.text(max_size=30))
@example(timestamp="9" * 4301)
@example(timestamp="\x00")
def test_any_timestamp_header_but_a_recent_unix_time_gets_401(
    sandbox: Sandbox, refusals: Refusals, timestamp: str
) -> None:
    """As API Gateway's event, so that any text can be a header value."""
    digits = timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12
    if digits and abs(int(timestamp) - time.time()) <= 300:
        return  # Slack's
    refusals.records.clear()
    channel = sandbox.new_channel()
    nothing = Nothing(sandbox, channel)
    body = command_body(sandbox, channel)
    event = http_api_event("/slack/events", headers(sandbox, body, timestamp=timestamp), body)
    refused_once(refusals, invoke(event), 401, by="bolt" if digits else "handler")
    nothing.happened()


# --- 413: larger than anything Slack sends ----------------------------------------------------------


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 3 * 1024 * 1024])
def test_a_signed_body_of_megabytes_gets_413(sandbox: Sandbox, refusals: Refusals, size: int) -> None:
    channel = sandbox.new_channel()
    nothing = Nothing(sandbox, channel)
    body = command_body(sandbox, channel)
    body += b"&padding=" + b"x" * (size - len(body) - len(b"&padding="))
    assert len(body) == size
    reply = sandbox.post(body, headers(sandbox, body))
    refused_once(refusals, reply, 413)
    nothing.happened()


def test_a_body_just_under_the_limit_is_answered(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    body = command_body(sandbox, channel, text="help")
    body += b"&padding=" + b"x" * (MAX_BODY_BYTES - len(body) - len(b"&padding="))
    reply = sandbox.post(body, headers(sandbox, body))
    assert reply.status == 200 and "DRS ChatOps" in reply.body["text"]


# --- 400: a body Slack would not send ---------------------------------------------------------------


def test_a_signed_body_that_is_not_utf8_gets_400(sandbox: Sandbox, refusals: Refusals) -> None:
    channel = sandbox.new_channel()
    nothing = Nothing(sandbox, channel)
    body = command_body(sandbox, channel) + b"&user_name=caf\xe9"
    reply = sandbox.post(body, headers(sandbox, body))
    refused_once(refusals, reply, 400)
    assert "UTF-8" in reply.body["error"]
    nothing.happened()


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data"])
def test_a_signed_body_of_another_content_type_gets_400(
    sandbox: Sandbox, refusals: Refusals, content_type: str | None
) -> None:
    channel = sandbox.new_channel()
    nothing = Nothing(sandbox, channel)
    if content_type == "application/json":
        body = json.dumps({"command": "/drs", "text": "execute plan-x drill", "channel_id": channel}).encode()
    else:
        body = command_body(sandbox, channel)
    reply = sandbox.post(body, headers(sandbox, body, content_type=content_type))
    refused_once(refusals, reply, 400)
    assert "Content-Type" in reply.body["error"]
    nothing.happened()


def test_the_form_content_type_with_a_charset_is_slacks(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    body = command_body(sandbox, channel, text="help")
    reply = sandbox.post(body, headers(sandbox, body, content_type=f"{FORM}; charset=utf-8"))
    assert reply.status == 200 and "DRS ChatOps" in reply.body["text"]


# --- what only API Gateway's event can carry ---------------------------------------------------------


def in_other_digits(event: dict[str, Any]) -> None:
    # Arabic-Indic digits, which int() reads; http.client cannot send them.
    timestamp = event["headers"]["x-slack-request-timestamp"]
    event["headers"]["x-slack-request-timestamp"] = timestamp.translate(
        {ord(d): chr(0x0660 + int(d)) for d in "0123456789"}
    )


def base64_said_but_not_done(event: dict[str, Any]) -> None:
    event["body"] = base64.b64decode(event["body"]).decode()


EVENTS = {
    "a timestamp in other digits": (in_other_digits, 401, "invalid request"),
    "no Content-Type (urllib would add one)": (
        lambda event: event["headers"].pop("content-type"),
        400,
        f"the Content-Type is missing, not {FORM}",
    ),
    "flagged base64 but not": (
        base64_said_but_not_done,
        400,
        "the body is not base64, though isBase64Encoded",
    ),
    "a base64 flag that is not a boolean": (
        lambda event: event.update(isBase64Encoded="true"),
        400,
        "the event's isBase64Encoded must be true or false",
    ),
    # The signature is over the form; the handler would check it over the form's base64.
    "a base64 body not flagged so": (
        lambda event: event.update(isBase64Encoded=False),
        401,
        "invalid request",  # by Bolt: nothing looks wrong but the signature
    ),
}


@pytest.mark.parametrize("case", list(EVENTS))
def test_an_event_slack_could_not_have_sent_is_refused(
    sandbox: Sandbox, refusals: Refusals, case: str
) -> None:
    edit, status, error = EVENTS[case]
    channel = sandbox.new_channel()
    nothing = Nothing(sandbox, channel)
    body = command_body(sandbox, channel)
    event = http_api_event("/slack/events", headers(sandbox, body), body)
    edit(event)
    reply = invoke(event)
    refused_once(refusals, reply, status, by="bolt" if case == "a base64 body not flagged so" else "handler")
    assert reply.body["error"].startswith(error)
    nothing.happened()


def test_a_plain_body_correctly_flagged_is_answered(sandbox: Sandbox) -> None:
    """The other way API Gateway may pass a form (REST APIs, function URLs for text types)."""
    channel = sandbox.new_channel()
    body = command_body(sandbox, channel, text="help")
    event = http_api_event("/slack/events", headers(sandbox, body), body)
    event["body"], event["isBase64Encoded"] = body.decode(), False
    reply = invoke(event)
    assert reply.status == 200 and "DRS ChatOps" in reply.body["text"]


def test_a_signed_base64_body_is_decoded_exactly(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    body = command_body(sandbox, channel, text="help")
    event = http_api_event("/slack/events", headers(sandbox, body), body)
    assert base64.b64decode(event["body"]) == body
    assert invoke(event).status == 200
