"""Health gates (a wave's `health_check`): after DRS launched a wave's servers, the wave is CHECKING
until every launched server passes its checks or the checks time out; only then does the next wave start.

Pure: the tick observes the checks (bot/services/health.py asks EC2, SSM and CloudWatch) and passes
their results in; `check_wave` decides. A server that failed to launch is not checked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.accounts import AccountRegion
from bot.domain.execution import (
    CheckResult,
    CommandRun,
    Execution,
    ServerRun,
    ServerStatus,
    WaveRun,
    WaveStatus,
    clip_error,
)
from bot.domain.plans import HealthCheck, duration_text
from bot.domain.transitions import move_server, move_wave

# A detail longer than this is clipped where it is kept per check (the server's error keeps more).
DETAIL_LIMIT = 300
# The thread hears of progress when this share of the wave's servers more turned healthy.
REPORT_STEP = 4  # a quarter
FAILING_LISTED = 10
INSTANCES_PER_COMMAND = 50  # SendCommand's InstanceIds: at most 50
INSTANCE_CHECKS = ("ec2_status", "ssm_online")  # what a server passes before its command is sent


@dataclass(frozen=True)
class Target:
    """What one tick must ask about one CHECKING wave: its account and region, checks and unhealthy
    instances."""

    wave: int
    where: AccountRegion
    health: HealthCheck
    instance_ids: tuple[str, ...]
    commands: tuple[CommandRun, ...] = ()  # ssm_command: the batches sent or claimed so far


@dataclass(frozen=True)
class CommandRef:
    """One ssm_command batch of a wave."""

    wave: int
    batch: int


@dataclass(frozen=True)
class Failing:
    source_server_id: str
    instance_id: str | None
    check: str
    detail: str


@dataclass(frozen=True)
class Step:
    """The wave after this tick's checks; `report` when the thread should hear how far it is."""

    wave: WaveRun
    done: bool
    report: bool = False


def targets(execution: Execution) -> list[Target]:
    """The CHECKING waves' launched servers not healthy yet (in practice one wave: they run in order)."""
    found = []
    for wave in execution.waves:
        if wave.status is not WaveStatus.CHECKING or wave.options.health_check is None:
            continue
        ids = tuple(s.instance_id for s in _unconfirmed(wave.servers()) if s.instance_id)
        if ids:
            found.append(Target(wave.index, wave.where, wave.options.health_check, ids, wave.commands))
    return found


def claim_commands(execution: Execution, now: datetime) -> tuple[Execution, list[CommandRef]]:
    """ssm_command: batches of up to 50 of each CHECKING wave's unhealthy instances that passed the
    instance's own checks (its SSM agent Online; EC2's status checks if asked for: not the wave's
    alarms, which the command's application may be what turns green) and are in no batch yet, claimed
    at `now`. Save
    the execution before sending them: the claim is what stops a second tick sending them again."""
    if execution.cancelling:
        return execution, []  # nobody waits for the checks any more: send nothing new
    waves = list(execution.waves)
    claimed: list[CommandRef] = []
    for wave in execution.waves:
        health = wave.options.health_check
        if wave.status is not WaveStatus.CHECKING or health is None or health.ssm_command is None:
            continue
        others = [name for name in health.checks() if name in INSTANCE_CHECKS]
        batched = {instance_id for run in wave.commands for instance_id in run.instance_ids}
        ready = []
        for server in _unconfirmed(wave.servers()):
            latest = {r.check: r for r in server.checks}
            passed = all(name in latest and latest[name].passed for name in others)
            if server.instance_id and server.instance_id not in batched and passed:
                ready.append(server.instance_id)
        runs = list(wave.commands)
        for start in range(0, len(ready), INSTANCES_PER_COMMAND):
            batch = tuple(ready[start : start + INSTANCES_PER_COMMAND])
            runs.append(CommandRun(batch=len(runs), instance_ids=batch, claimed_at=now))
            claimed.append(CommandRef(wave.index, len(runs) - 1))
        waves[wave.index] = wave.model_copy(update={"commands": tuple(runs)})
    if not claimed:
        return execution, []
    return execution.model_copy(update={"waves": tuple(waves)}), claimed


def unsent_commands(execution: Execution) -> list[CommandRef]:
    """Claimed batches without a CommandId or a refusal: a tick claimed them and may have crashed."""
    return [
        CommandRef(wave.index, run.batch)
        for wave in execution.waves
        if wave.status is WaveStatus.CHECKING
        for run in wave.commands
        if run.command_id is None and run.error is None
    ]


def command_comment(execution_id: str, ref: CommandRef) -> str:
    """SendCommand's Comment (at most 100 characters), how a claim is found again after a crash."""
    return f"drs-chatops {execution_id} wave {ref.wave} batch {ref.batch}"[:100]


def record_command(
    execution: Execution, ref: CommandRef, command_id: str | None = None, error: str | None = None
) -> Execution:
    """The CommandId SSM gave a claimed batch, or its refusal (never sent again either way)."""
    wave = execution.waves[ref.wave]
    runs = list(wave.commands)
    run = runs[ref.batch]
    if run.command_id is not None or run.error is not None:
        return execution  # recorded by another tick meanwhile
    runs[ref.batch] = run.model_copy(
        update={"command_id": command_id, "error": clip_error(error) if error else None}
    )
    waves = list(execution.waves)
    waves[ref.wave] = wave.model_copy(update={"commands": tuple(runs)})
    return execution.model_copy(update={"waves": tuple(waves)})


def needs_checks(wave: WaveRun) -> bool:
    return wave.options.health_check is not None and any(
        s.status is ServerStatus.LAUNCHED for s in wave.servers()
    )


def check_wave(
    wave: WaveRun, results: Mapping[str, Iterable[CheckResult]], now: datetime, *, cancelling: bool
) -> Step:
    """One tick of a launched wave with health checks: begin them, apply what they said (`results` by
    instance id), and say whether the wave is done: all healthy, timed out (the unhealthy then FAILED
    with the failing check), or cancelled (the unconfirmed are left LAUNCHED: nobody waits for them)."""
    health = wave.options.health_check
    assert health is not None
    if wave.status is WaveStatus.IN_PROGRESS:
        return Step(move_wave(wave, WaveStatus.CHECKING, now), done=cancelling, report=not cancelling)
    wave = _apply(wave, health, results, now)
    pending = list(_unconfirmed(wave.servers()))
    if not pending or cancelling:
        return Step(wave, done=True)
    started = wave.checks_started_at or now
    if now >= started + timedelta(seconds=health.timeout):
        return Step(_fail_unhealthy(wave, health), done=True)
    total = sum(1 for s in wave.servers() if s.status is ServerStatus.LAUNCHED)
    healthy = total - len(pending)
    step = max(1, total // REPORT_STEP)
    if healthy - wave.healthy_reported >= step:
        return Step(wave.model_copy(update={"healthy_reported": healthy}), done=False, report=True)
    return Step(wave, done=False)


def failing(wave: WaveRun) -> list[Failing]:
    """Launched servers not healthy yet, each with its first failing check (in the checks' order)."""
    health = wave.options.health_check
    found = []
    for server in _unconfirmed(wave.servers()):
        check, detail = _first_failing(server, health)
        found.append(Failing(server.source_server_id, server.instance_id, check, detail))
    return found


def counts(wave: WaveRun) -> tuple[int, int]:
    """(healthy, launched) servers of a wave with health checks."""
    launched = [s for s in wave.servers() if s.launch_time is not None]
    return sum(1 for s in launched if s.healthy_at is not None), len(launched)


def ready_time(wave: WaveRun, server: ServerRun) -> datetime | None:
    """When a server counts as recovered: healthy where the wave checks health, else launched."""
    return server.healthy_at if wave.options.health_check is not None else server.launch_time


def launch_seconds(wave: WaveRun) -> float | None:
    """RTO to launch: the wave's start to its last server launched."""
    times = [s.launch_time for s in wave.servers() if s.launch_time is not None]
    return (max(times) - wave.start_time).total_seconds() if times and wave.start_time else None


def healthy_seconds(wave: WaveRun) -> float | None:
    """RTO to healthy: the wave's start to its last server healthy (None without health checks)."""
    if wave.options.health_check is None or wave.start_time is None:
        return None
    times = [s.healthy_at for s in wave.servers() if s.healthy_at is not None]
    return (max(times) - wave.start_time).total_seconds() if times else None


def execution_rtos(execution: Execution) -> tuple[float | None, float | None]:
    """(to launch, to healthy) for the execution, from its start; to healthy only if a wave checks."""
    start = execution.start_time
    if start is None:
        return None, None
    launches = [s.launch_time for s in execution.servers() if s.launch_time is not None]
    to_launch = (max(launches) - start).total_seconds() if launches else None
    if not any(wave.options.health_check for wave in execution.waves):
        return to_launch, None
    ready = [t for wave in execution.waves for s in wave.servers() if (t := ready_time(wave, s)) is not None]
    return to_launch, (max(ready) - start).total_seconds() if ready else None


def _unconfirmed(servers: Iterable[ServerRun]) -> Iterable[ServerRun]:
    return (s for s in servers if s.status is ServerStatus.LAUNCHED and s.healthy_at is None)


def _apply(
    wave: WaveRun, health: HealthCheck, results: Mapping[str, Iterable[CheckResult]], now: datetime
) -> WaveRun:
    wanted = health.checks()
    chunks = []
    for chunk in wave.chunks:
        servers = []
        for server in chunk.servers:
            seen = results.get(server.instance_id or "") if server.instance_id else None
            if server.status is ServerStatus.LAUNCHED and server.healthy_at is None and seen is not None:
                latest = {r.check: r for r in server.checks}
                latest.update({r.check: _clipped(r) for r in seen if r.check in wanted})
                kept = tuple(latest[name] for name in wanted if name in latest)
                healthy = all(name in latest and latest[name].passed for name in wanted)
                server = server.model_copy(update={"checks": kept, "healthy_at": now if healthy else None})
                if ended := [r for r in kept if r.final and not r.passed]:
                    error = clip_error(f"health check {ended[0].check} failed: {ended[0].detail}")
                    server = move_server(server, ServerStatus.FAILED, error=error)
            servers.append(server)
        chunks.append(chunk.model_copy(update={"servers": tuple(servers)}))
    return wave.model_copy(update={"chunks": tuple(chunks)})


def _clipped(result: CheckResult) -> CheckResult:
    if len(result.detail) <= DETAIL_LIMIT:
        return result
    return result.model_copy(update={"detail": result.detail[: DETAIL_LIMIT - 1] + "…"})


def _first_failing(server: ServerRun, health: HealthCheck | None) -> tuple[str, str]:
    latest = {r.check: r for r in server.checks}
    if server.instance_id is None:
        return "launch", "DRS reported no recovery instance for it"
    for name in health.checks() if health else ():
        result = latest.get(name)
        if result is None:
            return name, "no answer yet"
        if not result.passed:
            return name, result.detail
    return "", ""


def _fail_unhealthy(wave: WaveRun, health: HealthCheck) -> WaveRun:
    chunks = []
    for chunk in wave.chunks:
        servers = []
        for server in chunk.servers:
            if server.status is ServerStatus.LAUNCHED and server.healthy_at is None:
                check, detail = _first_failing(server, health)
                error = clip_error(
                    f"health check {check} failed: not healthy {duration_text(health.timeout)} after the "
                    f"checks began: {detail}"
                )
                server = move_server(server, ServerStatus.FAILED, error=error)
            servers.append(server)
        chunks.append(chunk.model_copy(update={"servers": tuple(servers)}))
    return wave.model_copy(update={"chunks": tuple(chunks)})
