"""DRS's input contract, generated from botocore's model: every constraint of every served operation.

For each operation the emulator serves, the model's input shape is walked (with the test's own reading
of the model, not the emulator's validator) and, from a request that keeps every constraint, one request
per constraint is made that breaks it: a required member left out, a wrong JSON type, a string too short
or too long, a value outside an enum, a value not matching a pattern (for timestamps: the `+00:00` form
the model forbids), a list or map too small or too large, an integer out of range. Each goes over HTTP
and must come back ValidationException naming the field. A new operation is walked the same way.

Every error each operation's code can raise is also read from the source and checked against the
operation's model `errors` list.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import find, settings
from hypothesis import strategies as st

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, errors, operations
from sandbox.drs_emulator.model import SUPPORTED_OPERATIONS

from .helpers import MODEL, REGION, answerable

AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240501/{region}/drs/aws4_request, "
    "SignedHeaders=host, Signature=0"
)
SHAPES = MODEL["shapes"]
# botocore's timestamp shape: its pattern ends in Z; real output (and Python's isoformat) uses +00:00.
TIMESTAMP = "ISO8601DatetimeString"


@dataclass(frozen=True)
class Breach:
    operation: str
    constraint: str  # required, type, min, max, enum, pattern, ...
    field: str  # the name DRS puts in fieldList (Coral style: list.N.member, map.key, map.<key>)
    request: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.operation}:{self.field or '<input>'}:{self.constraint}"


# ----- valid values, from the model ----------------------------------------------------------------
def _is_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@functools.cache
def valid_string(name: str) -> str:
    shape = SHAPES[name]
    if "enum" in shape:
        return str(shape["enum"][0])
    low: int = shape.get("min", 0)
    high: int = shape.get("max", 64)
    if "pattern" not in shape:
        return "x" * max(low, 1)
    pattern: str = shape["pattern"]
    # The simplest string the pattern fully matches within the length bounds (shrunk by hypothesis).
    return find(
        st.from_regex(pattern, fullmatch=True),
        lambda s: low <= len(s) <= high and (name != TIMESTAMP or _is_date(s)),
        settings=settings(database=None, max_examples=5000),
    )


def valid(name: str) -> Any:
    """A value of the shape that keeps every constraint: structures hold their required members, lists
    and maps one item (botocore sends no empty list in a query string)."""
    shape = SHAPES[name]
    kind = shape["type"]
    if kind == "structure":
        return {m: valid(shape["members"][m]["shape"]) for m in shape.get("required", [])}
    if kind == "list":
        return [valid(shape["member"]["shape"])] * max(shape.get("min", 0), 1)
    if kind == "map":
        return {valid(shape["key"]["shape"]): valid(shape["value"]["shape"])}
    if kind == "string":
        return valid_string(name)
    if kind in ("integer", "long"):
        return shape.get("min", 1)
    if kind == "boolean":
        return True
    raise AssertionError(f"the walker does not know shape type {kind} ({name}): teach it")


WRONG_TYPE: dict[str, Any] = {"structure": "a string", "list": "a string", "map": ["a", "list"], "string": 17}
WRONG_TYPE |= {"integer": "17", "long": "17", "boolean": "yes"}


# ----- breaches ------------------------------------------------------------------------------------
def breaches_of(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    """(constraint, bad value) for each constraint the shape itself declares; `value` keeps them all."""
    shape = SHAPES[name]
    kind = shape["type"]
    yield "type", WRONG_TYPE[kind]
    if kind == "string":
        if "enum" in shape:
            yield "enum", "NOT_" + str(shape["enum"][0])
        if shape.get("min", 0) > 0:
            yield "min", value[: shape["min"] - 1]
        if "max" in shape:
            yield "max", (value + "0" * (shape["max"] + 1))[: shape["max"] + 1]
        if "pattern" in shape:
            # For timestamps, the form Python's isoformat() and real DRS output use.
            yield "pattern", value.replace("Z", "+00:00") if name == TIMESTAMP else "#" + value[1:]
    elif kind == "list":
        if shape.get("min", 0) > 0:
            yield "min", []
        if "max" in shape:
            yield "max", value[:1] * (shape["max"] + 1)
    elif kind == "map":
        if shape.get("min", 0) > 0:
            yield "min", {}
        if "max" in shape:
            item = next(iter(value.values()))
            yield "max", {f"k{i}": item for i in range(shape["max"] + 1)}
    elif kind in ("integer", "long"):
        if "min" in shape:
            yield "min", shape["min"] - 1
        if "max" in shape:
            yield "max", shape["max"] + 1


Change = Callable[[Any], Any]


def replaced_by(bad: Any) -> Change:
    return lambda _value: bad


def without(member: str) -> Change:
    return lambda value: {k: x for k, x in value.items() if k != member}


def with_changed_member(member: str, sample: Any, change: Change) -> Change:
    return lambda value: {**value, member: change(sample)}


def with_changed_first_item(change: Change) -> Change:
    return lambda value: [change(value[0])]


def with_only_entry(key: Any, item: Any, change: Change | None = None) -> Change:
    return lambda _value: {key: change(item) if change else item}


def walk(name: str, value: Any, path: str, location: str | None) -> Iterator[tuple[str, str, Change]]:
    """(constraint, field name DRS reports, change turning the valid `value` into one breaking it) for
    every constraint reachable from this shape."""
    shape = SHAPES[name]
    kind = shape["type"]
    for constraint, bad in breaches_of(name, value):
        if location and (constraint == "type" or (kind == "list" and constraint == "min")):
            continue  # in a URI or query string everything is text, and an empty list is no parameter
        yield constraint, path, replaced_by(bad)
    if kind == "structure":
        for member_name, member in shape["members"].items():
            field = join(path, member_name)
            if member_name in shape.get("required", []) and member.get("location") != "uri":
                yield "required", field, without(member_name)
            sample = value.get(member_name, valid(member["shape"]))
            for constraint, inner, change in walk(member["shape"], sample, field, member.get("location")):
                yield constraint, inner, with_changed_member(member_name, sample, change)
    elif kind == "list":
        for constraint, inner, change in walk(
            shape["member"]["shape"], value[0], f"{path}.1.member", location
        ):
            yield constraint, inner, with_changed_first_item(change)
    elif kind == "map":
        key, item = next(iter(value.items()))
        for constraint, bad in breaches_of(shape["key"]["shape"], key):
            if constraint != "type":  # JSON keys are always strings
                yield constraint, f"{path}.key", with_only_entry(bad, item)
        for constraint, inner, change in walk(shape["value"]["shape"], item, f"{path}.{key}", location):
            yield constraint, inner, with_only_entry(key, item, change)


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def breaches(operation: str) -> list[Breach]:
    shape_name = MODEL["operations"][operation]["input"]["shape"]
    base = valid(shape_name)
    return [
        Breach(operation, constraint, field, change(base))
        for constraint, field, change in walk(shape_name, base, "", None)
        if field  # the input as a whole is always a JSON object on the wire
    ]


ALL_BREACHES = [b for op in sorted(SUPPORTED_OPERATIONS) for b in breaches(op)]


# ----- the wire ------------------------------------------------------------------------------------
def send(url: str, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
    """The request as rest-json puts it on the wire: URI labels, query string, JSON body."""
    op = MODEL["operations"][operation]
    members = SHAPES[op["input"]["shape"]]["members"]
    path, body, query = op["http"]["requestUri"], dict(params), []
    for name, member in members.items():
        wire = member.get("locationName", name)
        if member.get("location") == "uri":
            value = body.pop(name, "")
            path = re.sub(r"\{" + wire + r"\+?\}", quote(str(value), safe=""), path)
        elif member.get("location") == "querystring" and name in body:
            values = body.pop(name)
            query += [(wire, v) for v in (values if isinstance(values, list) else [values])]
    if query:
        path += "?" + urlencode(query)
    data = json.dumps(body).encode() if op["http"]["method"] != "GET" else None
    request = urllib.request.Request(url + path, data=data, method=op["http"]["method"])
    request.add_header("Authorization", AUTH.format(region=REGION))
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with EmulatorServer(DrsEmulator(regions=(REGION,), seed=1)) as server:
        yield server.url


@pytest.mark.parametrize("breach", ALL_BREACHES, ids=lambda b: b.id)
def test_every_constraint_of_the_model_is_enforced(url: str, breach: Breach) -> None:
    status, headers, body = send(url, breach.operation, breach.request)
    assert (status, headers.get("x-amzn-ErrorType")) == (400, "ValidationException"), body
    expected_reason = "cannotParse" if breach.constraint == "type" else "fieldValidationFailed"
    assert body["reason"] == expected_reason, body
    names = [f["name"] for f in body["fieldList"]]
    assert breach.field in names or any(n.startswith(breach.field + ".") for n in names), (names, body)


def test_the_walk_reaches_every_operation_and_every_kind_of_constraint() -> None:
    walked = {b.operation for b in ALL_BREACHES}
    # InitializeService takes nothing, so it has nothing to breach; every other operation has.
    assert walked == SUPPORTED_OPERATIONS - {"InitializeService"}
    assert {b.constraint for b in ALL_BREACHES} == {"required", "type", "min", "max", "enum", "pattern"}
    fields = {(b.operation, b.field, b.constraint) for b in ALL_BREACHES}
    assert ("DescribeJobs", "filters.fromDate", "pattern") in fields
    assert ("DescribeRecoverySnapshots", "filters.toDateTime", "pattern") in fields
    assert ("StartRecovery", "sourceServers.1.member.sourceServerID", "required") in fields
    assert ("StartRecovery", "tags.key", "max") in fields and ("StartRecovery", "tags.x", "max") in fields
    assert ("UntagResource", "resourceArn", "pattern") in fields  # a URI label
    assert ("UntagResource", "tagKeys.1.member", "max") in fields  # a query string list


def test_a_valid_request_passes_the_contract(url: str) -> None:
    """The walk's starting point keeps every constraint: only the service's own answers come back."""
    for operation in sorted(SUPPORTED_OPERATIONS):
        status, _, body = send(url, operation, valid(MODEL["operations"][operation]["input"]["shape"]))
        broken = [f for f in body.get("fieldList", []) if f["message"].startswith("Member must")]
        assert status < 300 or (body.get("reason") != "cannotParse" and not broken), (operation, body)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2024-05-01T12:00:00Z", True),
        ("2024-05-01T12:00:00.123456Z", True),
        ("2024-05-01T12:00:00+00:00", False),
        ("2024-05-01T12:00:00.123456+00:00", False),
        ("2024-05-01T12:00:00", False),
        ("2024-05-01 12:00:00Z", False),
        ("2024-02-31T12:00:00Z", False),  # the pattern lets it through; no such day
    ],
)
def test_timestamps_must_keep_the_model_pattern(url: str, value: str, ok: bool) -> None:
    status, _, body = send(url, "DescribeJobs", {"filters": {"fromDate": value}})
    assert (status == 200) is ok, body
    if not ok:
        assert [f["name"] for f in body["fieldList"]] == ["filters.fromDate"]


# ----- errors each operation may answer --------------------------------------------------------------
def raised_codes(function: Callable[..., Any], seen: set[str] | None = None) -> set[tuple[str, bool]]:
    """(error code, is the input contract's) for every error factory the function (and the emulator
    functions it calls by name) can reach."""
    seen = set() if seen is None else seen
    key = f"{function.__module__}.{function.__qualname__}"
    if key in seen:
        return set()
    seen.add(key)
    module = inspect.getmodule(function)
    assert module is not None
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    found: set[tuple[str, bool]] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "errors"
        ):
            factory = getattr(errors, target.attr)
            found.add((factory.code, factory.contract))
        elif isinstance(target, ast.Name) and target.id == "DrsError":
            first = node.args[0]
            assert isinstance(first, ast.Constant), "DrsError's code must be a literal"
            found.add((str(first.value), False))
        elif isinstance(target, ast.Name):
            called = getattr(module, target.id, None)
            if inspect.isfunction(called) and called.__module__.startswith("sandbox.drs_emulator"):
                found |= raised_codes(called, seen)
    return found


@pytest.mark.parametrize("operation", sorted(SUPPORTED_OPERATIONS))
def test_each_operation_raises_only_errors_its_model_lists(operation: str) -> None:
    codes = raised_codes(operations.HANDLERS[operation])
    for code, contract in codes:
        reason = "fieldValidationFailed" if contract else "other"
        assert answerable(operation, code, reason), (
            f"{operation} can raise {code}, which its model does not list"
        )


def test_the_error_finder_sees_the_errors() -> None:
    assert raised_codes(operations.HANDLERS["DeleteJob"]) == {
        ("ResourceNotFoundException", False),
        ("ConflictException", False),
    }
    assert ("ServiceQuotaExceededException", False) in raised_codes(operations.HANDLERS["StartRecovery"])
    assert ("ValidationException", True) in raised_codes(operations.HANDLERS["DescribeJobs"])  # nextToken
