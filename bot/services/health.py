"""Observing a tick's health checks: what EC2, SSM and CloudWatch say about the CHECKING waves'
launched servers not healthy yet (bot/domain/health.py decides what it means)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from bot.domain import health
from bot.domain.execution import CheckResult, Execution
from bot.errors import HealthCheckRefused, HealthCheckUnavailable
from bot.services.ports import HealthChecks

logger = logging.getLogger(__name__)

Results = dict[str, tuple[CheckResult, ...]]


class HealthObserver:
    def __init__(self, checks: HealthChecks) -> None:
        self._checks = checks

    def observe(self, execution: Execution, now: datetime) -> Results:
        """Each unhealthy instance's results this tick, by instance id. A check AWS refused for good
        fails with the refusal (so the timeout names it); one that was unavailable is left out."""
        found: dict[str, list[CheckResult]] = defaultdict(list)
        for target in health.targets(execution):
            for check in target.health.checks():
                try:
                    answers = self._ask(check, target)
                except HealthCheckUnavailable as error:
                    logger.warning("health check %s deferred: %s", check, error)
                    continue
                except HealthCheckRefused as error:
                    refusal = (False, f"{error.service} refused: {error.code}: {error.message}")
                    answers = dict.fromkeys(target.instance_ids, refusal)
                for instance_id in target.instance_ids:
                    passed, detail = answers.get(instance_id, (False, "no answer"))
                    found[instance_id].append(CheckResult(check=check, passed=passed, detail=detail, at=now))
        return {instance_id: tuple(results) for instance_id, results in found.items()}

    def _ask(self, check: str, target: health.Target) -> dict[str, tuple[bool, str]]:
        if check == "ec2_status":
            return self._checks.instance_status(target.region, target.instance_ids)
        if check == "ssm_online":
            return self._checks.agents_online(target.region, target.instance_ids)
        return self._alarms(target)

    def _alarms(self, target: health.Target) -> dict[str, tuple[bool, str]]:
        """The wave's alarms, one answer for all its instances: all OK, or the first that is not."""
        states = self._checks.alarm_states(target.region, target.health.alarms)
        failing = [states[name][1] for name in target.health.alarms if not states[name][0]]
        answer = (not failing, failing[0] if failing else "all alarms OK")
        return dict.fromkeys(target.instance_ids, answer)
