"""Health checks through boto3: EC2 status checks, SSM agent pings, CloudWatch alarm states.

Each call takes as many ids as the API allows (DescribeInstanceStatus 100 instance ids,
DescribeInstanceInformation's InstanceIds filter paged 50 at a time, DescribeAlarms 100 names) and
follows its pages. AWS errors become the bot's own (bot/errors.py): a throttle or 5xx left after
botocore's retries is HealthCheckUnavailable (ask again next tick), anything else HealthCheckRefused."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.adapters.accounts import AccountSessions
from bot.adapters.aws import HEALTH_CONFIG
from bot.domain.accounts import AccountRegion
from bot.errors import HealthCheckRefused, HealthCheckUnavailable

INSTANCE_IDS_PER_STATUS_CALL = 100  # DescribeInstanceStatus: at most 100 explicit instance ids
INSTANCE_IDS_PER_PING_CALL = 50  # DescribeInstanceInformation: MaxResults is at most 50
ALARMS_PER_CALL = 100  # DescribeAlarms: AlarmNames holds at most 100
INVOCATIONS_PER_CALL = 50  # ListCommandInvocations / ListCommands: MaxResults is at most 50
OUTPUT_SHOWN = 500  # of an invocation's output, in the check's detail (clipped further when kept)
# SendCommand is not idempotent: sent once, never retried by botocore. A claim left without its
# CommandId is looked up by its Comment (ListCommands) on the next tick before it is sent again.
SEND_CONFIG = Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=5, read_timeout=15)
_PENDING = {"Pending", "InProgress", "Delayed"}
_UNAVAILABLE = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
}

ClientFactory = Callable[[AccountRegion], Any]
# (passed, what AWS said) by instance id or alarm name.
Answers = dict[str, tuple[bool, str]]


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Clients:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._clients: dict[AccountRegion, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, where: AccountRegion) -> Any:
        with self._lock:
            if where not in self._clients:
                self._clients[where] = self._factory(where)
            return self._clients[where]


# Typed Any: the project pins boto3 stubs for the services it used before these (pyproject.toml).
def ec2_client(sessions: AccountSessions) -> ClientFactory:
    return lambda where: sessions.client("ec2", where, HEALTH_CONFIG)


def ssm_client(sessions: AccountSessions) -> ClientFactory:
    return lambda where: sessions.client("ssm", where, HEALTH_CONFIG)


def ssm_send_client(sessions: AccountSessions) -> ClientFactory:
    return lambda where: sessions.client("ssm", where, SEND_CONFIG)


def cloudwatch_client(sessions: AccountSessions) -> ClientFactory:
    return lambda where: sessions.client("cloudwatch", where, HEALTH_CONFIG)


class HealthGateway:
    def __init__(
        self,
        ec2: ClientFactory,
        ssm: ClientFactory,
        cloudwatch: ClientFactory,
        ssm_send: ClientFactory,
    ) -> None:
        self._ec2 = _Clients(ec2)
        self._ssm = _Clients(ssm)
        self._ssm_send = _Clients(ssm_send)
        self._cloudwatch = _Clients(cloudwatch)

    @classmethod
    def through(cls, sessions: AccountSessions) -> HealthGateway:
        """Clients in each wave's account and region."""
        return cls(
            ec2_client(sessions), ssm_client(sessions), cloudwatch_client(sessions), ssm_send_client(sessions)
        )

    def instance_status(self, where: AccountRegion, instance_ids: Sequence[str]) -> Answers:
        """Both EC2 status checks ok (instance and system); an instance EC2 does not list is not yet."""
        answers: Answers = {}
        paginator = self._ec2(where).get_paginator("describe_instance_status")
        with _translated("EC2"):
            for ids in _chunks(instance_ids, INSTANCE_IDS_PER_STATUS_CALL):
                # IncludeAllInstances: a pending instance is listed too, with its state.
                for page in paginator.paginate(InstanceIds=list(ids), IncludeAllInstances=True):
                    for status in page.get("InstanceStatuses", []):
                        answers[status["InstanceId"]] = _status_answer(status)
        for instance_id in instance_ids:
            answers.setdefault(instance_id, (False, "EC2 does not report its status yet"))
        return answers

    def agents_online(self, where: AccountRegion, instance_ids: Sequence[str]) -> Answers:
        """The SSM agent's PingStatus is Online; an instance SSM does not know has no agent registered."""
        answers: Answers = {}
        paginator = self._ssm(where).get_paginator("describe_instance_information")
        with _translated("SSM"):
            for ids in _chunks(instance_ids, INSTANCE_IDS_PER_PING_CALL):
                pages = paginator.paginate(
                    Filters=[{"Key": "InstanceIds", "Values": list(ids)}],
                    PaginationConfig={"PageSize": INSTANCE_IDS_PER_PING_CALL},
                )
                for page in pages:
                    for info in page.get("InstanceInformationList", []):
                        ping = str(info.get("PingStatus", "unknown"))
                        answers[info["InstanceId"]] = (ping == "Online", f"SSM agent {ping}")
        for instance_id in instance_ids:
            answers.setdefault(instance_id, (False, "no SSM agent registered for it yet"))
        return answers

    def alarm_states(self, where: AccountRegion, names: Sequence[str]) -> Answers:
        """Each alarm OK; one CloudWatch does not have is reported as missing (a typo or another region)."""
        answers: Answers = {}
        paginator = self._cloudwatch(where).get_paginator("describe_alarms")
        with _translated("CloudWatch"):
            for chunk in _chunks(names, ALARMS_PER_CALL):
                for page in paginator.paginate(
                    AlarmNames=list(chunk), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
                ):
                    for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                        state = str(alarm.get("StateValue", "unknown"))
                        reason = str(alarm.get("StateReason", ""))
                        answers[alarm["AlarmName"]] = (
                            state == "OK",
                            f"alarm {alarm['AlarmName']} is {state}: {reason}",
                        )
        for name in names:
            answers.setdefault(name, (False, f"alarm {name} does not exist in {where}"))
        return answers

    def send_command(
        self,
        where: AccountRegion,
        document: str,
        parameters: Mapping[str, Sequence[str]],
        instance_ids: Sequence[str],
        timeout_seconds: int,
        comment: str,
    ) -> str:
        """SendCommand once to up to 50 instances: its CommandId."""
        with _translated("SSM"):
            response = self._ssm_send(where).send_command(
                DocumentName=document,
                Parameters={key: list(values) for key, values in parameters.items()},
                InstanceIds=list(instance_ids),
                TimeoutSeconds=timeout_seconds,
                Comment=comment,
            )
        return str(response["Command"]["CommandId"])

    def find_command(self, where: AccountRegion, document: str, comment: str, since: datetime) -> str | None:
        """The command of this document with this Comment, sent since then (a minute's leeway for clocks)."""
        after = (since - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        paginator = self._ssm(where).get_paginator("list_commands")
        with _translated("SSM"):
            pages = paginator.paginate(
                Filters=[{"key": "DocumentName", "value": document}, {"key": "InvokedAfter", "value": after}],
                PaginationConfig={"PageSize": INVOCATIONS_PER_CALL},
            )
            for page in pages:
                for command in page.get("Commands", []):
                    if command.get("Comment") == comment:
                        return str(command["CommandId"])
        return None

    def command_results(self, where: AccountRegion, command_id: str) -> dict[str, tuple[bool, str, bool]]:
        """Each invocation of the command: Success passes; pending says so; a failure carries its output."""
        answers: dict[str, tuple[bool, str, bool]] = {}
        paginator = self._ssm(where).get_paginator("list_command_invocations")
        with _translated("SSM"):
            pages = paginator.paginate(
                CommandId=command_id, Details=True, PaginationConfig={"PageSize": INVOCATIONS_PER_CALL}
            )
            for page in pages:
                for invocation in page.get("CommandInvocations", []):
                    answers[invocation["InstanceId"]] = _invocation_answer(invocation)
        return answers


def _invocation_answer(invocation: dict[str, Any]) -> tuple[bool, str, bool]:
    status = str(invocation.get("Status", "unknown"))
    if status == "Success":
        return True, "command Success", True
    if status in _PENDING or status == "Cancelling":
        return False, f"command {status}", False
    output = "\n".join(
        str(plugin.get("Output", "")).strip() for plugin in invocation.get("CommandPlugins", [])
    ).strip()
    codes = {plugin.get("ResponseCode") for plugin in invocation.get("CommandPlugins", [])} - {None, 0}
    code = f" (exit {', '.join(str(c) for c in sorted(codes))})" if codes else ""
    detail = f"command {invocation.get('StatusDetails') or status}{code}"
    if output:
        detail += ": " + (output if len(output) <= OUTPUT_SHOWN else output[: OUTPUT_SHOWN - 1] + "…")
    return False, detail, True


def _status_answer(status: dict[str, Any]) -> tuple[bool, str]:
    state = status.get("InstanceState", {}).get("Name", "unknown")
    instance = status.get("InstanceStatus", {}).get("Status", "unknown")
    system = status.get("SystemStatus", {}).get("Status", "unknown")
    if state != "running":
        return False, f"instance {state}"
    return instance == "ok" and system == "ok", f"instance status {instance}, system status {system}"


@contextlib.contextmanager
def _translated(service: str) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        message = str(error.response.get("Error", {}).get("Message", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400))
        if code in _UNAVAILABLE or status >= 500:
            raise HealthCheckUnavailable(service, code, message) from error
        raise HealthCheckRefused(service, code, message) from error
    except BotoCoreError as error:
        raise HealthCheckUnavailable(service, type(error).__name__, str(error)) from error
