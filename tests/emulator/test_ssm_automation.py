"""SSM Automation as the emulator serves it for the hooks (#15): a real boto3 SSM client over HTTP,
every raw response checked against botocore's SSM model, automations on the emulator's clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock
from sandbox.drs_emulator.ssm_automation import Runbook, service_model, set_runbook

from .helpers import OTHER_REGION, REGION, shape_problems

TOKEN = "0b6c1a52-4a0e-4a53-9d0e-5b8c2b7f0c11"


@pytest.fixture
def ssm(server: EmulatorServer) -> Iterator[tuple[Any, list[tuple[str, int, Any]]]]:
    seen: list[tuple[str, int, Any]] = []
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("ssm", endpoint_url=server.url, config=Config(retries={"total_max_attempts": 1}))

    def capture(http_response: Any, model: Any, **_: Any) -> None:
        seen.append((model.name, http_response.status_code, json.loads(http_response.content or b"{}")))

    client.meta.events.register("after-call.ssm", capture)
    yield client, seen


def conform(seen: list[tuple[str, int, Any]]) -> None:
    ssm_model = service_model()
    for operation, status, body in seen:
        assert status == 200, (operation, body)
        shape = ssm_model["operations"][operation]["output"]["shape"]
        assert shape_problems(shape, body, model=ssm_model) == [], (operation, body)


def test_an_automation_runs_for_its_runbooks_time_then_succeeds_with_its_outputs(
    ssm: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    client, seen = ssm
    set_runbook(emulator, "Promote-Db", Runbook(seconds=90, outputs={"promote.Endpoint": ["db.internal"]}))
    started = client.start_automation_execution(
        DocumentName="Promote-Db", Parameters={"Db": ["ledger"]}, ClientToken=TOKEN
    )["AutomationExecutionId"]
    running = client.get_automation_execution(AutomationExecutionId=started)["AutomationExecution"]
    assert running["AutomationExecutionStatus"] == "InProgress" and "ExecutionEndTime" not in running
    clock.advance(90)
    done = client.get_automation_execution(AutomationExecutionId=started)["AutomationExecution"]
    assert done["AutomationExecutionStatus"] == "Success"
    assert done["Outputs"] == {"promote.Endpoint": ["db.internal"]}
    assert done["Parameters"] == {"Db": ["ledger"]}
    assert (done["ExecutionEndTime"] - done["ExecutionStartTime"]).total_seconds() == 90
    conform(seen)
    assert [(c.operation, c.region) for c in emulator.calls] == [
        ("StartAutomationExecution", REGION),
        ("GetAutomationExecution", REGION),
        ("GetAutomationExecution", REGION),
    ]


def test_faults_per_document_a_failure_and_a_hang(
    ssm: Any, emulator: DrsEmulator, clock: ManualClock
) -> None:
    client, seen = ssm
    set_runbook(emulator, "Fails", Runbook(seconds=10, outcome="Failed", failure="Step promote failed"))
    set_runbook(emulator, "Hangs", Runbook(outcome="hang"))
    failing = client.start_automation_execution(DocumentName="Fails")["AutomationExecutionId"]
    hanging = client.start_automation_execution(DocumentName="Hangs")["AutomationExecutionId"]
    clock.advance(86400)
    failed = client.get_automation_execution(AutomationExecutionId=failing)["AutomationExecution"]
    assert (failed["AutomationExecutionStatus"], failed["FailureMessage"]) == (
        "Failed",
        "Step promote failed",
    )
    hung = client.get_automation_execution(AutomationExecutionId=hanging)["AutomationExecution"]
    assert hung["AutomationExecutionStatus"] == "InProgress"
    conform(seen)


def test_a_client_token_used_again_returns_the_same_execution_and_never_a_second(
    ssm: Any, emulator: DrsEmulator
) -> None:
    client, _ = ssm
    set_runbook(emulator, "Promote-Db", Runbook())
    first = client.start_automation_execution(DocumentName="Promote-Db", ClientToken=TOKEN)
    again = client.start_automation_execution(DocumentName="Promote-Db", ClientToken=TOKEN.upper())
    assert first["AutomationExecutionId"] == again["AutomationExecutionId"]
    with pytest.raises(ClientError) as other:
        client.start_automation_execution(
            DocumentName="Promote-Db", Parameters={"x": ["1"]}, ClientToken=TOKEN
        )
    assert other.value.response["Error"]["Code"] == "IdempotentParameterMismatch"


def test_ssms_errors_in_its_own_shape(ssm: Any, emulator: DrsEmulator, server: EmulatorServer) -> None:
    client, _ = ssm
    calls: list[tuple[Callable[[], Any], str]] = [
        (
            lambda: client.start_automation_execution(DocumentName="No-Such-Doc"),
            "AutomationDefinitionNotFoundException",
        ),
        (
            lambda: client.get_automation_execution(AutomationExecutionId="0" * 36),
            "AutomationExecutionNotFoundException",
        ),
    ]
    for call, code in calls:
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == code
        listed = {e["shape"] for op in service_model()["operations"].values() for e in op.get("errors", [])}
        assert code in listed
    # An automation is found only in its own region.
    set_runbook(emulator, "Promote-Db", Runbook())
    started = client.start_automation_execution(DocumentName="Promote-Db")["AutomationExecutionId"]
    west = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=OTHER_REGION
    ).client("ssm", endpoint_url=server.url)
    with pytest.raises(ClientError) as elsewhere:
        west.get_automation_execution(AutomationExecutionId=started)
    assert elsewhere.value.response["Error"]["Code"] == "AutomationExecutionNotFoundException"


def test_requests_are_checked_against_the_model(ssm: Any) -> None:
    client = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    ).client("ssm", endpoint_url=ssm[0].meta.endpoint_url, config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as refused:
        client.start_automation_execution(DocumentName="x")  # shorter than the pattern's 3 characters
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "DocumentName" in refused.value.response["Error"]["Message"]
