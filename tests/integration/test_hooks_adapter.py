"""The hooks adapter (bot/adapters/hooks.py) against the fake Lambda and the emulator's SSM Automation:
answers, errors turned into the bot's own, one attempt per Lambda invocation, the ARN's region."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.accounts import AccountSessions
from bot.adapters.hooks import AwsHooks, lambda_client, ssm_client
from bot.domain.accounts import AccountRegion, home
from bot.domain.execution import HookStatus
from bot.errors import HookRefused
from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock
from sandbox.drs_emulator.ssm_automation import Runbook, set_runbook
from sandbox.lambda_fake import FakeLambda

TOKEN = "6f1c1a52-4a0e-4a53-9d0e-5b8c2b7f0c11"


@pytest.fixture(scope="module")
def lambdas() -> Iterator[FakeLambda]:
    with FakeLambda() as fake:
        fake.register("drs-hook-ok", lambda payload, context: {"seen": payload["wave"]})
        fake.register("drs-hook-fail", _fail)
        fake.register("drs-hook-slow", lambda payload, context: time.sleep(2), timeout_seconds=3)
        yield fake


def _fail(payload: Any, context: Any) -> None:
    raise ValueError("zone <locked>")


@pytest.fixture(scope="module")
def ssm_url() -> Iterator[tuple[DrsEmulator, str]]:
    emulator = DrsEmulator(clock=ManualClock(datetime(2026, 11, 30, tzinfo=UTC)))
    set_runbook(emulator, "DrsHook-Ok", Runbook(seconds=0, outputs={"a.b": ["c"]}))
    with EmulatorServer(emulator) as server:
        yield emulator, server.url


@pytest.fixture
def adapter(
    lambdas: FakeLambda, ssm_url: tuple[DrsEmulator, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[AwsHooks, list[str]]:
    """The adapter with its own clients (retries, timeouts), pointed here as the sandbox points them."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", lambdas.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", ssm_url[1])
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    regions: list[str] = []
    sessions = AccountSessions("us-east-1", role_name="drs-chatops-target", external_id=None)
    lambdas_in = lambda_client(sessions)

    def recording(where: AccountRegion, timeout: int) -> Any:
        regions.append(where.region)
        return lambdas_in(where, timeout)

    return AwsHooks(ssm_client(sessions), recording), regions


def test_a_lambda_answers_fails_or_times_out_once_each(adapter: Any, lambdas: FakeLambda) -> None:
    hooks, regions = adapter
    lambdas.reset()
    ok = hooks.invoke(home("us-east-1"), "drs-hook-ok", {"wave": "Databases"}, 5)
    assert (ok.status, ok.output) == (HookStatus.SUCCEEDED, '{"seen": "Databases"}') and ok.run_id
    failed = hooks.invoke(home("us-east-1"), "drs-hook-fail", {"wave": "Databases"}, 5)
    assert failed.status is HookStatus.FAILED and failed.error == "ValueError: zone <locked>"
    slow = hooks.invoke(home("us-east-1"), "drs-hook-slow", {}, 1)
    assert slow.status is HookStatus.TIMED_OUT
    assert slow.error == "no answer within 1s (the function may still be running)"
    missing = hooks.invoke(home("us-east-1"), "drs-hook-none", {}, 5)
    assert missing.status is HookStatus.FAILED and (missing.error or "").startswith(
        "ResourceNotFoundException"
    )
    # One invocation each: a timed-out RequestResponse is never sent again.
    assert [i.function_name for i in lambdas.invocations] == ["drs-hook-ok", "drs-hook-fail", "drs-hook-slow"]
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:drs-hook-ok"
    assert hooks.invoke(home("us-east-1"), arn, {"wave": "W"}, 5).status is HookStatus.SUCCEEDED
    assert regions[-1] == "eu-west-1"  # the ARN's region, not the wave's


def test_automations_start_once_per_token_and_report_their_end(adapter: Any) -> None:
    hooks, _ = adapter
    started = hooks.start_automation(home("us-east-1"), "DrsHook-Ok", {}, TOKEN)
    assert hooks.start_automation(home("us-east-1"), "DrsHook-Ok", {}, TOKEN) == started
    result = hooks.automations(home("us-east-1"), [started])[started]
    assert (result.status, result.output) == (HookStatus.SUCCEEDED, '{"a.b": ["c"]}')
    with pytest.raises(HookRefused) as refused:
        hooks.start_automation(home("us-east-1"), "DrsHook-Missing", {}, TOKEN.replace("6f", "7f"))
    assert refused.value.code == "AutomationDefinitionNotFoundException"
    assert hooks.automations(home("us-east-1"), ["0" * 36]) == {}  # not answered: asked again next tick
