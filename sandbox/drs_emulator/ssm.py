"""SSM for the recovery instances the emulator launched: JSON 1.1 (`X-Amz-Target: AmazonSSM.<Op>`),
answered from `SSM_HANDLERS` (one table: more SSM operations are added to it) and checked against
botocore's SSM model, the request before and the response after (sandbox/drs_emulator/shapes.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .instance_health import ApiError, Ctx

SERVICE = "ssm"
TARGET_PREFIX = "AmazonSSM."
_FILTER_KEYS = {"InstanceIds", "PingStatus"}  # the filters the emulator serves


def describe_instance_information(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("InstanceInformationFilterList") and params.get("Filters"):
        raise ApiError(
            "ValidationException", "InstanceInformationFilterList and Filters cannot be used together"
        )
    wanted: dict[str, set[str]] = {}
    for item in params.get("Filters", []):
        if item["Key"] not in _FILTER_KEYS:
            raise ApiError("InvalidFilterKey", f"The emulator does not filter by {item['Key']}")
        wanted[item["Key"]] = set(item["Values"])
    registered = []
    for instance in sorted(ctx.region.instances.values(), key=lambda i: i.id):
        running = ctx.running_for(instance)
        if running is None or running < ctx.timings.ssm_agent_online or ctx.faults_of(instance).agent_offline:
            continue  # no agent has registered (yet)
        if "InstanceIds" in wanted and instance.id not in wanted["InstanceIds"]:
            continue
        if "PingStatus" in wanted and "Online" not in wanted["PingStatus"]:
            continue
        registered.append(_information(ctx.now, instance))
    start = int(params.get("NextToken") or "0", 16)
    size = int(params.get("MaxResults") or 10)
    page = registered[start : start + size]
    result: dict[str, Any] = {"InstanceInformationList": page}
    if start + size < len(registered):
        result["NextToken"] = format(start + size, "x")
    return result


def _information(now: datetime, instance: Any) -> dict[str, Any]:
    return {
        "InstanceId": instance.id,
        "PingStatus": "Online",
        "LastPingDateTime": now,
        "AgentVersion": "3.3.1142.0",
        "IsLatestVersion": True,
        "PlatformType": "Linux",
        "PlatformName": "Amazon Linux",
        "PlatformVersion": "2023",
        "ResourceType": "EC2Instance",
        "SourceId": instance.id,
        "SourceType": "AWS::EC2::Instance",
    }


SSM_HANDLERS: dict[str, Callable[[Ctx, dict[str, Any]], dict[str, Any]]] = {
    "DescribeInstanceInformation": describe_instance_information,
}


def to_json(value: Any) -> Any:
    """JSON protocol values: timestamps as epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    return value
