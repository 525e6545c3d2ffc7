"""The Slack function as Lambda starts it: the secret is read during INIT, not in front of the first ack.

A fresh process imports handlers/slack_http.py with AWS_LAMBDA_INITIALIZATION_TYPE set (as Lambda does),
the Slack credentials in a Secrets Manager secret on moto's server and Lambda's Invoke API on the
sandbox's fake. Every AWS API call and client the process makes is recorded, by operation.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sandbox.lambda_fake import FakeLambda
from tests import slack_process

SECRET = "init-test-signing-secret"
FUNCTION = "drs-chatops-slack"

CHILD = (
    """
import json, os, sys
import botocore.client, botocore.session

record = []
_call = botocore.client.BaseClient._make_api_call
_create = botocore.session.Session.create_client
def calling(self, operation, params):
    record.append(f"call {self.meta.service_model.service_name}:{operation}")
    return _call(self, operation, params)
def creating(self, service_name, *args, **kwargs):
    record.append(f"client {service_name}")
    return _create(self, service_name, *args, **kwargs)
botocore.client.BaseClient._make_api_call = calling
botocore.session.Session.create_client = creating

import handlers.slack_http as slack_http
during_init = list(record)
record.clear()
"""
    + slack_process.CONTEXT
    + """
answers = [slack_http.handler(event, context) for event in json.loads(sys.stdin.read())]
print(json.dumps({"init": during_init, "requests": record, "answers": answers}))
"""
)


@pytest.fixture
def lambdas() -> Iterator[FakeLambda]:
    with FakeLambda() as fake:
        fake.register(FUNCTION, lambda event, context: None)  # the lazy half is not under test here
        yield fake


def secret_arn(moto_url: str, value: dict[str, str]) -> str:
    client = boto3.client(
        "secretsmanager",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    name = f"drs-chatops-slack-init-{time.time_ns()}"
    return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


def command_event(text: str) -> dict[str, Any]:
    return slack_process.command_event(text, secret=SECRET)


def start_cold(
    moto_url: str, lambdas: FakeLambda, secret: str, events: list[dict[str, Any]], log_level: str = "CRITICAL"
) -> dict[str, Any]:
    env = {
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": moto_url,
        "AWS_ENDPOINT_URL_LAMBDA": lambdas.url,
        "DRS_BOT_SLACK_SECRET_ID": secret,
        "DRS_BOT_SLACK_API_URL": f"{slack_process.NOWHERE}/api/",
        "POWERTOOLS_LOG_LEVEL": log_level,
    }
    return slack_process.run(CHILD, events, env)


def test_init_reads_the_secret_so_the_first_acks_call_nothing_but_the_lazy_invoke(
    moto_url: str, lambdas: FakeLambda
) -> None:
    arn = secret_arn(moto_url, {"signing_secret": SECRET, "bot_token": "xoxb-init-test"})
    result = start_cold(moto_url, lambdas, arn, [command_event("help"), command_event("status")])

    assert "call secretsmanager:GetSecretValue" in result["init"]
    assert "client lambda" in result["init"]
    help_, status = result["answers"]
    assert help_["statusCode"] == 200 and "Usage" in json.loads(help_["body"])["text"]
    assert status["statusCode"] == 200 and json.loads(status["body"])["text"] == "Looking that up…"
    # No secret read and no client built in front of either ack; /drs status re-invokes the function.
    assert result["requests"] == ["call lambda:Invoke"]
    lambdas.wait_idle()
    assert [invocation.function_name for invocation in lambdas.invocations] == [FUNCTION]


def test_a_secret_init_cannot_read_is_reported_by_the_first_request_not_by_a_failed_init(
    moto_url: str, lambdas: FakeLambda
) -> None:
    arn = secret_arn(moto_url, {"signing_secret": SECRET})  # no bot_token
    with pytest.raises(subprocess.CalledProcessError) as failed:
        start_cold(moto_url, lambdas, arn, [command_event("help")], log_level="ERROR")
    # INIT logged the problem and went on (the module imported); the first request raised it again.
    assert "Could not prepare the Slack app during INIT" in failed.value.stdout
    assert 'handlers/slack_http.py", line' in failed.value.stderr  # raised by the request, after INIT
    assert "must be JSON with non-empty strings signing_secret and bot_token" in failed.value.stderr
