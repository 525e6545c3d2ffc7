"""Service quotas, conflicts and initialization, with the status codes boto3 users see."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock, Quotas

from .helpers import DRILL_SECONDS, REGION, start_drill


def quota_error(excinfo: pytest.ExceptionInfo[Any], quota_code: str) -> dict[str, Any]:
    response: dict[str, Any] = excinfo.value.response
    assert response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402  # not 429
    assert (response["serviceCode"], response["quotaCode"]) == ("drs", quota_code)
    return response


def test_servers_per_job_quota_is_below_the_model_limit(drs: Any, emulator: DrsEmulator) -> None:
    ids = emulator.add_source_servers(REGION, count=101)
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as excinfo:
        start_drill(drs, ids)
    assert "100" in quota_error(excinfo, "L-B827C881")["Error"]["Message"]
    assert start_drill(drs, ids[:100])["status"] == "PENDING"


def test_servers_per_job_quota_is_configurable(make_client: Any, clock: ManualClock) -> None:
    emulator = DrsEmulator(regions=(REGION,), clock=clock, quotas=Quotas(servers_per_job=200))
    ids = emulator.add_source_servers(REGION, count=150)
    with EmulatorServer(emulator) as srv:
        assert len(start_drill(make_client(url=srv.url), ids)["participatingServers"]) == 150


def test_concurrent_jobs_quota(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ids = emulator.add_source_servers(REGION, count=21)
    for sid in ids[:20]:
        start_drill(drs, [sid])
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as excinfo:
        start_drill(drs, ids[20:])
    quota_error(excinfo, "L-D88FAC3A")
    clock.advance(DRILL_SECONDS)  # the 20 jobs complete
    assert start_drill(drs, ids[20:])["status"] == "PENDING"


def test_terminate_jobs_count_as_jobs(make_client: Any, clock: ManualClock) -> None:
    emulator = DrsEmulator(regions=(REGION,), clock=clock, quotas=Quotas(concurrent_jobs=2))
    ids = emulator.add_source_servers(REGION, count=3)
    with EmulatorServer(emulator) as srv:
        drs = make_client(url=srv.url)
        start_drill(drs, ids[:1])
        clock.advance(DRILL_SECONDS)
        (instance,) = drs.describe_recovery_instances()["items"]
        drs.terminate_recovery_instances(recoveryInstanceIDs=[instance["recoveryInstanceID"]])
        start_drill(drs, ids[1:2])
        with pytest.raises(drs.exceptions.ServiceQuotaExceededException):
            start_drill(drs, ids[2:])


def test_servers_in_all_active_jobs_quota(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ids = emulator.add_source_servers(REGION, count=501)
    for first in range(0, 500, 100):
        start_drill(drs, ids[first : first + 100])
    with pytest.raises(drs.exceptions.ServiceQuotaExceededException) as excinfo:
        start_drill(drs, ids[500:])
    quota_error(excinfo, "L-05AFA8C6")
    clock.advance(DRILL_SECONDS)
    start_drill(drs, ids[500:])


def test_one_active_job_per_source_server(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    a, b = emulator.add_source_servers(REGION, count=2)
    start_drill(drs, [a])
    with pytest.raises(drs.exceptions.ConflictException) as excinfo:
        start_drill(drs, [b, a])
    response = excinfo.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["Error"]["Message"] == (
        "One or more of the Source Servers included in API call are currently being processed by a Job"
    )
    assert (response["resourceId"], response["resourceType"]) == (a, "SOURCE_SERVER")
    assert len(drs.describe_jobs()["items"]) == 1  # the refused call started nothing
    clock.advance(DRILL_SECONDS)
    start_drill(drs, [b, a])


def test_uninitialized_region(make_client: Any, emulator: DrsEmulator) -> None:
    client = make_client("eu-west-1")
    calls: tuple[Callable[[], object], ...] = (
        lambda: client.describe_source_servers(),
        lambda: client.describe_jobs(),
        lambda: client.start_recovery(sourceServers=[{"sourceServerID": "s-0123456789abcdef0"}]),
    )
    for call in calls:
        with pytest.raises(client.exceptions.UninitializedAccountException) as excinfo:
            call()
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    response = client.initialize_service()
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client.describe_source_servers()["items"] == []
    assert client.initialize_service()["ResponseMetadata"]["HTTPStatusCode"] == 204  # idempotent
    emulator.add_source_servers("eu-west-1", count=1)
    assert len(client.describe_source_servers()["items"]) == 1
