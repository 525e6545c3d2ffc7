"""The executor against real local services (DRS emulator, DynamoDB on moto, fake Slack) on one
manual clock, with faults injected at the ports: a crash after a call, or DRS throttling."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from slack_sdk import WebClient

from bot.adapters.drs import DrsGateway
from bot.adapters.dynamodb import DynamoCatalogStore, DynamoExecutionStore
from bot.adapters.hooks import AwsHooks
from bot.adapters.slack_notifier import SlackNotifier
from bot.adapters.trigger import PollingTrigger
from bot.domain.execution import Execution, ExecutionType, Limits
from bot.domain.plans import Catalog
from bot.domain.policy import AccessPolicy
from bot.errors import StaleExecution
from bot.services.outbox import Outbox
from bot.services.ticking import TickResult
from bot.services.use_cases import UseCases
from bot.wiring import BlockKitRenderer, build_use_cases
from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock
from sandbox.slack_fake import FakeSlack

CHANNEL = "C0FAULTS"
APPROVER = "U0BOSS"
START = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


class Crash(Exception):
    """The process died right after an external call returned (the call took effect)."""


class CrashAfter:
    """Wraps an adapter: the n-th call of `method` happens, then the caller dies."""

    def __init__(self, target: Any, method: str, nth: int) -> None:
        self._target, self._method, self._nth = target, method, nth
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if name != self._method:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            result = attribute(*args, **kwargs)
            if self.calls == self._nth:
                raise Crash(f"killed after {name} #{self.calls}")
            return result

        return call


@dataclass
class World:
    emulator: DrsEmulator
    emulator_url: str
    clock: ManualClock
    slack: FakeSlack
    dynamodb: Any
    tables: dict[str, str]
    catalog: Catalog
    limits: Limits = field(default_factory=Limits)
    policy: AccessPolicy = field(
        default_factory=lambda: AccessPolicy(recovery_requesters=["*"], approvers=[APPROVER])
    )
    crashes: int = 0

    def drs(self, max_attempts: int = 3) -> DrsGateway:
        config = Config(retries={"mode": "standard", "max_attempts": max_attempts})
        return DrsGateway(
            lambda where: boto3.client(
                "drs",
                region_name=where.region,
                endpoint_url=self.emulator_url,
                aws_access_key_id="test",
                aws_secret_access_key="test",
                config=config,
            )
        )

    def store(self) -> DynamoExecutionStore:
        return DynamoExecutionStore(self.dynamodb, self.tables["ExecutionsTable"])

    def stored(self, execution_id: str) -> Execution:
        """The execution as the store holds it now."""
        execution = self.store().get(execution_id)
        assert execution is not None, f"{execution_id} is not in the store"
        return execution

    def notifier(self) -> SlackNotifier:
        return SlackNotifier(WebClient(token=self.slack.bot_token, base_url=self.slack.api_url))

    def hooks(self) -> AwsHooks:
        """hooks (#15): SSM Automation on the emulator (Lambda hooks are proven in tests/e2e)."""
        return AwsHooks(
            lambda where: boto3.client(
                "ssm",
                region_name=where.region,
                endpoint_url=self.emulator_url,
                aws_access_key_id="test",
                aws_secret_access_key="test",
            ),
            lambda where, timeout: boto3.client(
                "lambda", region_name=where.region, aws_access_key_id="test", aws_secret_access_key="test"
            ),
        )

    def use_cases(
        self,
        *,
        drs: Any = None,
        store: Any = None,
        notifier: Any = None,
        reports: Any = None,
        hooks: Any = None,
    ) -> UseCases:
        store = store or self.store()
        catalogs = DynamoCatalogStore(self.dynamodb, self.tables["CatalogTable"])
        outbox = Outbox(store, notifier or self.notifier(), BlockKitRenderer(), self.clock.now)
        return build_use_cases(
            catalog=catalogs,
            store=store,
            drs=drs or self.drs(),
            outbox=outbox,
            trigger=PollingTrigger(),
            clock=self.clock.now,
            limits=self.limits,
            policy=self.policy,
            poll_seconds=30,
            reports=reports,
            hook_runner=hooks or self.hooks(),
        )

    def start_drill(self, use_cases: UseCases, plan: str = "plan-x") -> str:
        try:
            outcome = use_cases.requesting.request(
                plan_name=plan,
                execution_type=ExecutionType.DRILL,
                user_id="U0OPS",
                channel_id=CHANNEL,
                request_key=f"trigger-{plan}",
            )
            assert outcome.execution is not None
            return outcome.execution.execution_id
        except Crash:
            self.crashes += 1
            latest = self.store().latest_in_channel(CHANNEL)
            assert latest is not None
            return latest.execution_id

    def run(
        self, use_cases: UseCases, execution_id: str, *, parallel: int = 1, steps: int = 400
    ) -> Execution:
        """Tick until the execution ended and its messages are out, 30 emulated seconds apart."""
        for _ in range(steps):
            with ThreadPoolExecutor(parallel) as pool:
                results = list(pool.map(lambda _: self._tick(use_cases, execution_id), range(parallel)))
            if any(result is not None and result.finished for result in results):
                break
            self.clock.advance(30)
        else:
            raise AssertionError(f"{execution_id} did not finish in {steps} steps")
        final = self.store().get(execution_id)
        assert final is not None
        return final

    def _tick(self, use_cases: UseCases, execution_id: str) -> TickResult | None:
        try:
            return use_cases.ticking.tick(execution_id)
        except Crash:
            self.crashes += 1
            return None
        except StaleExecution:
            return None

    # --- what a user would check ---------------------------------------------------------------

    def launches_per_server(self, execution_id: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        for call in self.emulator.calls:
            tags = call.params.get("tags") or {}
            if (
                call.operation == "StartRecovery"
                and call.error is None
                and (tags.get("drs-chatops:execution") == execution_id)
            ):
                counts.update(server["sourceServerID"] for server in call.params["sourceServers"])
        return counts

    def thread_keys(self) -> Counter[str]:
        keys: Counter[str] = Counter()
        for message in self.slack.messages(CHANNEL):
            metadata = message.get("metadata") or {}
            key = (metadata.get("event_payload") or {}).get("key")
            if key:
                keys[key] += 1
        return keys


def build_world(
    dynamodb: Any,
    tables: dict[str, str],
    catalog: Catalog,
    slack: FakeSlack,
    regions: tuple[str, ...] | None = None,
) -> tuple[World, Any]:
    """`regions`: the emulator's regions (default: the catalog's); a server's origin region, where
    failback goes, is the first configured region other than its own."""
    clock = ManualClock(START)
    regions = regions or tuple(sorted({group.region for group in catalog.protection_groups}))
    emulator = DrsEmulator(regions=regions, clock=clock, seed=3)
    for group in catalog.protection_groups:
        emulator.add_source_servers(group.region, ids=list(group.source_servers))
    server = EmulatorServer(emulator).start()
    catalogs = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    catalogs.replace(catalog, applied_by="test", now=START)
    world = World(
        emulator=emulator,
        emulator_url=server.url,
        clock=clock,
        slack=slack,
        dynamodb=dynamodb,
        tables=tables,
        catalog=catalog,
    )
    return world, server
