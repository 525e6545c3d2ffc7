"""EventBridge Scheduler: one schedule per plan with a `schedule`, kept equal to the catalog.

`drs-bot plans apply` calls `sync` after writing the catalog: schedules are created, updated and deleted
so that the group holds exactly the catalog's (the plan's name is the schedule's). Each invokes the
scheduled-drill function with {"plan", "scheduled_time"}; Scheduler fills in the time it was due, which
keys the drill so that a repeated delivery starts one. Run with the operator's credentials, like the
catalog's write; no function of the stack calls Scheduler.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from bot.adapters.aws import _DEFAULT
from bot.domain.plans import Catalog

GROUP = "drs-chatops"


class ScheduleSync(BaseModel):
    model_config = ConfigDict(frozen=True)

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


class Schedules:
    def __init__(self, region: str, *, target_arn: str, role_arn: str, group: str = GROUP) -> None:
        self._client: Any = boto3.client("scheduler", region_name=region, config=_DEFAULT)
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._group = group

    def sync(self, catalog: Catalog) -> ScheduleSync:
        self._ensure_group()
        existing = self._names()
        wanted = {plan.name: plan.options.schedule for plan in catalog.plans if plan.options.schedule}
        created, updated = [], []
        for name, schedule in sorted(wanted.items()):
            assert schedule is not None
            desired = {
                "Name": name,
                "GroupName": self._group,
                "ScheduleExpression": schedule.expression,
                "ScheduleExpressionTimezone": schedule.timezone,
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "State": "ENABLED",
                "Target": {
                    "Arn": self._target_arn,
                    "RoleArn": self._role_arn,
                    "Input": json.dumps({"plan": name, "scheduled_time": "<aws.scheduler.scheduled-time>"}),
                },
            }
            if name not in existing:
                self._client.create_schedule(**desired)
                created.append(name)
            elif self._differs(name, desired):
                self._client.update_schedule(**desired)
                updated.append(name)
        deleted = sorted(set(existing) - set(wanted))
        for name in deleted:
            self._client.delete_schedule(Name=name, GroupName=self._group)
        return ScheduleSync(created=tuple(created), updated=tuple(updated), deleted=tuple(deleted))

    def _ensure_group(self) -> None:
        try:
            self._client.get_schedule_group(Name=self._group)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            self._client.create_schedule_group(Name=self._group)

    def _names(self) -> list[str]:
        names: list[str] = []
        arguments: dict[str, Any] = {"GroupName": self._group}
        while True:
            page = self._client.list_schedules(**arguments)
            names += [item["Name"] for item in page.get("Schedules", [])]
            if not page.get("NextToken"):
                return names
            arguments["NextToken"] = page["NextToken"]

    def _differs(self, name: str, desired: dict[str, Any]) -> bool:
        found = self._client.get_schedule(Name=name, GroupName=self._group)
        target = found.get("Target") or {}
        return (
            found.get("ScheduleExpression") != desired["ScheduleExpression"]
            or found.get("ScheduleExpressionTimezone") != desired["ScheduleExpressionTimezone"]
            or found.get("State") != "ENABLED"
            or target.get("Arn") != self._target_arn
            or target.get("RoleArn") != self._role_arn
            or target.get("Input") != desired["Target"]["Input"]
        )
