"""Execution reports, from a plans file and signed Slack requests to the JSON and HTML in the bucket,
`/drs report`'s link, and `drs-bot report`'s files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from jsonschema import Draft202012Validator

from bot.domain.execution import Execution, ExecutionStatus
from bot.slack.ids import APPROVE_ACTION, REASON_BLOCK, REASON_INPUT, REJECT_ACTION
from sandbox.stack import REGION, REPORTS_BUCKET, TABLES
from tests.e2e.conftest import APPROVER, FAILING_SERVER, LAUNCH_ERROR, LEAD_MEMBERS, Sandbox
from tests.e2e.test_approvals import request_recovery

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def s3(sandbox: Sandbox) -> Any:
    return boto3.client("s3", region_name=REGION, endpoint_url=sandbox.stack.moto.url)


def stored_report(
    sandbox: Sandbox, execution: Execution, until: Any = None, timeout: float = 20
) -> dict[str, Any]:
    """The JSON in the bucket once it is there (and `until(report)` holds)."""
    client = s3(sandbox)
    key = f"reports/{execution.plan_name}/{execution.execution_id}.json"
    deadline = time.monotonic() + timeout
    last: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        sandbox.settle()
        try:
            last = json.loads(client.get_object(Bucket=REPORTS_BUCKET, Key=key)["Body"].read())
        except client.exceptions.NoSuchKey:
            last = None
        if last is not None and (until is None or until(last)):
            return last
        time.sleep(0.2)
    raise AssertionError(f"no report at {key} after {timeout} s (last: {last and last['Judgement']})")


def stored_page(sandbox: Sandbox, execution: Execution) -> str:
    key = f"reports/{execution.plan_name}/{execution.execution_id}.html"
    got = s3(sandbox).get_object(Bucket=REPORTS_BUCKET, Key=key)
    assert got["ContentType"] == "text/html; charset=utf-8"
    return str(got["Body"].read().decode())


def valid(document: dict[str, Any]) -> dict[str, Any]:
    errors = [error.message for error in VALIDATOR.iter_errors(document)]
    assert errors == [], errors
    return document


@pytest.fixture(scope="module")
def drill(sandbox: Sandbox) -> tuple[str, Execution]:
    channel = sandbox.new_channel()
    assert sandbox.command("execute plan-report drill", channel=channel).status == 200
    return channel, sandbox.finished_execution(channel)


def test_a_drill_writes_its_report_to_the_bucket_when_it_ends(
    sandbox: Sandbox, drill: tuple[str, Execution]
) -> None:
    _, execution = drill
    assert execution.status is ExecutionStatus.COMPLETED
    report = valid(stored_report(sandbox, execution))
    assert report["ExecutionId"] == execution.execution_id and report["ExecutionType"] == "DRILL"
    assert report["InitiatedBy"] == "U0ALICE" and report["Status"] == "COMPLETED"
    servers = {s["SourceServerId"]: s for w in report["Waves"] for s in w["Servers"]}
    assert set(servers) == {"s-5e0000000000000a1", "s-5e0000000000000a2", "s-5e0000000000000b1"}
    for server in execution.servers():
        stored = servers[server.source_server_id]
        assert stored["Status"] == "LAUNCHED" and stored["InstanceId"] == server.instance_id
        assert stored["RecoveryJobId"] == server.recovery_job_id and stored["RecoveryJobId"]
    # The plan's rto_target (2h) against the measured request → last launch.
    rto = report["Rto"]
    assert rto["TargetSeconds"] == 7200 and rto["Met"] is True and 0 < rto["Seconds"] < 7200
    assert [w["WaveName"] for w in report["Waves"]] == ["Databases", "Web <front>"]
    # Nobody cleaned it up yet: its instances still bill, and the report says so.
    assert report["Cleanup"]["Status"] == "NONE"
    assert report["Judgement"]["Verdict"] == "PASSED WITH FINDINGS"
    assert any("still running" in line for line in report["Judgement"]["Findings"])

    page = stored_page(sandbox, execution)
    assert "Payments &lt;core&gt; &amp; ledger" in page and "<core>" not in page
    assert page.count('class="wave-bar"') == 2 and "PASSED WITH FINDINGS" in page


def test_report_replies_with_the_verdict_and_a_link_that_opens_the_page(
    sandbox: Sandbox, drill: tuple[str, Execution]
) -> None:
    channel, execution = drill
    stored_report(sandbox, execution)
    sandbox.command(f"report {execution.execution_id[:8]}", channel=channel)
    sandbox.settle()
    reply = sandbox.ephemeral(channel)[-1]
    assert reply.startswith(
        f"*PASSED WITH FINDINGS* — report of `{execution.execution_id}` (plan-report DRILL)"
    )
    assert "still running" in reply and "the link works for 60 minutes" in reply
    url = reply.split("<", 1)[1].split("|Open the report>", 1)[0].replace("&amp;", "&")
    assert url.startswith(sandbox.stack.moto.url) and "X-Amz-Signature=" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        page = response.read().decode()
    assert page == stored_page(sandbox, execution)


def test_report_of_something_unknown_or_still_running_says_so(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("report nosuchexecution", channel=channel)
    sandbox.settle()
    assert "nosuchexecution" in sandbox.ephemeral(channel)[-1]
    before = s3(sandbox).list_objects_v2(Bucket=REPORTS_BUCKET, Prefix="reports/plan-x/").get("KeyCount", 0)
    reply = sandbox.command("execute plan-slow drill", channel=channel)
    assert reply.status == 200
    sandbox.settle()
    running = sandbox.stack.bot.store.latest_in_channel(channel)
    assert running is not None and not running.status.is_terminal
    sandbox.command(f"report {running.execution_id}", channel=channel)
    sandbox.settle()
    assert "has not ended yet; its report is written when it does" in sandbox.ephemeral(channel)[-1]
    assert (
        s3(sandbox).list_objects_v2(Bucket=REPORTS_BUCKET, Prefix="reports/plan-x/").get("KeyCount", 0)
        == before
    )
    sandbox.finished_execution(channel, timeout=90)


def test_a_cleaned_up_drill_is_reported_again_with_the_proof(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-report drill", channel=channel)
    execution = sandbox.finished_execution(channel)
    first = stored_report(sandbox, execution)
    sandbox.command(f"cleanup {execution.execution_id}", channel=channel, user="U0CLEANER")
    report = valid(stored_report(sandbox, execution, until=lambda r: r["Cleanup"]["Status"] == "DONE"))
    cleanup = report["Cleanup"]
    launched = {s.instance_id for s in execution.servers()}
    assert cleanup["RequestedBy"] == "U0CLEANER"
    assert {i["InstanceId"] for i in cleanup["Instances"]} == launched
    (_terminate,) = [
        c
        for c in sandbox.stack.drs.calls
        if c.operation == "TerminateRecoveryInstances" and set(c.params["recoveryInstanceIDs"]) == launched
    ]
    assert cleanup["TerminateJobIds"] and cleanup["EndedAt"] is not None
    assert all(i["RunningHours"] > 0 for i in cleanup["Instances"])
    assert cleanup["RunningHours"] == pytest.approx(
        sum(i["RunningHours"] for i in cleanup["Instances"]), abs=0.05
    )
    # Nothing left to find about this drill's own instances; readiness may have warned about an earlier
    # drill's, which the report keeps as it was at the start.
    judgement = report["Judgement"]
    assert judgement["Failures"] == [] and all(f.startswith("readiness was ") for f in judgement["Findings"])
    assert judgement["Verdict"] == ("PASSED WITH FINDINGS" if judgement["Findings"] else "PASSED")
    # The first report is kept as an earlier version of the same key.
    versions = s3(sandbox).list_object_versions(
        Bucket=REPORTS_BUCKET, Prefix=f"reports/plan-report/{execution.execution_id}.json"
    )["Versions"]
    assert len(versions) >= 2 and first["Cleanup"]["Status"] == "NONE"
    assert "U0CLEANER" in stored_page(sandbox, execution)


def test_a_partial_drill_fails_with_drs_error_text(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-flaky drill", channel=channel)
    execution = sandbox.finished_execution(channel)
    assert execution.status is ExecutionStatus.PARTIAL
    report = valid(stored_report(sandbox, execution))
    assert report["Judgement"]["Verdict"] == "FAILED"
    assert "1 of 2 server(s) did not launch (PARTIAL)" in report["Judgement"]["Failures"]
    (failed,) = [s for w in report["Waves"] for s in w["Servers"] if s["Status"] == "FAILED"]
    assert failed["SourceServerId"] == FAILING_SERVER and LAUNCH_ERROR in failed["Error"]
    assert failed["InstanceId"] is None and report["Rto"]["Seconds"] is None
    page = stored_page(sandbox, execution)
    assert LAUNCH_ERROR in page and "FAILED" in page


def test_a_recovery_report_names_its_approver_and_measures_through_the_approval(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    execution, card = request_recovery(sandbox, channel, plan="plan-report")
    sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=APPROVER)
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.COMPLETED
    report = valid(stored_report(sandbox, final))
    assert report["ExecutionType"] == "RECOVERY" and report["Cleanup"] is None
    (approval,) = report["Decisions"]
    assert approval["Action"] == "approved" and approval["UserId"] == APPROVER
    rto = report["Rto"]
    assert rto["RequestedAt"] < rto["ApprovedAt"] <= rto["FirstLaunchAt"] <= rto["LastLaunchAt"]
    # Within its targets; readiness may have warned about the drills of this plan left running.
    judgement = report["Judgement"]
    assert judgement["Failures"] == [] and all(f.startswith("readiness was ") for f in judgement["Findings"])
    assert f"<code>{APPROVER}</code>" in stored_page(sandbox, final)


def test_drs_bot_report_writes_the_same_files_locally(
    sandbox: Sandbox, drill: tuple[str, Execution], tmp_path: Path
) -> None:
    _, execution = drill
    stored = stored_report(sandbox, execution)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_ENDPOINT_URL_DYNAMODB": sandbox.stack.moto.url,
        "DRS_BOT_REGION": REGION,
        "DRS_BOT_EXECUTIONS_TABLE": TABLES["ExecutionsTable"],
    }
    out = tmp_path / "evidence"
    done = subprocess.run(
        [sys.executable, "-m", "drs_cli.main", "report", execution.execution_id, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    local = valid(json.loads((out / f"{execution.execution_id}.json").read_text()))
    assert local["Judgement"]["Verdict"] == stored["Judgement"]["Verdict"]
    assert local["Waves"] == stored["Waves"] and local["Rto"] == stored["Rto"]
    assert (out / f"{execution.execution_id}.html").read_text().startswith("<!DOCTYPE html>")
    assert done.stdout.splitlines()[-1].startswith(local["Judgement"]["Verdict"] + ":")

    missing = subprocess.run(
        [sys.executable, "-m", "drs_cli.main", "report", "nosuchexecution", "--out", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 1 and "no execution 'nosuchexecution'" in missing.stderr
    assert not (tmp_path / "none").exists()


def test_a_rejected_recovery_is_reported_failed_with_who_and_why(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    execution, card = request_recovery(sandbox, channel, plan="plan-report")
    sandbox.click(channel, card["ts"], REJECT_ACTION, execution.execution_id, user=LEAD_MEMBERS[1])
    modal = sandbox.stack.slack.views()[-1]
    values = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": "Not <today> & not here"}}}
    assert sandbox.submit(modal, values, user=LEAD_MEMBERS[1]).status == 200
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.REJECTED
    report = valid(stored_report(sandbox, final))
    assert report["Judgement"]["Failures"] == [f"rejected by {LEAD_MEMBERS[1]}: Not <today> & not here"]
    (rejection,) = report["Decisions"]
    assert rejection["Action"] == "rejected" and rejection["Reason"] == "Not <today> & not here"
    assert all(s["Status"] == "PENDING" for w in report["Waves"] for s in w["Servers"])
    assert "Not &lt;today&gt; &amp; not here" in stored_page(sandbox, final)
