"""Protection groups in other accounts (#18), everything around the launch: `plans validate` refuses an
account the bot has no role for, `/drs check` reports per account (BLOCKED naming the account and AWS's
error when the role cannot be assumed; the staging account of an extended server), a drill across two
accounts is cleaned up in each account, and the thread and history say where each wave ran.

The package's sandbox runs at 600x; this module serves three more accounts in the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.domain.execution import Execution, ExecutionStatus, FailbackPhase
from bot.domain.history import to_history
from bot.domain.history_export import csv_rows
from bot.slack.ids import APPROVE_ACTION
from sandbox.drs_emulator import DrsEmulator
from sandbox.stack import WATCH_FUNCTION
from tests.e2e.conftest import APPROVER, Sandbox, apply_plans, restore_catalog
from tests.e2e.test_reports import stored_page, stored_report, valid

TARGET = "222233334444"  # the bot's role is there
LOCKED = "555566667777"  # listed in TargetAccounts, but the role stack was never deployed there
STAGING = "888899990000"  # a staging account: its servers are extended into TARGET
HOME_SERVER = "s-a0c000000000000a1"
PAY_SERVERS = ["s-a0c000000000000b1", "s-a0c000000000000b2"]
STAGED = "s-a0c000000000000c1"  # in STAGING; extended into TARGET
LOCKED_SERVER = "s-a0c000000000000d1"
WEST_SERVER = "s-a0c000000000000e1"  # the bot's own account, us-west-2: the target's region, not its account
TWO_NEWS, LOCKED_NEWS = "C0AOPS0001", "C0AOPS0002"  # where the readiness watch tells each plan's news


def plans(extended: str) -> str:
    return f"""
protection_groups:
  - {{name: ao-home, region: us-east-1, source_servers: [{HOME_SERVER}]}}
  - name: ao-pay
    region: us-west-2
    account: "{TARGET}"
    source_servers: [{", ".join([*PAY_SERVERS, extended])}]
  - {{name: ao-locked, region: us-east-1, account: "{LOCKED}", source_servers: [{LOCKED_SERVER}]}}
  - {{name: ao-west, region: us-west-2, source_servers: [{WEST_SERVER}]}}
plans:
  - name: plan-ao-two
    channel: {TWO_NEWS}
    waves:
      - {{name: Home, protection_group: ao-home}}
      - {{name: Payments, protection_group: ao-pay}}
  - name: plan-ao-locked
    channel: {LOCKED_NEWS}
    waves:
      - {{name: Home, protection_group: ao-home}}
      - {{name: Locked, protection_group: ao-locked}}
  - name: plan-ao-west
    waves:
      - {{name: West, protection_group: ao-west}}
"""


class Box:
    def __init__(self, sandbox: Sandbox, target: DrsEmulator, extended: str, plans_file: Path) -> None:
        self.sandbox = sandbox
        self.target = target
        self.extended = extended
        self.plans_file = plans_file


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    stack = sandbox.stack
    stack.drs.add_source_servers("us-east-1", ids=[HOME_SERVER])
    stack.drs.initialize_region("us-west-2")
    stack.drs.add_source_servers("us-west-2", ids=[WEST_SERVER])
    staging = stack.add_account(STAGING, regions=["us-west-2"], servers={"us-west-2": [STAGED]}, role=False)
    target = stack.add_account(TARGET, regions=["us-west-2"], servers={"us-west-2": PAY_SERVERS})
    stack.add_account(LOCKED, servers={"us-east-1": [LOCKED_SERVER]}, role=False)
    assert staging.account_id == STAGING
    extended = target.extend_source_server(STAGING, STAGED)
    folder = tmp_path_factory.mktemp("accounts-ops")
    applied = apply_plans(sandbox, plans(extended), folder, **stack.account_env())
    assert applied.returncode == 0, applied.stderr
    yield Box(sandbox, target, extended, folder / "plans.yml")
    restore_catalog(sandbox)


def validate(plans_file: Path, *args: str, accounts: str = "") -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if accounts:
        env["DRS_BOT_TARGET_ACCOUNTS"] = accounts
    return subprocess.run(
        [sys.executable, "-m", "drs_cli.main", "plans", "validate", str(plans_file), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_validate_refuses_an_unlisted_account_and_accepts_listed_ones(box: Box) -> None:
    refused = validate(box.plans_file, "--accounts", TARGET)
    assert refused.returncode == 1
    assert (
        f"protection_groups[2].account: protection group ao-locked is in account {LOCKED}, which the bot "
        "has no role for: deploy cfn/target-account.yaml there and add the account to the bot stack's "
        f"TargetAccounts parameter (known: {TARGET})"
    ) in refused.stderr
    assert "ao-pay" not in refused.stderr
    # What the stack lists (its TargetAccounts parameter, in the environment) is accepted.
    accepted = validate(box.plans_file, accounts=box.sandbox.stack.account_env()["DRS_BOT_TARGET_ACCOUNTS"])
    assert accepted.returncode == 0, accepted.stderr
    assert "valid — 3 plan(s), 4 protection group(s)" in accepted.stdout


def check(box: Box, plan: str) -> str:
    channel = box.sandbox.new_channel()
    reply = box.sandbox.command(f"check {plan}", channel=channel)
    assert reply.status == 200, reply.body
    deadline = time.monotonic() + 30
    while not (answers := [t for t in box.sandbox.ephemeral(channel) if "Readiness" in t]):
        assert time.monotonic() < deadline, box.sandbox.ephemeral(channel)
        box.sandbox.settle()
        time.sleep(0.1)
    return answers[0]


def test_check_blocks_the_account_whose_role_cannot_be_assumed_and_checks_the_others(box: Box) -> None:
    text = check(box, "plan-ao-locked")
    assert "*Readiness: BLOCKED*" in text
    assert (
        f"account {LOCKED} (us-east-1): DRS refused: AccessDenied: cannot assume "
        f"arn:aws:iam::{LOCKED}:role/drs-chatops-target in account {LOCKED}: User: "
    ) in text
    assert f"is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::{LOCKED}:role/" in text
    assert "not checked: wave Locked" in text
    assert "_1 servers checked._" in text  # the bot's own account's wave was checked
    # Nothing was asked in the locked account; STS was, once for its role.
    assert box.sandbox.stack.drs.account(LOCKED).calls == [] or all(
        call.operation == "AssumeRole" for call in box.sandbox.stack.drs.account(LOCKED).calls
    )


def test_check_blocks_an_account_whose_role_lacks_a_drs_permission(box: Box) -> None:
    box.target.deny("DescribeSourceServers")
    try:
        text = check(box, "plan-ao-two")
    finally:
        box.target.clear_faults()
    assert "*Readiness: BLOCKED*" in text
    assert (
        f"account {TARGET} (us-west-2): DRS refused: AccessDeniedException: User: "
        f"arn:aws:sts::{TARGET}:assumed-role/drs-chatops-target/drs-chatops is not authorized to perform: "
        "drs:DescribeSourceServers"
    ) in text
    assert "not checked: wave Payments" in text and "_1 servers checked._" in text


def test_plan_shows_the_account_of_a_group_in_another(box: Box) -> None:
    channel = box.sandbox.new_channel()
    box.sandbox.command("plan plan-ao-two", channel=channel)
    deadline = time.monotonic() + 30
    while not (answers := [t for t in box.sandbox.ephemeral(channel) if "plan-ao-two" in t]):
        assert time.monotonic() < deadline
        box.sandbox.settle()
        time.sleep(0.1)
    assert f"*Payments* — `ao-pay`: 3 servers in {TARGET}/us-west-2 (" in answers[0]
    assert "*Home* — `ao-home`: 1 servers in us-east-1 (" in answers[0]


def test_check_names_the_staging_account_an_extended_server_replicates_from(box: Box) -> None:
    text = check(box, "plan-ao-two")
    assert "*Readiness: READY*" in text, text
    assert f"replicating from staging account {STAGING} — 1 server(s): {box.extended}" in text
    assert "_4 servers checked._" in text
    # The target account's servers were described in the target account, with its role.
    described = [c for c in box.target.calls if c.operation == "DescribeSourceServers"]
    assert described and all(c.region == "us-west-2" for c in described)
    assert all(
        f"arn:aws:sts::{TARGET}:assumed-role/drs-chatops-target/" in (c.caller or "") for c in described
    )


def instances(emulator: DrsEmulator, execution: Execution, operation: str) -> list[Any]:
    return [
        call
        for call in emulator.calls
        if call.operation == operation
        and (
            operation != "StartRecovery"
            or (call.params.get("tags") or {}).get("drs-chatops:execution") == execution.execution_id
        )
    ]


def test_a_drill_across_two_accounts_is_cleaned_up_in_each_account(box: Box) -> None:
    sandbox = box.sandbox
    home = sandbox.stack.drs
    channel = sandbox.new_channel()
    sandbox.command("execute plan-ao-two drill", channel=channel)
    execution = sandbox.finished_execution(channel, timeout=90)
    assert execution.status is ExecutionStatus.COMPLETED, execution.waves
    (home_start,) = instances(home, execution, "StartRecovery")
    (target_start,) = instances(box.target, execution, "StartRecovery")
    assert [s["sourceServerID"] for s in home_start.params["sourceServers"]] == [HOME_SERVER]
    assert {s["sourceServerID"] for s in target_start.params["sourceServers"]} == {*PAY_SERVERS, box.extended}
    assert target_start.region == "us-west-2"

    # The thread and /drs status say where the other account's wave ran; the own account's stays a region.
    thread = [m["text"] for m in sandbox.public(channel)]
    assert any(f"started: 3 servers of ao-pay in {TARGET}/us-west-2 — job" in t for t in thread), "\n".join(
        thread
    )
    assert any("started: 1 servers of ao-home in us-east-1 — job" in t for t in thread), "\n".join(thread)
    sandbox.command(f"status {execution.execution_id}", channel=channel)
    deadline = time.monotonic() + 30
    while not (status := [t for t in sandbox.ephemeral(channel) if execution.execution_id in t]):
        assert time.monotonic() < deadline
        sandbox.settle()
        time.sleep(0.1)
    assert f"Payments: COMPLETED, 3/3 launched, 0 failed — in {TARGET}/us-west-2" in status[-1]
    assert "Home: COMPLETED, 1/1 launched, 0 failed\n" in status[-1]

    home_instances = {s.instance_id for s in execution.waves[0].servers()}
    target_instances = {s.instance_id for s in execution.waves[1].servers()}
    sandbox.command(f"cleanup {execution.execution_id}", channel=channel)
    deadline = time.monotonic() + 30
    while (
        (cleaned := sandbox.stored(execution.execution_id)).cleanup is None
        or cleaned.cleanup.status.value != "DONE"
        or sandbox.stack.bot.store.pending_events(execution.execution_id)
    ):
        assert time.monotonic() < deadline, cleaned.cleanup
        sandbox.settle()
        time.sleep(0.1)
    # Each account's instances were terminated in that account, and only there.
    ours = home_instances | target_instances

    def terminated(emulator: DrsEmulator) -> list[set[str]]:
        calls = [c for c in emulator.calls if c.operation == "TerminateRecoveryInstances"]
        return [ids for c in calls if (ids := set(c.params["recoveryInstanceIDs"])) & ours]

    terminated_home, terminated_target = terminated(home), terminated(box.target)
    assert terminated_home == [home_instances]
    assert terminated_target == [target_instances]
    assert cleaned.cleanup is not None and cleaned.cleanup.job_accounts == (None, TARGET)
    assert "Cleanup done: 4 drill instance(s) terminated" in "\n".join(
        m["text"] for m in sandbox.public(channel)
    )

    history = to_history(cleaned)
    assert [(w["WaveName"], w["Region"], w.get("AccountId")) for w in history["Waves"]] == [
        ("Home", "us-east-1", None),
        ("Payments", "us-west-2", TARGET),
    ]
    # `drs-bot history export --format csv`'s rows: the account beside the region, empty for the own.
    rows = csv_rows(history)
    assert {(r["WaveName"], r["Region"], r["AccountId"]) for r in rows} == {
        ("Home", "us-east-1", ""),
        ("Payments", "us-west-2", TARGET),
    }
    # The report (JSON and page) names the account of the wave that ran in another.
    report = valid(
        stored_report(sandbox, cleaned, until=lambda r: (r["Cleanup"] or {}).get("Status") == "DONE")
    )
    assert [(w["WaveName"], w["AccountId"]) for w in report["Waves"]] == [
        ("Home", None),
        ("Payments", TARGET),
    ]
    assert f"(ao-pay in {TARGET}/us-west-2, jobs" in stored_page(sandbox, cleaned)


def test_a_point_in_time_drill_reads_and_launches_each_accounts_snapshots_in_that_account(box: Box) -> None:
    sandbox = box.sandbox
    home = sandbox.stack.drs
    at = (sandbox.stack.bot.clock() - timedelta(hours=3)).replace(microsecond=0)
    channel = sandbox.new_channel()
    sandbox.command(f"execute plan-ao-two drill --at {at:%Y-%m-%dT%H:%M:%SZ}", channel=channel)
    execution = sandbox.finished_execution(channel, timeout=90)
    assert execution.status is ExecutionStatus.COMPLETED, execution.waves
    snapshots = {s.source_server_id: s.snapshot_id for s in execution.servers()}
    assert all(snapshots.values()) and len(snapshots) == 4
    # Each server's snapshots were read where it replicates to: the target account's in the target account.
    read_home = {c.params["sourceServerID"] for c in home.calls if c.operation == "DescribeRecoverySnapshots"}
    read_target = {
        c.params["sourceServerID"] for c in box.target.calls if c.operation == "DescribeRecoverySnapshots"
    }
    assert HOME_SERVER in read_home and not {*PAY_SERVERS, box.extended} & read_home
    assert {*PAY_SERVERS, box.extended} <= read_target and HOME_SERVER not in read_target
    (target_start,) = instances(box.target, execution, "StartRecovery")
    assert {
        s["sourceServerID"]: s.get("recoverySnapshotID") for s in target_start.params["sourceServers"]
    } == {sid: snapshots[sid] for sid in (*PAY_SERVERS, box.extended)}
    sandbox.command(f"cleanup {execution.execution_id}", channel=channel)  # leave no instances running


def news(box: Box, channel: str, count: int) -> list[str]:
    deadline = time.monotonic() + 20
    while len(told := [m["text"] for m in box.sandbox.public(channel)]) < count:
        assert time.monotonic() < deadline, told
        box.sandbox.settle()
        time.sleep(0.1)
    return told


def test_the_watch_checks_each_account_and_hears_a_stall_in_another_accounts_region(box: Box) -> None:
    stack = box.sandbox.stack
    before = len(box.target.calls)
    stack.run_watch()
    # One DescribeSourceServers pass in the target account's one region, whatever its servers and plans.
    passes = [
        c.region
        for c in box.target.calls[before:]
        if c.operation == "DescribeSourceServers"
        and not c.params.get("nextToken")
        and not (c.params.get("filters") or {}).get("sourceServerIDs")  # not a check's or a tick's
    ]
    assert passes == ["us-west-2"]
    # The locked account's plan is BLOCKED, naming the account and STS's refusal; the other is READY.
    (locked,) = news(box, LOCKED_NEWS, 1)
    assert locked.startswith(":red_circle: *Readiness of `plan-ao-locked`: BLOCKED*"), locked
    assert f"account {LOCKED} (us-east-1): DRS refused: AccessDenied: cannot assume" in locked
    assert box.sandbox.public(TWO_NEWS) == []  # READY from the start: nothing to tell
    # The target account's DRS reports a stall (its own event, its own account): the round it starts
    # re-checks the plan there, and the plan's channel is told once.
    box.target.set_replication_state(PAY_SERVERS[0], "STALLED")
    try:
        (stalled,) = news(box, TWO_NEWS, 1)
        assert stalled.startswith(":red_circle: *Readiness of `plan-ao-two` changed: READY → BLOCKED*")
        assert "replication is STALLED" in stalled and PAY_SERVERS[0] in stalled
    finally:
        box.target.set_replication_state(PAY_SERVERS[0], "CONTINUOUS")
    stack.run_watch()
    assert len(news(box, LOCKED_NEWS, 1)) == 1  # the same verdict again: nothing more to say


def approved(box: Box, channel: str, kind: str) -> str:
    sandbox = box.sandbox
    reply = sandbox.command(f"execute plan-ao-two {kind}", channel=channel, user="U0REQUESTER")
    assert reply.status == 200 and "Requesting approval" in reply.body["text"], reply.body
    sandbox.settle()
    pending = sandbox.stack.bot.store.latest_in_channel(channel)
    assert pending is not None and pending.status is ExecutionStatus.PENDING_APPROVAL
    card = next(m for m in sandbox.public(channel) if not m["thread_ts"] and m["ts"] == pending.anchor_ts)
    sandbox.click(channel, card["ts"], APPROVE_ACTION, pending.execution_id, user=APPROVER)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        sandbox.settle()
        done = sandbox.stack.bot.store.get(pending.execution_id)
        run = done.failback if done else None
        if (
            done is not None
            and done.status.is_terminal
            and (run is None or run.phase is FailbackPhase.DONE)
            and not sandbox.stack.bot.store.pending_events(done.execution_id)
        ):
            return done.execution_id
        time.sleep(0.1)
    raise AssertionError(f"{kind} did not finish: {sandbox.stack.bot.store.get(pending.execution_id)!r}")


def test_a_failback_reverses_launches_and_reprotects_each_wave_in_its_own_account(box: Box) -> None:
    sandbox = box.sandbox
    home = sandbox.stack.drs
    home.initialize_region("us-west-2")  # DRS's prerequisite: the origin regions are initialized
    box.target.initialize_region("us-east-1")
    channel = sandbox.new_channel()
    recovery = sandbox.stored(approved(box, channel, "recovery"))
    assert recovery.status is ExecutionStatus.COMPLETED, recovery.waves
    failback = sandbox.stored(approved(box, channel, "failback"))

    assert failback.status is ExecutionStatus.COMPLETED, failback.failback
    run = failback.failback
    assert run is not None and all(s.reprotected for s in run.servers)
    # The target account's wave went back within the target account, the own account's within its own.
    assert [(w.name, w.account) for w in failback.waves] == [("Home", None), ("Payments", TARGET)]
    assert {s.origin_account for s in run.servers if s.recovery_account == TARGET} == {TARGET}
    recovered = {s.instance_id for s in recovery.waves[1].servers()}
    launched_back = {s.instance_id for s in failback.waves[1].servers()}
    reversed_in_target = {
        c.params["recoveryInstanceID"]
        for c in box.target.calls
        if c.operation == "ReverseReplication" and c.error is None
    }
    assert recovered | launched_back <= reversed_in_target  # reversed, then re-protected, there
    assert not {c.params["recoveryInstanceID"] for c in home.calls if c.operation == "ReverseReplication"} & (
        recovered | launched_back
    )
    (start,) = instances(box.target, failback, "StartRecovery")
    assert start.region == failback.waves[1].region != "us-west-2"
    thread = "\n".join(m.get("text", "") for m in sandbox.messages(channel))
    assert f"in {TARGET}/{failback.waves[1].region}" in thread


def stalled_event(account: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "ao-stall",
        "detail-type": "DRS Source Server Data Replication Stalled Change",
        "source": "aws.drs",
        "account": account,
        "time": "2026-11-30T12:00:00Z",
        "region": region,
        "resources": [],
        "detail": {"state": "STALLED"},
    }


def test_a_drs_event_rechecks_the_plans_in_its_account_and_region_only(box: Box) -> None:
    client = boto3.client("lambda", region_name="us-east-1")

    def round_for(event: dict[str, Any]) -> dict[str, Any]:
        reply = client.invoke(
            FunctionName=WATCH_FUNCTION, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
        result: dict[str, Any] = json.loads(reply["Payload"].read())
        return result

    before = len(box.sandbox.stack.drs.calls)
    # From the target account's us-west-2: plan-ao-two, not the own account's plan in that region.
    assert round_for(stalled_event(TARGET, "us-west-2"))["plans_checked"] == 1
    home_west = [
        c
        for c in box.sandbox.stack.drs.calls[before:]
        if c.operation == "DescribeSourceServers" and c.region == "us-west-2"
    ]
    assert home_west == []
    # From an account that is no target (the bot's own): the own account's plan there only.
    assert round_for(stalled_event("123456789012", "us-west-2"))["plans_checked"] == 1
