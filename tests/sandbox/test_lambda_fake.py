"""FakeLambda driven by a real boto3 Lambda client, and Bolt's lazy listeners running through it."""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from slack_bolt import App
from slack_bolt.adapter.aws_lambda import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from sandbox.lambda_fake import FakeLambda, LambdaContext, make_context, parse_function_name
from sandbox.slack_fake import FakeSlack
from tests.sandbox.conftest import CHANNEL

ARN = "arn:aws:lambda:us-east-1:123456789012:function:drs-bot"


def lambda_client(fake: FakeLambda) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=fake.url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


@pytest.fixture
def aws_env(lam: FakeLambda, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the sandbox sets so that a bare boto3.client("lambda") (as Bolt makes) lands here."""
    for name, value in {
        **lam.endpoint_env(),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_event_invocation_answers_202_at_once_and_runs_on_a_worker(lam: FakeLambda) -> None:
    release = threading.Event()
    ran: list[tuple[Any, LambdaContext, str]] = []

    def handler(event: Any, context: LambdaContext) -> None:
        release.wait(5)
        ran.append((event, context, threading.current_thread().name))

    lam.register("drs-bot", handler, timeout_seconds=30)
    reply = lambda_client(lam).invoke(FunctionName=ARN, InvocationType="Event", Payload=b'{"n": 1}')
    assert reply["StatusCode"] == 202 and ran == []  # the handler is still blocked
    release.set()
    assert lam.wait_idle(5)
    [(event, context, thread_name)] = ran
    assert event == {"n": 1} and thread_name != threading.current_thread().name
    assert (context.function_name, context.invoked_function_arn) == ("drs-bot", ARN)
    assert 0 < context.get_remaining_time_in_millis() <= 30_000
    assert context.log_group_name == "/aws/lambda/drs-bot" and context.memory_limit_in_mb == 512
    [record] = lam.invocations
    assert (record.invocation_type, record.status, record.request_id) == (
        "Event",
        "succeeded",
        context.aws_request_id,
    )


def test_request_response_returns_the_result(lam: FakeLambda) -> None:
    lam.register("drs-bot", lambda event, context: {"statusCode": 200, "body": event["x"]})
    reply = lambda_client(lam).invoke(FunctionName="drs-bot", Payload=json.dumps({"x": "hi"}))
    assert reply["StatusCode"] == 200 and "FunctionError" not in reply
    assert json.loads(reply["Payload"].read()) == {"statusCode": 200, "body": "hi"}


def test_request_response_reports_an_unhandled_error(lam: FakeLambda) -> None:
    def handler(event: Any, context: Any) -> None:
        raise ValueError("no such plan")

    lam.register("drs-bot", handler)
    reply = lambda_client(lam).invoke(FunctionName="drs-bot", InvocationType="RequestResponse", Payload=b"{}")
    assert reply["FunctionError"] == "Unhandled"
    body = json.loads(reply["Payload"].read())
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "no such plan")


def test_timeout_is_reported_like_lambda(lam: FakeLambda) -> None:
    lam.register("slow", lambda event, context: time.sleep(0.5), timeout_seconds=0.1)
    reply = lambda_client(lam).invoke(FunctionName="slow", Payload=b"{}")
    assert reply["FunctionError"] == "Unhandled"
    assert json.loads(reply["Payload"].read())["errorType"] == "Sandbox.Timedout"


def test_unknown_function_is_resource_not_found(lam: FakeLambda) -> None:
    client = lambda_client(lam)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="missing", Payload=b"{}")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("drs-bot", ("drs-bot", None)),
        ("drs-bot:live", ("drs-bot", "live")),
        ("123456789012:function:drs-bot", ("drs-bot", None)),
        (ARN, ("drs-bot", None)),
        (ARN + ":7", ("drs-bot", "7")),
        ("arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Ax", ("x", None)),
    ],
)
def test_function_name_forms(raw: str, expected: tuple[str, str | None]) -> None:
    assert parse_function_name(raw) == expected


def test_async_exceptions_are_recorded_not_raised(lam: FakeLambda) -> None:
    def handler(event: Any, context: Any) -> None:
        raise RuntimeError("DRS said no")

    lam.register("drs-bot", handler)
    lambda_client(lam).invoke(FunctionName="drs-bot", InvocationType="Event", Payload=b"{}")
    assert lam.wait_idle(5)
    [record] = lam.invocations
    assert record.status == "failed" and record.error == "RuntimeError: DRS said no"
    assert record.error_traceback and "DRS said no" in record.error_traceback


def test_duplicate_and_late_delivery(lam: FakeLambda) -> None:
    lam.duplicate_async, lam.async_delay_seconds = True, 0.2
    seen: list[str] = []
    lam.register("drs-bot", lambda event, context: seen.append(context.aws_request_id))
    lambda_client(lam).invoke(FunctionName="drs-bot", InvocationType="Event", Payload=b"{}")
    assert seen == []  # not yet: delivery is late
    assert lam.wait_idle(5)
    first, second = lam.invocations
    assert len(seen) == 2 and seen[0] == seen[1]  # the same event, twice
    assert (first.delivery, second.delivery) == (1, 2)
    assert first.started_at is not None and first.started_at - first.queued_at >= 0.2


def test_wait_idle_reports_work_still_running(lam: FakeLambda) -> None:
    release = threading.Event()
    lam.register("drs-bot", lambda event, context: release.wait(5))
    lambda_client(lam).invoke(FunctionName="drs-bot", InvocationType="Event", Payload=b"{}")
    assert lam.wait_idle(0.1) is False
    release.set()
    assert lam.wait_idle(5) is True
    lam.reset()
    assert lam.invocations == []


def test_make_context_looks_like_lambdas() -> None:
    context = make_context("drs-bot", timeout_seconds=3)
    assert context.invoked_function_arn == ARN and context.function_version == "$LATEST"
    assert 2000 < context.get_remaining_time_in_millis() <= 3000
    assert context.aws_request_id != make_context("drs-bot").aws_request_id


def test_bare_boto3_client_uses_the_endpoint_env(lam: FakeLambda, aws_env: None) -> None:
    lam.register("drs-bot", lambda event, context: "pong")
    reply = boto3.client("lambda").invoke(FunctionName=ARN, Payload=b"{}")
    assert json.loads(reply["Payload"].read()) == "pong"


# -- Bolt's lazy listener, end to end through both fakes -------------------------------------------------
SIGNING_SECRET = "sandbox-signing-secret"


def slash_command_event(text: str, response_url: str) -> dict[str, Any]:
    body = urlencode(
        {
            "token": "legacy",
            "team_id": "T0SANDBOX",
            "channel_id": CHANNEL,
            "channel_name": "drills",
            "user_id": "U0ALICE",
            "user_name": "alice",
            "command": "/drs",
            "text": text,
            "api_app_id": "A0SANDBOX",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    return {
        "requestContext": {"http": {"method": "POST"}},
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": timestamp,
            "x-slack-signature": signature,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def build_bolt_handler(slack: FakeSlack) -> SlackRequestHandler:
    app = App(
        signing_secret=SIGNING_SECRET,
        process_before_response=True,
        client=WebClient(token=slack.bot_token, base_url=slack.api_url),
        token_verification_enabled=False,
    )

    def ack_fast(ack: Any) -> None:
        ack("Working on it…")

    def work(body: dict[str, Any], client: WebClient, respond: Any) -> None:
        client.chat_postMessage(channel=body["channel_id"], text=f"Drill started: {body['text']}")
        respond("Started.")

    app.command("/drs")(ack=ack_fast, lazy=[work])
    return SlackRequestHandler(app)


def test_bolt_lazy_listener_runs_through_the_fake_lambda(
    slack: FakeSlack, lam: FakeLambda, aws_env: None
) -> None:
    handler: Any = build_bolt_handler(slack)  # Any: Bolt's handle() is unannotated
    lam.register("drs-bot", handler.handle)
    event = slash_command_event("execute plan-x drill", slack.new_response_url(CHANNEL, "U0ALICE"))

    response = handler.handle(event, make_context("drs-bot"))  # the synchronous Slack request
    assert response["statusCode"] == 200 and "Working on it" in response["body"]
    assert lam.wait_idle(5)

    [lazy] = lam.invocations
    assert (lazy.invocation_type, lazy.status) == ("Event", "succeeded")
    assert lazy.payload["headers"]["x-slack-bolt-lazy-only"] == "1"
    texts = [(m["text"], m["via"]) for m in slack.messages()]
    assert texts == [
        ("Drill started: execute plan-x drill", "chat.postMessage"),
        ("Started.", "response_url"),
    ]
