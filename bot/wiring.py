"""Dependencies are wired here and only here: settings in, ready-to-use services out."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from botocore.config import Config
from slack_bolt import App
from slack_sdk import WebClient

from bot.adapters import aws
from bot.adapters.accounts import AccountSessions
from bot.adapters.drs import DrsGateway
from bot.adapters.drs_inventory import DrsInventory
from bot.adapters.dynamodb import DynamoCatalogStore, DynamoExecutionStore
from bot.adapters.health import HealthGateway
from bot.adapters.history_upgrade import HistoryUpgrade
from bot.adapters.home_store import DynamoHomeViewers
from bot.adapters.hooks import AwsHooks
from bot.adapters.reports import S3ReportStore
from bot.adapters.secrets import SlackCredentials, load_slack_credentials
from bot.adapters.slack_notifier import SlackDirectory, SlackHomePublisher, SlackNotifier, web_client
from bot.adapters.telemetry import ExecutionMetrics, PowertoolsLogKeys
from bot.adapters.trigger import PollingTrigger, StepFunctionsTrigger
from bot.adapters.watch_store import DynamoWatchStore
from bot.domain.accounts import AccountRegion
from bot.domain.execution import Limits
from bot.domain.policy import AccessPolicy
from bot.services.access import Access
from bot.services.cleanup import Cleaner
from bot.services.controlling import Controlling
from bot.services.failback import Failbacker
from bot.services.health import HealthObserver
from bot.services.home import Home
from bot.services.outbox import CLAIM_SECONDS, Outbox
from bot.services.ports import (
    CatalogStore,
    Clock,
    Directory,
    Drs,
    ExecutionIds,
    ExecutionStore,
    ExecutorTrigger,
    HealthChecks,
    Hooks,
    LogKeys,
    Pictures,
)
from bot.services.queries import Queries
from bot.services.readiness import Readiness
from bot.services.report import Reports
from bot.services.requesting import Requesting, execution_id_for
from bot.services.scheduled_drills import ScheduledDrills
from bot.services.ticking import Ticking
from bot.services.use_cases import UseCases
from bot.services.watch import CLAIM_SECONDS as WATCH_CLAIM_SECONDS
from bot.services.watch import Watch, WatchView
from bot.settings import Settings
from bot.slack import home as home_tab
from bot.slack import thread_messages
from bot.slack.app import build_app
from bot.slack.deps import SlackDeps


def utc_now() -> datetime:
    return datetime.now(UTC)


class MovedTime:
    """How far a rehearsal has moved time ahead (`drs-bot sandbox advance`), per clock origin: the
    sandbox runs every function in its process, each building its own container; another sandbox's
    clock (another origin) in the same process is not moved."""

    def __init__(self) -> None:
        self._offsets: dict[datetime, timedelta] = {}
        self._lock = threading.Lock()

    def advance(self, origin: datetime, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time cannot go backwards")
        with self._lock:
            self._offsets[origin] = self._offsets.get(origin, timedelta()) + timedelta(seconds=seconds)

    def offset(self, origin: datetime) -> timedelta:
        with self._lock:
            return self._offsets.get(origin, timedelta())


moved_time = MovedTime()


def scaled_clock(origin: datetime, scale: float, moved: MovedTime = moved_time) -> Clock:
    """Time that runs `scale` times faster than real time from `origin` on, plus the time a rehearsal
    moved ahead (the sandbox)."""

    def now() -> datetime:
        real = datetime.now(UTC)
        return origin + (real - origin) * scale + moved.offset(origin)

    return now


class BlockKitRenderer:
    anchor = staticmethod(thread_messages.anchor)
    event = staticmethod(thread_messages.event)
    picture_refused = staticmethod(thread_messages.picture_refused)
    report_verdict = staticmethod(thread_messages.report_verdict)
    report_head = staticmethod(thread_messages.report_head)


def build_use_cases(
    *,
    catalog: CatalogStore,
    store: ExecutionStore,
    drs: Drs,
    outbox: Outbox,
    trigger: ExecutorTrigger,
    clock: Clock,
    limits: Limits,
    poll_seconds: float,
    policy: AccessPolicy | None = None,
    directory: Directory | None = None,
    log_keys: LogKeys | None = None,
    execution_ids: ExecutionIds = execution_id_for,
    reports: Reports | None = None,
    health_checks: HealthChecks | None = None,
    hook_runner: Hooks | None = None,
    target_accounts: Collection[str] = (),
) -> UseCases:
    """The use cases and their collaborators, one of each, shared (the Container, tests, benchmarks)."""
    access = Access(policy or AccessPolicy(), directory)
    readiness = Readiness(drs, clock, limits)
    ticking = Ticking(
        store=store,
        drs=drs,
        outbox=outbox,
        clock=clock,
        limits=limits,
        poll_seconds=poll_seconds,
        readiness=readiness,
        cleaner=Cleaner(store, drs, clock, timedelta(seconds=limits.claim_timeout_seconds)),
        failbacker=Failbacker(store, drs, clock, limits, target_accounts),
        log_keys=log_keys,
        reports=reports,
        health=HealthObserver(health_checks) if health_checks is not None else None,
        hook_runner=hook_runner,
    )
    return UseCases(
        requesting=Requesting(
            catalog=catalog,
            store=store,
            drs=drs,
            outbox=outbox,
            trigger=trigger,
            clock=clock,
            limits=limits,
            access=access,
            readiness=readiness,
            execution_ids=execution_ids,
            log_keys=log_keys,
        ),
        controlling=Controlling(
            store=store,
            outbox=outbox,
            trigger=trigger,
            clock=clock,
            access=access,
            ticking=ticking,
            log_keys=log_keys,
            limits=limits,
            drs=drs,
        ),
        ticking=ticking,
        queries=Queries(catalog=catalog, store=store),
        outbox=outbox,
    )


class WatchRenderer:
    news = staticmethod(thread_messages.watch_news)
    skipped = staticmethod(thread_messages.drill_skipped)


@dataclass
class Container:
    settings: Settings
    clock_override: Clock | None = None

    @cached_property
    def clock(self) -> Clock:
        if self.clock_override is not None:
            return self.clock_override
        if self.settings.clock_scale != 1.0:
            origin = self.settings.clock_origin or utc_now()
            return scaled_clock(origin, self.settings.clock_scale)
        return utc_now

    @cached_property
    def credentials(self) -> SlackCredentials:
        s = self.settings
        return load_slack_credentials(
            s.slack_secret_id,
            s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else None,
            s.slack_bot_token.get_secret_value() if s.slack_bot_token else None,
        )

    @cached_property
    def slack_client(self) -> WebClient:
        return web_client(self.credentials.bot_token, self.settings.slack_api_url)

    @cached_property
    def catalog(self) -> DynamoCatalogStore:
        return DynamoCatalogStore(aws.dynamodb_client(self.settings.region), self.settings.catalog_table)

    @cached_property
    def store(self) -> DynamoExecutionStore:
        return DynamoExecutionStore(
            aws.dynamodb_client(self.settings.region),
            self.settings.executions_table,
            metrics=ExecutionMetrics(),
        )

    @cached_property
    def history_upgrade(self) -> HistoryUpgrade:
        return HistoryUpgrade(aws.dynamodb_client(self.settings.region), self.settings.executions_table)

    @cached_property
    def time_stretch(self) -> float:
        """Leases guard against dead processes, which is real time: on a sped-up clock they stretch."""
        return self.settings.clock_scale

    @cached_property
    def outbox(self) -> Outbox:
        return Outbox(
            self.store,
            SlackNotifier(self.slack_client),
            BlockKitRenderer(),
            self.clock,
            claim_seconds=CLAIM_SECONDS * self.time_stretch,
            pictures=self.pictures,
            reports=self.reports,
            home=self.home,
        )

    @cached_property
    def home(self) -> Home:
        """The Home tab, kept current for everyone who opened it: the outbox and the watch call it."""
        return Home(
            catalog=self.catalog,
            watch=WatchView(store=self.watch_store, executions=self.store, clock=self.clock),
            store=self.store,
            access=Access(self.settings.access_policy, SlackDirectory(self.slack_client)),
            clock=self.clock,
            viewers=DynamoHomeViewers(
                aws.dynamodb_client(self.settings.region), self.settings.executions_table
            ),
            publisher=SlackHomePublisher(self.slack_client),
            render=home_tab.view,
        )

    @cached_property
    def pictures(self) -> Pictures:
        # Pillow is imported only where a picture is drawn (an outbox), never on the way to an ack.
        from bot.adapters.timeline_png import PillowPictures

        return PillowPictures()

    @cached_property
    def trigger(self) -> ExecutorTrigger:
        if self.settings.state_machine_arn:
            client = aws.stepfunctions_client(self.settings.region)
            return StepFunctionsTrigger(client, self.settings.state_machine_arn)
        return PollingTrigger()

    @cached_property
    def reports(self) -> Reports | None:
        """Execution reports in the stack's bucket; None without one (DRS_BOT_REPORTS_BUCKET unset)."""
        bucket = self.settings.reports_bucket
        if not bucket:
            return None
        region = self.settings.region
        return Reports(S3ReportStore(lambda: aws.s3_client(region), bucket), self.clock)

    @cached_property
    def accounts(self) -> AccountSessions:
        """Clients in the bot's own account, or in a target account through its role."""
        return AccountSessions(
            self.settings.region,
            role_name=self.settings.target_role_name,
            external_id=self.settings.target_external_id,
        )

    def _client_for(self, service: str, config: Config) -> Callable[[AccountRegion], Any]:
        return lambda where: self.accounts.client(service, where, config)

    @cached_property
    def use_cases(self) -> UseCases:
        return build_use_cases(
            catalog=self.catalog,
            store=self.store,
            drs=DrsGateway(self._client_for("drs", aws.DRS_CONFIG)),
            outbox=self.outbox,
            trigger=self.trigger,
            clock=self.clock,
            policy=self.settings.access_policy,
            directory=SlackDirectory(self.slack_client),
            limits=self.settings.limits.model_copy(
                update={
                    "claim_timeout_seconds": self.settings.limits.claim_timeout_seconds * self.time_stretch
                }
            ),
            poll_seconds=self.settings.poll_seconds,
            log_keys=PowertoolsLogKeys(),
            reports=self.reports,
            health_checks=HealthGateway.through(self.accounts),
            hook_runner=AwsHooks.through(self.accounts),
            target_accounts=self.settings.target_accounts,
        )

    @cached_property
    def watch_store(self) -> DynamoWatchStore:
        return DynamoWatchStore(aws.dynamodb_client(self.settings.region), self.settings.executions_table)

    @cached_property
    def watch(self) -> Watch:
        return Watch(
            catalog=self.catalog,
            drs=DrsInventory(self._client_for("drs", aws.DRS_CONFIG)),
            store=self.watch_store,
            notifier=SlackNotifier(self.slack_client),
            renderer=WatchRenderer(),
            clock=self.clock,
            limits=self.settings.limits,
            claim_seconds=WATCH_CLAIM_SECONDS * self.time_stretch,
            home=self.home,
            target_accounts=self.settings.target_accounts,
        )

    @cached_property
    def scheduled_drills(self) -> ScheduledDrills:
        return ScheduledDrills(
            executions=self.use_cases.requesting,
            catalog=self.catalog,
            notifier=SlackNotifier(self.slack_client),
            renderer=WatchRenderer(),
        )

    def slack_deps(self) -> SlackDeps:
        return SlackDeps(
            use_cases=lambda: self.use_cases,
            catalog=lambda: self.catalog,
            clock=self.clock,
            policy=self.settings.access_policy,
            reports=lambda: self.reports,
            watch=lambda: WatchView(store=self.watch_store, executions=self.store, clock=self.clock),
            home=lambda: self.home,
        )

    def slack_app(self) -> App:
        """The app for Socket Mode and tests; the Slack function builds a lighter one (bot/slack/entry.py)."""
        deps = self.slack_deps()
        return build_app(
            signing_secret=self.credentials.signing_secret,
            bot_token=self.credentials.bot_token,
            api_url=self.settings.slack_api_url,
            allowed_channels=self.settings.access_policy.allowed_channels,
            deps=lambda: deps,
        )
