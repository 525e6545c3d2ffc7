"""hooks (#15): SSM Automation and Lambda through boto3, AWS errors turned into the bot's own.

Automations are started with a client token (the same for every attempt of one hook, so a tick that
died after the call gets the same execution back) and followed across ticks with
GetAutomationExecution. Lambda hooks are invoked RequestResponse, once: Lambda has no API to ask what
an asynchronous invocation returned, and a retried synchronous one would run the hook twice.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from bot.adapters.accounts import AccountSessions
from bot.domain.accounts import AccountRegion
from bot.domain.execution import HookStatus
from bot.domain.hooks import HookResult
from bot.errors import HookRefused, HookUnavailable

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

_UNAVAILABLE = {
    "ThrottlingException",
    "TooManyRequestsException",
    "InternalServerError",
    "ServiceException",
    "ServiceUnavailable",
    "RequestTimeout",
    # SSM runs a limited number of automations at once: a slot frees up as others end.
    "AutomationExecutionLimitExceededException",
}
_SUCCEEDED = {"Success", "CompletedWithSuccess"}
_FAILED = {"Failed", "Cancelled", "Cancelling", "CompletedWithFailure", "Rejected", "Exited"}
OUTPUT_CHARS = 4000  # read from AWS; the domain keeps less

SsmFactory = Callable[[AccountRegion], Any]  # no mypy_boto3_ssm stubs in the lock
LambdaFactory = Callable[[AccountRegion, int], "LambdaClient"]


# Throttles and 5xx retried by botocore: the client token makes a retried StartAutomationExecution
# return the same execution.
_SSM = Config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=5, read_timeout=30)


def ssm_client(sessions: AccountSessions) -> SsmFactory:
    return lambda where: sessions.client("ssm", where, _SSM)


def lambda_client(sessions: AccountSessions) -> LambdaFactory:
    """One attempt only (a retried RequestResponse would run the hook twice), and the hook's timeout as
    the read timeout. botocore's `max_attempts` counts retries (1 would send it twice after a read
    timeout); `total_max_attempts` counts the first call too."""

    def client(where: AccountRegion, timeout_seconds: int) -> LambdaClient:
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=5,
            read_timeout=timeout_seconds,
        )
        return sessions.client("lambda", where, config)  # type: ignore[no-any-return]

    return client


class AwsHooks:
    def __init__(self, ssm: SsmFactory, lambda_: LambdaFactory) -> None:
        self._ssm_factory = ssm
        self._lambda_factory = lambda_
        self._ssm: dict[AccountRegion, Any] = {}
        self._lambda: dict[tuple[AccountRegion, int], LambdaClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def through(cls, sessions: AccountSessions) -> AwsHooks:
        """Clients in each wave's account and region."""
        return cls(ssm_client(sessions), lambda_client(sessions))

    def start_automation(
        self, where: AccountRegion, document: str, parameters: Mapping[str, Sequence[str]], client_token: str
    ) -> str:
        try:
            # Parameters is a map of at least one entry: left out when the runbook takes none.
            extra: dict[str, Any] = (
                {"Parameters": {k: list(v) for k, v in parameters.items()}} if parameters else {}
            )
            response = self._ssm_client(where).start_automation_execution(
                DocumentName=document, ClientToken=client_token, **extra
            )
        except (ClientError, BotoCoreError) as error:
            raise _translated(error) from error
        return str(response["AutomationExecutionId"])

    def automations(self, where: AccountRegion, execution_ids: Sequence[str]) -> dict[str, HookResult]:
        results: dict[str, HookResult] = {}
        for execution_id in execution_ids:
            try:
                response = self._ssm_client(where).get_automation_execution(
                    AutomationExecutionId=execution_id
                )
            except (ClientError, BotoCoreError):
                continue  # asked again next tick; the hook's timeout still counts
            automation: Any = response["AutomationExecution"]
            results[execution_id] = _automation_result(execution_id, automation)
        return results

    def invoke(
        self, where: AccountRegion, function: str, payload: Mapping[str, object], timeout_seconds: int
    ) -> HookResult:
        client = self._lambda_client(
            AccountRegion(where.account, _function_region(function) or where.region), timeout_seconds
        )
        try:
            response = client.invoke(
                FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(payload).encode()
            )
        except ReadTimeoutError:
            return HookResult(
                status=HookStatus.TIMED_OUT,
                error=f"no answer within {timeout_seconds}s (the function may still be running)",
            )
        except ClientError as error:
            translated = _translated(error)
            if isinstance(translated, HookUnavailable):
                raise translated from error  # throttled: nothing ran
            return HookResult(status=HookStatus.FAILED, error=str(translated))
        except (ConnectTimeoutError, EndpointConnectionError) as error:
            raise HookUnavailable(type(error).__name__, str(error)) from error  # never reached Lambda
        except BotoCoreError as error:
            # The request may have reached Lambda: its outcome is unknown, and it is not repeated.
            return HookResult(status=HookStatus.FAILED, error=f"{type(error).__name__}: {error}")
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        body = response["Payload"].read().decode("utf-8", "replace")[:OUTPUT_CHARS]
        if response.get("FunctionError"):
            return HookResult(status=HookStatus.FAILED, run_id=request_id, error=_function_error(body))
        return HookResult(status=HookStatus.SUCCEEDED, run_id=request_id, output=body or None)

    def _ssm_client(self, where: AccountRegion) -> Any:
        with self._lock:
            if where not in self._ssm:
                self._ssm[where] = self._ssm_factory(where)
            return self._ssm[where]

    def _lambda_client(self, where: AccountRegion, timeout_seconds: int) -> LambdaClient:
        with self._lock:
            key = (where, timeout_seconds)
            if key not in self._lambda:
                self._lambda[key] = self._lambda_factory(where, timeout_seconds)
            return self._lambda[key]


def _automation_result(execution_id: str, automation: Mapping[str, Any]) -> HookResult:
    status = str(automation.get("AutomationExecutionStatus", ""))
    outputs = automation.get("Outputs") or {}
    output = json.dumps(outputs, sort_keys=True)[:OUTPUT_CHARS] if outputs else None
    if status in _SUCCEEDED:
        return HookResult(status=HookStatus.SUCCEEDED, run_id=execution_id, output=output)
    if status == "TimedOut":
        message = automation.get("FailureMessage") or "the automation timed out"
        return HookResult(status=HookStatus.TIMED_OUT, run_id=execution_id, output=output, error=message)
    if status in _FAILED:
        message = automation.get("FailureMessage") or f"the automation ended {status}"
        return HookResult(status=HookStatus.FAILED, run_id=execution_id, output=output, error=message)
    return HookResult(status=HookStatus.RUNNING, run_id=execution_id)


def _function_error(body: str) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return body or "the function failed"
    if isinstance(answer, dict):
        kind, message = answer.get("errorType"), answer.get("errorMessage")
        if message:
            return f"{kind}: {message}" if kind else str(message)
    return body


def _function_region(function: str) -> str | None:
    parts = function.split(":")
    return parts[3] if function.startswith("arn:") and len(parts) > 3 and parts[3] else None


def _translated(error: ClientError | BotoCoreError) -> HookRefused | HookUnavailable:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "Unknown")
        message = error.response.get("Error", {}).get("Message", str(error))
        if code in _UNAVAILABLE:
            return HookUnavailable(code, message)
        return HookRefused(code, message)
    return HookUnavailable(type(error).__name__, str(error))
