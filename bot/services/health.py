"""Observing a tick's health checks: what EC2, SSM and CloudWatch say about the CHECKING waves'
launched servers not healthy yet (bot/domain/health.py decides what it means)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from bot.domain import health
from bot.domain.execution import CheckResult, Execution
from bot.errors import AccountUnreachable, HealthCheckRefused, HealthCheckUnavailable
from bot.services.ports import HealthChecks

logger = logging.getLogger(__name__)

Results = dict[str, tuple[CheckResult, ...]]
# (passed, what AWS said, final: it cannot pass any more) by instance id.
Answers = dict[str, tuple[bool, str, bool]]


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
                except (HealthCheckUnavailable, AccountUnreachable) as error:
                    # An account whose role cannot be assumed now holds back only its own checks.
                    logger.warning("health check %s deferred: %s", check, error)
                    continue
                except HealthCheckRefused as error:
                    refusal = (False, f"{error.service} refused: {error.code}: {error.message}", False)
                    answers = dict.fromkeys(target.instance_ids, refusal)
                for instance_id in target.instance_ids:
                    passed, detail, final = answers.get(instance_id, (False, "no answer", False))
                    found[instance_id].append(
                        CheckResult(check=check, passed=passed, detail=detail, at=now, final=final)
                    )
        return {instance_id: tuple(results) for instance_id, results in found.items()}

    def _ask(self, check: str, target: health.Target) -> Answers:
        if check == "ssm_command":
            return self._commands(target)
        if check == "ec2_status":
            answers = self._checks.instance_status(target.where, target.instance_ids)
        elif check == "ssm_online":
            answers = self._checks.agents_online(target.where, target.instance_ids)
        else:
            answers = self._alarms(target)
        return {key: (passed, detail, False) for key, (passed, detail) in answers.items()}

    def _commands(self, target: health.Target) -> Answers:
        """ssm_command: the invocations of the batches holding unhealthy instances (one
        ListCommandInvocations per 50); an instance in no batch yet waits for its instance checks. A
        command that ended other than Success, or that SSM refused, is final: it is never sent again."""
        answers: Answers = dict.fromkeys(
            target.instance_ids, (False, "command not sent yet: it waits for the instance's checks", False)
        )
        unhealthy = set(target.instance_ids)
        for run in target.commands:
            mine = unhealthy.intersection(run.instance_ids)
            if not mine:
                continue
            if run.error is not None:
                answers.update(dict.fromkeys(mine, (False, run.error, True)))
            elif run.command_id is None:
                answers.update(dict.fromkeys(mine, (False, "command sending", False)))
            else:
                found = self._checks.command_results(target.where, run.command_id)
                for instance_id in mine:
                    answers[instance_id] = found.get(
                        instance_id, (False, "command not listed by SSM yet", False)
                    )
        return answers

    def send_commands(
        self,
        execution: Execution,
        now: datetime,
        save: Callable[[Execution, Execution], Execution],
        record: Callable[[Execution, Callable[[Execution], Execution]], Execution],
    ) -> Execution:
        """ssm_command: claim → call → record. Claims left by an earlier tick are looked up (ListCommands,
        by Comment) before they are sent; new batches are claimed (`save`d, conditional on the version)
        before SendCommand; their CommandIds (or SSM's refusal) are recorded with `record`."""
        stale = health.unsent_commands(execution)
        claimed, fresh = health.claim_commands(execution, now)
        if not stale and not fresh:
            return execution
        if fresh:
            execution = save(claimed, execution)
        outcomes: list[tuple[health.CommandRef, str | None, str | None]] = []
        for ref in [*stale, *fresh]:
            wave = execution.waves[ref.wave]
            run = wave.commands[ref.batch]
            command = wave.options.health_check.ssm_command if wave.options.health_check else None
            assert command is not None
            comment = health.command_comment(execution.execution_id, ref)
            try:
                command_id = (
                    self._checks.find_command(wave.where, command.document, comment, run.claimed_at)
                    if ref in stale
                    else None
                )
                if command_id is None:
                    command_id = self._checks.send_command(
                        wave.where,
                        command.document,
                        command.parameters,
                        run.instance_ids,
                        command.timeout,
                        comment,
                    )
                outcomes.append((ref, command_id, None))
            except (HealthCheckUnavailable, AccountUnreachable) as error:
                logger.warning("ssm_command %s deferred (looked up next tick): %s", ref, error)
            except HealthCheckRefused as error:
                outcomes.append(
                    (ref, None, f"{error.service} refused the command: {error.code}: {error.message}")
                )
        if not outcomes:
            return execution

        def apply(latest: Execution) -> Execution:
            for ref, command_id, refusal in outcomes:
                latest = health.record_command(latest, ref, command_id, refusal)
            return latest

        return record(execution, apply)

    def _alarms(self, target: health.Target) -> dict[str, tuple[bool, str]]:
        """The wave's alarms, one answer for all its instances: all OK, or the first that is not."""
        states = self._checks.alarm_states(target.where, target.health.alarms)
        failing = [states[name][1] for name in target.health.alarms if not states[name][0]]
        answer = (not failing, failing[0] if failing else "all alarms OK")
        return dict.fromkeys(target.instance_ids, answer)
