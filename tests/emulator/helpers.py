"""Helpers for the DRS emulator suite, including the model walker the conformance tests use.

The walker reads botocore's DRS model itself (it does not use the emulator's validator), so the emulator
is checked against the model, not against itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.loaders import create_loader

from sandbox.drs_emulator import EXTRA_ENUM_VALUES

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
REGION = "us-east-1"
OTHER_REGION = "us-west-2"
DRILL_SECONDS = 600  # a default drill wave ends at about 8m53s
MODEL = create_loader().load_service_model("drs", "service-2")
# Real DRS timestamps end in +00:00 where the model's pattern wants Z (drs-facts.md: parse both).
REAL_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(\+00:00|Z)")


@dataclass
class Exchange:
    operation: str
    status: int
    headers: dict[str, str]
    body: Any


# The input contract's ValidationException: any operation may answer it (request validation sits in
# front of every operation), whether or not its model's `errors` list it.
CONTRACT_REASONS = {"unknownOperation", "cannotParse", "fieldValidationFailed"}


def answerable(operation: str, code: str, reason: str | None = None) -> bool:
    """Whether DRS may answer this error for this operation: its model lists it, or it is the input
    contract's ValidationException."""
    if code == "ValidationException" and reason in CONTRACT_REASONS:
        return True
    return code in {e["shape"] for e in MODEL["operations"][operation].get("errors", [])}


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def start_drill(drs: Any, ids: list[str], **kwargs: Any) -> dict[str, Any]:
    job: dict[str, Any] = drs.start_recovery(
        sourceServers=[{"sourceServerID": i} for i in ids], isDrill=kwargs.pop("isDrill", True), **kwargs
    )["job"]
    return job


def job_log(drs: Any, job_id: str) -> list[dict[str, Any]]:
    pages = drs.get_paginator("describe_job_log_items").paginate(jobID=job_id)
    return [item for page in pages for item in page["items"]]


def describe_job(drs: Any, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = drs.describe_jobs(filters={"jobIDs": [job_id]})["items"][0]
    return job


def error_of(excinfo: pytest.ExceptionInfo[Any]) -> dict[str, Any]:
    response: dict[str, Any] = excinfo.value.response
    return response


# ----- model walker ----------------------------------------------------------------------------------
def shape_problems(
    shape_name: str, value: Any, path: str = "$", model: dict[str, Any] | None = None
) -> list[str]:
    """Where `value` breaks the model's shape: types, required members, unknown members, enums, sizes,
    patterns. Enum values beyond the model are allowed only if listed in EXTRA_ENUM_VALUES. `model`:
    another service's (SSM's, for the hooks' automations); DRS's by default."""
    model = MODEL if model is None else model
    shape = model["shapes"][shape_name]
    kind = shape["type"]
    problems: list[str] = []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object, got {type(value).__name__}"]
        members = shape["members"]
        body_members = {k for k, m in members.items() if m.get("location") is None}
        for key in value:
            if key not in body_members:
                problems.append(f"{path}.{key}: not a member of {shape_name}")
        for req in shape.get("required", []):
            if req in body_members and value.get(req) is None:
                problems.append(f"{path}.{req}: required by {shape_name} but missing")
        for key, item in value.items():
            if key in body_members:
                problems += shape_problems(members[key]["shape"], item, f"{path}.{key}", model)
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        problems += _size_problems(shape, len(value), path)
        for i, item in enumerate(value):
            problems += shape_problems(shape["member"]["shape"], item, f"{path}[{i}]", model)
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        problems += _size_problems(shape, len(value), path)
        for key, item in value.items():
            problems += shape_problems(shape["key"]["shape"], key, f"{path}<key>", model)
            problems += shape_problems(shape["value"]["shape"], item, f"{path}[{key!r}]", model)
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {value!r}"]
        problems += _size_problems(shape, len(value), path)
        allowed = set(shape.get("enum", [])) | EXTRA_ENUM_VALUES.get(shape_name, frozenset())
        if "enum" in shape and value not in allowed:
            problems.append(f"{path}: {value!r} is not in enum {shape_name}")
        if shape_name == "ISO8601DatetimeString":
            if not REAL_TIMESTAMP.fullmatch(value):
                problems.append(f"{path}: {value!r} is not a DRS timestamp")
        elif "pattern" in shape and not re.fullmatch(shape["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {shape['pattern']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: expected an integer, got {value!r}"]
        if ("min" in shape and value < shape["min"]) or ("max" in shape and value > shape["max"]):
            problems.append(f"{path}: {value} out of range")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean, got {value!r}")
    elif kind == "timestamp":  # JSON 1.1 (SSM) sends epoch seconds
        if not isinstance(value, int | float) or isinstance(value, bool):
            problems.append(f"{path}: expected epoch seconds, got {value!r}")
    else:
        problems.append(f"{path}: unexpected shape type {kind}")
    return problems


def _size_problems(shape: dict[str, Any], size: int, path: str) -> list[str]:
    if ("min" in shape and size < shape["min"]) or ("max" in shape and size > shape["max"]):
        return [f"{path}: size {size} outside [{shape.get('min')}, {shape.get('max')}]"]
    return []
