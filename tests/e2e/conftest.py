"""The whole product on this machine: signed HTTP requests in, DRS jobs and Slack threads out."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from bot.adapters.dynamodb import DynamoCatalogStore
from bot.domain.execution import Execution
from bot.domain.policy import AccessPolicy
from sandbox.config import SandboxConfig, ServerBehaviour, SlackChannelSetup, SlackSetup
from sandbox.stack import REGION, TABLES, SandboxStack, signed_command, slack_signature

PLANS = """
protection_groups:
  - name: rpo-db
    region: us-east-1
    source_servers: [s-c10000000000000a1, s-c10000000000000a2, s-c10000000000000a3]
  - name: rpo-web
    region: us-east-1
    source_servers: [s-c20000000000000b1, s-c20000000000000b2]
  - name: rpo-fine
    region: us-east-1
    source_servers: [s-c30000000000000c1, s-c30000000000000c2]
  - name: db-tier
    region: us-east-1
    source_servers: [s-d00000000000000a1, s-d00000000000000a2]
  - name: web-tier
    region: us-east-1
    source_servers: [s-e00000000000000b1, s-e00000000000000b2, s-e00000000000000b3]
  - name: flaky-tier
    region: us-east-1
    source_servers: [s-f00000000000000c1, s-f00000000000000c2]
  - name: slow-tier
    region: us-east-1
    source_servers: [s-a00000000000000d1]
  - name: after-slow
    region: us-east-1
    source_servers: [s-a00000000000000d2]
  - name: stalled-tier
    region: us-east-1
    source_servers: [s-b00000000000000e1, s-b00000000000000e2]
  - name: failing-tier
    region: us-east-1
    source_servers: [s-c00000000000000f1, s-c00000000000000f2, s-c00000000000000f3, s-c00000000000000f4,
                     s-c00000000000000f5, s-c00000000000000f6, s-c00000000000000f7, s-c00000000000000f8,
                     s-c00000000000000f9]
  - name: back-tier
    region: us-east-1
    source_servers: [s-1a0000000000000b1, s-1a0000000000000b2]
  - name: report-db
    region: us-east-1
    source_servers: [s-5e0000000000000a1, s-5e0000000000000a2]
  - name: report-web
    region: us-east-1
    source_servers: [s-5e0000000000000b1]
plans:
  - name: plan-rpo
    rpo_target: 15m
    waves:
      - name: Databases
        protection_group: rpo-db
      - name: Web
        protection_group: rpo-web
  - name: plan-fine
    rpo_target: 15m
    waves:
      - name: Fine
        protection_group: rpo-fine
  - name: plan-x
    description: Payments stack
    waves:
      - name: Databases
        protection_group: db-tier
      - name: Web
        protection_group: web-tier
  - name: plan-flaky
    waves:
      - name: Flaky
        protection_group: flaky-tier
  - name: plan-slow
    waves:
      - name: Slow
        protection_group: slow-tier
      - name: After
        protection_group: after-slow
  - name: plan-stalled
    waves:
      - name: Stalled
        protection_group: stalled-tier
  - name: plan-failing
    waves:
      - name: Failing
        protection_group: failing-tier
  - name: plan-back
    waves:
      - name: Back
        protection_group: back-tier
  - name: plan-report
    description: Payments <core> & ledger
    rto_target: 2h
    rpo_target: 15m
    waves:
      - name: Databases
        protection_group: report-db
      - name: Web <front>
        protection_group: report-web
"""
# One server of failing-tier per DRS job log event that ends a launch as FAILED, as a sandbox config
# (--config FILE) says it.
FAILURES_CONFIG = """
servers:
  s-c00000000000000f1: {launch: fail, event: SERVER_SKIPPED, error: "No point in time to launch from"}
  s-c00000000000000f2: {launch: fail, event: SNAPSHOT_FAIL, error: "EBS snapshot limit reached"}
  s-c00000000000000f3:
    launch: fail
    event: USING_PREVIOUS_SNAPSHOT_FAILED
    error: "Snapshot pit-0123456789abcdef0 is no longer available"
  s-c00000000000000f4: {launch: fail, event: CONVERSION_FAIL, error: "Unsupported boot mode for conversion"}
  s-c00000000000000f5:
    launch: fail
    event: UPDATE_LAUNCH_TEMPLATE_FAILED
    error: "Not authorized to perform ec2:CreateLaunchTemplateVersion"
  s-c00000000000000f6:
    launch: fail
    event: DEPLOY_NETWORK_CONFIGURATION_FAILED
    error: "CloudFormation stack drs-network-1 rolled back"
  s-c00000000000000f7:
    launch: fail
    event: UPDATE_NETWORK_CONFIGURATION_FAILED
    error: "Subnet subnet-0abc is out of addresses"
  s-c00000000000000f8: {launch: fail, event: NETWORK_RECOVERY_FAIL, error: "Target VPC vpc-0def not found"}
  s-c00000000000000f9: {launch: fail, event: LAUNCH_FAILED, error: "InsufficientInstanceCapacity"}
"""
STALLED_SERVER = "s-b00000000000000e2"
NOT_READY_TO_REVERSE = "s-1a0000000000000b2"  # its recovery instance refuses ReverseReplication a while
LAGGING_SERVER = "s-c10000000000000a2"  # CONTINUOUS, 20 minutes behind: a launch now would lose 20 minutes
BEHIND_SERVER = "s-c20000000000000b2"  # BACKLOG for 2 hours: its newest recovery snapshot is 2 hours old
SLOW_SERVER = "s-a00000000000000d1"
APPROVER = "U0APPROVER"
LEADS = "S0DRLEADS"
LEAD_MEMBERS = [f"U0LEAD{n:03d}" for n in range(60)]
FAILING_SERVER = "s-f00000000000000c2"
LAUNCH_ERROR = (
    "Failed to launch recovery instance: You are not authorized to perform: ec2:CreateLaunchTemplateVersion"
)
# Channels of the fake workspace, as the sandbox config declares them (sandbox.config.SlackSetup).
WAR_ROOM = "G0WARROOM"  # private, and the bot was never invited
ARCHIVED = "C0ARCHIVED"
_channels = itertools.count(1)


@dataclass
class Reply:
    status: int
    body: dict[str, Any]


class Sandbox:
    def __init__(self, stack: SandboxStack) -> None:
        self.stack = stack

    @property
    def secret(self) -> str:
        return self.stack.config.signing_secret

    def new_channel(self) -> str:
        return f"C{next(_channels):08d}"

    def command(
        self,
        text: str,
        *,
        channel: str,
        user: str = "U0ALICE",
        secret: str | None = None,
        age: int = 0,
        trigger_id: str | None = None,
    ) -> Reply:
        body, headers = signed_command(
            text,
            signing_secret=secret or self.secret,
            response_url=self.stack.slack.new_response_url(channel, user),
            user_id=user,
            channel_id=channel,
            timestamp=int(time.time()) - age,
            trigger_id=trigger_id,
        )
        return self.post(body, headers)

    def post(self, body: bytes, headers: dict[str, str]) -> Reply:
        request = urllib.request.Request(
            self.stack.slack_request_url, data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            raw, status = error.read(), error.code
        try:
            parsed = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            parsed = {"raw": raw.decode(errors="replace")}
        return Reply(status=status, body=parsed)

    def interact(self, payload: dict[str, Any], *, secret: str | None = None) -> Reply:
        """A button click or a modal submission, as Slack sends it: payload=<json>, signed."""
        from urllib.parse import urlencode

        body = urlencode({"payload": json.dumps(payload)})
        timestamp = str(int(time.time()))
        signature = slack_signature(secret or self.secret, timestamp, body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        return self.post(body.encode(), headers)

    def click(self, channel: str, message_ts: str, action_id: str, value: str, *, user: str) -> Reply:
        return self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower(), "team_id": "T0SANDBOX"},
                "team": {"id": "T0SANDBOX", "domain": "sandbox"},
                "api_app_id": "A0SANDBOX",
                "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
                "channel": {"id": channel, "name": "drills"},
                "message": {"ts": message_ts, "type": "message"},
                "trigger_id": f"{time.time():.0f}.{next(_channels)}.trigger",
                "response_url": self.stack.slack.new_response_url(channel, user, message_ts=message_ts),
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "decision",
                        "value": value,
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
        )

    def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str) -> Reply:
        return self.interact(
            {
                "type": "view_submission",
                "user": {"id": user, "username": user.lower(), "team_id": "T0SANDBOX"},
                "team": {"id": "T0SANDBOX", "domain": "sandbox"},
                "api_app_id": "A0SANDBOX",
                "trigger_id": f"{time.time():.0f}.{next(_channels)}.trigger",
                "view": {**view, "state": {"values": values}},
            }
        )

    def settle(self) -> None:
        """Let lazy listeners (async Lambda invocations) and queued DRS events finish."""
        if self.stack.drs_events is not None:
            self.stack.drs_events.wait_idle(timeout=15)
        self.stack.lambdas.wait_idle(timeout=15)

    def stored(self, execution_id: str) -> Execution:
        """The execution as the bot's store holds it now."""
        execution = self.stack.bot.store.get(execution_id)
        assert execution is not None, f"{execution_id} is not in the store"
        return execution

    def finished_execution(self, channel: str, timeout: float = 60) -> Execution:
        store = self.stack.bot.store
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.settle()
            execution = store.latest_in_channel(channel)
            if (
                execution
                and execution.status.is_terminal
                and not store.pending_events(execution.execution_id)
            ):
                return execution
            time.sleep(0.1)
        execution = store.latest_in_channel(channel)
        pending = store.pending_events(execution.execution_id) if execution else []
        raise AssertionError(
            f"no finished execution in {channel} after {timeout} s: {execution!r}; "
            f"pending events {[(e.event.kind, e.event.seq, e.attempts) for e in pending]}; "
            f"lambda errors {[i.error for i in self.stack.lambdas.invocations if i.error]}"
        )

    def messages(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.stack.slack.messages() if m["channel"] == channel]

    def ephemeral(self, channel: str) -> list[str]:
        return [m["text"] for m in self.messages(channel) if m.get("ephemeral")]

    def public(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.messages(channel) if not m.get("ephemeral")]


@pytest.fixture(scope="package")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    plans = Path(tmp_path_factory.mktemp("plans")) / "plans.yml"
    plans.write_text(PLANS)
    config = SandboxConfig(
        access_policy=AccessPolicy(
            drill_runners=["*", "scheduler"],  # scheduled drills (tests/e2e/test_scheduled_drills.py)
            recovery_requesters=["*"],
            approvers=[APPROVER, LEADS],
            # The bot's clock runs 600x: 120 emulated minutes are 12 real seconds.
            approval_timeout_minutes=120,
        ),
        usergroups={LEADS: LEAD_MEMBERS},
        time_scale=600,
        poll_seconds=0.2,
        servers={
            LAGGING_SERVER: ServerBehaviour(lag_seconds=1200),
            BEHIND_SERVER: ServerBehaviour(replication_state="BACKLOG", lag_seconds=7200),
            FAILING_SERVER: ServerBehaviour(launch="fail", error=LAUNCH_ERROR),
            # Its conversion takes an emulated hour longer (6 real seconds): time to act mid-wave.
            SLOW_SERVER: ServerBehaviour(slow_conversion_seconds=3600),
            STALLED_SERVER: ServerBehaviour(replication_state="STALLED"),
            **SandboxConfig.model_validate(yaml.safe_load(FAILURES_CONFIG)).servers,
            NOT_READY_TO_REVERSE: ServerBehaviour(reverse_not_ready_seconds=3600),  # 6 real seconds
        },
        slack=SlackSetup(
            channels={
                WAR_ROOM: SlackChannelSetup(name="war-room", is_member=False, is_private=True),
                ARCHIVED: SlackChannelSetup(name="old-drills", is_archived=True),
            }
        ),
    )
    with SandboxStack(plans, config) as stack:
        yield Sandbox(stack)


def apply_plans(sandbox: Sandbox, text: str, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`drs-bot plans apply` of these plans, as an operator runs it against the deployment's catalog
    table (DynamoDB only, no Slack); `env` adds to or, empty, removes from its environment."""
    plans = folder / "plans.yml"
    plans.write_text(text)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_ENDPOINT_URL_DYNAMODB": sandbox.stack.moto.url,
        "DRS_BOT_REGION": REGION,
        "DRS_BOT_CATALOG_TABLE": TABLES["CatalogTable"],
        "DRS_BOT_EXECUTIONS_TABLE": TABLES["ExecutionsTable"],
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "drs_cli.main", "plans", "apply", str(plans)],
        capture_output=True,
        text=True,
        env={name: value for name, value in environment.items() if value},
        timeout=60,
    )


def restore_catalog(sandbox: Sandbox) -> None:
    """The package's own catalog back, for the modules that follow one that applied its plans."""
    stack = sandbox.stack
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=stack.moto.url)
    DynamoCatalogStore(client, TABLES["CatalogTable"]).replace(
        stack.catalog, applied_by="sandbox", now=datetime.now(UTC)
    )
