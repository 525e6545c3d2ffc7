"""`/drs execute` and the plan limits (bot/domain/limits.py): a plan at the limit runs through the real
handler; one beyond it, left in the catalog by a release that did not check, is refused with the reason
before anything is written or launched."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bot.domain.execution import ExecutionStatus, WaveStatus
from bot.domain.limits import MAX_WAVES_PER_PLAN
from bot.domain.plans import Catalog
from sandbox.stack import SLACK_FUNCTION
from tests.e2e.conftest import Sandbox
from tests.unit.builders import server_ids


def with_plan(catalog: Catalog, name: str, waves: int) -> Catalog:
    servers = server_ids(f"c{waves:02x}", waves)
    data = catalog.model_dump(mode="json")
    data["protection_groups"] += [
        {"name": f"{name}-{n}", "region": "us-east-1", "source_servers": [sid]}
        for n, sid in enumerate(servers)
    ]
    data["plans"].append(
        {
            "name": name,
            "waves": [{"name": f"Step {n + 1}", "protection_group": f"{name}-{n}"} for n in range(waves)],
        }
    )
    return Catalog.model_validate(data)


@pytest.fixture
def catalog_with(sandbox: Sandbox) -> Iterator[Callable[[str, int], None]]:
    """Put a plan in the sandbox's catalog directly (as `plans apply` of an older release could have),
    with its servers replicating in the emulator; the catalog is restored afterwards."""
    container = sandbox.stack.container
    assert container is not None
    original = container.catalog.load()

    def add(name: str, waves: int) -> None:
        catalog = with_plan(container.catalog.load(), name, waves)
        ids = [
            sid
            for group in catalog.protection_groups
            if group.name.startswith(f"{name}-")
            for sid in group.source_servers
        ]
        sandbox.stack.drs.add_source_servers("us-east-1", ids=ids)
        container.catalog.replace(catalog, applied_by="test", now=sandbox.stack.drs.now())

    yield add
    container.catalog.replace(original, applied_by="test", now=sandbox.stack.drs.now())


def test_a_plan_of_more_waves_than_the_bot_can_run_is_refused_and_nothing_is_written(
    sandbox: Sandbox, catalog_with: Callable[[str, int], None]
) -> None:
    catalog_with("plan-huge", MAX_WAVES_PER_PLAN + 1)
    channel = sandbox.new_channel()
    calls_before = len(sandbox.stack.drs.calls)
    invocations_before = len(sandbox.stack.lambdas.invocations)
    reply = sandbox.command("execute plan-huge drill", channel=channel)
    assert reply.status == 200
    sandbox.settle()
    (answer,) = [text for text in sandbox.ephemeral(channel) if "Nothing was launched" in text]
    assert "`plan-huge` is larger than the bot can run: waves: 21 waves; a plan has at most 20" in answer
    assert "drs-bot plans validate" in answer
    assert sandbox.stack.container is not None
    assert sandbox.stack.bot.store.latest_in_channel(channel) is None
    assert not [c for c in sandbox.stack.drs.calls[calls_before:] if c.operation == "StartRecovery"]
    # The Slack function's own: the shared sandbox's events function may still be failing a batch of an
    # earlier test's DRS events (a throttled DRS).
    invocations = sandbox.stack.lambdas.invocations[invocations_before:]
    assert not [i.error for i in invocations if i.error and i.function_name == SLACK_FUNCTION]


def test_a_plan_of_as_many_waves_as_the_bot_can_run_runs_every_wave(
    sandbox: Sandbox, catalog_with: Callable[[str, int], None]
) -> None:
    catalog_with("plan-twenty", MAX_WAVES_PER_PLAN)
    channel = sandbox.new_channel()
    sandbox.command("execute plan-twenty drill", channel=channel)
    execution = sandbox.finished_execution(channel, timeout=240)
    assert execution.status is ExecutionStatus.COMPLETED
    assert [w.status for w in execution.waves] == [WaveStatus.COMPLETED] * MAX_WAVES_PER_PLAN
    texts = [m["text"] for m in sandbox.public(channel)]
    assert any("Drill of plan-twenty COMPLETED: 20/20 servers launched, 0 failed" in t for t in texts), texts
