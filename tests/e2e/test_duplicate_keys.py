"""A setting with a key written twice is refused, through the deployed bot, before it can open anything.

The reviewer's access policy: read by a parser that keeps the last of two equal keys, its second halves
would let anyone approve in any channel.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain.approval import Vote
from bot.domain.execution import ExecutionStatus
from bot.slack.ids import APPROVE_ACTION
from bot.slack.listeners import MISCONFIGURED
from tests.e2e.conftest import Sandbox
from tests.e2e.test_approvals import launches, request_recovery
from tests.e2e.test_bad_input import slack_function_with

ROOT = Path(__file__).resolve().parents[2]
OPENED_UP = '{"allowed_channels":["C0DRILLS"],"approvers":["U0CTO"],"allowed_channels":[],"approvers":["*"]}'
REFUSAL = "DRS_BOT_ACCESS_POLICY is invalid: allowed_channels: written twice; the second would silently replace the first"


def test_a_policy_with_a_key_written_twice_opens_nothing(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = sandbox.new_channel()  # not C0DRILLS
    execution, card = request_recovery(sandbox, channel, plan="plan-slow")
    store = sandbox.stack.bot.store
    try:
        with slack_function_with(monkeypatch, sandbox, DRS_BOT_ACCESS_POLICY=OPENED_UP):
            # With the second halves winning, U0MALLORY could approve here; nobody can.
            sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user="U0MALLORY")
            reply = sandbox.command("execute plan-x drill", channel=channel, user="U0MALLORY")
            assert reply.status == 200
            assert reply.body["text"] == MISCONFIGURED.format(error=REFUSAL)
        sandbox.settle()
        assert sandbox.stored(execution.execution_id).status is ExecutionStatus.PENDING_APPROVAL
        assert launches(sandbox, execution.execution_id) == []
        latest = store.latest_in_channel(channel)
        assert latest is not None and latest.execution_id == execution.execution_id  # no drill either
    finally:
        sandbox.stack.bot.use_cases.controlling.vote(
            execution.execution_id, Vote.REJECT, execution.initiated_by, reason="test over"
        )


def test_the_readmes_policy_check_refuses_a_key_written_twice() -> None:
    """README, "Who may do what": try a policy before deploying it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRS_BOT_")}
    done = subprocess.run(
        [sys.executable, "-c", "from bot.settings import Settings; print(Settings.from_env().access_policy)"],
        env=env | {"DRS_BOT_ACCESS_POLICY": OPENED_UP},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1] == f"bot.errors.ConfigurationError: {REFUSAL}"


@pytest.mark.parametrize(
    ("variable", "value", "path"),
    [
        ("DRS_BOT_LIMITS", '{"servers_per_job": 10, "servers_per_job": 100}', "servers_per_job"),
        ("DRS_BOT_ACCESS_POLICY", '{"approvers": ["U0CTO"], "approvers": ["*"]}', "approvers"),
    ],
)
def test_every_json_setting_refuses_a_key_written_twice_and_nothing_runs(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, path: str
) -> None:
    channel = sandbox.new_channel()
    before = len(sandbox.stack.drs.calls)
    with slack_function_with(monkeypatch, sandbox, **{variable: value}):
        reply = sandbox.command("execute plan-x drill", channel=channel)
    # The ack reads the policy (its allow-list) and says so itself; the limits, a lazy listener.
    told = [reply.body.get("text", ""), *sandbox.ephemeral(channel)]
    assert any(f"{variable} is invalid: {path}: written twice" in text for text in told), told
    assert [c for c in sandbox.stack.drs.calls[before:] if c.operation == "StartRecovery"] == []
    assert sandbox.stack.bot.store.latest_in_channel(channel) is None
