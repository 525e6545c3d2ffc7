"""The use cases as bot/wiring.py builds them, over the in-memory fakes of tests/fakes: no server,
no thread, no sleep. Time moves only when the test (or `run`) moves the fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.domain.execution import Execution, ExecutionType, Limits
from bot.domain.plans import Catalog
from bot.domain.policy import AccessPolicy
from bot.services.outbox import Outbox
from bot.services.ports import ExecutionIds, HomeTab, LogKeys
from bot.services.report import Reports
from bot.services.requesting import ExecutionRequest, execution_id_for
from bot.services.use_cases import UseCases
from bot.wiring import BlockKitRenderer, build_use_cases
from tests.fakes.clock import FakeClock
from tests.fakes.drs import FakeDrs
from tests.fakes.health import FakeHealthChecks
from tests.fakes.hooks import FakeHooks
from tests.fakes.slack import FakeDirectory, FakeNotifier, FakePictures, FakeTrigger
from tests.fakes.store import InMemoryCatalogStore, InMemoryExecutionStore

REGION = "us-east-1"  # the DRS region the plan's source servers replicate to
ORIGIN = "us-west-2"  # where the source machines ran: a failback launches there
CHANNEL = "C0SERVICES"
OPS = "U0OPS"
BOSS = "U0BOSS"
POLL_SECONDS = 30
WEB = [f"s-{n:017x}" for n in range(1, 4)]
DB = [f"s-{n:017x}" for n in range(0x10, 0x12)]


def plans(databases: dict[str, Any] | None = None, web: dict[str, Any] | None = None) -> Catalog:
    """plan-x: Databases then Web, each wave with these options (as plans.yml writes them), if any."""
    return Catalog.model_validate(
        {
            "protection_groups": [
                {"name": "db", "region": REGION, "source_servers": DB},
                {"name": "web", "region": REGION, "source_servers": WEB},
            ],
            "plans": [
                {
                    "name": "plan-x",
                    "waves": [
                        {"name": "Databases", "protection_group": "db", **(databases or {})},
                        {"name": "Web", "protection_group": "web", **(web or {})},
                    ],
                }
            ],
        }
    )


@dataclass
class World:
    clock: FakeClock = field(default_factory=FakeClock)
    store: InMemoryExecutionStore = field(default_factory=InMemoryExecutionStore)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    pictures: FakePictures = field(default_factory=FakePictures)
    trigger: FakeTrigger = field(default_factory=FakeTrigger)
    policy: AccessPolicy = field(
        default_factory=lambda: AccessPolicy(recovery_requesters=[OPS], approvers=[BOSS])
    )
    limits: Limits = field(default_factory=Limits)
    execution_ids: ExecutionIds = execution_id_for
    log_keys: LogKeys | None = None
    reports: Reports | None = None
    health: FakeHealthChecks | None = None  # health checks (a wave's health_check)
    home: HomeTab | None = None
    target_accounts: tuple[str, ...] = ()  # the bot's TargetAccounts (#18)

    def __post_init__(self) -> None:
        self.catalog = InMemoryCatalogStore(plans())
        self.drs = FakeDrs(self.clock, failback_to={REGION: ORIGIN})
        self.drs.add_servers(REGION, [*DB, *WEB])
        self.hooks = FakeHooks(self.clock)

    def use_cases(self) -> UseCases:
        return build_use_cases(
            catalog=self.catalog,
            store=self.store,
            drs=self.drs,
            outbox=Outbox(
                self.store,
                self.notifier,
                BlockKitRenderer(),
                self.clock,
                pictures=self.pictures,
                reports=self.reports,
                home=self.home,
            ),
            trigger=self.trigger,
            clock=self.clock,
            limits=self.limits,
            poll_seconds=POLL_SECONDS,
            policy=self.policy,
            directory=FakeDirectory(),
            execution_ids=self.execution_ids,
            log_keys=self.log_keys,
            reports=self.reports,
            health_checks=self.health,
            hook_runner=self.hooks,
            target_accounts=self.target_accounts,
        )

    def request(
        self, kind: ExecutionType = ExecutionType.DRILL, user: str = OPS, key: str = "trigger-1"
    ) -> ExecutionRequest:
        return self.use_cases().requesting.request(
            plan_name="plan-x", execution_type=kind, user_id=user, channel_id=CHANNEL, request_key=key
        )

    def run(self, execution_id: str, *, max_ticks: int = 200) -> Execution:
        """What the Step Functions loop does: tick, wait what the tick says, until it is finished."""
        ticking = self.use_cases().ticking
        for _ in range(max_ticks):
            result = ticking.tick(execution_id)
            if result.finished:
                execution = self.store.get(execution_id)
                assert execution is not None
                return execution
            self.clock.advance(result.wait_seconds)
        raise AssertionError(f"{execution_id} still running after {max_ticks} ticks")

    def stored(self, execution_id: str) -> Execution:
        execution = self.store.get(execution_id)
        assert execution is not None
        return execution


@pytest.fixture
def world() -> World:
    return World()
