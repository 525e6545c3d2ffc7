"""Reports in S3 (moto) through the real adapter: written by the tick that ends an execution, not
written twice for the same version, and an S3 that refuses the write loses nothing: the execution keeps
being ticked until its report is there."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from bot.adapters.reports import S3ReportStore, key
from bot.domain.execution import ExecutionStatus
from bot.services.report import Reports
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import World, build_world
from tests.unit.builders import catalog

_buckets = itertools.count(1)


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    built, server = build_world(dynamodb, tables, catalog(2, 1), slack)
    yield built
    server.stop()


@pytest.fixture
def s3(moto_url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def versions(s3: Any, bucket: str, name: str) -> int:
    listed = s3.list_object_versions(Bucket=bucket, Prefix=name)
    return len([v for v in listed.get("Versions", []) if v["Key"] == name])


def test_the_tick_that_ends_a_drill_writes_its_report_once(world: World, s3: Any) -> None:
    bucket = f"reports-{next(_buckets)}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    reports = Reports(S3ReportStore(lambda: s3, bucket), world.clock.now)
    use_cases = world.use_cases(reports=reports)
    execution_id = world.start_drill(use_cases)
    final = world.run(use_cases, execution_id)
    assert final.status is ExecutionStatus.COMPLETED
    name = key("plan-x", execution_id, "json")
    stored = s3.get_object(Bucket=bucket, Key=name)
    assert stored["Metadata"] == {"execution-version": str(final.version)}
    assert json.loads(stored["Body"].read())["Status"] == "COMPLETED"
    assert versions(s3, bucket, key("plan-x", execution_id, "html")) == 1
    # Ticks after the end do not write the same report again.
    use_cases.ticking.tick(execution_id)
    use_cases.ticking.tick(execution_id)
    assert versions(s3, bucket, name) == 1


def test_a_report_s3_refuses_is_written_by_a_later_tick_and_the_end_is_kept(world: World, s3: Any) -> None:
    bucket = f"reports-{next(_buckets)}"  # not created yet: S3 answers NoSuchBucket
    use_cases = world.use_cases(reports=Reports(S3ReportStore(lambda: s3, bucket), world.clock.now))
    execution_id = world.start_drill(use_cases)
    for _ in range(200):
        result = use_cases.ticking.tick(execution_id)
        if world.stored(execution_id).status.is_terminal:
            break
        world.clock.advance(30)
    ended = world.stored(execution_id)
    assert ended.status is ExecutionStatus.COMPLETED and ended.end_time is not None
    # Its end is saved, its messages are out, and yet it is not finished: the report is missing.
    for _ in range(3):
        result = use_cases.ticking.tick(execution_id)
        assert not result.finished and result.wait_seconds > 0
    assert execution_id in world.store().active_ids()

    s3.create_bucket(Bucket=bucket)  # S3 is back
    result = use_cases.ticking.tick(execution_id)
    assert result.finished
    assert execution_id not in world.store().active_ids()
    stored = json.loads(s3.get_object(Bucket=bucket, Key=key("plan-x", execution_id, "json"))["Body"].read())
    assert stored["ExecutionId"] == execution_id and stored["EndTime"] is not None
    assert world.stored(execution_id) == ended  # the report changed nothing stored
