"""SandboxStack.add_account: another account served by the emulator, with the bot's role in it, reached
through STS at the endpoint the stack gives the bot (AWS_ENDPOINT_URL_STS) with credentials that outlive
the sandbox's fast DRS clock, listed in the bot's environment, with the hooks' runbooks, and its launch
results delivered to the bot's DRS events function like the home account's."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from sandbox.config import SandboxConfig
from sandbox.stack import EVENTS_FUNCTION, SandboxStack

HOME_SERVER = "s-ac000000000000001"
TARGET = "111122223333"
NO_ROLE = "444455556666"
TARGET_SERVER = "s-ac000000000000002"
SECOND_SERVER = "s-ac000000000000003"
PLANS = f"""
protection_groups:
  - {{name: home-tier, region: us-east-1, source_servers: [{HOME_SERVER}]}}
plans:
  - name: plan-home
    waves:
      - {{name: Only, protection_group: home-tier}}
"""


def test_an_added_account_is_served_listed_and_heard(tmp_path: Path) -> None:
    # A stack of its own, in a process of its own: moto keeps its tables per process.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        seen = child.submit(_run, str(tmp_path)).result(timeout=120)

    assert seen["same account"] and seen["second region"] == [SECOND_SERVER]
    assert seen["conflict"] == f"account {TARGET} is served already, with role drs-chatops-target"
    assert seen["env"] == {
        "DRS_BOT_TARGET_ACCOUNTS": f"{TARGET},{NO_ROLE}",
        "DRS_BOT_TARGET_ROLE_NAME": "drs-chatops-target",
        "DRS_BOT_TARGET_EXTERNAL_ID": "drs-chatops-sandbox",
    }
    assert seen["caller"] == f"arn:aws:sts::{TARGET}:assumed-role/drs-chatops-target/drs-chatops"
    assert seen["target servers"] == [TARGET_SERVER]  # in us-west-2 of the target account only
    assert seen["home servers"] == [HOME_SERVER]
    assert seen["no role"] == "AccessDenied"
    # The launch result of the target account's drill reached the bot's events function, with its account.
    assert [(e["account"], e["detail"]["source-server-id"]) for e in seen["events"]] == [
        (TARGET, TARGET_SERVER)
    ]


def _run(directory: str) -> dict[str, Any]:
    plans = Path(directory) / "plans.yml"
    plans.write_text(PLANS)
    config = SandboxConfig(time_scale=600, poll_seconds=0.2)
    with SandboxStack(plans, config) as stack:
        stack.add_account(TARGET, regions=["us-east-1", "us-west-2"], servers={"us-west-2": [TARGET_SERVER]})
        stack.add_account(NO_ROLE, role=False)
        # Another test module of the package asks for the same account: served again, servers added.
        again = stack.add_account(TARGET, regions=["eu-west-1"], servers={"eu-west-1": [SECOND_SERVER]})
        try:
            stack.add_account(TARGET, role=False)
            conflict = ""
        except ValueError as error:
            conflict = str(error)
        env = {name: os.environ[name] for name in stack.account_env()}
        # What the bot's code does: STS at the endpoint the environment names, the role it names.
        sts = boto3.client("sts", region_name="us-east-1")
        credentials = sts.assume_role(
            RoleArn=f"arn:aws:iam::{TARGET}:role/{env['DRS_BOT_TARGET_ROLE_NAME']}",
            RoleSessionName="drs-chatops",
            ExternalId=env["DRS_BOT_TARGET_EXTERNAL_ID"],
        )["Credentials"]
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
        caller = boto3.client("sts", region_name="us-east-1", **keys).get_caller_identity()["Arn"]
        target_drs = boto3.client("drs", region_name="us-west-2", **keys)
        servers = [s["sourceServerID"] for s in target_drs.describe_source_servers()["items"]]
        home = boto3.client("drs", region_name="us-east-1").describe_source_servers()["items"]
        try:
            sts.assume_role(
                RoleArn=f"arn:aws:iam::{NO_ROLE}:role/drs-chatops-target",
                RoleSessionName="drs-chatops",
                ExternalId="drs-chatops-sandbox",
            )
            no_role = "assumed"
        except ClientError as error:
            no_role = error.response["Error"]["Code"]
        target_drs.start_recovery(sourceServers=[{"sourceServerID": TARGET_SERVER}], isDrill=True)
        stack.advance(900)  # a drill's launch ends after about 9 minutes
        assert stack.drs_events is not None and stack.drs_events.wait_idle(timeout=30)
        stack.lambdas.wait_idle(timeout=30)
        # DRS time ran an hour past the credentials' Expiration; STS's runs on the wall clock, as
        # botocore's renewal does: the credentials still work.
        stack.advance(3600)
        jobs_after_an_hour = len(target_drs.describe_jobs()["items"])
        # The hooks' runbooks exist in the added account too.
        ssm = boto3.client("ssm", region_name="us-west-2", **keys)
        automation = ssm.start_automation_execution(DocumentName="DrsHook-Ok")["AutomationExecutionId"]
        automation_account = stack.drs.account(TARGET).calls[-1].caller
        events = [
            json.loads(record["body"])
            for invocation in stack.lambdas.invocations
            if invocation.function_name == EVENTS_FUNCTION
            for record in invocation.payload["Records"]
        ]
        return {
            "same account": again is stack.drs.account(TARGET),
            "second region": [
                s["sourceServerID"]
                for s in boto3.client("drs", region_name="eu-west-1", **keys).describe_source_servers()[
                    "items"
                ]
            ],
            "conflict": conflict,
            "env": env,
            "caller": caller,
            "target servers": servers,
            "home servers": [s["sourceServerID"] for s in home],
            "no role": no_role,
            "events": events,
            "jobs after an hour": jobs_after_an_hour,
            "automation": (bool(automation), automation_account),
        }
