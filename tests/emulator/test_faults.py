"""Injected API faults, as boto3 sees them (status, error code, headers, retries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.retries.standard import ExponentialBackoff

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock

from .helpers import REGION


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retries would sleep up to a second; the emulator's behaviour is what is under test."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


def test_throttling_for_the_next_calls(drs: Any, emulator: DrsEmulator) -> None:
    emulator.inject_fault("DescribeJobs", "ThrottlingException", count=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(drs.exceptions.ThrottlingException) as excinfo:
            drs.describe_jobs()
        response = excinfo.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "7"
        assert response["Error"]["Message"] == "Rate exceeded"
    assert drs.describe_jobs()["items"] == []
    drs.describe_source_servers()  # other operations were never affected
    assert [(c.operation, c.error) for c in emulator.calls] == [
        ("DescribeJobs", "ThrottlingException"),
        ("DescribeJobs", "ThrottlingException"),
        ("DescribeJobs", None),
        ("DescribeSourceServers", None),
    ]
    assert emulator.faults == []


def test_botocore_retries_throttling_and_server_errors(
    make_client: Any, emulator: DrsEmulator, no_backoff: None
) -> None:
    drs = make_client(attempts=3)
    emulator.inject_fault("DescribeSourceServers", "ThrottlingException", count=1)
    emulator.inject_fault("DescribeSourceServers", "InternalServerException", count=1)
    response = drs.describe_source_servers()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    assert [c.status for c in emulator.calls] == [429, 500, 200]


@pytest.mark.parametrize(
    ("operation", "error", "status"),
    [
        ("ReverseReplication", "AccessDeniedException", 403),
        ("ReverseReplication", "ConflictException", 409),
        ("ReverseReplication", "InternalServerException", 500),
        ("ReverseReplication", "ResourceNotFoundException", 404),
        ("StartRecovery", "ServiceQuotaExceededException", 402),
        ("ReverseReplication", "UninitializedAccountException", 400),
        ("ReverseReplication", "ValidationException", 400),
    ],
)
def test_each_error_matches_its_boto3_exception(
    drs: Any, emulator: DrsEmulator, operation: str, error: str, status: int
) -> None:
    emulator.inject_fault(operation, error, count=1)
    calls: dict[str, Callable[[], object]] = {
        "StartRecovery": lambda: drs.start_recovery(
            sourceServers=[{"sourceServerID": "s-0123456789abcdef0"}]
        ),
        "ReverseReplication": lambda: drs.reverse_replication(recoveryInstanceID="i-0123456789abcdef0"),
    }
    with pytest.raises(getattr(drs.exceptions, error)) as excinfo:
        calls[operation]()
    response = excinfo.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == error
    if error == "AccessDeniedException":
        assert "is not authorized to perform: drs:ReverseReplication" in response["Error"]["Message"]


def test_custom_message_and_every_operation_whose_model_lists_the_error(
    drs: Any, emulator: DrsEmulator
) -> None:
    emulator.inject_fault("*", "AccessDeniedException", message="Explicit deny in a service control policy")
    for call in (drs.describe_recovery_instances, drs.initialize_service):
        with pytest.raises(drs.exceptions.AccessDeniedException) as excinfo:
            call()
        assert excinfo.value.response["Error"]["Message"] == "Explicit deny in a service control policy"
    # DescribeJobs' and DescribeSourceServers' models list no AccessDeniedException: never answered.
    assert drs.describe_jobs()["items"] == []
    assert drs.describe_source_servers()["items"] == []
    emulator.clear_faults()
    assert drs.describe_recovery_instances()["items"] == []


def test_a_fraction_of_calls_fails_the_same_way_under_a_seed(make_client: Any, clock: ManualClock) -> None:
    def pattern(seed: int) -> list[bool]:
        emulator = DrsEmulator(regions=(REGION,), clock=clock, seed=seed)
        emulator.inject_fault("DescribeJobs", "InternalServerException", rate=0.3)
        with EmulatorServer(emulator) as srv:
            drs = make_client(url=srv.url)
            failed = []
            for _ in range(40):
                try:
                    drs.describe_jobs()
                    failed.append(False)
                except drs.exceptions.InternalServerException:
                    failed.append(True)
        return failed

    first = pattern(1)
    assert first == pattern(1)
    assert first != pattern(2)
    assert 5 <= sum(first) <= 20


def test_bad_fault_definitions_are_refused(emulator: DrsEmulator) -> None:
    with pytest.raises(ValueError):
        emulator.inject_fault("StartRecovery", "TeapotException")
    with pytest.raises(ValueError):
        emulator.inject_fault("StartRecoveryPlease")
    with pytest.raises(ValueError):
        emulator.inject_fault("StartRecovery", rate=1.5)
    # Each operation answers only errors its model lists.
    with pytest.raises(ValueError, match="StartRecovery never answers ResourceNotFoundException"):
        emulator.inject_fault("StartRecovery", "ResourceNotFoundException")
    with pytest.raises(ValueError, match="DescribeJobs never answers AccessDeniedException"):
        emulator.inject_fault("DescribeJobs", "AccessDeniedException")
    assert emulator.faults == []
