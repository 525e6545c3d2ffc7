"""EC2, SSM and CloudWatch's answers about recovery instances, in memory, on the fake clock: an instance
passes a check `ready_after` seconds after it was first asked about, unless it is in `failing` (with
what AWS says). `refused` / `unavailable` make the next calls of a check raise as the adapter does.
Every call is recorded in `calls` (check, region, ids)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.errors import HealthCheckRefused, HealthCheckUnavailable
from tests.fakes.clock import FakeClock


@dataclass
class FakeHealthChecks:
    clock: FakeClock
    ready_after: float = 60.0
    failing: dict[str, str] = field(default_factory=dict)  # instance id or alarm name -> what AWS says
    refused: dict[str, HealthCheckRefused] = field(default_factory=dict)  # check -> its refusal
    unavailable: dict[str, int] = field(default_factory=dict)  # check -> calls left that are throttled
    calls: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    _first_seen: dict[str, datetime] = field(default_factory=dict)

    def instance_status(self, region: str, instance_ids: Sequence[str]) -> dict[str, tuple[bool, str]]:
        return self._answer("ec2_status", region, instance_ids, "instance status ok, system status ok")

    def agents_online(self, region: str, instance_ids: Sequence[str]) -> dict[str, tuple[bool, str]]:
        return self._answer("ssm_online", region, instance_ids, "SSM agent Online")

    def alarm_states(self, region: str, names: Sequence[str]) -> dict[str, tuple[bool, str]]:
        self._call("alarms", region, names)
        return {
            n: (False, self.failing[n]) if n in self.failing else (True, f"alarm {n} is OK") for n in names
        }

    def _answer(self, check: str, region: str, ids: Sequence[str], ok: str) -> dict[str, tuple[bool, str]]:
        self._call(check, region, ids)
        now = self.clock()
        answers = {}
        for instance_id in ids:
            first = self._first_seen.setdefault(instance_id, now)
            if instance_id in self.failing:
                answers[instance_id] = (False, self.failing[instance_id])
            elif (now - first).total_seconds() < self.ready_after:
                answers[instance_id] = (False, "initializing")
            else:
                answers[instance_id] = (True, ok)
        return answers

    def _call(self, check: str, region: str, ids: Sequence[str]) -> None:
        self.calls.append((check, region, tuple(ids)))
        if check in self.refused:
            raise self.refused[check]
        if self.unavailable.get(check):
            self.unavailable[check] -= 1
            raise HealthCheckUnavailable("EC2", "RequestLimitExceeded", "Request limit exceeded.")
