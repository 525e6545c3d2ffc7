"""hooks (#15): SSM Automation and Lambda in memory, on the fake clock, with their faults.

An automation runs `seconds` of fake time and ends as its document's behaviour says; a start with a
client token used before returns the same execution (as SSM does). A Lambda function is a Python
callable of (context, payload) -> an answer, or raises to fail. Every call is recorded with its time."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.accounts import AccountRegion
from bot.domain.execution import HookStatus
from bot.domain.hooks import HookResult
from bot.errors import HookRefused, HookUnavailable
from tests.fakes.clock import FakeClock


@dataclass
class Runbook:
    seconds: float = 60
    outcome: str = "Success"  # Success | Failed | hang (InProgress for ever)
    outputs: dict[str, list[str]] = field(default_factory=dict)
    failure: str = "Step failed"


@dataclass
class _Automation:
    execution_id: str
    region: str
    document: str
    parameters: dict[str, list[str]]
    started_at: datetime
    runbook: Runbook


@dataclass
class HookCall:
    operation: str  # StartAutomationExecution | GetAutomationExecution | Invoke
    region: str
    target: str
    at: datetime
    params: object = None


class FakeHooks:
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.runbooks: dict[str, Runbook] = {}
        self.functions: dict[str, Callable[[Mapping[str, object]], object]] = {}
        self.runs: dict[str, _Automation] = {}
        self._tokens: dict[str, str] = {}
        self.calls: list[HookCall] = []
        self.unavailable: dict[str, int] = {}  # operation -> how many next calls fail
        self._ids = itertools.count(1)

    def start_automation(
        self, where: AccountRegion, document: str, parameters: Mapping[str, Sequence[str]], client_token: str
    ) -> str:
        region = str(where)
        self._call("StartAutomationExecution", region, document, dict(parameters))
        if client_token in self._tokens:
            return self._tokens[client_token]
        runbook = self.runbooks.get(document)
        if runbook is None:
            raise HookRefused("AutomationDefinitionNotFoundException", f"Document {document} not found")
        execution_id = f"{next(self._ids):08d}-0000-4000-8000-000000000000"
        self._tokens[client_token] = execution_id
        self.runs[execution_id] = _Automation(
            execution_id,
            region,
            document,
            {k: list(v) for k, v in parameters.items()},
            self._clock(),
            runbook,
        )
        return execution_id

    def automations_started(self) -> list[str]:
        return [a.document for a in self.runs.values()]

    def automations(self, where: AccountRegion, execution_ids: Sequence[str]) -> dict[str, HookResult]:
        region = str(where)
        results: dict[str, HookResult] = {}
        for execution_id in execution_ids:
            self._call("GetAutomationExecution", region, execution_id)
            run = self.runs[execution_id]
            done = self._clock() >= run.started_at + timedelta(seconds=run.runbook.seconds)
            if not done or run.runbook.outcome == "hang":
                results[execution_id] = HookResult(status=HookStatus.RUNNING, run_id=execution_id)
            elif run.runbook.outcome == "Success":
                output = json.dumps(run.runbook.outputs) if run.runbook.outputs else None
                results[execution_id] = HookResult(
                    status=HookStatus.SUCCEEDED, run_id=execution_id, output=output
                )
            else:
                results[execution_id] = HookResult(
                    status=HookStatus.FAILED, run_id=execution_id, error=run.runbook.failure
                )
        return results

    def invoke(
        self, where: AccountRegion, function: str, payload: Mapping[str, object], timeout_seconds: int
    ) -> HookResult:
        region = str(where)
        self._call("Invoke", region, function, dict(payload))
        handler = self.functions.get(function)
        if handler is None:
            return HookResult(
                status=HookStatus.FAILED, error=f"ResourceNotFoundException: Function not found: {function}"
            )
        request_id = f"req-{next(self._ids)}"
        try:
            answer = handler(payload)
        except TimeoutError:
            return HookResult(status=HookStatus.TIMED_OUT, error=f"no answer within {timeout_seconds}s")
        except Exception as error:  # the function's own failure is the hook's outcome
            return HookResult(
                status=HookStatus.FAILED, run_id=request_id, error=f"{type(error).__name__}: {error}"
            )
        return HookResult(status=HookStatus.SUCCEEDED, run_id=request_id, output=json.dumps(answer))

    def _call(self, operation: str, region: str, target: str, params: object = None) -> None:
        self.calls.append(HookCall(operation, region, target, self._clock(), params))
        if self.unavailable.get(operation, 0) > 0:
            self.unavailable[operation] -= 1
            raise HookUnavailable("ThrottlingException", "Rate exceeded")
