"""SSM Automation for the hooks (#15): StartAutomationExecution and GetAutomationExecution, served by
the emulator's server for `X-Amz-Target: AmazonSSM.<Op>` (JSON 1.1), in operations.py's style: a table
of handlers over params checked against botocore's SSM model; the tests check the responses against it.

Automations follow the emulator's clock: InProgress for their runbook's `seconds`, then Success (with its
outputs) or Failed (with its failure message); a `hang` runbook never ends. A runbook is set per document
name (`set_runbook`), which is how the sandbox arms its faults; an unknown document is answered
AutomationDefinitionNotFoundException, as SSM does. A client token used again with the same request
returns the same execution (what the bot relies on after a crash); with another request,
IdempotentParameterMismatch. Calls go to the emulator's call log beside DRS's, with their times.
"""

from __future__ import annotations

import copy
import functools
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.loaders import create_loader

from . import model

if TYPE_CHECKING:
    from .emulator import DrsEmulator
    from .sts import Identity

TARGET_PREFIX = "AmazonSSM."
OUTCOMES = ("Success", "Failed", "hang")


@functools.cache
def service_model() -> dict[str, Any]:
    loaded: dict[str, Any] = create_loader().load_service_model("ssm", "service-2")
    return loaded


@dataclass
class Runbook:
    """What a document does in the sandbox."""

    seconds: float = 120  # emulated time from start to its end
    outcome: str = "Success"  # Success | Failed | hang (InProgress for ever: a hook that times out)
    outputs: dict[str, list[str]] = field(default_factory=dict)  # "step.Output": [values]
    failure: str = "Step failed when it is executing/cancelling action"

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {self.outcome!r}")


@dataclass
class AutomationRun:
    execution_id: str
    document: str
    region: str
    parameters: dict[str, list[str]]
    token: str | None
    started_at: datetime
    runbook: Runbook

    def status(self, now: datetime) -> str:
        if self.runbook.outcome == "hang" or now < self.ends_at:
            return "InProgress"
        return self.runbook.outcome

    @property
    def ends_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.runbook.seconds)


@dataclass
class Automations:
    """The SSM Automation state of one emulator."""

    runbooks: dict[str, Runbook] = field(default_factory=dict)
    runs: dict[str, AutomationRun] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # client token (lower case) -> execution id


# Kept beside the emulator rather than in it, so that this module stays the one place for automations.
_STATE: weakref.WeakKeyDictionary[DrsEmulator, Automations] = weakref.WeakKeyDictionary()


def automations(emulator: DrsEmulator) -> Automations:
    with emulator._lock:
        return _STATE.setdefault(emulator, Automations())


def set_runbook(emulator: DrsEmulator, document: str, runbook: Runbook) -> None:
    """What `document` does when started (and that it exists)."""
    automations(emulator).runbooks[document] = runbook


class SsmError(Exception):
    """SSM's JSON 1.1 error: HTTP 400, the name in `__type`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"__type": self.code, "message": self.message}


@dataclass
class Ctx:
    state: Automations
    region: str
    now: datetime
    account_id: str


def start_automation_execution(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    document = p["DocumentName"]
    parameters = {key: list(values) for key, values in (p.get("Parameters") or {}).items()}
    token = p.get("ClientToken")
    if token is not None and (known := ctx.state.tokens.get(token.lower())) is not None:
        run = ctx.state.runs[known]
        if (run.document, run.parameters, run.region) != (document, parameters, ctx.region):
            raise SsmError(
                "IdempotentParameterMismatch",
                "Error occurred during operation 'StartAutomationExecution'. Client token already used "
                "with different parameters.",
            )
        return {"AutomationExecutionId": known}
    runbook = ctx.state.runbooks.get(document)
    if runbook is None:
        raise SsmError(
            "AutomationDefinitionNotFoundException", f"Document with name {document} does not exist."
        )
    execution_id = str(uuid.uuid4())
    ctx.state.runs[execution_id] = AutomationRun(
        execution_id, document, ctx.region, parameters, token, ctx.now, copy.deepcopy(runbook)
    )
    if token is not None:
        ctx.state.tokens[token.lower()] = execution_id
    return {"AutomationExecutionId": execution_id}


def get_automation_execution(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    run = ctx.state.runs.get(p["AutomationExecutionId"])
    if run is None or run.region != ctx.region:
        raise SsmError(
            "AutomationExecutionNotFoundException",
            f"Automation Execution with id {p['AutomationExecutionId']} does not exist.",
        )
    status = run.status(ctx.now)
    execution: dict[str, Any] = {
        "AutomationExecutionId": run.execution_id,
        "DocumentName": run.document,
        "DocumentVersion": "1",
        "ExecutionStartTime": run.started_at.timestamp(),
        "AutomationExecutionStatus": status,
        "Mode": "Auto",
        "ExecutedBy": f"arn:aws:sts::{ctx.account_id}:assumed-role/drs-chatops-executor/sandbox",
    }
    if run.parameters:  # the model's map has at least one entry: absent when there are none
        execution["Parameters"] = run.parameters
    if status != "InProgress":
        execution["ExecutionEndTime"] = run.ends_at.timestamp()
    if status == "Success" and run.runbook.outputs:
        execution["Outputs"] = run.runbook.outputs
    if status == "Failed":
        execution["FailureMessage"] = run.runbook.failure
    return {"AutomationExecution": execution}


HANDLERS: dict[str, Callable[[Ctx, dict[str, Any]], dict[str, Any]]] = {
    "StartAutomationExecution": start_automation_execution,
    "GetAutomationExecution": get_automation_execution,
}
MUTATING = frozenset({"StartAutomationExecution"})


def handle(
    emulator: DrsEmulator,
    *,
    operation: str,
    region: str,
    params: dict[str, Any] | None,
    caller: Identity | None = None,
) -> tuple[int, dict[str, Any]]:
    """Serve one SSM call: (HTTP status, JSON body). Recorded in the emulator's call log."""
    from .emulator import CallRecord

    with emulator._lock:
        now = emulator._now()
        record = CallRecord(len(emulator._calls) + 1, operation, region, copy.deepcopy(params or {}), now)
        record.caller = (caller or emulator.world.home_identity).arn
        emulator._calls.append(record)
        try:
            if denied := emulator.denial("ssm", operation, caller, region):
                raise SsmError(denied[0], denied[2])
            body = _dispatch(emulator, operation, region, params, now)
            record.status = 200
            if operation in MUTATING:
                record.response = copy.deepcopy(body)
            return 200, body
        except SsmError as error:
            record.status, record.error, record.error_message = 400, error.code, error.message
            return 400, error.body()


def _dispatch(
    emulator: DrsEmulator, operation: str, region: str, params: dict[str, Any] | None, now: datetime
) -> dict[str, Any]:
    handler = HANDLERS.get(operation)
    if handler is None:
        raise SsmError("UnknownOperationException", f"Operation {operation} is not served by the sandbox")
    if params is None:
        raise SsmError("SerializationException", "Could not parse the request body as JSON")
    shape = service_model()["operations"][operation]["input"]["shape"]
    issues = model.validate(shape, params, service_model()["shapes"])
    if issues:
        first = issues[0]
        raise SsmError(
            "ValidationException",
            f"1 validation error detected: Value at '{first.name}' failed to satisfy constraint: {first.message}",
        )
    ctx = Ctx(automations(emulator), region, now, emulator.account_id)
    return handler(ctx, params)
