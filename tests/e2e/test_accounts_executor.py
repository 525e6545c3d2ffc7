"""Waves in several accounts (#18): a plans file naming accounts, applied with `drs-bot`, run with a signed
`/drs execute`, through the sandbox, to what each account's DRS received (the emulator keeps one call log
per account, with who signed each call) and what the thread says.

The package's sandbox runs at 600x: an emulated minute is 0.1 real second, a launch ~0.9 s."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest

from bot.domain.execution import Execution, ExecutionStatus, ServerStatus, WaveStatus
from sandbox.drs_emulator.config import Quotas
from sandbox.stack import EVENTS_FUNCTION
from tests.e2e.conftest import Sandbox, apply_plans, restore_catalog
from tests.e2e.test_plan_options import servers_of, sid, thread_texts

OWN = "123456789012"  # the sandbox's own account
WEST = "210000000001"  # App: us-west-2, five servers, two a job and two jobs at once (its override)
EAST = "210000000002"  # Web: us-east-1, the same region as the own account; one job at a time
LOCKED = "210000000003"  # the bot's role there is refused once the execution runs
ROLE = "drs-chatops-target"
DB = [sid("ae", n) for n in range(1, 3)]
APP = [sid("af", n) for n in range(1, 6)]
WEB = [sid("ag", n) for n in range(1, 3)]
OTHERS = sid("ag", 9)  # someone else's job in EAST fills its quota
LOCKED_SERVERS = [sid("ah", n) for n in range(1, 3)]
AFTER = [sid("ai", 1)]
AFTER_STOP = [sid("ai", 2)]
LOCKED_DB = [sid("aj", 1)]
LOCKED_DB_STOP = [sid("aj", 2)]
RETRIES = 3  # tries of an unassumable role before its wave's servers fail (10 by default)
LIMITS = {
    "accounts": {WEST: {"servers_per_job": 2, "concurrent_jobs": 2}, EAST: {"concurrent_jobs": 1}},
    "unreachable_retries": RETRIES,
}

PLANS = f"""
protection_groups:
  - {{name: acct-db, region: us-east-1, source_servers: [{", ".join(DB)}]}}
  - {{name: acct-app, region: us-west-2, account: "{WEST}", source_servers: [{", ".join(APP)}]}}
  - {{name: acct-web, region: us-east-1, account: "{EAST}", source_servers: [{", ".join(WEB)}]}}
  - {{name: acct-locked-db, region: us-east-1, source_servers: [{", ".join(LOCKED_DB)}]}}
  - {{name: acct-locked-db2, region: us-east-1, source_servers: [{", ".join(LOCKED_DB_STOP)}]}}
  - {{name: acct-locked, region: us-east-1, account: "{LOCKED}", source_servers: [{", ".join(LOCKED_SERVERS)}]}}
  - {{name: acct-after, region: us-west-2, account: "{WEST}", source_servers: [{", ".join(AFTER)}]}}
  - {{name: acct-after-stop, region: us-west-2, account: "{WEST}", source_servers: [{", ".join(AFTER_STOP)}]}}
plans:
  - name: plan-accounts
    waves:
      - {{name: Databases, protection_group: acct-db}}
      - {{name: App, protection_group: acct-app}}
      - {{name: Web, protection_group: acct-web}}
  - name: plan-locked
    waves:
      - {{name: Databases, protection_group: acct-locked-db}}
      - {{name: Locked, protection_group: acct-locked, on_failure: continue}}
      - {{name: After, protection_group: acct-after}}
  - name: plan-locked-stop
    waves:
      - {{name: Databases, protection_group: acct-locked-db2}}
      - {{name: Locked, protection_group: acct-locked, on_failure: stop}}
      - {{name: After, protection_group: acct-after-stop}}
"""


@pytest.fixture(scope="module")
def box(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """The package's sandbox with three more accounts, these plans, and the per-account quotas in
    DRS_BOT_LIMITS (the functions start again with them; the package's own settings come back after)."""
    stack = sandbox.stack
    stack.drs.add_source_servers("us-east-1", ids=[*DB, *LOCKED_DB, *LOCKED_DB_STOP])
    stack.add_account(WEST, regions=["us-west-2"], servers={"us-west-2": [*APP, *AFTER, *AFTER_STOP]})
    stack.add_account(
        EAST, servers={"us-east-1": [*WEB, OTHERS]}, quotas=Quotas(concurrent_jobs=1)
    )  # DRS would refuse a second job there: the bot must never try
    stack.add_account(LOCKED, servers={"us-east-1": LOCKED_SERVERS})
    env = {**stack.account_env(), "DRS_BOT_LIMITS": json.dumps(LIMITS)}
    for name, value in env.items():
        monkeypatch_module.setenv(name, value)
    stack._fresh_functions()
    applied = apply_plans(sandbox, PLANS, tmp_path_factory.mktemp("accounts"), **stack.account_env())
    assert applied.returncode == 0, applied.stderr
    yield sandbox
    sandbox.settle()
    monkeypatch_module.undo()
    stack._fresh_functions()
    restore_catalog(sandbox)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def starts_in(box: Sandbox, account: str, execution_id: str) -> list[Any]:
    """The StartRecovery calls one account's DRS took for one execution, in order."""
    return [
        call
        for call in box.stack.drs.account(account).calls
        if call.operation == "StartRecovery"
        and call.status == 202
        and (call.params.get("tags") or {}).get("drs-chatops:execution") == execution_id
    ]


def launched_once(box: Sandbox, execution_id: str) -> Counter[str]:
    return Counter(
        sid
        for account in (OWN, WEST, EAST, LOCKED)
        for call in starts_in(box, account, execution_id)
        for sid in servers_of(call)
    )


def start_others_job(box: Sandbox) -> None:
    """Someone else's drill in EAST, signed with a role of that account (a colleague at the console): it
    takes EAST's one job at a time in us-east-1 until `end_others_job` (a conversion 10 hours long)."""
    box.stack.drs.account(EAST).slow_conversion(OTHERS, 36000)
    sts = boto3.client("sts", region_name="us-east-1")  # AWS_ENDPOINT_URL_STS: the emulator
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{EAST}:role/{ROLE}",
        RoleSessionName="colleague",
        ExternalId=box.stack.config.target_external_id or "",
    )["Credentials"]
    drs = boto3.client(
        "drs",
        region_name="us-east-1",
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    drs.start_recovery(sourceServers=[{"sourceServerID": OTHERS}], isDrill=True)


def end_others_job(box: Sandbox) -> datetime:
    """Its conversion ends now (its steps past due happen at once): returns when, in DRS's time."""
    east = box.stack.drs.account(EAST)
    ended = east.now()
    east.slow_conversion(OTHERS, 0)
    return ended


def wait_for(
    box: Sandbox, channel: str, ready: Callable[[Execution], bool], timeout: float = 60
) -> Execution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = box.stack.bot.store.latest_in_channel(channel)
        if execution is not None and ready(execution):
            return execution
        time.sleep(0.05)
    raise AssertionError(f"not reached in {timeout} s: {box.stack.bot.store.latest_in_channel(channel)!r}")


def test_waves_run_in_order_each_in_its_account_and_region_with_its_quotas(box: Sandbox) -> None:
    east = box.stack.drs.account(EAST)
    start_others_job(box)
    channel = box.new_channel()
    try:
        assert box.command("execute plan-accounts drill", channel=channel).status == 200
        # Web is due (Databases and App are done), but EAST's one job at a time is taken: Web waits,
        # a few polls on, without asking DRS there for a job it would refuse.
        waiting = wait_for(box, channel, lambda e: e.waves[1].status is WaveStatus.COMPLETED)
        time.sleep(1)  # an emulated 10 minutes: several polls
        assert starts_in(box, EAST, waiting.execution_id) == []
        assert box.stored(waiting.execution_id).waves[2].status is WaveStatus.IN_PROGRESS
    finally:
        others_end = end_others_job(box)
    execution = box.finished_execution(channel, timeout=90)

    assert execution.status is ExecutionStatus.COMPLETED
    run_id = execution.execution_id
    (db_start,) = starts_in(box, OWN, run_id)
    app_starts = starts_in(box, WEST, run_id)
    (web_start,) = starts_in(box, EAST, run_id)
    # Each wave's StartRecovery in its own account and region, signed there with the bot's assumed role.
    assert servers_of(db_start) == set(DB) and db_start.region == "us-east-1"
    assert {call.region for call in app_starts} == {"us-west-2"}
    assert {call.caller for call in app_starts} == {f"arn:aws:sts::{WEST}:assumed-role/{ROLE}/drs-chatops"}
    assert web_start.caller == f"arn:aws:sts::{EAST}:assumed-role/{ROLE}/drs-chatops"
    assert servers_of(web_start) == set(WEB) and web_start.region == "us-east-1"
    # WEST's override: jobs of two servers (the default is 100), two at once: the third job started only
    # once one of the first two had ended.
    assert [len(servers_of(call)) for call in app_starts] == [2, 2, 1]
    launched = box.stack.drs.account(WEST).server_launch_times()
    first_ended = min(launched[s] for call in app_starts[:2] for s in servers_of(call))
    assert app_starts[1].time < first_ended <= app_starts[2].time
    # In order; the own account's us-east-1 wave started while EAST's us-east-1 quota was full, and
    # Web only once the other job had ended; DRS in EAST never refused one of ours.
    assert db_start.time < min(call.time for call in app_starts) < web_start.time
    assert db_start.time < others_end <= web_start.time
    assert [c for c in east.calls if c.operation == "StartRecovery" and c.error] == []
    assert launched_once(box, run_id) == Counter([*DB, *APP, *WEB])
    # WEST's launch results reached the events function (forwarded, as cfn/target-account.yaml does) and
    # were looked up in WEST: a batch of them alone ticked this execution early.
    assert any(
        run_id in invocation.result["ticked"] and invocation.result["unresolved"] == {}
        for invocation in events_invocations(box, only_from=WEST)
    )


def events_invocations(box: Sandbox, *, only_from: str) -> list[Any]:
    """The events function's invocations whose every event came from one account."""
    found = []
    for invocation in box.stack.lambdas.invocations:
        if invocation.function_name != EVENTS_FUNCTION or invocation.status != "succeeded":
            continue
        events = [json.loads(record["body"]) for record in invocation.payload["Records"]]
        if events and all(event.get("account") == only_from for event in events):
            found.append(invocation)
    return found


def run_then_refuse(box: Sandbox, plan: str) -> Execution:
    """/drs execute while the bot's role in LOCKED can be assumed (the request's readiness check reads
    its servers), refused by STS from then on: the executor meets the refusal when the wave starts."""
    locked = box.stack.drs.account(LOCKED)
    locked.clear_faults()
    channel = box.new_channel()
    try:
        reply = box.command(f"execute {plan} drill", channel=channel)
        assert reply.status == 200, reply.body
        deadline = time.monotonic() + 30
        while box.stack.bot.store.latest_in_channel(channel) is None:  # the request's lazy listener
            assert time.monotonic() < deadline, box.ephemeral(channel)
            time.sleep(0.05)
        locked.refuse_assume_role(ROLE)
        return box.finished_execution(channel, timeout=90)
    finally:
        locked.clear_faults()


def test_an_unassumable_role_fails_its_wave_with_the_reason_and_the_next_wave_continues(box: Sandbox) -> None:
    execution = run_then_refuse(box, "plan-locked")

    db, locked, after = execution.waves
    assert (db.status, locked.status, after.status) == (
        WaveStatus.COMPLETED,
        WaveStatus.FAILED,
        WaveStatus.COMPLETED,
    )
    assert execution.status is ExecutionStatus.PARTIAL
    role = f"arn:aws:iam::{LOCKED}:role/{ROLE}"
    for server in locked.servers():
        assert server.status is ServerStatus.FAILED and server.error is not None
        assert server.error.startswith(
            f"not launched: AccessDenied: cannot assume {role} in account {LOCKED}: "
        )
        assert f"still after {RETRIES} tries" in server.error
    # Nothing reached DRS in LOCKED; the thread names the account, the role and STS's answer.
    assert starts_in(box, LOCKED, execution.execution_id) == []
    thread = "\n".join(thread_texts(box, execution))
    assert f"cannot assume {role} in account {LOCKED}" in thread
    assert "not authorized to perform: sts:AssumeRole" in thread
    assert launched_once(box, execution.execution_id) == Counter([*LOCKED_DB, *AFTER])


def test_an_unassumable_role_with_on_failure_stop_keeps_the_next_waves_from_drs(box: Sandbox) -> None:
    execution = run_then_refuse(box, "plan-locked-stop")

    assert [wave.status for wave in execution.waves] == [
        WaveStatus.COMPLETED,
        WaveStatus.FAILED,
        WaveStatus.SKIPPED,
    ]
    assert execution.status is ExecutionStatus.FAILED
    assert starts_in(box, WEST, execution.execution_id) == []  # After never reached DRS
    assert launched_once(box, execution.execution_id) == Counter(LOCKED_DB_STOP)
