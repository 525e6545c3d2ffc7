"""nextToken/maxResults on every paginated operation, through boto3's own paginators."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock, Quotas

from .helpers import DRILL_SECONDS, REGION, start_drill


def page_through(drs: Any, operation: str, token: str | None = None, **kwargs: Any) -> tuple[list[Any], int]:
    config = {"PageSize": 1, "StartingToken": token}
    pages = list(drs.get_paginator(operation).paginate(PaginationConfig=config, **kwargs))
    items = [item for page in pages for item in page["items"]]
    assert all(len(page["items"]) <= 1 for page in pages)
    return items, len(pages)


def test_source_servers_one_at_a_time(drs: Any, emulator: DrsEmulator) -> None:
    ids = emulator.add_source_servers(REGION, count=250)
    items, pages = page_through(drs, "describe_source_servers")
    assert [s["sourceServerID"] for s in items] == ids
    assert pages == 250


def test_jobs_one_at_a_time_newest_first(make_client: Any, clock: ManualClock) -> None:
    quotas = Quotas(concurrent_jobs=1000, servers_in_active_jobs=1000)
    emulator = DrsEmulator(regions=(REGION,), clock=clock, quotas=quotas)
    ids = emulator.add_source_servers(REGION, count=150)
    with EmulatorServer(emulator) as srv:
        drs = make_client(url=srv.url)
        started = []
        for sid in ids:
            started.append(start_drill(drs, [sid])["jobID"])
            clock.advance(1)
        items, _ = page_through(drs, "describe_jobs")
        assert [j["jobID"] for j in items] == started[::-1]

        # A job created between two pages neither repeats an item nor hides one (cursor, not offset).
        first = drs.describe_jobs(maxResults=2)
        start_drill(drs, [emulator.add_source_servers(REGION, count=1)[0]])
        rest, _ = page_through(drs, "describe_jobs", first["nextToken"])
        assert [j["jobID"] for j in first["items"] + rest] == started[::-1]


def test_job_log_one_at_a_time(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ids = emulator.add_source_servers(REGION, count=50)
    job = start_drill(drs, ids)
    clock.advance(DRILL_SECONDS)
    items, pages = page_through(drs, "describe_job_log_items", jobID=job["jobID"])
    assert len(items) == pages == 1 + 50 * 6 + 1
    assert items == drs.describe_job_log_items(jobID=job["jobID"], maxResults=1000)["items"]
    instances, _ = page_through(drs, "describe_recovery_instances")
    assert sorted(i["sourceServerID"] for i in instances) == sorted(ids)


def test_recovery_snapshots_one_at_a_time_both_orders(drs: Any, emulator: DrsEmulator) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    everything = drs.describe_recovery_snapshots(sourceServerID=sid)["items"]
    asc, _ = page_through(drs, "describe_recovery_snapshots", sourceServerID=sid, order="ASC")
    desc, _ = page_through(drs, "describe_recovery_snapshots", sourceServerID=sid, order="DESC")
    assert asc == everything and desc == everything[::-1]


def test_default_page_and_last_page(drs: Any, emulator: DrsEmulator) -> None:
    emulator.add_source_servers(REGION, count=130)
    first = drs.describe_source_servers()
    assert len(first["items"]) == 100 and first["nextToken"]
    second = drs.describe_source_servers(nextToken=first["nextToken"])
    assert len(second["items"]) == 30 and "nextToken" not in second
    exact = drs.describe_source_servers(maxResults=130)
    assert len(exact["items"]) == 130 and "nextToken" not in exact
    assert len(drs.describe_source_servers(nextToken="")["items"]) == 100  # an empty token starts over


def test_bad_tokens(drs: Any, emulator: DrsEmulator) -> None:
    emulator.add_source_servers(REGION, count=3)
    token = drs.describe_source_servers(maxResults=1)["nextToken"]
    for bad in ("garbage!", token[:-3], "eyJvcCI6MX0"):
        with pytest.raises(drs.exceptions.ValidationException) as excinfo:
            drs.describe_source_servers(nextToken=bad)
        assert excinfo.value.response["fieldList"][0]["name"] == "nextToken"
    with pytest.raises(drs.exceptions.ValidationException):
        drs.describe_jobs(nextToken=token)  # a token of another operation


def test_jobs_by_creation_date(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    ids = emulator.add_source_servers(REGION, count=3)
    for sid in ids:  # jobs at 12:00, 13:00 and 14:00
        start_drill(drs, [sid])
        clock.advance(3600)

    def created(**filters: str) -> list[str]:
        items = drs.describe_jobs(filters=filters)["items"]
        return [j["creationDateTime"][11:16] for j in items]

    assert created() == ["14:00", "13:00", "12:00"]
    assert created(fromDate="2024-05-01T13:00:00Z") == ["14:00", "13:00"]
    assert created(toDate="2024-05-01T13:30:00.5Z") == ["13:00", "12:00"]
    assert created(fromDate="2024-05-01T12:30:00Z", toDate="2024-05-01T13:30:00Z") == ["13:00"]
    assert created(fromDate="2024-05-02T00:00:00Z") == []
