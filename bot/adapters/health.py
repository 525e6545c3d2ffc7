"""Health checks through boto3: EC2 status checks, SSM agent pings, CloudWatch alarm states.

Each call takes as many ids as the API allows (DescribeInstanceStatus 100 instance ids,
DescribeInstanceInformation's InstanceIds filter paged 50 at a time, DescribeAlarms 100 names) and
follows its pages. AWS errors become the bot's own (bot/errors.py): a throttle or 5xx left after
botocore's retries is HealthCheckUnavailable (ask again next tick), anything else HealthCheckRefused."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.adapters.aws import HEALTH_CONFIG
from bot.errors import HealthCheckRefused, HealthCheckUnavailable

INSTANCE_IDS_PER_STATUS_CALL = 100  # DescribeInstanceStatus: at most 100 explicit instance ids
INSTANCE_IDS_PER_PING_CALL = 50  # DescribeInstanceInformation: MaxResults is at most 50
ALARMS_PER_CALL = 100  # DescribeAlarms: AlarmNames holds at most 100
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

ClientFactory = Callable[[str], Any]
# (passed, what AWS said) by instance id or alarm name.
Answers = dict[str, tuple[bool, str]]


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Clients:
    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str) -> Any:
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self._factory(region)
            return self._clients[region]


# Typed Any: the project pins boto3 stubs for the services it used before these (pyproject.toml).
def ec2_client(region: str) -> Any:
    return boto3.client("ec2", region_name=region, config=HEALTH_CONFIG)


def ssm_client(region: str) -> Any:
    return boto3.client("ssm", region_name=region, config=HEALTH_CONFIG)


def cloudwatch_client(region: str) -> Any:
    return boto3.client("cloudwatch", region_name=region, config=HEALTH_CONFIG)


class HealthGateway:
    def __init__(
        self,
        ec2: ClientFactory = ec2_client,
        ssm: ClientFactory = ssm_client,
        cloudwatch: ClientFactory = cloudwatch_client,
    ) -> None:
        self._ec2 = _Clients(ec2)
        self._ssm = _Clients(ssm)
        self._cloudwatch = _Clients(cloudwatch)

    def instance_status(self, region: str, instance_ids: Sequence[str]) -> Answers:
        """Both EC2 status checks ok (instance and system); an instance EC2 does not list is not yet."""
        answers: Answers = {}
        paginator = self._ec2(region).get_paginator("describe_instance_status")
        with _translated("EC2"):
            for ids in _chunks(instance_ids, INSTANCE_IDS_PER_STATUS_CALL):
                # IncludeAllInstances: a pending instance is listed too, with its state.
                for page in paginator.paginate(InstanceIds=list(ids), IncludeAllInstances=True):
                    for status in page.get("InstanceStatuses", []):
                        answers[status["InstanceId"]] = _status_answer(status)
        for instance_id in instance_ids:
            answers.setdefault(instance_id, (False, "EC2 does not report its status yet"))
        return answers

    def agents_online(self, region: str, instance_ids: Sequence[str]) -> Answers:
        """The SSM agent's PingStatus is Online; an instance SSM does not know has no agent registered."""
        answers: Answers = {}
        paginator = self._ssm(region).get_paginator("describe_instance_information")
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

    def alarm_states(self, region: str, names: Sequence[str]) -> Answers:
        """Each alarm OK; one CloudWatch does not have is reported as missing (a typo or another region)."""
        answers: Answers = {}
        paginator = self._cloudwatch(region).get_paginator("describe_alarms")
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
            answers.setdefault(name, (False, f"alarm {name} does not exist in {region}"))
        return answers


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
