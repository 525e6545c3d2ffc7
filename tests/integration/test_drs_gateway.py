"""The DRS adapter against the emulator over HTTP: what it sends keeps DRS's input contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest

from bot.adapters.drs import DrsGateway
from bot.domain.accounts import home
from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock

REGION = "us-east-1"
START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
PARIS = timezone(timedelta(hours=1))  # a caller's clock need not be in UTC


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def emulator(clock: ManualClock) -> Iterator[DrsEmulator]:
    emulator = DrsEmulator(regions=(REGION,), clock=clock, seed=3)
    yield emulator


@pytest.fixture
def gateway(emulator: DrsEmulator) -> Iterator[DrsGateway]:
    with EmulatorServer(emulator) as server:
        yield DrsGateway(
            lambda where: boto3.client(
                "drs",
                region_name=where.region,
                endpoint_url=server.url,
                aws_access_key_id="test",
                aws_secret_access_key="test",
            )
        )


def sent(emulator: DrsEmulator, operation: str) -> list[dict[str, object]]:
    return [call.params for call in emulator.calls if call.operation == operation and call.status < 300]


def test_job_searches_send_utc_timestamps_ending_in_z(
    gateway: DrsGateway, emulator: DrsEmulator, clock: ManualClock
) -> None:
    ids = emulator.add_source_servers(REGION, count=2)
    job_id = gateway.start_recovery(home(REGION), ids, is_drill=True, tags={"drs-chatops:execution": "e-1"})
    since = (START - timedelta(minutes=5)).astimezone(PARIS)
    assert gateway.find_job(home(REGION), {"drs-chatops:execution": "e-1"}, since) == job_id
    assert [job.job_id for job in gateway.active_jobs(home(REGION), since)] == [job_id]
    # A job started before `since` is not found: the instant sent is the one meant, whatever its zone.
    assert (
        gateway.find_job(
            home(REGION), {"drs-chatops:execution": "e-1"}, START.astimezone(PARIS) + timedelta(1)
        )
        is None
    )
    filters = [params["filters"] for params in sent(emulator, "DescribeJobs")]
    assert [f["fromDate"] for f in filters if "fromDate" in f] == [  # type: ignore[index,operator]
        "2026-11-29T08:55:00.000000Z",
        "2026-11-29T08:55:00.000000Z",
        "2026-11-30T09:00:00.000000Z",
    ]
    assert not [c for c in emulator.calls if c.error]


def test_point_in_time_search_sends_a_utc_timestamp_ending_in_z(
    gateway: DrsGateway, emulator: DrsEmulator
) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    moment = (START - timedelta(hours=2)).astimezone(PARIS)
    found = gateway.snapshot_at_or_before(home(REGION), sid, moment)
    assert found is not None and found[1] <= moment
    (params,) = sent(emulator, "DescribeRecoverySnapshots")
    assert params["filters"] == {"toDateTime": "2026-11-29T07:00:00.000000Z"}
    with pytest.raises(ValueError, match="timezone-aware"):
        gateway.snapshot_at_or_before(home(REGION), sid, datetime(2026, 11, 29, 7, 0))
