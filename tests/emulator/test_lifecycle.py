"""Job lifecycles as real DRS runs them: drills, recoveries, failures, terminations, failback."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock, Timings

from .helpers import DRILL_SECONDS, OTHER_REGION, REGION, START, describe_job, job_log, start_drill
from .helpers import parse_ts as ts


def server_events(log: list[dict[str, Any]], server_id: str) -> list[str]:
    return [i["event"] for i in log if i["eventData"].get("sourceServerID") == server_id]


def test_drill_goes_pending_started_completed(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ids = emulator.add_source_servers(REGION, count=2)
    response = drs.start_recovery(sourceServers=[{"sourceServerID": i} for i in ids], isDrill=True)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    job = response["job"]
    assert re.fullmatch(r"drsjob-[0-9a-f]{17}", job["jobID"])
    assert job["arn"] == f"arn:aws:drs:{REGION}:123456789012:job/{job['jobID']}"
    assert (job["type"], job["initiatedBy"], job["status"]) == ("LAUNCH", "START_DRILL", "PENDING")
    assert job["participatingServers"] == [{"sourceServerID": i, "launchStatus": "PENDING"} for i in ids]
    assert job["creationDateTime"] == "2024-05-01T12:00:00+00:00"
    assert "endDateTime" not in job

    clock.advance(0.5)
    assert describe_job(drs, job["jobID"])["status"] == "STARTED"
    clock.advance(299.5)  # 5 minutes in: launching, the EC2 instances exist
    job = describe_job(drs, job["jobID"])
    assert job["status"] == "STARTED"
    assert {s["launchStatus"] for s in job["participatingServers"]} == {"IN_PROGRESS"}
    assert all(s["recoveryInstanceID"].startswith("i-") for s in job["participatingServers"])
    clock.advance(300)
    job = describe_job(drs, job["jobID"])
    assert job["status"] == "COMPLETED"
    assert {s["launchStatus"] for s in job["participatingServers"]} == {"LAUNCHED"}
    assert 520 <= (ts(job["endDateTime"]) - START).total_seconds() <= 550  # about 8m53s


def test_job_log_follows_the_real_drill(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ids = emulator.add_source_servers(REGION, count=2)
    job = start_drill(drs, ids)
    clock.advance(DRILL_SECONDS)
    log = job_log(drs, job["jobID"])
    assert log[0]["event"] == "JOB_START" and log[-1]["event"] == "JOB_END"
    for sid in ids:
        assert server_events(log, sid) == [
            "SNAPSHOT_START",
            "SNAPSHOT_END",
            "CONVERSION_START",
            "CONVERSION_END",
            "LAUNCH_START",
            "LAUNCH_END",
        ]
    at: dict[str, list[float]] = {}
    for item in log:
        assert re.fullmatch(r"2024-05-01T\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00", item["logDateTime"])
        at.setdefault(item["event"], []).append((ts(item["logDateTime"]) - START).total_seconds())
    # drs-facts.md: JOB_START +0.4 s, SNAPSHOT +1 s, CONVERSION_START +53 s, CONVERSION_END +4m10s,
    # LAUNCH_START +4m11s, LAUNCH_END +8m50s, JOB_END +8m53s; per-server jitter is at most 2 %.
    assert at["JOB_START"] == [0.4]
    assert at["SNAPSHOT_END"] == [1.0, 1.0]
    expected = {"CONVERSION_START": 53, "CONVERSION_END": 250, "LAUNCH_START": 251, "LAUNCH_END": 530}
    for event, seconds in expected.items():
        assert all(abs(s - seconds) <= seconds * 0.02 for s in at[event]), (event, at[event])
    assert at["JOB_END"] == [pytest.approx(max(at["LAUNCH_END"]) + 3)]
    assert [ts(i["logDateTime"]) for i in log] == sorted(ts(i["logDateTime"]) for i in log)
    launch_end = [i for i in log if i["event"] == "LAUNCH_END"]
    participants = describe_job(drs, job["jobID"])["participatingServers"]
    assert {i["eventData"]["targetInstanceID"] for i in launch_end} == {
        s["recoveryInstanceID"] for s in participants
    }


def test_log_items_appear_only_when_their_time_comes(
    drs: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    ids = emulator.add_source_servers(REGION, count=1)
    job = start_drill(drs, ids)
    assert job_log(drs, job["jobID"]) == []
    clock.advance(60)
    assert [i["event"] for i in job_log(drs, job["jobID"])] == [
        "JOB_START",
        "SNAPSHOT_START",
        "SNAPSHOT_END",
        "CONVERSION_START",
    ]


def test_drill_with_a_chosen_snapshot_uses_it(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    snapshots = drs.describe_recovery_snapshots(sourceServerID=sid, order="DESC")["items"]
    chosen = snapshots[3]
    job = drs.start_recovery(
        sourceServers=[{"sourceServerID": sid, "recoverySnapshotID": chosen["snapshotID"]}], isDrill=True
    )["job"]
    clock.advance(DRILL_SECONDS)
    assert server_events(job_log(drs, job["jobID"]), sid)[0] == "USING_PREVIOUS_SNAPSHOT"
    (instance,) = drs.describe_recovery_instances()["items"]
    assert instance["pointInTimeSnapshotDateTime"] == chosen["timestamp"]


def test_failed_launch_inside_a_completed_job(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ok, bad = emulator.add_source_servers(REGION, count=2)
    emulator.fail_launch(bad)
    job = start_drill(drs, [ok, bad])
    clock.advance(DRILL_SECONDS)
    described = describe_job(drs, job["jobID"])
    assert described["status"] == "COMPLETED"  # there is no FAILED job status
    servers = {s["sourceServerID"]: s for s in described["participatingServers"]}
    assert servers[ok]["launchStatus"] == "LAUNCHED"
    assert servers[bad] == {"sourceServerID": bad, "launchStatus": "FAILED"}
    log = job_log(drs, job["jobID"])
    assert server_events(log, bad)[-2:] == ["LAUNCH_START", "LAUNCH_FAILED"]
    (failed,) = [i for i in log if i["event"] == "LAUNCH_FAILED"]
    assert "ec2:CreateLaunchTemplateVersion" in failed["eventData"]["rawError"]
    assert bad in failed["eventData"]["rawError"]
    source = drs.describe_source_servers(filters={"sourceServerIDs": [bad]})["items"][0]
    assert source["lastLaunchResult"] == "FAILED"
    assert source["lifeCycle"]["lastLaunch"]["status"] == "FAILED"
    assert "recoveryInstanceId" not in source
    assert [r.status for r in emulator.launch_results()] == ["FAILED", "LAUNCHED"]


def test_conversion_failure_with_custom_error(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    emulator.fail_launch(sid, "Conversion failed: unsupported boot mode", event="CONVERSION_FAIL")
    job = start_drill(drs, [sid])
    clock.advance(DRILL_SECONDS)
    log = job_log(drs, job["jobID"])
    assert server_events(log, sid)[-1] == "CONVERSION_FAIL"
    assert [i["eventData"]["rawError"] for i in log if "rawError" in i["eventData"]] == [
        "Conversion failed: unsupported boot mode"
    ]
    assert describe_job(drs, job["jobID"])["participatingServers"][0]["launchStatus"] == "FAILED"


def test_launch_failure_can_be_limited_to_some_launches(
    drs: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    emulator.fail_launch(sid, times=1)
    statuses = []
    for _ in range(2):
        job = start_drill(drs, [sid])
        clock.advance(DRILL_SECONDS)
        statuses.append(describe_job(drs, job["jobID"])["participatingServers"][0]["launchStatus"])
    assert statuses == ["FAILED", "LAUNCHED"]


def test_fail_launch_reaches_a_running_job_until_launch_started(
    drs: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    early, late = emulator.add_source_servers(REGION, count=2)
    job = start_drill(drs, [early, late])
    clock.advance(100)  # converting: not too late to fail
    emulator.fail_launch(early)
    clock.advance(300)  # launching already: this launch goes through, the next one fails
    emulator.fail_launch(late)
    clock.advance(200)
    statuses = {
        s["sourceServerID"]: s["launchStatus"]
        for s in describe_job(drs, job["jobID"])["participatingServers"]
    }
    assert statuses == {early: "FAILED", late: "LAUNCHED"}
    job2 = start_drill(drs, [late])
    clock.advance(DRILL_SECONDS)
    assert describe_job(drs, job2["jobID"])["participatingServers"][0]["launchStatus"] == "FAILED"
    emulator.clear_faults()
    job3 = start_drill(drs, [late])
    clock.advance(DRILL_SECONDS)
    assert describe_job(drs, job3["jobID"])["participatingServers"][0]["launchStatus"] == "LAUNCHED"


def test_slow_conversion_delays_one_server(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    fast, slow = emulator.add_source_servers(REGION, count=2)
    emulator.slow_conversion(slow, 600)
    job = start_drill(drs, [fast, slow])
    clock.advance(DRILL_SECONDS)
    statuses = {
        s["sourceServerID"]: s["launchStatus"]
        for s in describe_job(drs, job["jobID"])["participatingServers"]
    }
    assert statuses == {fast: "LAUNCHED", slow: "PENDING"}
    clock.advance(600)
    log = job_log(drs, job["jobID"])
    ends = {
        i["eventData"]["sourceServerID"]: ts(i["logDateTime"]) for i in log if i["event"] == "CONVERSION_END"
    }
    assert 590 <= (ends[slow] - ends[fast]).total_seconds() <= 610
    assert describe_job(drs, job["jobID"])["status"] == "COMPLETED"


def test_stalled_server_launches_from_its_last_snapshot(
    drs: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1, replication_state="STALLED", lag="PT3H")
    latest = drs.describe_recovery_snapshots(sourceServerID=sid, order="DESC")["items"][0]
    assert ts(latest["timestamp"]) <= START - timedelta(hours=3)
    job = start_drill(drs, [sid])
    clock.advance(DRILL_SECONDS)
    assert server_events(job_log(drs, job["jobID"]), sid)[0] == "USING_PREVIOUS_SNAPSHOT"
    (instance,) = drs.describe_recovery_instances()["items"]
    assert instance["pointInTimeSnapshotDateTime"] == latest["timestamp"]


def test_server_that_never_replicated_is_skipped(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ok, syncing = emulator.add_source_servers(REGION, count=1) + emulator.add_source_servers(
        REGION, count=1, replication_state="INITIAL_SYNC"
    )
    job = start_drill(drs, [ok, syncing])
    clock.advance(DRILL_SECONDS)
    log = job_log(drs, job["jobID"])
    assert server_events(log, syncing) == ["SERVER_SKIPPED"]
    assert (
        "no recovery snapshot"
        in next(i for i in log if i["event"] == "SERVER_SKIPPED")["eventData"]["rawError"]
    )
    statuses = {
        s["sourceServerID"]: s["launchStatus"]
        for s in describe_job(drs, job["jobID"])["participatingServers"]
    }
    assert statuses == {ok: "LAUNCHED", syncing: "FAILED"}


def test_recovery_instances_carry_what_cleanup_needs(
    drs: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    ids = emulator.add_source_servers(REGION, count=2, tags={"app": "web"})
    job = start_drill(drs, ids)
    clock.advance(DRILL_SECONDS)
    instances = drs.describe_recovery_instances()["items"]
    assert {i["sourceServerID"] for i in instances} == set(ids)
    snapshot_end = next(i for i in job_log(drs, job["jobID"]) if i["event"] == "SNAPSHOT_END")["logDateTime"]
    for instance in instances:
        assert re.fullmatch(r"i-[0-9a-f]{17}", instance["ec2InstanceID"])
        assert instance["recoveryInstanceID"] == instance["ec2InstanceID"]
        assert instance["isDrill"] is True and instance["jobID"] == job["jobID"]
        assert instance["ec2InstanceState"] == "RUNNING"
        assert instance["pointInTimeSnapshotDateTime"] == snapshot_end
        assert instance["tags"]["app"] == "web"
    one = instances[0]["recoveryInstanceID"]
    by_id = drs.describe_recovery_instances(filters={"recoveryInstanceIDs": [one]})["items"]
    assert [i["recoveryInstanceID"] for i in by_id] == [one]
    by_source = drs.describe_recovery_instances(filters={"sourceServerIDs": [ids[1]]})["items"]
    assert [i["sourceServerID"] for i in by_source] == [ids[1]]
    source = drs.describe_source_servers(filters={"sourceServerIDs": [ids[1]]})["items"][0]
    assert source["recoveryInstanceId"] == by_source[0]["recoveryInstanceID"]
    assert source["lastLaunchResult"] == "SUCCEEDED"
    assert source["lifeCycle"]["lastLaunch"]["initiated"] == {
        "apiCallDateTime": "2024-05-01T12:00:00+00:00",
        "jobID": job["jobID"],
        "type": "DRILL",
    }


def test_recovery_is_not_a_drill(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    job = drs.start_recovery(sourceServers=[{"sourceServerID": sid}])["job"]  # isDrill defaults to false
    assert job["initiatedBy"] == "START_RECOVERY"
    clock.advance(DRILL_SECONDS)
    (instance,) = drs.describe_recovery_instances()["items"]
    assert instance["isDrill"] is False
    source = drs.describe_source_servers()["items"][0]
    assert source["lifeCycle"]["lastLaunch"]["initiated"]["type"] == "RECOVERY"


def test_terminate_recovery_instances(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ids = emulator.add_source_servers(REGION, count=2)
    start_drill(drs, ids)
    clock.advance(DRILL_SECONDS)
    pairs = {
        (i["sourceServerID"], i["recoveryInstanceID"]) for i in drs.describe_recovery_instances()["items"]
    }
    instance_ids = [iid for _, iid in sorted(pairs)]
    response = drs.terminate_recovery_instances(recoveryInstanceIDs=instance_ids)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    job = response["job"]
    assert (job["type"], job["initiatedBy"], job["status"]) == (
        "TERMINATE",
        "TERMINATE_RECOVERY_INSTANCES",
        "PENDING",
    )
    assert {(s["sourceServerID"], s["recoveryInstanceID"]) for s in job["participatingServers"]} == pairs
    with pytest.raises(drs.exceptions.ConflictException) as excinfo:
        drs.terminate_recovery_instances(recoveryInstanceIDs=instance_ids[:1])
    assert excinfo.value.response["resourceId"] == instance_ids[0]
    with pytest.raises(drs.exceptions.ConflictException):
        start_drill(drs, ids[:1])  # its source server is in the TERMINATE job
    clock.advance(5)
    assert {i["ec2InstanceState"] for i in drs.describe_recovery_instances()["items"]} == {"SHUTTING-DOWN"}
    clock.advance(60)
    assert {i["ec2InstanceState"] for i in drs.describe_recovery_instances()["items"]} == {"TERMINATED"}
    done = describe_job(drs, job["jobID"])
    assert done["status"] == "COMPLETED"
    assert {s["launchStatus"] for s in done["participatingServers"]} == {"TERMINATED"}
    events = [i["event"] for i in job_log(drs, job["jobID"])]
    assert events == ["JOB_START", *["CLEANUP_START"] * 2, *["CLEANUP_END"] * 2, "JOB_END"]
    assert all("recoveryInstanceId" not in s for s in drs.describe_source_servers()["items"])
    assert emulator.launch_results()[-1].status == "LAUNCHED"  # terminations are not launch results


def test_failback_to_the_origin_region(make_client: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    recovery, origin = make_client(REGION), make_client(OTHER_REGION)
    (sid,) = emulator.add_source_servers(REGION, count=1, tags={"app": "db"}, origin_region=OTHER_REGION)
    recovery.start_recovery(sourceServers=[{"sourceServerID": sid}], isDrill=False)
    clock.advance(DRILL_SECONDS)
    (instance,) = recovery.describe_recovery_instances()["items"]
    response = recovery.reverse_replication(recoveryInstanceID=instance["recoveryInstanceID"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    arn = response["reversedDirectionSourceServerArn"]
    assert re.fullmatch(rf"arn:aws:drs:{OTHER_REGION}:123456789012:source-server/s-[0-9a-f]{{17}}", arn)
    with pytest.raises(recovery.exceptions.ConflictException) as repeat:
        recovery.reverse_replication(recoveryInstanceID=instance["recoveryInstanceID"])
    assert "already replicating in the reverse direction" in repeat.value.response["Error"]["Message"]
    assert repeat.value.response["resourceId"] == instance["recoveryInstanceID"]

    (failback,) = origin.describe_source_servers()["items"]
    assert failback["arn"] == arn and failback["replicationDirection"] == "FAILBACK"
    assert failback["dataReplicationInfo"]["dataReplicationState"] == "INITIATING"
    assert failback["sourceCloudProperties"]["originRegion"] == REGION
    assert failback["sourceProperties"]["identificationHints"]["awsInstanceID"] == instance["ec2InstanceID"]
    assert failback["tags"]["app"] == "db"
    original = recovery.describe_source_servers()["items"][0]
    assert original["reversedDirectionSourceServerArn"] == arn
    assert failback["reversedDirectionSourceServerArn"] == original["arn"]
    clock.advance(300)
    state = origin.describe_source_servers()["items"][0]["dataReplicationInfo"]["dataReplicationState"]
    assert state == "INITIAL_SYNC"
    clock.advance(900)
    assert (
        origin.describe_source_servers()["items"][0]["dataReplicationInfo"]["dataReplicationState"]
        == "CONTINUOUS"
    )
    reversed_info = recovery.describe_recovery_instances()["items"][0]["dataReplicationInfo"]
    assert reversed_info == {"dataReplicationState": "CONTINUOUS"}

    # Fail back into the origin region, then re-protect: the original server replicates again.
    origin.start_recovery(sourceServers=[{"sourceServerID": failback["sourceServerID"]}], isDrill=False)
    clock.advance(DRILL_SECONDS)
    (back,) = origin.describe_recovery_instances()["items"]
    reprotect = origin.reverse_replication(recoveryInstanceID=back["recoveryInstanceID"])
    assert reprotect["reversedDirectionSourceServerArn"] == original["arn"]
    assert (
        recovery.describe_source_servers()["items"][0]["dataReplicationInfo"]["dataReplicationState"]
        == "RESCAN"
    )


def test_reverse_replication_waits_for_the_instances_agent_and_a_held_instance(
    make_client: Any, emulator: DrsEmulator, clock: ManualClock, server: EmulatorServer
) -> None:
    recovery = make_client(REGION)
    emulator.timings = emulator.timings.with_changes(agent_check_in=150)
    held, ready = emulator.add_source_servers(REGION, count=2, origin_region=OTHER_REGION)
    emulator.hold_reverse_readiness(held, 300)  # its next instances: 300 s more than the agent needs
    recovery.start_recovery(
        sourceServers=[{"sourceServerID": held}, {"sourceServerID": ready}], isDrill=False
    )
    clock.advance(DRILL_SECONDS)  # RUNNING a few seconds ago: no agent has checked in yet
    by_server = {
        i["sourceServerID"]: i["recoveryInstanceID"] for i in recovery.describe_recovery_instances()["items"]
    }
    with pytest.raises(recovery.exceptions.ConflictException) as early:
        recovery.reverse_replication(recoveryInstanceID=by_server[ready])
    assert early.value.response["Error"]["Message"] == (
        f"Recovery instance {by_server[ready]} is not ready for reverse replication: "
        "the AWS Replication Agent on it has not connected to the service yet"
    )
    clock.advance(100)
    recovery.reverse_replication(recoveryInstanceID=by_server[ready])
    with pytest.raises(recovery.exceptions.ConflictException):
        recovery.reverse_replication(recoveryInstanceID=by_server[held])
    clock.advance(300)
    recovery.reverse_replication(recoveryInstanceID=by_server[held])

    # Held by the admin API, for ever, until the faults are cleared.
    (third,) = emulator.add_source_servers(REGION, count=1, origin_region=OTHER_REGION)
    recovery.start_recovery(sourceServers=[{"sourceServerID": third}], isDrill=False)
    clock.advance(DRILL_SECONDS + 200)  # ready by now, but for the hold
    (instance,) = [i for i in recovery.describe_recovery_instances()["items"] if i["sourceServerID"] == third]
    answer = requests.post(
        f"{server.url}/_emulator/reverse-readiness",
        json={"recoveryInstanceID": instance["recoveryInstanceID"]},
    )
    assert answer.status_code == 200
    clock.advance(86400)
    with pytest.raises(recovery.exceptions.ConflictException):
        recovery.reverse_replication(recoveryInstanceID=instance["recoveryInstanceID"])
    emulator.clear_faults()
    recovery.reverse_replication(recoveryInstanceID=instance["recoveryInstanceID"])


def test_reverse_replication_refuses_drills_and_unknown_instances(
    drs: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    start_drill(drs, [sid])
    clock.advance(DRILL_SECONDS)
    (instance,) = drs.describe_recovery_instances()["items"]
    with pytest.raises(drs.exceptions.ValidationException):
        drs.reverse_replication(recoveryInstanceID=instance["recoveryInstanceID"])
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.reverse_replication(recoveryInstanceID="i-0123456789abcdef0")


def test_launch_events_reach_subscribers_outside_the_lock(
    drs: Any, server: EmulatorServer, emulator: DrsEmulator, clock: ManualClock
) -> None:
    ok, bad = emulator.add_source_servers(REGION, count=2)
    emulator.fail_launch(bad)
    # The callback calls the API over HTTP (another thread): it would deadlock if the lock were held.
    side = boto3.session.Session().client(
        "drs",
        region_name=REGION,
        endpoint_url=server.url,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(read_timeout=5, retries={"total_max_attempts": 1}),
    )
    seen: list[tuple[dict[str, Any], int]] = []
    emulator.subscribe(lambda e: seen.append((e, len(side.describe_jobs()["items"]))))
    job = start_drill(drs, [ok, bad])
    clock.advance(DRILL_SECONDS)
    assert emulator.advance_all() == [e for e, _ in seen]
    events = [e for e, _ in seen]
    assert [e["detail"]["state"] for e in events] == ["DRILL_LAUNCH_FAILED", "DRILL_LAUNCH_SUCCEEDED"]
    first = events[0]
    assert first["source"] == "aws.drs" and first["detail-type"] == "DRS Source Server Launch Result"
    assert first["region"] == REGION and first["account"] == "123456789012"
    assert first["resources"] == [f"arn:aws:drs:{REGION}:123456789012:source-server/{bad}"]
    assert first["detail"] == {
        "state": "DRILL_LAUNCH_FAILED",
        "job-id": job["jobID"],
        "source-server-id": bad,
    }
    assert re.fullmatch(r"2024-05-01T12:0\d:\d\dZ", first["time"])
    assert emulator.events == events

    unsubscribe = emulator.subscribe(lambda e: seen.append((e, 0)))
    unsubscribe()
    drs.start_recovery(sourceServers=[{"sourceServerID": ok}], isDrill=False)
    clock.advance(DRILL_SECONDS)
    assert [e["detail"]["state"] for e in emulator.advance_all()] == ["RECOVERY_LAUNCH_SUCCEEDED"]
    assert len(seen) == 3


def test_calls_show_waves_in_order(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    wave1, wave2 = emulator.add_source_servers(REGION, count=2), emulator.add_source_servers(REGION, count=2)
    job1 = start_drill(drs, wave1)
    while describe_job(drs, job1["jobID"])["status"] != "COMPLETED":
        clock.advance(30)
    start_drill(drs, wave2)
    launched = emulator.server_launch_times()
    starts = [c for c in emulator.calls if c.operation == "StartRecovery"]
    assert [c.params["sourceServers"][0]["sourceServerID"] for c in starts] == [wave1[0], wave2[0]]
    assert starts[1].time > max(launched[s] for s in wave1)
    assert starts[1].response is not None and starts[1].response["job"]["status"] == "PENDING"
    polls = [c for c in emulator.calls if c.operation == "DescribeJobs"]
    assert all(c.region == REGION and c.error is None and c.status == 200 for c in polls)


def test_replication_state_and_lag(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)

    def info() -> dict[str, Any]:
        result: dict[str, Any] = drs.describe_source_servers()["items"][0]["dataReplicationInfo"]
        return result

    assert (info()["dataReplicationState"], info()["lagDuration"]) == ("CONTINUOUS", "P0D")
    emulator.set_replication_state(sid, "STALLED", lag="PT2H")
    assert (info()["dataReplicationState"], info()["lagDuration"]) == ("STALLED", "PT2H")
    assert info()["dataReplicationError"]["error"] == "UNSTABLE_NETWORK"
    clock.advance(61.5)
    assert info()["lagDuration"] == "PT2H1M1.5S"  # no data arrives: the lag grows
    emulator.set_replication_state(sid, "BACKLOG", lag=45)
    assert (info()["dataReplicationState"], info()["lagDuration"]) == ("BACKLOG", "PT45S")
    emulator.set_replication_state(sid, "CONTINUOUS")
    assert (info()["dataReplicationState"], info()["lagDuration"]) == ("CONTINUOUS", "P0D")
    with pytest.raises(ValueError):
        emulator.set_replication_state(sid, "HEALTHY")


def test_recovery_snapshots_follow_the_retention_policy(
    drs: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    now = clock.advance(300)  # 12:05
    asc = drs.describe_recovery_snapshots(sourceServerID=sid)["items"]
    times = [ts(s["expectedTimestamp"]) for s in asc]
    assert times == sorted(times) and times[-1] == START
    recent = [t for t in times if now - t < timedelta(hours=1)]
    assert len(recent) == 6 and all(t.minute % 10 == 0 for t in recent)  # every 10 minutes for an hour
    day = [t for t in times if timedelta(hours=1) <= now - t < timedelta(days=1)]
    assert len(day) == 23 and all(t.minute == 0 for t in day)  # then hourly for a day
    week = [t for t in times if now - t >= timedelta(days=1)]
    assert len(week) == 6 and all(t.hour == 0 for t in week)  # then daily for a week
    assert len(times) == len(set(times)) == 6 + 23 + 6
    for snap in asc:
        assert re.fullmatch(r"pit-[0-9a-f]{17}", snap["snapshotID"]) and snap["sourceServerID"] == sid
        assert ts(snap["timestamp"]) >= ts(snap["expectedTimestamp"])
        assert re.fullmatch(r"snap-[0-9a-f]{17}", snap["ebsSnapshots"][0])
    desc = drs.describe_recovery_snapshots(sourceServerID=sid, order="DESC")["items"]
    assert desc == asc[::-1]
    window = drs.describe_recovery_snapshots(
        sourceServerID=sid,
        filters={"fromDateTime": "2024-05-01T11:00:00Z", "toDateTime": "2024-05-01T11:35:00.000Z"},
    )["items"]
    assert [ts(s["expectedTimestamp"]).strftime("%H:%M") for s in window] == [
        "11:00",
        "11:10",
        "11:20",
        "11:30",
    ]
    clock.advance(600)
    newest = drs.describe_recovery_snapshots(sourceServerID=sid, order="DESC", maxResults=1)["items"][0]
    assert ts(newest["expectedTimestamp"]) == START + timedelta(minutes=10)
    assert drs.describe_recovery_snapshots(sourceServerID="s-00000000000000000")["items"] == []


def test_snapshot_interval_is_configurable(make_client: Any, clock: ManualClock) -> None:
    emulator = DrsEmulator(regions=(REGION,), clock=clock, timings=Timings(snapshot_interval=300))
    (sid,) = emulator.add_source_servers(REGION, count=1)
    clock.advance(60)
    with EmulatorServer(emulator) as srv:
        drs = make_client(url=srv.url)
        times = [
            ts(s["expectedTimestamp"]) for s in drs.describe_recovery_snapshots(sourceServerID=sid)["items"]
        ]
    assert len([t for t in times if START - t < timedelta(minutes=59)]) == 12


def test_delete_job(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ids = emulator.add_source_servers(REGION, count=1)
    job = start_drill(drs, ids)
    with pytest.raises(drs.exceptions.ConflictException):
        drs.delete_job(jobID=job["jobID"])
    clock.advance(DRILL_SECONDS)
    assert drs.delete_job(jobID=job["jobID"])["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert drs.describe_jobs()["items"] == []
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.delete_job(jobID=job["jobID"])


def test_launch_configuration(drs: Any, emulator: DrsEmulator) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1, hostnames=["db-01"])
    config = drs.get_launch_configuration(sourceServerID=sid)
    assert config["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert config["sourceServerID"] == sid and config["name"] == "db-01"
    assert re.fullmatch(r"lt-[0-9a-f]{17}", config["ec2LaunchTemplateID"])
    assert config["launchDisposition"] == "STARTED" and config["copyTags"] is True
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.get_launch_configuration(sourceServerID="s-00000000000000000")


def test_time_scale_compresses_a_wave(make_client: Any) -> None:
    emulator = DrsEmulator(regions=(REGION,), time_scale=3000)  # 533 emulated seconds in ~0.18 s
    ids = emulator.add_source_servers(REGION, count=2)
    with EmulatorServer(emulator) as srv:
        drs = make_client(url=srv.url)
        job = start_drill(drs, ids)
        deadline = time.monotonic() + 5
        while describe_job(drs, job["jobID"])["status"] != "COMPLETED":
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_manual_clock_never_goes_back(clock: ManualClock) -> None:
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(START - timedelta(seconds=1))
    assert clock.set(START + timedelta(hours=1)) == START + timedelta(hours=1)
