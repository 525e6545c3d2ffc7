"""ListTagsForResource / TagResource / UntagResource on source servers, jobs and recovery instances."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.drs_emulator import DrsEmulator, ManualClock

from .helpers import DRILL_SECONDS, OTHER_REGION, REGION, start_drill


def test_tags_on_every_resource_kind(drs: Any, emulator: DrsEmulator, clock: ManualClock) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1, tags={"app": "erp"}, hostnames=["erp-db"])
    server_arn = drs.describe_source_servers()["items"][0]["arn"]
    assert drs.list_tags_for_resource(resourceArn=server_arn)["tags"] == {"Name": "erp-db", "app": "erp"}
    job = start_drill(drs, [sid], tags={"drs-chatops:execution": "ex-1"})
    clock.advance(DRILL_SECONDS)
    instance_arn = drs.describe_recovery_instances()["items"][0]["arn"]
    for arn in (server_arn, job["arn"], instance_arn):
        response = drs.tag_resource(resourceArn=arn, tags={"owner": "dr-team", "tier": "1"})
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert drs.list_tags_for_resource(resourceArn=arn)["tags"]["owner"] == "dr-team"
        drs.untag_resource(resourceArn=arn, tagKeys=["owner", "tier", "never-there"])
        assert "owner" not in drs.list_tags_for_resource(resourceArn=arn)["tags"]
    drs.tag_resource(resourceArn=job["arn"], tags={"wave": "2"})
    (described,) = drs.describe_jobs()["items"]
    assert described["tags"] == {"drs-chatops:execution": "ex-1", "wave": "2"}  # what crash recovery reads
    drs.tag_resource(resourceArn=server_arn, tags={"app": "crm"})
    assert drs.describe_source_servers()["items"][0]["tags"]["app"] == "crm"


def test_unknown_and_malformed_arns(make_client: Any, drs: Any, emulator: DrsEmulator) -> None:
    emulator.add_source_servers(REGION, count=1)
    arn = drs.describe_source_servers()["items"][0]["arn"]
    for missing in (
        arn.replace(arn[-17:], "0123456789abcdef0"),
        arn.replace(REGION, OTHER_REGION),  # resources live in one region
        f"arn:aws:drs:{REGION}:123456789012:replication-configuration-template/rct-0123456789abcdef0",
    ):
        with pytest.raises(drs.exceptions.ResourceNotFoundException) as excinfo:
            drs.list_tags_for_resource(resourceArn=missing)
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    loose = make_client(validate=False)
    with pytest.raises(loose.exceptions.ValidationException):
        loose.list_tags_for_resource(resourceArn="arn:short")


def test_tag_rules(drs: Any, emulator: DrsEmulator) -> None:
    emulator.add_source_servers(REGION, count=1)
    arn = drs.describe_source_servers()["items"][0]["arn"]
    for tags in (
        {"aws:reserved": "x"},
        {f"k{i}": "v" for i in range(50)},
        {"k" * 257: "v"},
        {"k": "v" * 257},
    ):
        with pytest.raises(drs.exceptions.ValidationException):
            drs.tag_resource(resourceArn=arn, tags=tags)
    assert drs.list_tags_for_resource(resourceArn=arn)["tags"] == {"Name": "server-001"}
