"""SandboxStack and several accounts (#18): the accounts a plan names and those the config or
`add_account` adds are served by the emulator with the bot's role in them; the real bot reaches them by
assuming it through STS at AWS_ENDPOINT_URL_STS, with credentials that outlive the sandbox's fast DRS
clock; the accounts are listed in the bot's environment, have the hooks' runbooks, and their launch
results reach the bot's DRS events function like the home account's.

One stack, in a process of its own (moto keeps its tables per process), serves both tests."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.config import SandboxConfig
from sandbox.stack import EVENTS_FUNCTION, SandboxStack, signed_command

HOME = "123456789012"
TARGET = "111122223333"  # named by the plans
NO_ROLE = "444455556666"  # added without the bot's role
REFUSING = "777788889999"  # the config's: the bot's role there, which STS refuses
DENYING = "888899990000"  # the config's: the bot's role there lacks drs:StartRecovery
NEAR = "s-ac00000000000000e"  # the plan's, in the bot's own account
FAR = "s-ac00000000000000f"  # the plan's, in the target account, us-west-2
TARGET_SERVER = "s-ac000000000000002"  # added with add_account, us-west-2
SECOND_SERVER = "s-ac000000000000003"  # added by a second add_account, eu-west-1
ROLE = f"arn:aws:sts::{TARGET}:assumed-role/drs-chatops-target/drs-chatops"
PLANS = f"""
protection_groups:
  - {{name: near, region: us-east-1, source_servers: [{NEAR}]}}
  - {{name: far, region: us-west-2, account: "{TARGET}", source_servers: [{FAR}]}}
plans:
  - name: plan-two
    waves:
      - {{name: Near, protection_group: near}}
      - {{name: Far, protection_group: far}}
"""
CONFIG = {
    "time_scale": 600,
    "poll_seconds": 0.2,
    "accounts": {
        REFUSING: {"role": "unassumable"},
        DENYING: {"regions": ["eu-west-1"], "deny": ["StartRecovery"], "quotas": {"concurrent_jobs": 1}},
    },
}


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("stack-accounts")
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        yield child.submit(_run, str(directory)).result(timeout=180)


def test_a_plan_naming_an_account_drills_there_through_the_bots_role(seen: dict[str, Any]) -> None:
    assert seen["status"] == "COMPLETED"
    assert seen["target starts"] == [(ROLE, "us-west-2", [FAR])]
    assert seen["home starts"] == [("us-east-1", [NEAR])]
    # One AssumeRole per function that reached the account (Slack's, checking readiness; the executor;
    # the events function), not one per tick or per call.
    assert 1 <= seen["assume roles"] <= 3 < seen["target calls"]


def test_added_accounts_are_served_listed_and_heard(seen: dict[str, Any]) -> None:
    assert seen["env"] == {
        "DRS_BOT_TARGET_ACCOUNTS": f"{REFUSING},{DENYING},{TARGET},{NO_ROLE}",
        "DRS_BOT_TARGET_ROLE_NAME": "drs-chatops-target",
        "DRS_BOT_TARGET_EXTERNAL_ID": "drs-chatops-sandbox",
    }
    assert seen["caller"] == ROLE
    assert seen["target servers"] == [FAR, TARGET_SERVER]  # us-west-2 of the target account only
    assert seen["second region"] == [SECOND_SERVER] and seen["same account"]
    assert seen["conflict"] == f"account {TARGET} is served already, with role drs-chatops-target"
    assert seen["home servers"] == [NEAR]
    assert seen["no role"] == "AccessDenied"
    assert seen["config accounts"] == ("AccessDenied", "AccessDeniedException", 1)
    # Every launch result reached the bot's events function, each with its own account.
    assert sorted(seen["events"]) == sorted([[HOME, NEAR], [TARGET, FAR], [TARGET, TARGET_SERVER]])
    assert seen["jobs after an hour"] == 2  # the bot's and ours: the credentials outlived DRS's hour
    assert seen["automation"] == (True, ROLE)


def _run(directory: str) -> dict[str, Any]:
    plans = Path(directory) / "plans.yml"
    plans.write_text(PLANS)
    config = SandboxConfig.model_validate(CONFIG)
    with SandboxStack(plans, config) as stack:
        seen = _drill(stack, config)
        seen.update(_by_hand(stack))
        return seen


def _drill(stack: SandboxStack, config: SandboxConfig) -> dict[str, Any]:
    """/drs execute plan-two drill, through the real Slack function, to the end."""
    body, headers = signed_command(
        "execute plan-two drill",
        signing_secret=config.signing_secret,
        response_url=stack.slack.new_response_url(config.channel_id, "U0ACCOUNTS"),
        user_id="U0ACCOUNTS",
        channel_id=config.channel_id,
        timestamp=int(time.time()),
    )
    assert stack.invoke_slack_function("/slack/events", headers, body)["statusCode"] == 200
    execution = stack.wait_for_end(config.channel_id, 90)
    assert execution is not None
    target, home = stack.drs.account(TARGET), stack.drs

    def starts(account: Any) -> list[Any]:
        return [c for c in account.calls if c.operation == "StartRecovery" and c.status == 202]

    def ids(call: Any) -> list[str]:
        return [s["sourceServerID"] for s in call.params["sourceServers"]]

    return {
        "status": execution.status.value,
        "target starts": [(c.caller, c.region, ids(c)) for c in starts(target)],
        "home starts": [(c.region, ids(c)) for c in starts(home)],
        "assume roles": sum(c.operation == "AssumeRole" for c in target.calls),
        "target calls": sum(c.operation != "AssumeRole" for c in target.calls),
    }


def _by_hand(stack: SandboxStack) -> dict[str, Any]:
    """What a test module of the package does with add_account, and what the bot's code does with STS."""
    stack.add_account(TARGET, regions=["us-west-2"], servers={"us-west-2": [TARGET_SERVER]})
    stack.add_account(NO_ROLE, role=False)
    again = stack.add_account(TARGET, regions=["eu-west-1"], servers={"eu-west-1": [SECOND_SERVER]})
    conflict = _error(lambda: stack.add_account(TARGET, role=False))
    env = {name: os.environ[name] for name in stack.account_env()}
    sts = boto3.client("sts", region_name="us-east-1")  # AWS_ENDPOINT_URL_STS: the emulator
    keys = _keys(sts, TARGET, env["DRS_BOT_TARGET_ROLE_NAME"], env["DRS_BOT_TARGET_EXTERNAL_ID"])
    target_drs = boto3.client("drs", region_name="us-west-2", **keys)
    denying_drs = boto3.client("drs", region_name="eu-west-1", **_keys(sts, DENYING))
    seen: dict[str, Any] = {
        "env": env,
        "same account": again is stack.drs.account(TARGET),
        "conflict": conflict,
        "caller": boto3.client("sts", region_name="us-east-1", **keys).get_caller_identity()["Arn"],
        "target servers": [s["sourceServerID"] for s in target_drs.describe_source_servers()["items"]],
        "second region": [
            s["sourceServerID"]
            for s in boto3.client("drs", region_name="eu-west-1", **keys).describe_source_servers()["items"]
        ],
        "home servers": [
            s["sourceServerID"]
            for s in boto3.client("drs", region_name="us-east-1").describe_source_servers()["items"]
        ],
        "no role": _error(lambda: _keys(sts, NO_ROLE)),
        "config accounts": (
            _error(lambda: _keys(sts, REFUSING)),
            _error(lambda: denying_drs.start_recovery(sourceServers=[{"sourceServerID": TARGET_SERVER}])),
            stack.drs.account(DENYING).quotas.concurrent_jobs,
        ),
    }
    target_drs.start_recovery(sourceServers=[{"sourceServerID": TARGET_SERVER}], isDrill=True)
    stack.advance(900)  # a drill's launch ends after about 9 minutes
    assert stack.drs_events is not None and stack.drs_events.wait_idle(timeout=30)
    stack.lambdas.wait_idle(timeout=30)
    seen["events"] = [
        [event["account"], event["detail"]["source-server-id"]]
        for invocation in stack.lambdas.invocations
        if invocation.function_name == EVENTS_FUNCTION
        for event in (json.loads(record["body"]) for record in invocation.payload["Records"])
    ]
    # DRS time runs an hour past the credentials' Expiration; STS's runs on the wall clock, as
    # botocore's renewal does: the credentials still work.
    stack.advance(3600)
    seen["jobs after an hour"] = len(target_drs.describe_jobs()["items"])
    # The hooks' runbooks exist in the added account too.
    ssm = boto3.client("ssm", region_name="us-west-2", **keys)
    started = ssm.start_automation_execution(DocumentName="DrsHook-Ok")["AutomationExecutionId"]
    seen["automation"] = (bool(started), stack.drs.account(TARGET).calls[-1].caller)
    return seen


def _keys(
    sts: Any, account: str, role: str = "drs-chatops-target", external_id: str = "drs-chatops-sandbox"
) -> dict[str, Any]:
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="drs-chatops", ExternalId=external_id
    )["Credentials"]
    return {
        "aws_access_key_id": credentials["AccessKeyId"],
        "aws_secret_access_key": credentials["SecretAccessKey"],
        "aws_session_token": credentials["SessionToken"],
    }


def _error(call: Callable[[], Any]) -> str:
    """The error code (AWS's) or message (ours) of a call expected to fail."""
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    except ValueError as error:
        return str(error)
    return "no error"
