"""Drill cleanup as the executor performs it: look up this drill's instances, terminate them, follow."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from bot.domain import cleanup
from bot.domain.accounts import AccountRegion
from bot.domain.execution import CleanupStatus, Execution
from bot.errors import DrsConflict, DrsRefused, StaleExecution
from bot.services.ports import Clock, Drs, ExecutionStore
from bot.services.unit_of_work import Outcome, UnitOfWork

logger = logging.getLogger(__name__)

TERMINATE_MAX_IDS = 200
ACTIVE_JOB_WINDOW = timedelta(hours=24)
# How far before the first claim to look for a TERMINATE job a crashed tick may have started.
FIND_JOB_SLACK = timedelta(minutes=5)


class Cleaner:
    def __init__(self, store: ExecutionStore, drs: Drs, clock: Clock, claim_timeout: timedelta) -> None:
        self._store = store
        self._work = UnitOfWork(store)
        self._drs = drs
        self._clock = clock
        self._claim_timeout = claim_timeout

    def step(self, execution: Execution) -> Execution:
        """One idempotent step of an ended drill's cleanup; raises StaleExecution if another tick won."""
        now = self._clock()
        if (due := cleanup.due(execution, now)) is not None:
            execution = self._store.save(due.execution, execution, due.events)
        run = execution.cleanup
        if run is None:
            return execution
        if run.status is CleanupStatus.REQUESTED:
            claimed = cleanup.claim(execution, now, self._claim_timeout)
            if claimed is None:
                return execution  # another tick has it
            execution = self._store.save(claimed, execution, ())
            return self._terminate(execution)
        if run.status is CleanupStatus.TERMINATING:
            return self._follow(execution)
        return execution

    def _servers_by_region(self, execution: Execution) -> dict[AccountRegion, list[str]]:
        regions: dict[AccountRegion, list[str]] = defaultdict(list)
        for wave in execution.waves:
            regions[wave.where] += [server.source_server_id for server in wave.servers()]
        return regions

    def _terminate(self, execution: Execution) -> Execution:
        # The drill ends when its servers have launched, but its DRS jobs take a few seconds more to
        # end, and DRS refuses to terminate instances of servers a job still holds: wait for them.
        since = self._clock() - ACTIVE_JOB_WINDOW
        for region, servers in self._servers_by_region(execution).items():
            held = {
                launch.source_server_id
                for job in self._drs.active_jobs(region, since)
                for launch in job.servers
            }
            if held & set(servers):
                logger.info("cleanup of %s waits: a DRS job still holds its servers", execution.execution_id)
                released = cleanup.release(execution)
                return self._store.save(released, execution, ())
        terminating: list[str] = []
        gone = 0
        job_ids: list[str] = []
        job_regions: list[AccountRegion] = []
        failures: list[str] = []
        run = execution.cleanup
        assert run is not None
        for region, servers in self._servers_by_region(execution).items():
            mine = cleanup.ours(execution, self._drs.recovery_instances(region, servers))
            # A claim taken again: an earlier tick may have terminated before it could save.
            earlier = (
                self._terminating(region, [i.recovery_instance_id for i in mine], run.first_claimed_at)
                if run.attempts > 1 and run.first_claimed_at is not None
                else {}
            )
            for job_id, ids in _by_job(earlier).items():
                job_ids.append(job_id)
                job_regions.append(region)
                terminating += ids
            alive = [
                i.recovery_instance_id for i in mine if not i.gone and i.recovery_instance_id not in earlier
            ]
            gone += sum(1 for i in mine if i.gone and i.recovery_instance_id not in earlier)
            for start in range(0, len(alive), TERMINATE_MAX_IDS):
                batch = alive[start : start + TERMINATE_MAX_IDS]
                try:
                    job_ids.append(self._drs.terminate(region, batch))
                    job_regions.append(region)
                    terminating += batch
                except DrsConflict as error:
                    # A terminate is already running on them (a repeat, or a racing cleanup): follow
                    # that job rather than terminate twice.
                    running = self._terminating(region, batch, self._clock() - ACTIVE_JOB_WINDOW)
                    for job_id, ids in _by_job(running).items():
                        job_ids.append(job_id)
                        job_regions.append(region)
                        terminating += ids
                    failures += [
                        f"{i}: already being terminated ({error.message})" for i in batch if i not in running
                    ]
                except DrsRefused as error:
                    failures += [f"{i}: {error}" for i in batch]
        now = self._clock()
        first = execution

        def decide(latest: Execution) -> Outcome[None]:
            # Saved meanwhile (e.g. a message's delivery): the TERMINATE calls made must be recorded,
            # unless the cleanup itself moved on.
            if latest is not first and (
                latest.cleanup is None or latest.cleanup.status is not CleanupStatus.REQUESTED
            ):
                raise StaleExecution(latest.execution_id)
            decision = cleanup.started(
                latest,
                terminating=terminating,
                already_gone=gone,
                job_ids=job_ids,
                job_regions=job_regions,
                failures=failures,
                now=now,
            )
            return Outcome(None, decision.execution, decision.events)

        done = self._work.run_from(execution, decide)
        assert done.execution is not None  # saved: run_from raises otherwise
        return done.execution

    def _terminating(self, region: AccountRegion, instance_ids: list[str], since: datetime) -> dict[str, str]:
        """Recovery instance id -> the TERMINATE job (created since `since`) that names it."""
        wanted = set(instance_ids)
        found: dict[str, str] = {}
        for job in self._drs.terminate_jobs(region, since - FIND_JOB_SLACK):
            for server in job.servers:
                if server.recovery_instance_id in wanted:
                    found.setdefault(server.recovery_instance_id, job.job_id)
        return found

    def _follow(self, execution: Execution) -> Execution:
        run = execution.cleanup
        assert run is not None
        by_region: dict[AccountRegion, list[str]] = defaultdict(list)
        for job_id, where in run.job_places():
            by_region[where].append(job_id)
        for region, jobs in by_region.items():
            if any(job.status != "COMPLETED" for job in self._drs.describe_jobs(region, jobs)):
                return execution
        instances = []
        for region, servers in self._servers_by_region(execution).items():
            instances += self._drs.recovery_instances(region, servers)
        decision = cleanup.finished(execution, instances, self._clock())
        return self._store.save(decision.execution, execution, decision.events)


def _by_job(instances: dict[str, str]) -> dict[str, list[str]]:
    jobs: dict[str, list[str]] = defaultdict(list)
    for instance, job_id in instances.items():
        jobs[job_id].append(instance)
    return jobs


__all__ = ["Cleaner", "StaleExecution"]
