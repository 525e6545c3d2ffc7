"""Validation the service does itself (botocore only checks required members, types and minimums).

test_input_contract.py breaks every constraint of the model, operation by operation; these tests look at
how DRS words the answers, and at the rules beyond the model."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.drs_emulator import DrsEmulator, EmulatorServer

from .helpers import REGION

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/{region}/{service}/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
GOOD_SERVER = "s-0123456789abcdef0"
GOOD_JOB = "drsjob-0123456789abcdef0"


def raw_call(
    url: str, method: str, path: str, body: bytes = b"{}", region: str | None = REGION, service: str = "drs"
) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(url + path, data=body if method != "GET" else None, method=method)
    if region:
        request.add_header("Authorization", AUTH.format(region=region, service=service))
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


def validation_error(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response = cast(dict[str, Any], excinfo.value.response)
    assert response["Error"]["Code"] == "ValidationException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response


def field_names(response: dict[str, Any]) -> list[str]:
    return [f["name"] for f in response["fieldList"]]


def test_unknown_operation(server: EmulatorServer) -> None:
    status, headers, body = raw_call(server.url, "POST", "/StartSomething")
    assert status == 400 and headers["x-amzn-ErrorType"] == "ValidationException"
    assert body["reason"] == "unknownOperation" and body["code"] == "ValidationException" and body["message"]
    status, _, body = raw_call(server.url, "GET", "/StartRecovery")  # a real name with the wrong method
    assert status == 400 and body["reason"] == "unknownOperation"


def test_model_operation_the_emulator_does_not_serve(drs: Any) -> None:
    with pytest.raises(drs.exceptions.ValidationException) as excinfo:
        drs.list_launch_actions(resourceId=GOOD_SERVER)
    assert validation_error(excinfo)["reason"] == "unknownOperation"


def test_body_that_is_not_json(server: EmulatorServer) -> None:
    status, headers, body = raw_call(server.url, "POST", "/DescribeJobs", b"{not json")
    assert (status, headers["x-amzn-ErrorType"], body["reason"]) == (
        400,
        "ValidationException",
        "cannotParse",
    )


def test_request_must_be_signed_for_drs(server: EmulatorServer) -> None:
    status, headers, _ = raw_call(server.url, "POST", "/DescribeJobs", region=None)
    assert (status, headers["x-amzn-ErrorType"]) == (403, "MissingAuthenticationTokenException")
    status, headers, _ = raw_call(server.url, "POST", "/DescribeJobs", service="mgn")
    assert (status, headers["x-amzn-ErrorType"]) == (403, "InvalidSignatureException")


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        (lambda c: c.start_recovery(sourceServers=[]), "sourceServers", "greater than or equal to 1"),
        (
            lambda c: c.start_recovery(sourceServers=[{"sourceServerID": GOOD_SERVER}] * 201),
            "sourceServers",
            "less than or equal to 200",
        ),
        (lambda c: c.describe_jobs(filters={"jobIDs": [GOOD_JOB] * 1001}), "filters.jobIDs", "1000"),
        (
            lambda c: c.describe_source_servers(filters={"sourceServerIDs": [GOOD_SERVER] * 201}),
            "filters.sourceServerIDs",
            "200",
        ),
        (
            lambda c: c.describe_recovery_instances(
                filters={"recoveryInstanceIDs": ["i-0123456789abcdef0"] * 201}
            ),
            "filters.recoveryInstanceIDs",
            "200",
        ),
        (lambda c: c.terminate_recovery_instances(recoveryInstanceIDs=[]), "recoveryInstanceIDs", "1"),
        (
            lambda c: c.terminate_recovery_instances(recoveryInstanceIDs=["i-0123456789abcdef0"] * 201),
            "recoveryInstanceIDs",
            "200",
        ),
        (lambda c: c.describe_jobs(maxResults=0), "maxResults", "greater than or equal to 1"),
        (lambda c: c.describe_source_servers(maxResults=-5), "maxResults", "greater than or equal to 1"),
        (
            lambda c: c.start_recovery(
                sourceServers=[{"sourceServerID": GOOD_SERVER}], tags={"k" * 257: "v"}
            ),
            "tags.key",
            "256",
        ),
        (
            lambda c: c.start_recovery(
                sourceServers=[{"sourceServerID": GOOD_SERVER}], tags={"k": "v" * 257}
            ),
            "tags.k",
            "256",
        ),
    ],
)
def test_list_sizes_lengths_and_ranges(make_client: Any, call: Any, field: str, message: str) -> None:
    client = make_client(validate=False)  # botocore would stop some of these before the wire
    with pytest.raises(client.exceptions.ValidationException) as excinfo:
        call(client)
    response = validation_error(excinfo)
    assert response["reason"] == "fieldValidationFailed"
    (issue,) = [f for f in response["fieldList"] if f["name"] == field]
    assert message in issue["message"]
    assert field in response["message"]


def test_maximums_are_enforced_by_the_service_even_with_client_validation(drs: Any) -> None:
    with pytest.raises(drs.exceptions.ValidationException):
        drs.start_recovery(sourceServers=[{"sourceServerID": GOOD_SERVER}] * 201)


def test_required_members_and_types(make_client: Any) -> None:
    client = make_client(validate=False)
    with pytest.raises(client.exceptions.ValidationException) as excinfo:
        client.describe_job_log_items()
    response = validation_error(excinfo)
    assert response["fieldList"] == [{"name": "jobID", "message": "Member must not be null"}]
    with pytest.raises(client.exceptions.ValidationException) as excinfo:
        client.start_recovery(sourceServers=[{"recoverySnapshotID": "pit-0123456789abcdef0"}])
    assert field_names(validation_error(excinfo)) == ["sourceServers.1.member.sourceServerID"]
    with pytest.raises(client.exceptions.ValidationException) as excinfo:
        client.start_recovery(sourceServers=[{"sourceServerID": GOOD_SERVER}], isDrill="yes")
    response = validation_error(excinfo)
    assert response["reason"] == "cannotParse" and field_names(response) == ["isDrill"]


def test_several_problems_are_reported_together(make_client: Any) -> None:
    client = make_client(validate=False)
    with pytest.raises(client.exceptions.ValidationException) as excinfo:
        client.describe_jobs(maxResults=0, filters={"jobIDs": ["nope"]})
    response = validation_error(excinfo)
    assert sorted(field_names(response)) == [
        "filters.jobIDs.1.member",
        "filters.jobIDs.1.member",
        "maxResults",
    ]
    assert response["message"].startswith("3 validation errors detected: ")


def test_duplicate_servers_and_reserved_tags(drs: Any, emulator: DrsEmulator) -> None:
    (sid,) = emulator.add_source_servers(REGION, count=1)
    with pytest.raises(drs.exceptions.ValidationException):
        drs.start_recovery(sourceServers=[{"sourceServerID": sid}, {"sourceServerID": sid}])
    with pytest.raises(drs.exceptions.ValidationException) as excinfo:
        drs.start_recovery(
            sourceServers=[{"sourceServerID": sid}], tags={"aws:cloudformation:stack-name": "x"}
        )
    assert "aws:" in excinfo.value.response["fieldList"][0]["message"]
    assert drs.describe_jobs()["items"] == []


def test_unknown_resources(drs: Any, emulator: DrsEmulator) -> None:
    # StartRecovery's and TerminateRecoveryInstances' models list no ResourceNotFoundException:
    # an id naming nothing is a field that fails validation.
    (sid,) = emulator.add_source_servers(REGION, count=1)
    with pytest.raises(drs.exceptions.ValidationException) as excinfo:
        drs.start_recovery(sourceServers=[{"sourceServerID": sid}, {"sourceServerID": GOOD_SERVER}])
    response = validation_error(excinfo)
    assert response["reason"] == "fieldValidationFailed"
    assert response["fieldList"] == [
        {
            "name": "sourceServers.2.member.sourceServerID",
            "message": f"Source server {GOOD_SERVER} does not exist",
        }
    ]
    assert drs.describe_jobs()["items"] == []  # nothing was started
    with pytest.raises(drs.exceptions.ValidationException) as excinfo:
        drs.start_recovery(
            sourceServers=[{"sourceServerID": sid, "recoverySnapshotID": "pit-0123456789abcdef0"}]
        )
    assert field_names(validation_error(excinfo)) == ["sourceServers.1.member.recoverySnapshotID"]
    with pytest.raises(drs.exceptions.ValidationException) as excinfo:
        drs.terminate_recovery_instances(recoveryInstanceIDs=["i-0123456789abcdef0"])
    assert field_names(validation_error(excinfo)) == ["recoveryInstanceIDs.1.member"]
    with pytest.raises(drs.exceptions.ResourceNotFoundException):  # these models list it
        drs.get_launch_configuration(sourceServerID=GOOD_SERVER)
    with pytest.raises(drs.exceptions.ResourceNotFoundException):
        drs.reverse_replication(recoveryInstanceID="i-0123456789abcdef0")
    # Describe calls filter: unknown ids simply match nothing.
    assert drs.describe_jobs(filters={"jobIDs": [GOOD_JOB]})["items"] == []
    assert drs.describe_job_log_items(jobID=GOOD_JOB)["items"] == []
    assert drs.describe_source_servers(filters={"sourceServerIDs": [GOOD_SERVER]})["items"] == []
    assert (
        drs.describe_recovery_instances(filters={"recoveryInstanceIDs": ["i-0123456789abcdef0"]})["items"]
        == []
    )


def test_hardware_id_filter(drs: Any, emulator: DrsEmulator) -> None:
    emulator.add_source_servers(REGION, count=3)
    third = drs.describe_source_servers()["items"][2]
    instance_id = third["sourceProperties"]["identificationHints"]["awsInstanceID"]
    found = drs.describe_source_servers(filters={"hardwareId": instance_id})["items"]
    assert [s["sourceServerID"] for s in found] == [third["sourceServerID"]]
    assert drs.describe_source_servers(filters={"stagingAccountIDs": ["111122223333"]})["items"] == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sid=st.one_of(
        st.from_regex(r"s-[0-9a-zA-Z]{17}", fullmatch=True),
        st.text(alphabet="sS-_0123456789abcdefXYZé !", min_size=0, max_size=24),
    )
)
def test_source_server_ids_are_judged_by_the_model_pattern(make_client: Any, sid: str) -> None:
    client = make_client(validate=False)
    valid = re.fullmatch(r"s-[0-9a-zA-Z]{17}", sid) is not None
    expected = client.exceptions.ResourceNotFoundException if valid else client.exceptions.ValidationException
    with pytest.raises(expected):
        client.get_launch_configuration(sourceServerID=sid)
