"""SSM for the recovery instances the emulator launched: JSON 1.1 (`X-Amz-Target: AmazonSSM.<Op>`),
answered from `SSM_HANDLERS` (one table: more SSM operations are added to it) and checked against
botocore's SSM model, the request before and the response after (sandbox/drs_emulator/shapes.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .instance_health import COMMAND_STDERR, ApiError, Ctx
from .state import SentCommand

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


def _agent_online(ctx: Ctx, instance_id: str) -> bool:
    instance = ctx.region.instances.get(instance_id)
    if instance is None:
        return False
    running = ctx.running_for(instance)
    return (
        running is not None
        and running >= ctx.timings.ssm_agent_online
        and not ctx.faults_of(instance).agent_offline
    )


def send_command(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """Run Command on instance ids (the emulator serves no Targets): as SSM, an instance without an
    Online agent refuses the whole call (InvalidInstanceId)."""
    ids = params.get("InstanceIds") or []
    if not ids or params.get("Targets"):
        raise ApiError("ValidationException", "The emulator runs commands on InstanceIds only")
    if offline := [i for i in ids if not _agent_online(ctx, i)]:
        raise ApiError("InvalidInstanceId", f"Instances {offline} not in a valid state for account")
    command_id = str(uuid.UUID(int=(ctx.seed << 64) + len(ctx.region.commands) + 1, version=4))
    command = SentCommand(
        id=command_id,
        document=params["DocumentName"],
        parameters={key: list(values) for key, values in (params.get("Parameters") or {}).items()},
        instance_ids=list(ids),
        comment=params.get("Comment", ""),
        requested_at=ctx.now,
        timeout_seconds=int(params.get("TimeoutSeconds") or 3600),
    )
    ctx.region.commands[command_id] = command
    return {"Command": _command(ctx, command)}


def list_commands(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    found = list(ctx.region.commands.values())
    if command_id := params.get("CommandId"):
        if command_id not in ctx.region.commands:
            raise ApiError("InvalidCommandId", f"{command_id} is not a valid command id")
        found = [ctx.region.commands[command_id]]
    for item in params.get("Filters", []):
        key, value = item["key"], item["value"]
        if key == "DocumentName":
            found = [c for c in found if c.document == value]
        elif key in ("InvokedAfter", "InvokedBefore"):
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
            found = [c for c in found if (c.requested_at >= at) == (key == "InvokedAfter")]
        else:
            raise ApiError("InvalidFilterKey", f"The emulator does not filter commands by {key}")
    page, token = _page(found, params)
    return {"Commands": [_command(ctx, c) for c in page], **token}


def list_command_invocations(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    command_id = params.get("CommandId")
    if command_id is None or command_id not in ctx.region.commands:
        raise ApiError("InvalidCommandId", f"{command_id} is not a valid command id")
    command = ctx.region.commands[command_id]
    ids = [i for i in command.instance_ids if params.get("InstanceId") in (None, i)]
    page, token = _page(ids, params)
    details = bool(params.get("Details"))
    return {"CommandInvocations": [_invocation(ctx, command, i, details) for i in page], **token}


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], dict[str, str]]:
    start = int(params.get("NextToken") or "0", 16)
    size = int(params.get("MaxResults") or 50)
    token = {"NextToken": format(start + size, "x")} if start + size < len(items) else {}
    return items[start : start + size], token


def _outcome(ctx: Ctx, command: SentCommand, instance_id: str) -> tuple[str, int, str]:
    """(status, exit code, output) of the command on one instance, now."""
    instance = ctx.region.instances.get(instance_id)
    behaviour = ctx.faults_of(instance).command if instance else "success"
    elapsed = (ctx.now - command.requested_at).total_seconds()
    if behaviour == "hanging" or elapsed < ctx.timings.command_runs:
        return "InProgress", -1, ""
    if behaviour == "failing":
        return "Failed", 1, f"\n----------ERROR-------\n{COMMAND_STDERR}"
    return "Success", 0, "ok"


def _invocation(ctx: Ctx, command: SentCommand, instance_id: str, details: bool) -> dict[str, Any]:
    status, code, output = _outcome(ctx, command, instance_id)
    invocation: dict[str, Any] = {
        "CommandId": command.id,
        "InstanceId": instance_id,
        "Comment": command.comment,
        "DocumentName": command.document,
        "DocumentVersion": "$DEFAULT",
        "RequestedDateTime": command.requested_at,
        "Status": status,
        "StatusDetails": status,
    }
    if details:
        plugin: dict[str, Any] = {"Name": "aws:runShellScript", "Status": status, "StatusDetails": status}
        if status != "InProgress":
            plugin.update(
                ResponseCode=code,
                ResponseStartDateTime=command.requested_at,
                ResponseFinishDateTime=command.requested_at + timedelta(seconds=ctx.timings.command_runs),
                Output=output,
            )
        invocation["CommandPlugins"] = [plugin]
    return invocation


def _command(ctx: Ctx, command: SentCommand) -> dict[str, Any]:
    statuses = [_outcome(ctx, command, i)[0] for i in command.instance_ids]
    pending = statuses.count("InProgress")
    status = "InProgress" if pending else "Success" if set(statuses) == {"Success"} else "Failed"
    return {
        "CommandId": command.id,
        "DocumentName": command.document,
        "DocumentVersion": "$DEFAULT",
        "Comment": command.comment,
        "Parameters": command.parameters,
        "InstanceIds": command.instance_ids,
        "RequestedDateTime": command.requested_at,
        "Status": status,
        "StatusDetails": status,
        "TimeoutSeconds": command.timeout_seconds,
        "TargetCount": len(statuses),
        "CompletedCount": len(statuses) - pending,
        "ErrorCount": statuses.count("Failed"),
        "DeliveryTimedOutCount": 0,
    }


SSM_HANDLERS: dict[str, Callable[[Ctx, dict[str, Any]], dict[str, Any]]] = {
    "DescribeInstanceInformation": describe_instance_information,
    "SendCommand": send_command,
    "ListCommands": list_commands,
    "ListCommandInvocations": list_command_invocations,
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
