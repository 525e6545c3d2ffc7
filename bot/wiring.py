"""Dependencies are wired here and only here: settings in, ready-to-use services out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from slack_bolt import App
from slack_sdk import WebClient

from bot.adapters import aws
from bot.adapters.drs import DrsGateway
from bot.adapters.drs_inventory import DrsInventory
from bot.adapters.dynamodb import DynamoCatalogStore, DynamoExecutionStore
from bot.adapters.history_upgrade import HistoryUpgrade
from bot.adapters.secrets import SlackCredentials, load_slack_credentials
from bot.adapters.slack_notifier import SlackDirectory, SlackNotifier, web_client
from bot.adapters.telemetry import ExecutionMetrics, PowertoolsLogKeys
from bot.adapters.trigger import PollingTrigger, StepFunctionsTrigger
from bot.adapters.watch_store import DynamoWatchStore
from bot.services.executions import Executions
from bot.services.outbox import CLAIM_SECONDS, Outbox
from bot.services.ports import Clock, ExecutorTrigger
from bot.services.scheduled_drills import ScheduledDrills
from bot.services.watch import CLAIM_SECONDS as WATCH_CLAIM_SECONDS
from bot.services.watch import Watch, WatchView
from bot.settings import Settings
from bot.slack import blocks, watch_blocks
from bot.slack.app import build_app
from bot.slack.deps import SlackDeps


def utc_now() -> datetime:
    return datetime.now(UTC)


def scaled_clock(origin: datetime, scale: float) -> Clock:
    """Time that runs `scale` times faster than real time from `origin` on (the sandbox)."""

    def now() -> datetime:
        real = datetime.now(UTC)
        return origin + (real - origin) * scale

    return now


class BlockKitRenderer:
    anchor = staticmethod(blocks.anchor)
    event = staticmethod(blocks.event)


class WatchRenderer:
    news = staticmethod(watch_blocks.news)
    skipped = staticmethod(watch_blocks.skipped)


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
        )

    @cached_property
    def trigger(self) -> ExecutorTrigger:
        if self.settings.state_machine_arn:
            client = aws.stepfunctions_client(self.settings.region)
            return StepFunctionsTrigger(client, self.settings.state_machine_arn)
        return PollingTrigger()

    @cached_property
    def executions(self) -> Executions:
        return Executions(
            catalog=self.catalog,
            store=self.store,
            drs=DrsGateway(aws.drs_client),
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
        )

    @cached_property
    def watch_store(self) -> DynamoWatchStore:
        return DynamoWatchStore(aws.dynamodb_client(self.settings.region), self.settings.executions_table)

    @cached_property
    def watch(self) -> Watch:
        return Watch(
            catalog=self.catalog,
            drs=DrsInventory(aws.drs_client),
            store=self.watch_store,
            notifier=SlackNotifier(self.slack_client),
            renderer=WatchRenderer(),
            clock=self.clock,
            limits=self.settings.limits,
            claim_seconds=WATCH_CLAIM_SECONDS * self.time_stretch,
        )

    @cached_property
    def scheduled_drills(self) -> ScheduledDrills:
        return ScheduledDrills(
            executions=self.executions,
            catalog=self.catalog,
            notifier=SlackNotifier(self.slack_client),
            renderer=WatchRenderer(),
        )

    def slack_deps(self) -> SlackDeps:
        return SlackDeps(
            executions=lambda: self.executions,
            catalog=lambda: self.catalog,
            clock=self.clock,
            policy=self.settings.access_policy,
            watch=lambda: WatchView(store=self.watch_store, executions=self.store, clock=self.clock),
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
