"""Every job log event that ends a server's launch as FAILED can be produced, with DRS's reason."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock
from sandbox.drs_emulator.lifecycle import FAILURES

from .helpers import DRILL_SECONDS, MODEL, REGION, describe_job, job_log, start_drill
from .test_admin_cli import admin

JOB_LOG_EVENTS = MODEL["shapes"]["JobLogEvent"]["enum"]
# A TERMINATE job's failure, not a launch's.
NOT_A_LAUNCH = {"CLEANUP_FAIL"}


def model_launch_failures() -> set[str]:
    """The model's failure events for a server: *_FAIL, *_FAILED, and SERVER_SKIPPED."""
    return {
        e for e in JOB_LOG_EVENTS if e.endswith(("_FAIL", "_FAILED")) or e == "SERVER_SKIPPED"
    } - NOT_A_LAUNCH


def test_the_emulator_can_fail_a_launch_with_every_failure_event_of_the_model() -> None:
    assert set(FAILURES) == model_launch_failures()
    assert {opener for _, opener in FAILURES.values() if opener} <= set(JOB_LOG_EVENTS)


def server_log(log: list[dict[str, Any]], sid: str) -> list[dict[str, Any]]:
    return [i for i in log if i["eventData"].get("sourceServerID") == sid]


def assert_failed_with(
    drs: Any, emulator: DrsEmulator, job_id: str, sid: str, event: str, error: str
) -> None:
    items = server_log(job_log(drs, job_id), sid)
    last = items[-1]
    assert (last["event"], last["eventData"]["rawError"]) == (event, error)
    opener = FAILURES[event][1]
    if opener:
        assert items[-2]["event"] == opener
    assert "LAUNCH_END" not in [i["event"] for i in items]
    (server,) = describe_job(drs, job_id)["participatingServers"]
    assert server["launchStatus"] == "FAILED" and "recoveryInstanceID" not in server
    (result,) = [r for r in emulator.launch_results() if r.source_server_id == sid]
    assert (result.status, result.error, result.recovery_instance_id) == ("FAILED", error, None)
    assert drs.describe_recovery_instances(filters={"sourceServerIDs": [sid]})["items"] == []


@pytest.mark.parametrize("event", sorted(FAILURES))
def test_each_failure_event_through_the_python_interface(
    drs: Any, emulator: DrsEmulator, clock: ManualClock, event: str
) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    emulator.fail_launch(sid, f"{event}: what DRS said", event=event)
    job = start_drill(drs, [sid])
    clock.advance(DRILL_SECONDS)
    assert describe_job(drs, job["jobID"])["status"] == "COMPLETED"
    assert_failed_with(drs, emulator, job["jobID"], sid, event, f"{event}: what DRS said")


@pytest.mark.parametrize("event", sorted(FAILURES))
def test_each_failure_event_through_the_admin_api(
    server: EmulatorServer, drs: Any, emulator: DrsEmulator, clock: ManualClock, event: str
) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    body = {"sourceServerID": sid, "event": event, "error": "said over HTTP", "times": 1}
    assert admin(server, "POST", "launch-failures", body) == (200, {})
    job = start_drill(drs, [sid])
    clock.advance(DRILL_SECONDS)
    assert_failed_with(drs, emulator, job["jobID"], sid, event, "said over HTTP")
    again = start_drill(drs, [sid])  # times: 1
    clock.advance(DRILL_SECONDS)
    assert describe_job(drs, again["jobID"])["participatingServers"][0]["launchStatus"] == "LAUNCHED"


def test_a_failure_without_text_gets_a_default_one(
    drs: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    ids = emulator.add_source_servers(REGION, count=2)
    emulator.fail_launch(ids[0], event="SNAPSHOT_FAIL")
    emulator.fail_launch(ids[1], event="UPDATE_LAUNCH_TEMPLATE_FAILED")
    job = start_drill(drs, ids)
    clock.advance(DRILL_SECONDS)
    log = job_log(drs, job["jobID"])
    snapshot, template = (server_log(log, sid)[-1]["eventData"]["rawError"] for sid in ids)
    assert snapshot.startswith(f"SNAPSHOT_FAIL for source server {ids[0]}")
    assert "ec2:CreateLaunchTemplateVersion" in template


def test_unknown_failure_events_are_refused(server: EmulatorServer, emulator: DrsEmulator) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    with pytest.raises(ValueError, match="event must be one of"):
        emulator.fail_launch(sid, event="LAUNCH_TEMPLATE_FAILED")  # not in DRS's JobLogEvent
    status, body = admin(server, "POST", "launch-failures", {"sourceServerID": sid, "event": "JOB_END"})
    assert status == 400 and "event must be one of" in body["error"]
