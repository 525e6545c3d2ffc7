"""EC2, SSM and CloudWatch's answers about recovery instances, in memory, on the fake clock: an instance
passes a check `ready_after` seconds after it was first asked about, unless it is in `failing` (with
what AWS says). `refused` / `unavailable` make the next calls of a check raise as the adapter does.
Every call is recorded in `calls` (check, region, ids)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.accounts import AccountRegion
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
    # ssm_command: what was sent, by CommandId (document, ids, comment, when); `lose_answer` makes the
    # next SendCommand send and then raise, as a tick that crashed before recording it would see.
    commands: dict[str, tuple[str, tuple[str, ...], str, datetime]] = field(default_factory=dict)
    lose_answer: bool = False

    def send_command(
        self,
        where: AccountRegion,
        document: str,
        parameters: Mapping[str, Sequence[str]],
        instance_ids: Sequence[str],
        timeout_seconds: int,
        comment: str,
    ) -> str:
        region = str(where)
        self._call("ssm_command", region, instance_ids)
        command_id = f"cmd-{len(self.commands) + 1:04d}"
        self.commands[command_id] = (document, tuple(instance_ids), comment, self.clock())
        if self.lose_answer:
            self.lose_answer = False
            raise RuntimeError("the tick died after SendCommand")
        return command_id

    def find_command(self, where: AccountRegion, document: str, comment: str, since: datetime) -> str | None:
        region = str(where)
        self._call("find_command", region, ())
        for command_id, (doc, _, said, at) in self.commands.items():
            if doc == document and said == comment and at >= since - timedelta(minutes=1):
                return command_id
        return None

    def command_results(self, where: AccountRegion, command_id: str) -> dict[str, tuple[bool, str, bool]]:
        region = str(where)
        self._call("command_results", region, (command_id,))
        _, ids, _, _ = self.commands[command_id]
        return {
            i: (False, self.failing[i], True) if i in self.failing else (True, "command Success", True)
            for i in ids
        }

    def instance_status(
        self, where: AccountRegion, instance_ids: Sequence[str]
    ) -> dict[str, tuple[bool, str]]:
        region = str(where)
        return self._answer("ec2_status", region, instance_ids, "instance status ok, system status ok")

    def agents_online(self, where: AccountRegion, instance_ids: Sequence[str]) -> dict[str, tuple[bool, str]]:
        region = str(where)
        return self._answer("ssm_online", region, instance_ids, "SSM agent Online")

    def alarm_states(self, where: AccountRegion, names: Sequence[str]) -> dict[str, tuple[bool, str]]:
        region = str(where)
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
