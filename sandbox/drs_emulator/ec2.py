"""EC2 DescribeInstanceStatus for the recovery instances the emulator launched: the query protocol
(form-encoded request, XML response), answered from `EC2_HANDLERS` and checked against botocore's EC2
model before it is sent (sandbox/drs_emulator/shapes.py)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from . import shapes
from .instance_health import ApiError, Ctx

SERVICE = "ec2"
MAX_INSTANCE_IDS = 100  # DescribeInstanceStatus: at most 100 explicit instance ids
_INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
_STATE_CODES = {
    "pending": 0,
    "running": 16,
    "shutting-down": 32,
    "terminated": 48,
    "stopping": 64,
    "stopped": 80,
}


def parse_query(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
    """(Action, params in the model's member names) from a query-protocol form (only the members
    the emulator serves: lists of strings as Name.N, scalars)."""
    action = (form.get("Action") or [""])[0]
    params: dict[str, Any] = {}
    lists: dict[str, dict[int, str]] = {}
    for key, values in form.items():
        if key in ("Action", "Version"):
            continue
        name, _, index = key.partition(".")
        if index.isdigit():
            lists.setdefault(name, {})[int(index)] = values[0]
        else:
            params[name] = values[0]
    for name, items in lists.items():
        params[name] = [items[i] for i in sorted(items)]
    return action, params


def describe_instance_status(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    ids: list[str] = params.get("InstanceId", [])
    unknown = set(params) - {"InstanceId", "IncludeAllInstances", "MaxResults", "NextToken"}
    if unknown:
        raise ApiError("InvalidParameterValue", f"The emulator does not serve {', '.join(sorted(unknown))}")
    if ids and "MaxResults" in params:
        raise ApiError(
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults",
        )
    if len(ids) > MAX_INSTANCE_IDS:
        raise ApiError("InvalidParameterValue", f"Up to {MAX_INSTANCE_IDS} instance IDs may be specified")
    for instance_id in ids:
        if not _INSTANCE_ID.fullmatch(instance_id):
            raise ApiError("InvalidInstanceID.Malformed", f'Invalid id: "{instance_id}"')
    include_all = params.get("IncludeAllInstances", "false") == "true"
    instances = ctx.region.instances
    missing = [i for i in ids if i not in instances]
    if missing:
        raise ApiError("InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist")
    chosen = [instances[i] for i in ids] if ids else sorted(instances.values(), key=lambda i: i.id)
    start = int(params.get("NextToken") or "0", 16) if not ids else 0
    size = int(params.get("MaxResults") or 1000)
    if not 5 <= size <= 1000:
        raise ApiError("InvalidParameterValue", "MaxResults must be between 5 and 1000")
    page = chosen[start : start + size] if not ids else chosen
    statuses = []
    for instance in page:
        state = instance.ec2_state.lower()
        if state != "running" and not include_all:
            continue
        statuses.append(
            {
                "InstanceId": instance.id,
                "AvailabilityZone": f"{ctx.region.name}a",
                "InstanceState": {"Code": _STATE_CODES.get(state, 0), "Name": state},
                "InstanceStatus": _summary(ctx, instance, instance_check=True),
                "SystemStatus": _summary(ctx, instance, instance_check=False),
            }
        )
    result: dict[str, Any] = {"InstanceStatuses": statuses}
    if not ids and start + size < len(chosen):
        result["NextToken"] = format(start + size, "x")
    return result


def _summary(ctx: Ctx, instance: Any, *, instance_check: bool) -> dict[str, Any]:
    running = ctx.running_for(instance)
    if running is None:
        return {"Status": "not-applicable"}
    if running < ctx.timings.status_checks_pass:
        return {"Status": "initializing", "Details": [{"Name": "reachability", "Status": "initializing"}]}
    if instance_check and ctx.faults_of(instance).status_check_fails:
        return {"Status": "impaired", "Details": [{"Name": "reachability", "Status": "failed"}]}
    return {"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]}


EC2_HANDLERS: dict[str, Callable[[Ctx, dict[str, Any]], dict[str, Any]]] = {
    "DescribeInstanceStatus": describe_instance_status,
}


def to_xml(operation: str, result: dict[str, Any]) -> bytes:
    """The EC2 protocol's XML for a result in the model's member names (locationName, lists of <item>)."""
    shape = shapes.output_shape(SERVICE, operation)
    assert shape is not None
    body = _xml(shape, result)
    namespace = shapes.service_model(SERVICE)["metadata"]["xmlNamespace"]
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{operation}Response xmlns="{namespace}/">'
        f"<requestId>{uuid.uuid4()}</requestId>{body}</{operation}Response>"
    ).encode()


def error_xml(error: ApiError) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{escape(error.code)}</Code>'
        f"<Message>{escape(error.message)}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()


def _xml(shape_name: str, value: Any) -> str:
    shape = shapes.service_model(SERVICE)["shapes"][shape_name]
    kind = shape["type"]
    if kind == "structure":
        out = []
        for name, item in value.items():
            member = shape["members"][name]
            tag = member.get("locationName", name)
            out.append(f"<{tag}>{_xml(member['shape'], item)}</{tag}>")
        return "".join(out)
    if kind == "list":
        tag = shape["member"].get("locationName", "item")
        return "".join(f"<{tag}>{_xml(shape['member']['shape'], item)}</{tag}>" for item in value)
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        assert isinstance(value, datetime)
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return escape(str(value))
