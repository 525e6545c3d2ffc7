"""botocore's models of the other services the emulator serves (EC2, SSM), and a check that a
response the emulator is about to send fits its output shape: the emulator refuses to send one that
does not (a bug, told loudly), as the conformance tests hold the DRS responses to the DRS model."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

from botocore.loaders import create_loader


@functools.cache
def service_model(service: str) -> dict[str, Any]:
    model: dict[str, Any] = create_loader().load_service_model(service, "service-2")
    return model


def output_shape(service: str, operation: str) -> str | None:
    shape: str | None = service_model(service)["operations"][operation].get("output", {}).get("shape")
    return shape


def problems(service: str, shape_name: str, value: Any, path: str = "$") -> list[str]:
    """Where `value` (in the model's member names) breaks the shape: types, unknown members, required
    members, enums, sizes and patterns."""
    shapes = service_model(service)["shapes"]
    shape = shapes[shape_name]
    kind = shape["type"]
    found: list[str] = []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        for key in value:
            if key not in shape["members"]:
                found.append(f"{path}.{key}: not a member of {shape_name}")
        for required in shape.get("required", []):
            if value.get(required) is None:
                found.append(f"{path}.{required}: required by {shape_name}")
        for key, item in value.items():
            if key in shape["members"] and item is not None:
                found += problems(service, shape["members"][key]["shape"], item, f"{path}.{key}")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        found += _size(shape, len(value), path)
        for index, item in enumerate(value):
            found += problems(service, shape["member"]["shape"], item, f"{path}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        found += _size(shape, len(value), path)
        for key, item in value.items():
            found += problems(service, shape["key"]["shape"], key, f"{path}.<key {key!r}>")
            found += problems(service, shape["value"]["shape"], item, f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected a string, got {value!r}"]
        found += _size(shape, len(value), path)
        if "enum" in shape and value not in shape["enum"]:
            found.append(f"{path}: {value!r} is not in enum {shape_name}")
        if "pattern" in shape and not re.fullmatch(shape["pattern"], value):
            found.append(f"{path}: {value!r} does not match {shape['pattern']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: expected an integer"]
    elif kind == "boolean":
        if not isinstance(value, bool):
            found.append(f"{path}: expected a boolean")
    elif kind == "timestamp":
        if not isinstance(value, datetime):
            found.append(f"{path}: expected a time")
    else:
        found.append(f"{path}: the emulator does not send {kind} values")
    return found


def _size(shape: dict[str, Any], size: int, path: str) -> list[str]:
    if ("min" in shape and size < shape["min"]) or ("max" in shape and size > shape["max"]):
        return [f"{path}: size {size} outside [{shape.get('min')}, {shape.get('max')}]"]
    return []
