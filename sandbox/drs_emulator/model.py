"""botocore's DRS service model, loaded at run time: routing, success codes and input validation."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from botocore.loaders import create_loader

from .clock import parse_time

# Values real DRS returns that the model's enums lack. The ONE place for such exceptions:
# the emulator may emit these, and the conformance tests allow exactly these beyond the model.
EXTRA_ENUM_VALUES: dict[str, frozenset[str]] = {
    "JobLogEvent": frozenset({"LAUNCH_END"}),
}

# Operations the emulator serves; any other operation is answered with unknownOperation.
SUPPORTED_OPERATIONS = frozenset(
    {
        "StartRecovery",
        "CreateExtendedSourceServer",
        "DescribeJobs",
        "DescribeJobLogItems",
        "DescribeSourceServers",
        "DescribeRecoveryInstances",
        "DescribeRecoverySnapshots",
        "TerminateRecoveryInstances",
        "ReverseReplication",
        "GetLaunchConfiguration",
        "InitializeService",
        "DeleteJob",
        "ListTagsForResource",
        "TagResource",
        "UntagResource",
    }
)

# The model's timestamp shape: its pattern (ending in Z) is checked, and then that the date exists.
DATETIME_SHAPE = "ISO8601DatetimeString"
# The input contract (the model's constraints) is checked in front of every operation, so its
# ValidationException may come from any operation, whether or not the operation's `errors` list it.
CONTRACT_REASONS = frozenset({"unknownOperation", "cannotParse", "fieldValidationFailed"})


@functools.cache
def service_model() -> dict[str, Any]:
    model: dict[str, Any] = create_loader().load_service_model("drs", "service-2")
    return model


def shapes() -> dict[str, Any]:
    result: dict[str, Any] = service_model()["shapes"]
    return result


def operation(name: str) -> dict[str, Any]:
    result: dict[str, Any] = service_model()["operations"][name]
    return result


def success_code(op_name: str) -> int:
    return int(operation(op_name)["http"].get("responseCode", 200))


def may_answer(op_name: str, code: str, reason: str | None = None) -> bool:
    """Whether an operation may answer this error: one its model lists, or the input contract's
    ValidationException (see CONTRACT_REASONS)."""
    if code == "ValidationException" and reason in CONTRACT_REASONS:
        return True
    return op_name in service_model()["operations"] and code in listed_errors(op_name)


def listed_errors(op_name: str) -> frozenset[str]:
    return frozenset(error["shape"] for error in operation(op_name).get("errors", []))


def error_status(code: str) -> int:
    shape = shapes().get(code, {})
    return int(shape.get("error", {}).get("httpStatusCode", 400))


@dataclass(frozen=True)
class Route:
    operation: str
    method: str
    prefix: str  # literal part of the URI before the first {label}
    label: str | None  # name of the single URI label, if any


@functools.cache
def routes() -> tuple[Route, ...]:
    out = []
    for name, op in service_model()["operations"].items():
        uri = op["http"]["requestUri"].split("?")[0]
        match = re.fullmatch(r"([^{]*)(?:\{(\w+)\+?\})?", uri)
        if not match:
            continue
        out.append(Route(name, op["http"]["method"], match.group(1), match.group(2)))
    return tuple(out)


def route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """(operation, uri labels) for an HTTP method and decoded path, or None."""
    for r in routes():
        if r.method != method:
            continue
        if r.label is None and path == r.prefix:
            return r.operation, {}
        if r.label is not None and path.startswith(r.prefix) and len(path) > len(r.prefix):
            return r.operation, {r.label: path[len(r.prefix) :]}
    return None


@dataclass
class FieldIssue:
    name: str
    message: str
    value: Any = None
    type_error: bool = False


def validate(shape_name: str, value: Any, table: dict[str, Any] | None = None) -> list[FieldIssue]:
    """Check a request against the model as the service does (required, types, lengths, patterns).
    `table`: another service's shapes (SSM's, for the hooks' automations); DRS's by default."""
    issues: list[FieldIssue] = []
    _check(shape_name, value, "", issues, table if table is not None else shapes())
    return issues


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(shape_name: str, value: Any, path: str, issues: list[FieldIssue], table: dict[str, Any]) -> None:
    shape = table[shape_name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            issues.append(FieldIssue(path, "Member must be a structure", None, True))
            return
        for req in shape.get("required", []):
            if value.get(req) is None:
                issues.append(FieldIssue(_join(path, req), "Member must not be null"))
        for key, item in value.items():
            member = shape["members"].get(key)
            if member is None or item is None:
                continue  # unknown members are ignored, as the service does
            _check(member["shape"], item, _join(path, key), issues, table)
    elif kind == "list":
        if not isinstance(value, list):
            issues.append(FieldIssue(path, "Member must be a list", None, True))
            return
        _check_size(shape, len(value), path, issues)
        for i, item in enumerate(value):
            _check(shape["member"]["shape"], item, f"{path}.{i + 1}.member", issues, table)
    elif kind == "map":
        if not isinstance(value, dict):
            issues.append(FieldIssue(path, "Member must be a map", None, True))
            return
        _check_size(shape, len(value), path, issues)
        for key, item in value.items():
            _check(shape["key"]["shape"], key, f"{path}.key", issues, table)
            _check(shape["value"]["shape"], item, f"{path}.{key}", issues, table)
    elif kind == "string":
        _check_string(shape_name, shape, value, path, issues)
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            issues.append(FieldIssue(path, "Member must be an integer", value, True))
            return
        if "min" in shape and value < shape["min"]:
            issues.append(
                FieldIssue(path, f"Member must have value greater than or equal to {shape['min']}", value)
            )
        if "max" in shape and value > shape["max"]:
            issues.append(
                FieldIssue(path, f"Member must have value less than or equal to {shape['max']}", value)
            )
    elif kind == "boolean" and not isinstance(value, bool):
        issues.append(FieldIssue(path, "Member must be a boolean", value, True))


def _check_size(shape: dict[str, Any], size: int, path: str, issues: list[FieldIssue]) -> None:
    if "min" in shape and size < shape["min"]:
        issues.append(FieldIssue(path, f"Member must have length greater than or equal to {shape['min']}"))
    if "max" in shape and size > shape["max"]:
        issues.append(FieldIssue(path, f"Member must have length less than or equal to {shape['max']}"))


# Java's Unicode classes, which some models' patterns use (STS's tag keys: [\p{L}\p{Z}\p{N}_.:/=+\-@]+)
# and Python's re lacks. In a character class, \w is exactly letters, numbers and "_" (str.isalnum);
# every such pattern lists "_" too. \p{Z} is the space separators, line and paragraph separators.
_UNICODE_CLASSES = {
    r"\p{L}": r"\w",
    r"\p{N}": r"\w",
    r"\p{Z}": "\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
}


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    for java, python in _UNICODE_CLASSES.items():
        pattern = pattern.replace(java, python)
    return re.compile(pattern)


def _check_string(name: str, shape: dict[str, Any], value: Any, path: str, issues: list[FieldIssue]) -> None:
    if not isinstance(value, str):
        issues.append(FieldIssue(path, "Member must be a string", value, True))
        return
    _check_size(shape, len(value), path, issues)
    if "enum" in shape and value not in shape["enum"]:
        allowed = ", ".join(shape["enum"])
        issues.append(FieldIssue(path, f"Member must satisfy enum value set: [{allowed}]", value))
    # Anchored (fullmatch): stricter than a search, so our requests never lean on a lenient reading.
    if "pattern" in shape and not _compiled(shape["pattern"]).fullmatch(value):
        issues.append(
            FieldIssue(path, f"Member must satisfy regular expression pattern: {shape['pattern']}", value)
        )
    elif name == DATETIME_SHAPE:
        try:
            parse_time(value)
        except ValueError:  # the pattern lets 2024-02-31 through
            issues.append(FieldIssue(path, "Member must be a valid date-time", value))
