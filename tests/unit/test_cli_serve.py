"""`drs-bot serve --socket-mode`: what it refuses to start without, and that it builds offline.

Nothing here connects to Slack or AWS: every socket connection is refused by the `no_network` fixture,
so a build that tried would fail loudly.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.domain.commands import USAGE
from bot.slack.mrkdwn import escape
from drs_cli.main import UNUSED_SIGNING_SECRET, ExecutorLoop, SocketModeBot, main

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "SLACK_APP_TOKEN": "xapp-1-A0TEST-1234-abcdef",
    "DRS_BOT_SLACK_BOT_TOKEN": "xoxb-1234-5678-abcdef",
    "DRS_BOT_CATALOG_TABLE": "drs-chatops-CatalogTable-ABC",
    "DRS_BOT_EXECUTIONS_TABLE": "drs-chatops-ExecutionsTable-DEF",
    "DRS_BOT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret-example",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A clean environment: no DRS_BOT_*, Slack or AWS settings from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("DRS_BOT_", "SLACK_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    yield monkeypatch


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError(f"test: no network ({address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def serve(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["serve", *args])
    return code, capsys.readouterr().err


def test_serve_needs_socket_mode(env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = serve(capsys)
    assert code == 2
    assert err.count("\n") == 1 and "--socket-mode" in err


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"SLACK_APP_TOKEN": None}, "set SLACK_APP_TOKEN"),
        ({"SLACK_APP_TOKEN": "xoxb-not-an-app-token"}, "SLACK_APP_TOKEN must be an app-level token (xapp-"),
        ({"DRS_BOT_SLACK_BOT_TOKEN": None}, "set DRS_BOT_SLACK_BOT_TOKEN"),
        ({"DRS_BOT_SLACK_BOT_TOKEN": "xapp-1-wrong"}, "DRS_BOT_SLACK_BOT_TOKEN must be a bot token (xoxb-"),
        ({"DRS_BOT_CATALOG_TABLE": None}, "set DRS_BOT_CATALOG_TABLE to your stack's tables"),
        (
            {"DRS_BOT_CATALOG_TABLE": None, "DRS_BOT_EXECUTIONS_TABLE": None},
            "set DRS_BOT_CATALOG_TABLE and DRS_BOT_EXECUTIONS_TABLE",
        ),
        ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "no AWS credentials: set AWS_PROFILE"),
        ({"DRS_BOT_ACCESS_POLICY": "{approvers: [U1]}"}, "DRS_BOT_ACCESS_POLICY is not valid JSON"),
        (
            {"DRS_BOT_ACCESS_POLICY": json.dumps({"approvers": ["alice"]})},
            "DRS_BOT_ACCESS_POLICY is invalid: approvers.0:",
        ),
        ({"DRS_BOT_ACCESS_POLICY": json.dumps({"aprovers": ["U1"]})}, "DRS_BOT_ACCESS_POLICY is invalid"),
        ({"DRS_BOT_POLL_SECONDS": "0"}, "DRS_BOT_POLL_SECONDS is invalid"),
    ],
)
def test_missing_or_wrong_settings_get_one_line_saying_what_to_set(
    env: pytest.MonkeyPatch,
    no_network: list[Any],
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str | None],
    says: str,
) -> None:
    for name, value in change.items():
        if value is None:
            env.delenv(name)
        else:
            env.setenv(name, value)
    code, err = serve(capsys, "--socket-mode")
    assert code == 2
    assert err.startswith("drs-bot serve: ") and err.count("\n") == 1, err
    assert says in err
    assert "abcdef" not in err  # no token is echoed back
    assert no_network == []


def test_the_signing_secret_is_not_needed_in_socket_mode(
    env: pytest.MonkeyPatch, no_network: list[Any]
) -> None:
    bot = SocketModeBot.build()
    try:
        assert bot.settings.slack_signing_secret is not None
        assert bot.settings.slack_signing_secret.get_secret_value() == UNUSED_SIGNING_SECRET
    finally:
        bot.handler.close()


def test_a_given_signing_secret_is_kept(env: pytest.MonkeyPatch, no_network: list[Any]) -> None:
    env.setenv("DRS_BOT_SLACK_SIGNING_SECRET", "the-real-one")
    bot = SocketModeBot.build()
    try:
        assert bot.settings.slack_signing_secret is not None
        assert bot.settings.slack_signing_secret.get_secret_value() == "the-real-one"
    finally:
        bot.handler.close()


def test_socket_mode_builds_the_lambda_app_without_a_network_call(
    env: pytest.MonkeyPatch, no_network: list[Any]
) -> None:
    bot = SocketModeBot.build()
    try:
        assert isinstance(bot.app, App)
        assert isinstance(bot.handler, SocketModeHandler)
        assert bot.handler.app is bot.app
        assert bot.handler.app_token == GOOD["SLACK_APP_TOKEN"]
        assert bot.loop is not None and bot.loop.interval == bot.settings.poll_seconds
        assert no_network == []
    finally:
        bot.handler.close()


def test_without_the_executor_loop(env: pytest.MonkeyPatch, no_network: list[Any]) -> None:
    bot = SocketModeBot.build(run_executor=False)
    try:
        assert bot.loop is None
    finally:
        bot.handler.close()


def socket_mode_command(text: str) -> SocketModeRequest:
    return SocketModeRequest(
        type="slash_commands",
        envelope_id="e-1",
        payload={
            "token": "unused",
            "team_id": "T0TEST",
            "team_domain": "test",
            "channel_id": "C0DRILLS",
            "channel_name": "drills",
            "user_id": "U0ALICE",
            "user_name": "alice",
            "command": "/drs",
            "text": text,
            "api_app_id": "A0TEST",
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.invalid/commands/1",
            "trigger_id": "1.2.3",
        },
    )


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("help", escape(USAGE)),  # its `<plan>` placeholders as Slack must receive them to show them
        ("exectue plan-x drill", "Did you mean `execute`?"),
        ("execute plan-x drll", "Did you mean `drill`?"),
    ],
)
def test_socket_mode_requests_are_answered_by_the_ack_unsigned(
    env: pytest.MonkeyPatch, no_network: list[Any], text: str, answer: str
) -> None:
    """Slack signs no Socket Mode request; Bolt skips the check for them, and our ack answers offline."""
    bot = SocketModeBot.build()
    try:
        response = run_bolt_app(bot.app, socket_mode_command(text))
        assert response.status == 200
        body = json.loads(response.body)
        assert body["response_type"] == "ephemeral"
        assert answer in body["text"]
        assert no_network == []
    finally:
        bot.handler.close()


class FakeExecutions:
    def __init__(self, active: list[str], failing: set[str]) -> None:
        self._active = active
        self._failing = failing
        self.ticked: list[str] = []

    def active(self) -> list[str]:
        if self._failing == {"*"}:
            raise RuntimeError("DynamoDB unreachable")
        return list(self._active)

    def tick(self, execution_id: str) -> None:
        self.ticked.append(execution_id)
        if execution_id in self._failing:
            raise RuntimeError("DRS unavailable")


def test_the_loop_ticks_every_active_execution_and_survives_a_failing_one() -> None:
    executions = FakeExecutions(["a", "b", "c"], failing={"b"})
    loop = ExecutorLoop(lambda: executions, interval=0.01)
    assert loop.tick_all() == 3
    assert executions.ticked == ["a", "b", "c"]


def test_the_loop_survives_the_store_being_unreachable() -> None:
    executions = FakeExecutions(["a"], failing={"*"})
    loop = ExecutorLoop(lambda: executions, interval=0.01)
    assert loop.tick_all() == 0


def test_the_loop_runs_in_the_background_until_stopped() -> None:
    executions = FakeExecutions(["a"], failing=set())
    loop = ExecutorLoop(lambda: executions, interval=0.01)
    loop.start()
    try:
        deadline = 200
        while len(executions.ticked) < 3 and deadline:
            deadline -= 1
            time.sleep(0.01)
    finally:
        loop.stop(timeout=5)
    assert len(executions.ticked) >= 3
    count = len(executions.ticked)
    time.sleep(0.05)
    assert len(executions.ticked) == count  # stopped


def test_the_installed_command_answers_in_a_subprocess(tmp_path: Path) -> None:
    """The console script as an operator runs it: exit status 2 and one line on stderr."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("DRS_BOT_", "SLACK_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "drs_cli.main", "serve", "--socket-mode"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "drs-bot serve: set SLACK_APP_TOKEN to the app's app-level token (xapp-..., scope connections:write: "
        "Basic Information -> App-Level Tokens)"
    ]


def test_help_lists_serve(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--socket-mode" in out and "--run-executor" in out and "--no-run-executor" in out
