"""Every response the emulator sends, checked against botocore's DRS model.

A broad scenario (drill with failures and skips, recovery, failback, cleanup, tags, errors) runs through
real boto3 clients; the raw HTTP bodies (botocore would silently drop unknown members) are walked
against the model's output and error shapes: types, required members, no unknown members, enum values
(beyond the model only those in EXTRA_ENUM_VALUES), sizes and patterns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from sandbox.drs_emulator import EXTRA_ENUM_VALUES, DrsEmulator, ManualClock
from sandbox.drs_emulator.model import SUPPORTED_OPERATIONS

from .helpers import (
    DRILL_SECONDS,
    MODEL,
    OTHER_REGION,
    REGION,
    Exchange,
    answerable,
    shape_problems,
    start_drill,
)

STAGING_ACCOUNT = "210987654321"


def run_everything(make_client: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    east, west = make_client(REGION), make_client(OTHER_REGION)
    loose = make_client(validate=False)
    ids = emulator.add_source_servers(REGION, count=4, tags={"app": "erp"})
    stalled = emulator.add_source_servers(REGION, count=1, replication_state="STALLED", lag="PT1H")
    syncing = emulator.add_source_servers(REGION, count=1, replication_state="INITIAL_SYNC")
    emulator.add_source_servers(REGION, count=1, replication_state="BACKLOG", lag=90)
    emulator.fail_launch(ids[1])
    emulator.fail_launch(ids[2], "conversion failed", event="CONVERSION_FAIL")
    east.describe_source_servers()
    snapshot = east.describe_recovery_snapshots(sourceServerID=ids[3], order="DESC", maxResults=2)
    drill = start_drill(
        east,
        ids[:3] + stalled + syncing,
        tags={"drs-chatops:execution": "e-1"},
    )
    for _ in range(3):
        clock.advance(200)
        east.describe_jobs(maxResults=1)
        east.describe_job_log_items(jobID=drill["jobID"], maxResults=5)
        east.describe_recovery_instances()
    recovery = east.start_recovery(
        sourceServers=[{"sourceServerID": ids[3], "recoverySnapshotID": snapshot["items"][1]["snapshotID"]}]
    )["job"]
    clock.advance(DRILL_SECONDS)
    east.describe_jobs(filters={"fromDate": "2024-05-01T00:00:00Z", "toDate": "2024-05-02T00:00:00.000001Z"})
    east.describe_job_log_items(jobID=recovery["jobID"])
    list(east.get_paginator("describe_job_log_items").paginate(jobID=drill["jobID"]))
    instances = east.describe_recovery_instances()["items"]
    drill_instances = [i["recoveryInstanceID"] for i in instances if i["isDrill"]]
    (recovered,) = [i for i in instances if not i["isDrill"]]
    east.reverse_replication(recoveryInstanceID=recovered["recoveryInstanceID"])
    west.describe_source_servers()
    clock.advance(120)
    west.describe_source_servers()
    east.describe_recovery_instances(filters={"sourceServerIDs": [ids[3]]})
    terminate = east.terminate_recovery_instances(recoveryInstanceIDs=drill_instances)["job"]
    clock.advance(2)
    east.describe_jobs(filters={"jobIDs": [terminate["jobID"]]})
    clock.advance(60)
    east.describe_jobs(filters={"jobIDs": [terminate["jobID"]]})
    east.describe_job_log_items(jobID=terminate["jobID"])
    east.describe_recovery_instances(filters={"recoveryInstanceIDs": drill_instances})
    east.describe_source_servers(filters={"sourceServerIDs": ids}, maxResults=2)
    east.get_launch_configuration(sourceServerID=ids[0])
    job_arn = drill["arn"]
    east.tag_resource(resourceArn=job_arn, tags={"owner": "dr-team"})
    east.list_tags_for_resource(resourceArn=job_arn)
    east.untag_resource(resourceArn=job_arn, tagKeys=["owner"])
    east.delete_job(jobID=recovery["jobID"])
    make_client("ap-south-1").initialize_service()
    staging = emulator.add_account(STAGING_ACCOUNT)
    (staged,) = staging.add_source_servers(REGION, count=1)
    staged_arn = f"arn:aws:drs:{REGION}:{STAGING_ACCOUNT}:source-server/{staged}"
    east.create_extended_source_server(sourceServerArn=staged_arn, tags={"app": "erp"})
    east.describe_source_servers(filters={"stagingAccountIDs": [STAGING_ACCOUNT]})

    # Errors, one of each kind the emulator produces.
    attempts: list[Callable[[], object]] = [
        lambda: loose.start_recovery(sourceServers=[]),  # ValidationException with a fieldList
        lambda: east.start_recovery(sourceServers=[{"sourceServerID": "s-0123456789abcdef0"}]),  # unknown id
        lambda: east.get_launch_configuration(sourceServerID="s-0123456789abcdef0"),  # not found
        lambda: east.start_recovery(sourceServers=[{"sourceServerID": ids[0]}]),  # OK, then...
        lambda: east.start_recovery(sourceServers=[{"sourceServerID": ids[0]}]),  # ...conflict
        lambda: east.start_recovery(
            sourceServers=[{"sourceServerID": f"s-{i:017x}"} for i in range(101)]
        ),  # quota
        lambda: make_client("eu-central-1").describe_jobs(),  # uninitialized
        lambda: east.list_launch_actions(resourceId=ids[0]),  # unknownOperation
        lambda: east.create_extended_source_server(
            sourceServerArn=f"arn:aws:drs:{REGION}:{STAGING_ACCOUNT}:source-server/s-0123456789abcdef0"
        ),  # not found
    ]
    emulator.inject_fault("DescribeSourceServers", "ThrottlingException", count=1)
    emulator.inject_fault("DescribeRecoveryInstances", "InternalServerException", count=1)
    emulator.inject_fault("DescribeRecoverySnapshots", "AccessDeniedException", count=1)
    attempts += [
        lambda: east.describe_source_servers(),
        lambda: east.describe_recovery_instances(),
        lambda: east.describe_recovery_snapshots(sourceServerID=ids[0]),
    ]
    for attempt in attempts:
        with contextlib.suppress(east.exceptions.ClientError):
            attempt()


@pytest.fixture
def traffic(
    make_client: Any, emulator: DrsEmulator, clock: ManualClock, exchanges: list[Exchange]
) -> list[Exchange]:
    run_everything(make_client, emulator, clock)
    return exchanges


def test_every_success_response_matches_its_output_shape(traffic: list[Exchange]) -> None:
    successes = [e for e in traffic if e.status < 300]
    assert {e.operation for e in successes} == SUPPORTED_OPERATIONS
    for exchange in successes:
        op = MODEL["operations"][exchange.operation]
        assert exchange.status == op["http"].get("responseCode", 200), exchange.operation
        assert exchange.headers["content-type"] == "application/json"
        if exchange.status == 204:
            assert exchange.body is None
            continue
        output = op.get("output", {}).get("shape")
        if output is None:
            assert exchange.body in (None, {}), exchange.operation
            continue
        problems = shape_problems(output, exchange.body, exchange.operation)
        assert problems == [], problems


def test_every_error_matches_its_error_shape(traffic: list[Exchange]) -> None:
    errors = [e for e in traffic if e.status >= 300]
    seen = set()
    for exchange in errors:
        code = exchange.headers["x-amzn-errortype"]
        assert answerable(exchange.operation, code, exchange.body.get("reason")), (exchange.operation, code)
        shape = MODEL["shapes"][code]
        assert shape.get("exception") and exchange.status == shape["error"]["httpStatusCode"], code
        body = dict(exchange.body)
        assert body.pop("code") == code  # drs-facts.md: every error body carries code, modeled or not
        assert body["message"]
        assert shape_problems(code, body, code) == []
        seen.add(code)
        if code == "ThrottlingException":
            assert exchange.headers["retry-after"] == "1"
    assert seen == {
        "ValidationException",
        "ResourceNotFoundException",
        "ConflictException",
        "ServiceQuotaExceededException",
        "UninitializedAccountException",
        "ThrottlingException",
        "InternalServerException",
        "AccessDeniedException",
    }


def test_the_scenario_exercised_the_interesting_enum_values(traffic: list[Exchange]) -> None:
    bodies = [e.body for e in traffic if e.status < 300 and e.body]
    events = {i["event"] for b in bodies for i in b.get("items", []) if "event" in i}
    assert events >= {
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "USING_PREVIOUS_SNAPSHOT",
        "SERVER_SKIPPED",
        "CONVERSION_START",
        "CONVERSION_END",
        "CONVERSION_FAIL",
        "LAUNCH_START",
        "LAUNCH_FAILED",
        "LAUNCH_END",
        "CLEANUP_START",
        "CLEANUP_END",
        "JOB_END",
    }
    jobs = [j for b in bodies for j in [*b.get("items", []), b.get("job", {})]]
    statuses = {s["launchStatus"] for j in jobs for s in j.get("participatingServers", [])}
    assert statuses == {"PENDING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TERMINATED"}
    servers = [s for b in bodies for s in b.get("items", []) if "lastLaunchResult" in s]
    states = {s["dataReplicationInfo"]["dataReplicationState"] for s in servers}
    assert states >= {"CONTINUOUS", "STALLED", "INITIAL_SYNC", "BACKLOG", "INITIATING"}


def test_extra_enum_values_really_are_beyond_the_model() -> None:
    for shape_name, values in EXTRA_ENUM_VALUES.items():
        assert values and not values & set(MODEL["shapes"][shape_name]["enum"])


def test_the_walker_catches_what_it_should() -> None:
    bad_job = {"jobID": "drsjob-0123456789abcdef0", "status": "FAILED", "tags": {"k": 1}, "colour": "red"}
    problems = shape_problems("DescribeJobsResponse", {"items": [bad_job, {"status": "PENDING"}]})
    assert any("colour: not a member" in p for p in problems)
    assert any("'FAILED' is not in enum JobStatus" in p for p in problems)
    assert any("['k']: expected a string" in p for p in problems)
    assert any("jobID: required" in p for p in problems)
    assert (
        shape_problems("JobLog", {"event": "LAUNCH_END", "logDateTime": "2022-12-07T19:15:38.846723+00:00"})
        == []
    )
    assert shape_problems("JobLog", {"event": "LAUNCH_ENDED"}) != []
    assert shape_problems("JobLog", {"logDateTime": "07/12/2022"}) != []
