"""The /_emulator/ admin HTTP API and the `serve` command."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sandbox.drs_emulator import DrsEmulator, EmulatorServer
from sandbox.drs_emulator.cli import add_serve_arguments

from .helpers import DRILL_SECONDS, REGION, start_drill

ROOT = Path(__file__).resolve().parents[2]


def admin(server: EmulatorServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.url}/_emulator/{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_seed_and_shape_the_world(server: EmulatorServer, drs: Any) -> None:
    assert admin(server, "GET", "health") == (200, {"ok": True})
    status, body = admin(
        server,
        "POST",
        "source-servers",
        {"region": REGION, "count": 3, "tags": {"app": "web"}, "hostnames": ["web-1", "web-2", "web-3"]},
    )
    assert status == 200 and len(body["sourceServerIDs"]) == 3
    ids = body["sourceServerIDs"]
    stalled = {
        "region": REGION,
        "ids": ["s-00000000000000001"],
        "replicationState": "STALLED",
        "lag": "PT10M",
    }
    _, extra = admin(server, "POST", "source-servers", stalled)
    assert extra == {"sourceServerIDs": ["s-00000000000000001"]}
    servers = drs.describe_source_servers()["items"]
    assert [s["sourceServerID"] for s in servers] == [*ids, "s-00000000000000001"]
    assert servers[0]["tags"] == {"Name": "web-1", "app": "web"}
    assert servers[3]["dataReplicationInfo"]["lagDuration"] == "PT10M"
    assert (
        admin(server, "POST", "replication-state", {"sourceServerID": ids[0], "state": "DISCONNECTED"})[0]
        == 200
    )
    assert (
        drs.describe_source_servers()["items"][0]["dataReplicationInfo"]["dataReplicationState"]
        == "DISCONNECTED"
    )
    _, state = admin(server, "GET", "state")
    assert state["regions"][REGION]["sourceServers"] == 4 and state["regions"][REGION]["initialized"]


def test_faults_launch_failures_and_clock(server: EmulatorServer, drs: Any, emulator: DrsEmulator) -> None:
    ids = emulator.add_source_servers(REGION, count=2)
    status, body = admin(
        server, "POST", "faults", {"operation": "DescribeJobs", "error": "ThrottlingException", "count": 1}
    )
    assert status == 200 and body["faults"][0]["count"] == 1
    with pytest.raises(drs.exceptions.ThrottlingException):
        drs.describe_jobs()
    admin(server, "POST", "faults", {"operation": "DescribeJobs", "error": "InternalServerException"})
    assert admin(server, "DELETE", "faults") == (200, {})
    assert admin(server, "GET", "faults") == (200, {"faults": []})
    assert (
        admin(server, "POST", "launch-failures", {"sourceServerID": ids[0], "error": "no capacity"})[0] == 200
    )
    assert admin(server, "POST", "slow-conversions", {"sourceServerID": ids[1], "extraSeconds": 60})[0] == 200
    job = start_drill(drs, ids)
    _, clock = admin(server, "GET", "clock")
    assert clock == {"now": "2024-05-01T12:00:00+00:00", "manual": True}
    status, moved = admin(server, "POST", "clock", {"advanceSeconds": DRILL_SECONDS + 60})
    assert status == 200 and moved["now"] == "2024-05-01T12:11:00+00:00"
    assert [e["detail"]["state"] for e in moved["events"]] == [
        "DRILL_LAUNCH_FAILED",
        "DRILL_LAUNCH_SUCCEEDED",
    ]
    _, results = admin(server, "GET", "launch-results")
    assert [(r["sourceServerID"], r["status"], r["error"]) for r in results["results"]] == [
        (ids[0], "FAILED", "no capacity"),
        (ids[1], "LAUNCHED", None),
    ]
    assert admin(server, "GET", "events")[1]["events"] == moved["events"]
    assert (
        admin(server, "POST", "clock", {"set": "2024-05-01T13:00:00Z"})[1]["now"]
        == "2024-05-01T13:00:00+00:00"
    )
    assert admin(server, "POST", "clock", {"set": "2024-05-01T12:00:00Z"})[0] == 400  # never backwards
    assert admin(server, "POST", "advance", {}) == (200, {"events": []})
    _, calls = admin(server, "GET", "calls?operation=StartRecovery")
    (call,) = calls["calls"]
    assert call["region"] == REGION and call["response"]["job"]["jobID"] == job["jobID"]
    assert call["time"] == "2024-05-01T12:00:00+00:00"
    _, throttled = admin(server, "GET", "calls?operation=DescribeJobs")
    assert throttled["calls"][0]["error"] == "ThrottlingException"
    assert admin(server, "DELETE", "calls") == (200, {})
    assert admin(server, "GET", "calls")[1] == {"calls": []}


def test_initialize_reset_and_errors(server: EmulatorServer, make_client: Any, emulator: DrsEmulator) -> None:
    client = make_client("sa-east-1")
    assert admin(server, "POST", "initialize", {"region": "sa-east-1"}) == (200, {})
    assert client.describe_jobs()["items"] == []
    emulator.add_source_servers(REGION, count=2)
    assert admin(server, "POST", "reset", {}) == (200, {})
    assert emulator.regions == [REGION, "us-west-2"]
    with pytest.raises(client.exceptions.UninitializedAccountException):
        client.describe_jobs()
    assert make_client().describe_source_servers()["items"] == []
    assert admin(server, "GET", "nowhere")[0] == 404
    assert admin(server, "GET", "reset")[0] == 405
    assert admin(server, "POST", "replication-state", {"state": "STALLED"}) == (
        400,
        {"error": "missing 'sourceServerID'"},
    )
    assert admin(server, "POST", "faults", {"operation": "StartRecovery", "error": "Nope"})[0] == 400
    assert admin(server, "POST", "source-servers", {"region": REGION, "ids": ["bad"]})[0] == 400


def test_clock_cannot_move_when_it_is_real(make_client: Any) -> None:
    with EmulatorServer(DrsEmulator()) as srv:
        assert admin(srv, "GET", "clock")[1]["manual"] is False
        assert admin(srv, "POST", "clock", {"advanceSeconds": 5})[0] == 409


def test_serve_arguments() -> None:
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args([])
    got = (args.port, args.host, args.servers, args.time_scale, args.regions, args.seed, args.manual_clock)
    assert got == (0, "127.0.0.1", 0, 1.0, "us-east-1", 0, False)
    args = parser.parse_args(
        [
            "--port",
            "9",
            "--servers",
            "3",
            "--time-scale",
            "60",
            "--regions",
            "a,b",
            "--seed",
            "4",
            "--manual-clock",
        ]
    )
    changed = (args.port, args.servers, args.time_scale, args.regions, args.seed, args.manual_clock)
    assert changed == (9, 3, 60.0, "a,b", 4, True)


def test_serve_command(make_client: Any) -> None:
    command = [sys.executable, "-m", "sandbox.drs_emulator", "serve", "--servers", "2", "--seed", "5"]
    command += ["--regions", "us-east-1,us-west-2", "--time-scale", "60"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["url"].startswith("http://127.0.0.1:")
        assert set(started["regions"]) == {"us-east-1", "us-west-2"}
        for region, ids in started["regions"].items():
            assert len(ids) == 2
            found = make_client(region, url=started["url"]).describe_source_servers()["items"]
            assert [s["sourceServerID"] for s in found] == ids
            assert {s["dataReplicationInfo"]["dataReplicationState"] for s in found} == {"CONTINUOUS"}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_serve_command_with_other_accounts(make_client: Any) -> None:
    command = [sys.executable, "-m", "sandbox.drs_emulator", "serve", "--servers", "1", "--manual-clock"]
    command += ["--accounts", "111122223333", "--external-id", "x-42"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        other = started["accounts"]["111122223333"]
        assert other["roleArn"] == "arn:aws:iam::111122223333:role/drs-chatops-target"
        import boto3

        sts = boto3.client(
            "sts",
            region_name=REGION,
            endpoint_url=started["url"],
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        credentials = sts.assume_role(RoleArn=other["roleArn"], RoleSessionName="cli", ExternalId="x-42")[
            "Credentials"
        ]
        drs = boto3.client(
            "drs",
            region_name=REGION,
            endpoint_url=started["url"],
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
        found = [s["sourceServerID"] for s in drs.describe_source_servers()["items"]]
        assert found == other["regions"][REGION] and found != started["regions"][REGION]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_an_admin_body_with_a_key_written_twice_is_refused_and_changes_nothing(
    server: EmulatorServer, drs: Any, emulator: DrsEmulator
) -> None:
    (server_id,) = emulator.add_source_servers(REGION, count=1)
    raw = f'{{"sourceServerID": "{server_id}", "error": "no capacity", "error": null}}'.encode()
    request = urllib.request.Request(f"{server.url}/_emulator/launch-failures", data=raw, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 400
    assert json.loads(refused.value.read()) == {
        "error": "error: written twice; the second would silently replace the first"
    }
    start_drill(drs, [server_id])
    admin(server, "POST", "clock", {"advanceSeconds": DRILL_SECONDS + 60})
    _, results = admin(server, "GET", "launch-results")
    assert [(r["sourceServerID"], r["status"]) for r in results["results"]] == [(server_id, "LAUNCHED")]


def test_accounts_through_the_admin_api(server: EmulatorServer, drs: Any) -> None:
    """What a benchmark in another process does: accounts, their roles and servers, faults, calls."""
    import boto3

    assert admin(
        server, "POST", "accounts", {"accountID": "111122223333", "quotas": {"concurrent_jobs": 1}}
    ) == (
        200,
        {"accountID": "111122223333", "regions": [REGION]},
    )
    admin(server, "POST", "accounts", {"accountID": "210987654321"})
    assert admin(server, "GET", "accounts") == (
        200,
        {"accounts": ["123456789012", "111122223333", "210987654321"]},
    )
    role = {"roleName": "drs-chatops-target", "externalId": "x-1234"}
    assert admin(server, "POST", "roles?account=111122223333", role) == (
        200,
        {"roleArn": "arn:aws:iam::111122223333:role/drs-chatops-target"},
    )
    _, seeded = admin(server, "POST", "source-servers?account=111122223333", {"region": REGION, "count": 2})
    _, staged = admin(server, "POST", "source-servers?account=210987654321", {"region": REGION, "count": 1})
    _, extended = admin(
        server,
        "POST",
        "extended-source-servers?account=111122223333",
        {"stagingAccountID": "210987654321", "sourceServerID": staged["sourceServerIDs"][0]},
    )
    admin(server, "POST", "denials?account=111122223333", {"operation": "TerminateRecoveryInstances"})
    sts = boto3.client(
        "sts", region_name=REGION, endpoint_url=server.url, aws_access_key_id="x", aws_secret_access_key="x"
    )
    credentials = sts.assume_role(
        RoleArn=role_arn("111122223333"), RoleSessionName="bench", ExternalId="x-1234"
    )["Credentials"]
    target = boto3.client(
        "drs",
        region_name=REGION,
        endpoint_url=server.url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    listed = {s["sourceServerID"] for s in target.describe_source_servers()["items"]}
    assert listed == {*seeded["sourceServerIDs"], extended["sourceServerID"]}
    assert drs.describe_source_servers()["items"] == []  # the home account has none
    _, calls = admin(server, "GET", "calls?account=111122223333&operation=DescribeSourceServers")
    assert [c["caller"] for c in calls["calls"]] == [
        "arn:aws:sts::111122223333:assumed-role/drs-chatops-target/bench"
    ]
    assert (
        admin(server, "POST", "role-refusals?account=111122223333", {"roleName": "drs-chatops-target"})[0]
        == 200
    )
    status, body = admin(server, "GET", "calls?account=999999999999")
    assert status == 400 and "not served" in body["error"]
    status, body = admin(server, "POST", "accounts", {"accountID": "1", "regions": [REGION]})
    assert status == 400 and "12 digits" in body["error"]


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/drs-chatops-target"
