"""DRS errors as the service sends them: name in x-amzn-ErrorType, body {message, code, ...}."""

from __future__ import annotations

from typing import Any

from . import model
from .model import FieldIssue


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

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, **self.fields}


def validation(
    message: str, reason: str = "other", field_list: list[dict[str, str]] | None = None
) -> DrsError:
    fields: dict[str, Any] = {"reason": reason}
    if field_list is not None:
        fields["fieldList"] = field_list
    return DrsError("ValidationException", message, fields=fields)


def field_validation(name: str, message: str) -> DrsError:
    return validation(
        f"1 validation error detected: Value at '{name}' failed to satisfy constraint: {message}",
        "fieldValidationFailed",
        [{"name": name, "message": message}],
    )


def from_issues(issues: list[FieldIssue]) -> DrsError:
    parts = []
    for issue in issues:
        shown = "" if issue.value is None or isinstance(issue.value, dict | list) else f" '{issue.value}'"
        parts.append(f"Value{shown} at '{issue.name}' failed to satisfy constraint: {issue.message}")
    count = len(issues)
    message = f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(parts)
    reason = "cannotParse" if any(i.type_error for i in issues) else "fieldValidationFailed"
    return validation(message, reason, [{"name": i.name, "message": i.message} for i in issues])


def not_found(message: str, resource_id: str, resource_type: str) -> DrsError:
    return DrsError(
        "ResourceNotFoundException",
        message,
        fields={"resourceId": resource_id, "resourceType": resource_type},
    )


def conflict(message: str, resource_id: str | None = None, resource_type: str | None = None) -> DrsError:
    fields = {k: v for k, v in (("resourceId", resource_id), ("resourceType", resource_type)) if v}
    return DrsError("ConflictException", message, fields=fields)


def quota_exceeded(message: str, quota_code: str, resource_type: str) -> DrsError:
    return DrsError(
        "ServiceQuotaExceededException",
        message,
        fields={"serviceCode": "drs", "quotaCode": quota_code, "resourceType": resource_type},
    )


def uninitialized(region: str) -> DrsError:
    return DrsError(
        "UninitializedAccountException",
        f"Account is not initialized for Elastic Disaster Recovery in region {region}. "
        "Call InitializeService first.",
    )


def throttling(retry_after: int = 1) -> DrsError:
    return DrsError(
        "ThrottlingException",
        "Rate exceeded",
        fields={"serviceCode": "drs"},
        headers={"Retry-After": str(retry_after)},
    )
