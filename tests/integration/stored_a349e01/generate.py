"""Writes a realistic history with the release's code and dumps the raw DynamoDB items (README.md here).

    .venv/bin/python -m tests.integration.stored_a349e01.generate tests/integration/stored_a349e01/items.json

Run at commit a349e01 it produced items.json; run on a later commit it shows what that commit writes.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
from typing import Any

import boto3

from bot.domain.approval import Vote
from bot.domain.execution import ExecutionType, Limits
from bot.domain.history import to_history
from bot.domain.plans import Catalog
from sandbox.moto_server import MotoServer
from sandbox.slack_fake import FakeSlack
from sandbox.tables import create_tables
from tests.integration.executor_world import APPROVER, CHANNEL, World, build_world

RECOVERY_REGION = "us-east-1"
ORIGIN_REGION = "us-west-2"
FAILING = "s-a0000000000000002"


def catalog() -> Catalog:
    return Catalog.model_validate(
        {
            "protection_groups": [
                {
                    "name": "db-tier",
                    "region": RECOVERY_REGION,
                    "source_servers": ["s-d0000000000000001", "s-d0000000000000002"],
                },
                {
                    "name": "app-tier",
                    "region": RECOVERY_REGION,
                    "source_servers": ["s-a0000000000000001", FAILING, "s-a0000000000000003"],
                },
                {"name": "web-tier", "region": RECOVERY_REGION, "source_servers": ["s-e0000000000000001"]},
                {"name": "batch", "region": RECOVERY_REGION, "source_servers": ["s-b0000000000000001"]},
            ],
            "plans": [
                {
                    "name": "plan-x",
                    "description": "Payments stack",
                    "rpo_target": 3600,
                    "waves": [
                        {"name": "Databases", "protection_group": "db-tier", "on_failure": "stop"},
                        {"name": "Application servers", "protection_group": "app-tier", "timeout": 3600},
                        {"name": "Web front end", "protection_group": "web-tier", "wait_before": 60},
                    ],
                },
                {
                    "name": "plan-batch",
                    "cleanup_after": 1800,
                    "waves": [{"name": "Batch", "protection_group": "batch"}],
                },
            ],
        }
    )


def dump_items(client: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    for item in items:
        for value in item.values():
            # JSON has no bytes: binary attributes are written as base64, as DynamoDB JSON does.
            if "B" in value:
                value["B"] = base64.b64encode(value["B"]).decode()
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def request(world: World, execution_type: ExecutionType, key: str, plan: str = "plan-x") -> str:
    outcome = world.use_cases().requesting.request(
        plan_name=plan, execution_type=execution_type, user_id="U0OPS", channel_id=CHANNEL, request_key=key
    )
    assert outcome.execution is not None, outcome
    return outcome.execution.execution_id


def produce(world: World) -> list[str]:
    use_cases = world.use_cases()
    ids = []
    # 1. A drill whose app server fails to launch (DRS's own error text), then cleaned up.
    world.emulator.fail_launch(FAILING, times=1)
    drill = request(world, ExecutionType.DRILL, "drill")
    world.run(use_cases, drill)
    use_cases.controlling.cleanup(drill, "U0OPS")
    world.run(use_cases, drill)
    ids.append(drill)
    # 2. A recovery someone rejected, with a reason.
    rejected = request(world, ExecutionType.RECOVERY, "rejected")
    use_cases.controlling.vote(
        rejected, Vote.REJECT, APPROVER, reason="not during the <change freeze> & audit"
    )
    world.run(use_cases, rejected)
    ids.append(rejected)
    # 3. An approved recovery, then 4. its failback.
    for execution_type, key in ((ExecutionType.RECOVERY, "recovery"), (ExecutionType.FAILBACK, "failback")):
        execution_id = request(world, execution_type, key)
        use_cases.controlling.vote(execution_id, Vote.APPROVE, APPROVER)
        world.run(use_cases, execution_id)
        ids.append(execution_id)
    # 5. A drill still running when the new release is deployed: its plan lock, and status messages
    # not delivered yet (Slack was failing).
    running = request(world, ExecutionType.DRILL, "running", plan="plan-batch")
    use_cases.ticking.tick(running)
    world.clock.advance(900)
    world.slack.inject_fault("*", "server_error", count=20)
    use_cases.ticking.tick(running)
    world.slack.clear_faults()
    ids.append(running)
    return ids


def main(out: str) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with MotoServer() as moto, FakeSlack() as slack:
        client = boto3.client(
            "dynamodb",
            endpoint_url=moto.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        tables = {"CatalogTable": "catalog", "ExecutionsTable": "executions"}
        create_tables(client, tables)
        world, server = build_world(
            client, tables, catalog(), slack, regions=(RECOVERY_REGION, ORIGIN_REGION)
        )
        world.limits = Limits(failback_sync_timeout_seconds=3600)
        try:
            ids = produce(world)
            store = world.store()
            expected = {}
            for execution_id in ids:
                execution = store.get(execution_id)
                assert execution is not None
                expected[execution_id] = {
                    "history": to_history(execution),
                    "execution": execution.model_dump(mode="json"),
                    "pending_events": [
                        entry.event.model_dump(mode="json") for entry in store.pending_events(execution_id)
                    ],
                }
            fixture = {
                "tables": {name: dump_items(client, table) for name, table in tables.items()},
                "catalog": world.catalog.model_dump(mode="json"),
                "executions": expected,
            }
        finally:
            server.stop()
    with open(out, "w") as file:
        json.dump(fixture, file, indent=1, sort_keys=True)
        file.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
