"""Plans that validate run (issue #12 item 5): `drs-bot plans validate` checks the sizes the storage and
DRS can take, `plans apply` refuses what it could not store, and a plan at the limits runs to the end."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.dynamodb import DynamoCatalogStore
from bot.domain.execution import ExecutionStatus, ServerStatus
from bot.domain.limits import MAX_SERVERS_PER_PLAN, MAX_WAVES_PER_PLAN
from bot.domain.plans import Catalog
from bot.services.plans import read_catalog
from sandbox.drs_emulator.config import Timings
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import build_world
from tests.integration.test_plans_cli import drs_bot
from tests.unit.builders import server_ids


def plans_file(tmp_path: Path, waves: int, servers_per_wave: int, *, plans: int = 1) -> Path:
    """`plans` plans, each of `waves` waves of its own protection group of `servers_per_wave` servers."""
    groups, defined = [], []
    for p in range(plans):
        waves_of_plan = []
        for w in range(waves):
            name = f"p{p}-group-{w}"
            groups.append(
                {
                    "name": name,
                    "region": "us-east-1",
                    "source_servers": server_ids(f"{p:x}{w:03x}", servers_per_wave),
                }
            )
            waves_of_plan.append({"name": f"Wave {w + 1}", "protection_group": name})
        defined.append({"name": f"plan-{p}", "waves": waves_of_plan})
    path = tmp_path / "plans.yml"
    path.write_text(yaml.safe_dump({"protection_groups": groups, "plans": defined}))
    return path


@pytest.fixture
def apply_env(moto_url: str, tables: dict[str, str]) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "DRS_BOT_REGION": "us-east-1",
        "DRS_BOT_CATALOG_TABLE": tables["CatalogTable"],
        "DRS_BOT_EXECUTIONS_TABLE": tables["ExecutionsTable"],
    }


def test_a_plan_of_120_waves_is_refused_by_validate(tmp_path: Path) -> None:
    path = plans_file(tmp_path, waves=120, servers_per_wave=1)
    result = drs_bot("plans", "validate", str(path))
    assert result.returncode == 1, result.stdout
    assert f"{path}: 1 problem(s)" in result.stderr
    assert "plans[0].waves: 120 waves; a plan has at most 20" in result.stderr
    assert "Traceback" not in result.stderr


def test_five_waves_of_4000_servers_are_refused_by_validate(tmp_path: Path) -> None:
    path = plans_file(tmp_path, waves=5, servers_per_wave=4000)
    result = drs_bot("plans", "validate", str(path))
    assert result.returncode == 1, result.stdout
    assert "plans[0]: 20,000 source servers across its waves; a plan launches at most 4,000" in result.stderr
    # And a catalog of 20,000 server ids is more than one DynamoDB item holds.
    assert (
        "the catalog takes 4" in result.stderr and "one DynamoDB item holds at most 408,576" in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_a_wave_of_more_servers_than_drs_holds_is_refused(tmp_path: Path) -> None:
    path = plans_file(tmp_path, waves=1, servers_per_wave=4001)
    result = drs_bot("plans", "validate", str(path))
    assert result.returncode == 1
    assert (
        "plans[0].waves[0]: protection group 'p0-group-0' has 4,001 source servers; a wave launches at most 4,000"
        in (result.stderr)
    )


def test_a_20000_server_catalog_is_refused_by_validate_and_apply_writes_nothing(
    tmp_path: Path, apply_env: dict[str, str], dynamodb: Any, tables: dict[str, str]
) -> None:
    # Ten plans of 2,000 servers each: every plan is within its limits, the catalog is not.
    path = plans_file(tmp_path, waves=2, servers_per_wave=1000, plans=10)
    validated = drs_bot("plans", "validate", str(path))
    assert validated.returncode == 1
    assert f"{path}: 1 problem(s)" in validated.stderr
    assert (
        "the catalog takes 4" in validated.stderr and "(about 18,571 source server ids)" in validated.stderr
    )
    store = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    applied = drs_bot("plans", "apply", str(path), env=apply_env)
    assert applied.returncode == 1
    assert (
        "one DynamoDB item holds at most 408,576" in applied.stderr
        and "Nothing was written." in applied.stderr
    )
    assert "Traceback" not in applied.stderr
    assert store.load().plans == []


def test_a_catalog_just_under_the_size_limit_is_applied(
    tmp_path: Path, apply_env: dict[str, str], dynamodb: Any, tables: dict[str, str]
) -> None:
    # Nine plans of 2,000 servers: 18,000 server ids, 400,227 bytes, just under what one item holds.
    path = plans_file(tmp_path, waves=2, servers_per_wave=1000, plans=9)
    assert drs_bot("plans", "validate", str(path)).returncode == 0
    applied = drs_bot("plans", "apply", str(path), env=apply_env)
    assert applied.returncode == 0, applied.stderr
    loaded = DynamoCatalogStore(dynamodb, tables["CatalogTable"]).load()
    assert sum(len(group.source_servers) for group in loaded.protection_groups) == 18_000


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def test_a_plan_at_the_limits_validates_and_runs_to_the_end(
    tmp_path: Path, dynamodb: Any, tables: dict[str, str], slack: FakeSlack
) -> None:
    """20 waves, 4,000 servers: every step's transaction fits, every server launches once, in wave order."""
    per_wave = MAX_SERVERS_PER_PLAN // MAX_WAVES_PER_PLAN
    path = plans_file(tmp_path, waves=MAX_WAVES_PER_PLAN, servers_per_wave=per_wave)
    catalog: Catalog = read_catalog(path)  # what `plans validate` checks; raises on any problem
    world, server = build_world(dynamodb, tables, catalog, slack)
    # Launches that end within one 30-second tick: the point is every step's writes, not DRS's pace.
    world.emulator.timings = Timings().with_changes(
        conversion_start=2, conversion_end=8, launch_start=9, instance_created=10, launch_end=15
    )
    try:
        use_cases = world.use_cases()
        started = time.monotonic()
        execution_id = world.start_drill(use_cases, plan="plan-0")
        final = world.run(use_cases, execution_id, steps=1200)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert final.status is ExecutionStatus.COMPLETED, final.status
    assert len(final.waves) == 20 and all(s.status is ServerStatus.LAUNCHED for s in final.servers())
    launched = world.launches_per_server(execution_id)
    assert len(launched) == 4000 and set(launched.values()) == {1}
    starts = [c for c in world.emulator.calls if c.operation == "StartRecovery" and c.error is None]
    wave_of = {
        sid: w for w, wave in enumerate(final.waves) for sid in (s.source_server_id for s in wave.servers())
    }
    order = [wave_of[c.params["sourceServers"][0]["sourceServerID"]] for c in starts]
    assert order == sorted(order)  # wave N+1 started only after wave N
    assert Counter(order) == dict.fromkeys(range(20), 2)  # 200 servers: two jobs of 100 per wave
    print(f"20 waves x {per_wave} servers ran in {elapsed:.1f} s")
