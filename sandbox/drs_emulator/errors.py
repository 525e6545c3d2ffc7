"""DRS errors as the service sends them: name in x-amzn-ErrorType, body {message, code, ...}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from . import model
from .model import FieldIssue

F = TypeVar("F", bound=Callable[..., "DrsError"])


def answers(code: str, *, contract: bool = False) -> Callable[[F], F]:
    """Mark a factory with the error it makes, so the conformance tests can find, in each operation's
    code, every error it may answer. `contract`: the input contract's ValidationException."""

    def mark(factory: F) -> F:
        factory.code = code  # type: ignore[attr-defined]
        factory.contract = contract  # type: ignore[attr-defined]
        return factory

    return mark


class DrsError(Exception):
    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return model.error_status(self.code)

    @property
    def reason(self) -> str | None:
        reason = self.fields.get("reason")
        return reason if isinstance(reason, str) else None

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, **self.fields}


@answers("ValidationException")
def validation(
    message: str, reason: str = "other", field_list: list[dict[str, str]] | None = None
) -> DrsError:
    fields: dict[str, Any] = {"reason": reason}
    if field_list is not None:
        fields["fieldList"] = field_list
    return DrsError("ValidationException", message, fields=fields)


@answers("ValidationException", contract=True)
def field_validation(name: str, message: str) -> DrsError:
    return validation(
        f"1 validation error detected: Value at '{name}' failed to satisfy constraint: {message}",
        "fieldValidationFailed",
        [{"name": name, "message": message}],
    )


@answers("ValidationException", contract=True)
def from_issues(issues: list[FieldIssue]) -> DrsError:
    parts = []
    for issue in issues:
        shown = "" if issue.value is None or isinstance(issue.value, dict | list) else f" '{issue.value}'"
        parts.append(f"Value{shown} at '{issue.name}' failed to satisfy constraint: {issue.message}")
    count = len(issues)
    message = f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(parts)
    reason = "cannotParse" if any(i.type_error for i in issues) else "fieldValidationFailed"
    return validation(message, reason, [{"name": i.name, "message": i.message} for i in issues])


@answers("ResourceNotFoundException")
def not_found(message: str, resource_id: str, resource_type: str) -> DrsError:
    return DrsError(
        "ResourceNotFoundException",
        message,
        fields={"resourceId": resource_id, "resourceType": resource_type},
    )


@answers("ConflictException")
def conflict(message: str, resource_id: str | None = None, resource_type: str | None = None) -> DrsError:
    fields = {k: v for k, v in (("resourceId", resource_id), ("resourceType", resource_type)) if v}
    return DrsError("ConflictException", message, fields=fields)


@answers("ServiceQuotaExceededException")
def quota_exceeded(message: str, quota_code: str, resource_type: str) -> DrsError:
    return DrsError(
        "ServiceQuotaExceededException",
        message,
        fields={"serviceCode": "drs", "quotaCode": quota_code, "resourceType": resource_type},
    )


@answers("UninitializedAccountException")
def uninitialized(region: str) -> DrsError:
    return DrsError(
        "UninitializedAccountException",
        f"Account is not initialized for Elastic Disaster Recovery in region {region}. "
        "Call InitializeService first.",
    )


@answers("ThrottlingException")
def throttling(retry_after: int = 1) -> DrsError:
    return DrsError(
        "ThrottlingException",
        "Rate exceeded",
        fields={"serviceCode": "drs"},
        headers={"Retry-After": str(retry_after)},
    )
