"""Plain-data builders for domain tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.engine import JobSnapshot, Observation, ServerLaunch
from bot.domain.execution import Execution, ExecutionType, new_execution
from bot.domain.plans import Catalog

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def server_ids(prefix: str, count: int) -> list[str]:
    return [f"s-{prefix}{n:0{17 - len(prefix)}x}" for n in range(count)]


def catalog(*wave_sizes: int, region: str = "us-east-1") -> Catalog:
    groups = [
        {"name": f"group-{i}", "region": region, "source_servers": server_ids(f"{i:x}", size)}
        for i, size in enumerate(wave_sizes)
    ]
    waves = [{"name": f"Wave {i + 1}", "protection_group": f"group-{i}"} for i in range(len(wave_sizes))]
    return Catalog.model_validate(
        {"protection_groups": groups, "plans": [{"name": "plan-x", "waves": waves}]}
    )


def execution(
    *wave_sizes: int, servers_per_job: int = 100, kind: ExecutionType = ExecutionType.DRILL
) -> Execution:
    cat = catalog(*wave_sizes)
    plan = cat.plan("plan-x")
    assert plan is not None
    return new_execution(
        execution_id="ex-0001",
        plan=plan,
        catalog=cat,
        execution_type=kind,
        initiated_by="U1",
        channel_id="C1",
        now=T0,
        servers_per_job=servers_per_job,
    )


def job(job_id: str, status: str, **servers: str) -> JobSnapshot:
    return JobSnapshot(
        job_id=job_id,
        status=status,
        servers=tuple(
            ServerLaunch(
                source_server_id=sid,
                launch_status=state,
                recovery_instance_id=f"i-{sid[2:]}" if state == "LAUNCHED" else None,
            )
            for sid, state in servers.items()
        ),
    )


def observe(*jobs: JobSnapshot, reasons: dict[str, str] | None = None) -> Observation:
    return Observation(jobs={j.job_id: j for j in jobs}, failure_reasons=reasons or {})
