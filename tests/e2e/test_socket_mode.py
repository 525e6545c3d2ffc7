"""`drs-bot serve --socket-mode` end to end, minus the WebSocket itself.

The bot is built exactly as the command builds it (SocketModeBot.build), checked against DynamoDB on
moto and the fake Slack, and fed the envelopes Slack would send over the socket through Bolt's own
Socket Mode dispatch (`run_bolt_app`). Lazy listeners run in Bolt's thread pool, not as Lambda
re-invocations, and nothing but the command's executor loop ticks the executions.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.adapters.dynamodb import DynamoCatalogStore
from bot.domain.execution import Execution, ExecutionStatus, ServerStatus
from bot.domain.plans import parse_catalog
from bot.slack.ids import APPROVE_ACTION, REASON_BLOCK, REASON_INPUT, REJECT_ACTION
from drs_cli.main import ServeError, SocketModeBot
from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ScaledClock
from sandbox.moto_server import MotoServer
from sandbox.slack_fake import FakeSlack
from sandbox.tables import create_tables

PLANS = """
protection_groups:
  - name: db-tier
    region: us-east-1
    source_servers: [s-50c000000000000a1, s-50c000000000000a2]
  - name: web-tier
    region: us-east-1
    source_servers: [s-50c000000000000b1]
plans:
  - name: plan-x
    waves:
      - name: Databases
        protection_group: db-tier
      - name: Web
        protection_group: web-tier
"""
TIME_SCALE = 600  # a nine-minute DRS launch takes about a second
BOT_TOKEN = "xoxb-socket-mode-test"
APPROVER = "U0APPROVER"
REQUESTER = "U0REQUESTER"
TABLES = {"CatalogTable": "socket-catalog", "ExecutionsTable": "socket-executions"}
_channels = itertools.count(1)  # the tables live as long as the module: every test has its own channel


class World:
    def __init__(self, slack: FakeSlack, drs: DrsEmulator, bot: SocketModeBot) -> None:
        self.slack = slack
        self.drs = drs
        self.bot = bot

    def new_channel(self) -> str:
        return f"C0SOCK{next(_channels):04d}"

    def send(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One envelope as it arrives over the socket; returns the ack's payload."""
        response = run_bolt_app(self.bot.app, SocketModeRequest(type=kind, envelope_id="e", payload=payload))
        assert response.status == 200, response.body
        return json.loads(response.body) if response.body else {}

    def command(self, text: str, *, channel: str, user: str) -> dict[str, Any]:
        return self.send(
            "slash_commands",
            {
                "team_id": "T0SANDBOX",
                "channel_id": channel,
                "user_id": user,
                "user_name": user.lower(),
                "command": "/drs",
                "text": text,
                "api_app_id": "A0SANDBOX",
                "response_url": self.slack.new_response_url(channel, user),
                "trigger_id": f"{time.time()}.{channel}.{user}",
            },
        )

    def click(self, channel: str, ts: str, action_id: str, value: str, *, user: str) -> dict[str, Any]:
        return self.send(
            "interactive",
            {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower(), "team_id": "T0SANDBOX"},
                "team": {"id": "T0SANDBOX", "domain": "sandbox"},
                "api_app_id": "A0SANDBOX",
                "container": {"type": "message", "message_ts": ts, "channel_id": channel},
                "channel": {"id": channel, "name": "drills"},
                "message": {"ts": ts, "type": "message"},
                "trigger_id": f"{time.time()}.trigger",
                "response_url": self.slack.new_response_url(channel, user, message_ts=ts),
                "actions": [
                    {"type": "button", "action_id": action_id, "block_id": "decision", "value": value}
                ],
            },
        )

    def submit(self, view: dict[str, Any], reason: str, *, user: str) -> dict[str, Any]:
        values = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": reason}}}
        return self.send(
            "interactive",
            {
                "type": "view_submission",
                "user": {"id": user, "username": user.lower(), "team_id": "T0SANDBOX"},
                "team": {"id": "T0SANDBOX", "domain": "sandbox"},
                "api_app_id": "A0SANDBOX",
                "view": {**view, "state": {"values": values}},
            },
        )

    def wait_for(self, channel: str, done: Any, timeout: float = 60) -> Execution:
        store = self.bot.container.store
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = store.latest_in_channel(channel)
            if execution is not None and done(execution) and not store.pending_events(execution.execution_id):
                return execution
            time.sleep(0.1)
        latest = store.latest_in_channel(channel)
        pending = store.pending_events(latest.execution_id) if latest else []
        failed = [call for call in self.slack.calls if call.get("outcome") != "ok"]
        raise AssertionError(
            f"timed out in {channel}: {latest.status if latest else None}, pending "
            f"{[(p.event.kind, p.attempts) for p in pending]}, Slack calls that failed: {failed[-5:]}"
        )

    def public(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.slack.messages(channel) if not m.get("ephemeral")]

    def ephemeral(self, channel: str) -> list[str]:
        return [m["text"] for m in self.slack.messages(channel) if m.get("ephemeral")]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[MotoServer, FakeSlack, DrsEmulator, EmulatorServer, datetime]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    origin = datetime.now(UTC)
    drs = DrsEmulator(regions=("us-east-1",), clock=ScaledClock(TIME_SCALE, start=origin), seed=3)
    catalog = parse_catalog(PLANS, "plans.yml")
    for group in catalog.protection_groups:
        drs.add_source_servers(group.region, ids=list(group.source_servers))
    with (
        MotoServer() as moto,
        FakeSlack(bot_token=BOT_TOKEN) as slack,
        EmulatorServer(drs, tick_interval=0.2) as drs_server,
    ):
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        create_tables(dynamodb, TABLES)
        DynamoCatalogStore(dynamodb, TABLES["CatalogTable"]).replace(catalog, applied_by="test", now=origin)
        yield moto, slack, drs, drs_server, origin


@pytest.fixture
def environment(
    servers: tuple[MotoServer, FakeSlack, DrsEmulator, EmulatorServer, datetime],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    moto, slack, _, drs_server, origin = servers
    values = {
        "SLACK_APP_TOKEN": "xapp-1-A0SANDBOX-socket",
        "DRS_BOT_SLACK_BOT_TOKEN": BOT_TOKEN,
        "DRS_BOT_SLACK_API_URL": slack.api_url,
        "DRS_BOT_REGION": "us-east-1",
        "DRS_BOT_CATALOG_TABLE": TABLES["CatalogTable"],
        "DRS_BOT_EXECUTIONS_TABLE": TABLES["ExecutionsTable"],
        "DRS_BOT_POLL_SECONDS": "0.2",
        "DRS_BOT_CLOCK_SCALE": str(TIME_SCALE),
        "DRS_BOT_CLOCK_ORIGIN": origin.isoformat(),
        "DRS_BOT_ACCESS_POLICY": json.dumps({"recovery_requesters": ["*"], "approvers": [APPROVER]}),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_DYNAMODB": moto.url,
        "AWS_ENDPOINT_URL_DRS": drs_server.url,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DRS_BOT_SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.delenv("DRS_BOT_SLACK_SECRET_ID", raising=False)
    monkeypatch.delenv("DRS_BOT_STATE_MACHINE_ARN", raising=False)
    yield


@pytest.fixture
def world(
    environment: None, servers: tuple[MotoServer, FakeSlack, DrsEmulator, EmulatorServer, datetime]
) -> Iterator[World]:
    _, slack, drs, _, _ = servers
    bot = SocketModeBot.build()
    assert bot.check().startswith("@")
    bot.warm_up()
    assert bot.loop is not None
    bot.loop.start()
    try:
        yield World(slack, drs, bot)
    finally:
        bot.loop.stop()
        bot.handler.close()


def test_a_drill_over_socket_mode_runs_to_the_end_ticked_by_the_command_s_loop(world: World) -> None:
    channel = world.new_channel()
    ack = world.command("execute plan-x drill", channel=channel, user="U0ALICE")
    assert ack["response_type"] == "ephemeral" and "drill" in ack["text"] and "`plan-x`" in ack["text"]

    execution = world.wait_for(channel, lambda e: e.status.is_terminal)
    assert execution.status is ExecutionStatus.COMPLETED
    assert all(server.status is ServerStatus.LAUNCHED for server in execution.servers())
    anchors = [m for m in world.public(channel) if not m["thread_ts"]]
    assert len(anchors) == 1, world.public(channel)  # what else reached the channel, if anything did
    (anchor,) = anchors
    thread = [m["text"] for m in world.slack.thread(channel, anchor["ts"]) if m["ts"] != anchor["ts"]]
    assert any("Wave 2/2 Web COMPLETED: 1/1 launched" in text for text in thread), thread
    assert "Drill of plan-x COMPLETED: 3/3 servers launched" in thread[-2]
    assert thread[-1].startswith(":bar_chart: Timeline of drill")  # the picture, with the verdict line


def test_status_and_history_answer_through_the_response_url(world: World) -> None:
    channel = world.new_channel()
    world.command("execute plan-x drill", channel=channel, user="U0ALICE")
    execution = world.wait_for(channel, lambda e: e.status.is_terminal)
    world.command("status", channel=channel, user="U0ALICE")
    world.command("history", channel=channel, user="U0ALICE")
    deadline = time.monotonic() + 15
    while len(world.ephemeral(channel)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    status, history = world.ephemeral(channel)[-2:]
    assert execution.execution_id in status and "COMPLETED" in status
    assert execution.execution_id in history


def test_a_recovery_is_approved_with_the_card_s_button(world: World) -> None:
    channel = world.new_channel()
    ack = world.command("execute plan-x recovery", channel=channel, user=REQUESTER)
    assert "approval" in ack["text"] and "`plan-x`" in ack["text"]
    pending = world.wait_for(channel, lambda e: e.status is ExecutionStatus.PENDING_APPROVAL)
    (card,) = [m for m in world.public(channel) if not m["thread_ts"]]

    world.click(channel, card["ts"], APPROVE_ACTION, pending.execution_id, user=REQUESTER)  # refused
    world.click(channel, card["ts"], APPROVE_ACTION, pending.execution_id, user=APPROVER)
    execution = world.wait_for(channel, lambda e: e.status.is_terminal)
    assert execution.status is ExecutionStatus.COMPLETED
    assert [approval.user_id for approval in execution.approvals] == [APPROVER]
    launches = [c for c in world.drs.calls if c.operation == "StartRecovery"]
    assert any(
        c.params["isDrill"] is False and c.params["tags"]["drs-chatops:execution"] == execution.execution_id
        for c in launches
    )


def test_a_reject_opens_the_reason_form_and_the_submission_rejects(world: World) -> None:
    channel = world.new_channel()
    world.command("execute plan-x recovery", channel=channel, user=REQUESTER)
    pending = world.wait_for(channel, lambda e: e.status is ExecutionStatus.PENDING_APPROVAL)
    (card,) = [m for m in world.public(channel) if not m["thread_ts"]]
    views_before = len(world.slack.views())

    world.click(channel, card["ts"], REJECT_ACTION, pending.execution_id, user=APPROVER)
    views = world.slack.views()
    assert len(views) == views_before + 1  # opened within the click's acknowledgement
    world.submit(views[-1], "wrong plan", user=APPROVER)

    execution = world.wait_for(channel, lambda e: e.status.is_terminal)
    assert execution.status is ExecutionStatus.REJECTED
    assert execution.rejection is not None and execution.rejection.reason == "wrong plan"


def test_check_names_the_table_that_is_missing(environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRS_BOT_EXECUTIONS_TABLE", "no-such-table")
    bot = SocketModeBot.build()
    try:
        with pytest.raises(
            ServeError, match="there is no table no-such-table in us-east-1: set DRS_BOT_EXECUTIONS_TABLE"
        ):
            bot.check()
    finally:
        bot.handler.close()


def test_check_says_when_slack_refuses_the_bot_token(
    environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRS_BOT_SLACK_BOT_TOKEN", "xoxb-revoked")
    bot = SocketModeBot.build()
    try:
        with pytest.raises(ServeError, match=r"Slack refused the bot token \(invalid_auth\)"):
            bot.check()
    finally:
        bot.handler.close()
