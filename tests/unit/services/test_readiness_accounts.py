"""/drs check across accounts (#18), over the fakes: each account and region asked once, judged with its
own quotas; an account DRS cannot be reached in blocks its own waves only, and a drill does not start."""

from __future__ import annotations

from bot.domain.execution import ExecutionType, Limits
from bot.domain.readiness import Level
from bot.errors import AccountUnreachable
from bot.services.requesting import RequestResult
from tests.fakes.store import InMemoryCatalogStore
from tests.unit.services.conftest import DB, REGION, WEB, World, plans

TARGET = "222233334444"
PLACE = f"{TARGET}/{REGION}"
ROLE = f"arn:aws:iam::{TARGET}:role/drs-chatops-target"


def across_accounts(world: World) -> World:
    """plan-x with its Web wave's group in TARGET, whose servers replicate there."""
    catalog = plans()
    web = catalog.group("web").model_copy(update={"account": TARGET})
    world.catalog = InMemoryCatalogStore(
        catalog.model_copy(
            update={"protection_groups": [web if g.name == "web" else g for g in catalog.protection_groups]}
        )
    )
    world.drs.add_servers(PLACE, WEB)
    return world


def test_each_account_and_region_is_asked_once_and_judged_with_its_own_quotas() -> None:
    limits = Limits.model_validate({"accounts": {TARGET: {"servers_in_active_jobs": 2}}})
    world = across_accounts(World(limits=limits, target_accounts=(TARGET,)))
    report = world.use_cases().requesting.check("plan-x")

    assert report is not None
    assert report.verdict.summary_lines() == [
        f"WARN: {PLACE}: wave Web (3 servers, 1 jobs) does not fit the free quota (2 servers, 20 jobs); "
        "it will start in parts"
    ]
    assert report.servers == {"db": DB, "web": WEB}
    asked = [call for call in world.drs.calls if call[0] == "DescribeSourceServers"]
    assert sorted(asked) == [("DescribeSourceServers", PLACE), ("DescribeSourceServers", REGION)]


def test_an_account_whose_role_cannot_be_assumed_blocks_its_waves_and_the_drill() -> None:
    world = across_accounts(World(target_accounts=(TARGET,)))
    world.drs.refusing[PLACE] = AccountUnreachable(
        TARGET, ROLE, "AccessDenied", "User: … is not authorized to perform: sts:AssumeRole", transient=False
    )
    report = world.use_cases().requesting.check("plan-x")

    assert report is not None and report.verdict.level is Level.BLOCKED
    assert report.verdict.summary_lines() == [
        f"BLOCKED: account {TARGET} ({REGION}): DRS refused: AccessDenied: cannot assume {ROLE} in account "
        f"{TARGET}: User: … is not authorized to perform: sts:AssumeRole; not checked: wave Web"
    ]
    assert report.verdict.servers_checked == len(DB)  # the own account's wave was checked

    refused = world.request(ExecutionType.DRILL)
    assert refused.result is RequestResult.NOT_READY and world.drs.started() == []

    # STS throttled past its retries: said so, not as a refusal.
    world.drs.refusing[PLACE] = AccountUnreachable(
        TARGET, ROLE, "Throttling", "Rate exceeded", transient=True
    )
    report = world.use_cases().requesting.check("plan-x")
    assert report is not None
    assert report.verdict.summary_lines()[0].startswith(
        f"BLOCKED: account {TARGET} ({REGION}): DRS did not answer: Throttling: cannot assume {ROLE}"
    )
