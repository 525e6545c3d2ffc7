"""cfn/target-account.yaml deployed on moto's CloudFormation (over HTTP), as a StackSet would: one target
account, two regions; a DRS launch result in the target account reaches the bot's account.

moto resolves the template's parameters, conditions and substitutions and creates the resources, and
EventBridge there forwards to another account's bus. It does not evaluate IAM or event-bus policies:
test_target_account.py checks those statements against the code.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from sandbox.moto_server import MotoServer
from tests.infrastructure import model

# Accounts no other test uses: moto keeps its state per process.
BOT_ACCOUNT = "210987654321"
TARGET_ACCOUNT = "456789012345"
BOT_REGION = "eu-west-1"
ROLE_REGION, OTHER_REGION, QUIET_REGION = "us-east-1", "us-west-2", "ap-southeast-2"
BOT_ROLES = [
    f"arn:aws:iam::{BOT_ACCOUNT}:role/drs-chatops-ExecutorRole-1A2B3C",
    f"arn:aws:iam::{BOT_ACCOUNT}:role/drs-chatops-SlackRole-4D5E6F",
]
EXTERNAL_ID = "drs-chatops-7f3a91c2"
LAUNCH_RESULT = "DRS Source Server Launch Result"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with MotoServer() as server:
        yield server.url


def _session(moto_url: str, account: str) -> boto3.Session:
    """Credentials of `account`: moto's STS issues them for a role assumed there."""
    sts = boto3.client(
        "sts",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/deployer", RoleSessionName="deploy")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def _client(session: boto3.Session, service: str, region: str, moto_url: str) -> Any:
    return session.client(service, region_name=region, endpoint_url=moto_url)  # type: ignore[call-overload]


def _deploy(session: boto3.Session, region: str, moto_url: str, **overrides: str) -> dict[str, Any]:
    values = {
        "BotAccountId": BOT_ACCOUNT,
        "BotRegion": BOT_REGION,
        "BotRoleArns": ",".join(BOT_ROLES),
        "ExternalId": EXTERNAL_ID,
        "RoleRegion": ROLE_REGION,
        **overrides,
    }
    cfn = _client(session, "cloudformation", region, moto_url)
    cfn.create_stack(
        StackName="drs-chatops-target",
        TemplateBody=model.TARGET_TEMPLATE_PATH.read_text(encoding="utf-8"),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    (stack,) = cfn.describe_stacks(StackName="drs-chatops-target")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    resources = cfn.list_stack_resources(StackName="drs-chatops-target")["StackResourceSummaries"]
    return {"stack": stack, "resources": {r["LogicalResourceId"] for r in resources} - {""}}


@pytest.fixture(scope="module")
def world(moto_url: str) -> dict[str, Any]:
    bot, target = _session(moto_url, BOT_ACCOUNT), _session(moto_url, TARGET_ACCOUNT)
    # The bot's side: its DrsLaunchResultRule (the main template's pattern) into a queue.
    sqs = _client(bot, "sqs", BOT_REGION, moto_url)
    queue_url = sqs.create_queue(QueueName="drs-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = _client(bot, "events", BOT_REGION, moto_url)
    pattern = model.properties("DrsLaunchResultRule")["EventPattern"]
    events.put_rule(Name="drs-launch-results", EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule="drs-launch-results", Targets=[{"Id": "drs-events", "Arn": queue_arn}])
    return {
        "bot": bot,
        "target": target,
        "queue_url": queue_url,
        "stacks": {
            ROLE_REGION: _deploy(target, ROLE_REGION, moto_url),
            OTHER_REGION: _deploy(target, OTHER_REGION, moto_url),
            QUIET_REGION: _deploy(target, QUIET_REGION, moto_url, ForwardEvents="false"),
        },
    }


def test_each_region_deploys_and_only_the_role_region_creates_the_role(world: dict[str, Any]) -> None:
    stacks = world["stacks"]
    assert stacks[ROLE_REGION]["resources"] == {
        "TargetRole",
        "LaunchResultForwardRule",
        "LaunchResultForwardRole",
    }
    assert stacks[OTHER_REGION]["resources"] == {"LaunchResultForwardRule", "LaunchResultForwardRole"}
    assert stacks[QUIET_REGION]["resources"] == set()
    (output,) = stacks[ROLE_REGION]["stack"]["Outputs"]
    assert output == {
        "OutputKey": "TargetRoleArn",
        "OutputValue": f"arn:aws:iam::{TARGET_ACCOUNT}:role/drs-chatops-target",
        "Description": output["Description"],
    }
    assert "Outputs" not in stacks[OTHER_REGION]["stack"]


def _document(value: Any) -> dict[str, Any]:
    # moto returns a policy CloudFormation created as the text of a Python dict, not JSON.
    if isinstance(value, dict):
        return value
    parsed: dict[str, Any] = ast.literal_eval(value) if value.startswith("{'") else json.loads(value)
    return parsed


def test_the_role_trusts_the_bots_roles_with_the_external_id(world: dict[str, Any], moto_url: str) -> None:
    iam = _client(world["target"], "iam", ROLE_REGION, moto_url)
    role = iam.get_role(RoleName="drs-chatops-target")["Role"]
    (trust,) = _document(role["AssumeRolePolicyDocument"])["Statement"]
    assert trust["Principal"] == {"AWS": BOT_ROLES}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}
    names = iam.list_role_policies(RoleName="drs-chatops-target")["PolicyNames"]
    assert sorted(names) == ["health-checks", "hooks", "recovery"]
    recovery = _document(
        iam.get_role_policy(RoleName="drs-chatops-target", PolicyName="recovery")["PolicyDocument"]
    )
    start = next(s for s in recovery["Statement"] if s["Sid"] == "DrsStartRecovery")
    # ${AWS::AccountId} is the target account: the role acts on that account's servers.
    assert start["Resource"] == f"arn:aws:drs:*:{TARGET_ACCOUNT}:source-server/*"


def _put(world: dict[str, Any], region: str, detail_type: str, moto_url: str) -> None:
    events = _client(world["target"], "events", region, moto_url)
    detail = {"state": "RECOVERY_LAUNCH_SUCCEEDED", "job-id": "drsjob-0123456789abcdef0"}
    (entry,) = events.put_events(
        Entries=[{"Source": "aws.drs", "DetailType": detail_type, "Detail": json.dumps(detail)}]
    )["Entries"]
    assert "EventId" in entry


def _received(world: dict[str, Any], moto_url: str) -> list[dict[str, Any]]:
    sqs = _client(world["bot"], "sqs", BOT_REGION, moto_url)
    messages = sqs.receive_message(QueueUrl=world["queue_url"], MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=world["queue_url"], ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(m["Body"]) for m in messages]


@pytest.mark.parametrize("region", [ROLE_REGION, OTHER_REGION])
def test_a_launch_result_in_the_target_account_reaches_the_bots_rule(
    world: dict[str, Any], region: str, moto_url: str
) -> None:
    _put(world, region, LAUNCH_RESULT, moto_url)
    (event,) = _received(world, moto_url)
    assert (event["source"], event["detail-type"]) == ("aws.drs", LAUNCH_RESULT)
    assert event["detail"]["job-id"] == "drsjob-0123456789abcdef0"


def test_other_drs_events_and_a_region_that_does_not_forward_send_nothing(
    world: dict[str, Any], moto_url: str
) -> None:
    _put(world, ROLE_REGION, "DRS Source Server Data Replication Stalled Change", moto_url)
    _put(world, QUIET_REGION, LAUNCH_RESULT, moto_url)
    assert _received(world, moto_url) == []
