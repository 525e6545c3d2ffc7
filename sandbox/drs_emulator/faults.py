"""API fault injection: make the next N calls (or a seeded fraction of calls) of an operation fail."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from . import errors, model
from .errors import DrsError


@dataclass
class Fault:
    operation: str  # an operation name, or "*" for every operation
    error: str
    count: int | None = None  # failures left; None means unlimited
    rate: float | None = None  # fraction of matching calls that fail; None means all
    retry_after: int = 1
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "error": self.error,
            "count": self.count,
            "rate": self.rate,
            "retryAfter": self.retry_after,
            "message": self.message,
        }


def _error_names() -> set[str]:
    return {name for name, shape in model.shapes().items() if shape.get("exception")}


def _operations(name: str) -> list[str]:
    return sorted(model.SUPPORTED_OPERATIONS) if name == "*" else [name]


class FaultSet:
    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.operation != "*" and fault.operation not in model.service_model()["operations"]:
            raise ValueError(f"unknown DRS operation: {fault.operation}")
        if fault.error not in _error_names():
            raise ValueError(f"{fault.error} is not an error of the DRS model")
        answering = [op for op in _operations(fault.operation) if fault.error in model.listed_errors(op)]
        if not answering and fault.operation == "*":
            raise ValueError(f"no operation the emulator serves answers {fault.error}")
        if not answering:
            listed = ", ".join(sorted(model.listed_errors(fault.operation)))
            raise ValueError(f"{fault.operation} never answers {fault.error} (its model lists: {listed})")
        if fault.count is not None and fault.count < 1:
            raise ValueError("count must be at least 1")
        if fault.rate is not None and not 0 < fault.rate <= 1:
            raise ValueError("rate must be in (0, 1]")
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def check(self, operation: str, region: str, account: str) -> DrsError | None:
        for fault in self.faults:
            if fault.operation not in ("*", operation) or fault.error not in model.listed_errors(operation):
                continue  # "*" reaches only the operations whose model lists the error
            if fault.rate is not None and self._rng.random() >= fault.rate:
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
            return _make_error(fault, operation, region, account)
        return None


def _make_error(fault: Fault, operation: str, region: str, account: str) -> DrsError:
    code, text = fault.error, fault.message
    if code == "ThrottlingException":
        error = errors.throttling(fault.retry_after)
    elif code == "InternalServerException":
        error = DrsError(code, "Internal server error", headers={"Retry-After": str(fault.retry_after)})
    elif code == "AccessDeniedException":
        error = DrsError(
            code,
            f"User: arn:aws:sts::{account}:assumed-role/drs-chatops/emulator is not authorized to perform: "
            f"drs:{operation} on resource: arn:aws:drs:{region}:{account}:* because no identity-based policy "
            f"allows the drs:{operation} action",
        )
    elif code == "ConflictException":
        error = errors.conflict(
            "One or more of the Source Servers included in API call are currently being processed by a Job"
        )
    elif code == "ServiceQuotaExceededException":
        error = errors.quota_exceeded("Service quota exceeded", "L-D88FAC3A", "JOB")
    elif code == "ValidationException":
        error = errors.validation("Injected validation failure", "other")
    elif code == "UninitializedAccountException":
        error = errors.uninitialized(region)
    else:
        error = DrsError(code, f"Injected {code}")
    if text:
        error.message = text
    return error
