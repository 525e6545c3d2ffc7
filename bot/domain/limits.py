"""How large a plan and the catalog may be: what `plans validate` checks, so that what validates runs.

Each number comes from what DynamoDB or DRS can really do (README "Plans as code", Limits):
- One save of an execution is one DynamoDB transaction, at most 100 writes: the header, the plan's lock,
  the server pages that changed (200 servers a page, so a plan has at most one page per wave plus one per
  200 servers) and the status events of that step (at most two per wave, plus a few for the execution).
  At 20 waves and 4,000 servers that is at most 1 + 1 + (20 + 20) + (2 x 20 + 5) = 87.
- 4,000 source servers: DRS's quota of source servers per account and region (L-E28BE5E0); a plan, or a
  wave, cannot launch more than one region's DRS holds. It is also the size the execution's items are
  measured at (tests/integration/test_dynamodb_store.py).
- 20 waves: the transaction bound above; DRS's own recovery plans allow 20 steps too.
- The catalog is one DynamoDB item (so an apply is all or nothing), and an item holds 400 KB.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.plans import MAX_WAVES_PER_PLAN, Catalog, PlanProblem, RecoveryPlan

__all__ = ["MAX_WAVES_PER_PLAN", "catalog_problems", "plan_problems"]
MAX_SERVERS_PER_PLAN = 4000
MAX_SERVERS_PER_WAVE = MAX_SERVERS_PER_PLAN
# DynamoDB's item limit is 400 KB (409,600 bytes) with the attribute names and the item's other
# attributes (key, schema version, who applied it, when: about 100 bytes); 1 KB is kept for them.
MAX_CATALOG_BYTES = 400 * 1024 - 1024
_SERVER_ID_BYTES = len('"s-0123456789abcdef0",')


def plan_problems(plan: RecoveryPlan, servers_in: Callable[[str], int], where: str = "") -> list[PlanProblem]:
    """`servers_in(group)`: how many servers the protection group launches (listed, or resolved)."""
    problems = []
    if len(plan.waves) > MAX_WAVES_PER_PLAN:
        problems.append(
            PlanProblem(
                path=f"{where}waves",
                message=f"{len(plan.waves)} waves; a plan has at most {MAX_WAVES_PER_PLAN} "
                "(each step of an execution is saved in one DynamoDB transaction of at most 100 writes)",
            )
        )
    total = 0
    for index, wave in enumerate(plan.waves):
        servers = servers_in(wave.protection_group)
        total += servers
        if servers > MAX_SERVERS_PER_WAVE:
            problems.append(
                PlanProblem(
                    path=f"{where}waves[{index}]",
                    message=f"protection group {wave.protection_group!r} has {servers:,} source servers; "
                    f"a wave launches at most {MAX_SERVERS_PER_WAVE:,} (DRS's source servers per account "
                    "and region)",
                )
            )
    if total > MAX_SERVERS_PER_PLAN:
        problems.append(
            PlanProblem(
                path=where.rstrip("."),
                message=f"{total:,} source servers across its waves; a plan launches at most "
                f"{MAX_SERVERS_PER_PLAN:,} (DRS's source servers per account and region): split it",
            )
        )
    return problems


def catalog_problems(catalog: Catalog) -> list[PlanProblem]:
    """What would keep the catalog from being stored, or a plan of it from running."""
    listed = {group.name: len(group.source_servers) for group in catalog.protection_groups}
    problems = []
    for index, plan in enumerate(catalog.plans):
        problems += plan_problems(plan, lambda group: listed.get(group, 0), where=f"plans[{index}].")
    size = len(catalog.model_dump_json().encode())
    if size > MAX_CATALOG_BYTES:
        problems.append(
            PlanProblem(
                path="",
                message=f"the catalog takes {size:,} bytes stored; one DynamoDB item holds at most "
                f"{MAX_CATALOG_BYTES:,} (about {MAX_CATALOG_BYTES // _SERVER_ID_BYTES:,} source server ids): "
                "list fewer source servers",
            )
        )
    return problems
