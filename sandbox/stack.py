"""The whole product on this machine, as a local deployment of the bot.

moto serves DynamoDB and Step Functions, the emulator serves DRS, the fake serves Slack's Web API, and
the fake Lambda Invoke API runs Bolt's lazy listeners by re-invoking the real handler, as on AWS.
Slack's HTTP requests arrive at an endpoint that hands them to handlers/slack_http.py as API Gateway
HTTP API v2 events; a runner thread ticks active executions through handlers/executor.py.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3

from bot.adapters.dynamodb import DynamoCatalogStore
from bot.domain.execution import Execution
from bot.domain.plans import Catalog
from bot.services.plans import read_catalog
from bot.settings import Settings
from bot.wiring import Container, moved_time
from sandbox import hook_functions
from sandbox.config import SandboxConfig, SlackSetup
from sandbox.drs_emulator import DrsEmulator, EmulatorServer, Quotas, ScaledClock
from sandbox.drs_emulator.ssm_automation import set_runbook
from sandbox.event_queue import EventQueue
from sandbox.lambda_fake import FakeLambda, make_context
from sandbox.local_http import LocalHTTPServer
from sandbox.moto_server import MotoServer
from sandbox.schedule_times import next_due
from sandbox.slack_fake import FakeSlack
from sandbox.tables import create_tables

log = logging.getLogger(__name__)

REGION = "us-east-1"
SLACK_FUNCTION = "drs-chatops-slack"
EXECUTOR_FUNCTION = "drs-chatops-executor"
EVENTS_FUNCTION = "drs-chatops-drs-events"
WATCH_FUNCTION = "drs-chatops-watch"
SCHEDULED_DRILL_FUNCTION = "drs-chatops-scheduled-drill"
STALLED_CHANGE = "DRS Source Server Data Replication Stalled Change"
# As cfn/template.yaml's DrsEventsMapping reads its queue (tests/infrastructure/test_template.py checks).
EVENTS_BATCH_SIZE = 100
EVENTS_BATCH_WINDOW_SECONDS = 1
TABLES = {"CatalogTable": "drs-chatops-catalog", "ExecutionsTable": "drs-chatops-executions"}
REPORTS_BUCKET = "drs-chatops-reports"  # cfn/template.yaml's ReportsBucket, on moto
ADMIN_PATH = "/_sandbox"
MAX_ADVANCE = 366 * 86400  # a cron is looked for eight years ahead (bot/domain/schedule.py)


class SandboxStack:
    def __init__(self, plans: Path, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.catalog: Catalog = read_catalog(plans)
        self.moto = MotoServer()
        self.lambdas = FakeLambda()
        regions = sorted({g.region for g in self.catalog.protection_groups if g.account is None}) or [REGION]
        # The bot's clock (DRS_BOT_CLOCK_*), the emulator's and Slack's run in step from the same origin.
        self.clock_origin = datetime.now(UTC)
        clock = ScaledClock(self.config.time_scale, start=self.clock_origin)
        self._drs_clock = clock
        # STS credentials expire by the wall clock: botocore renews them by it, whatever the time scale.
        self.drs = DrsEmulator(
            regions=tuple(regions), clock=clock, seed=self.config.seed, sts_clock=ScaledClock(1.0)
        )
        self.target_accounts: list[str] = []  # the accounts add_account served, in order
        self.slack = FakeSlack(
            bot_token=self.config.bot_token,
            usergroups=self.config.usergroups,
            clock=lambda: clock.now().timestamp(),
        )
        # Launch results become events without waiting for the next DRS call.
        self.drs_server = EmulatorServer(self.drs, tick_interval=0.2)
        self._http: LocalHTTPServer | None = None
        self._runner: threading.Thread | None = None
        self._stopping = threading.Event()
        self._saved_env: dict[str, str | None] = {}
        self.container: Container | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._scheduler: threading.Thread | None = None
        # One at a time: the scheduler's tick and `advance` must not fire the same due time twice.
        self._scheduling = threading.RLock()
        # Per schedule (group, name): when it was first seen (a rate counts from there) and up to when
        # its due times have been fired.
        self._seen: dict[tuple[str, str], datetime] = {}
        self._fired_until: dict[tuple[str, str], datetime] = {}
        self._next_watch: datetime | None = None
        self._watch_minutes = self.config.watch_minutes
        self.drs_events: EventQueue | None = None
        self.hook_functions: hook_functions.HookFunctions | None = None

    @property
    def bot(self) -> Container:
        """The bot's container, wired when the stack starts: what tests read the store and clock from."""
        if self.container is None:
            raise RuntimeError("the sandbox stack is not started")
        return self.container

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> SandboxStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.moto.start()
        self.slack.start()
        self._set_up_slack()
        self.lambdas.start()
        self.drs_server.start()
        self._set_environment()
        self._create_tables()
        self._seed_drs()
        self._deploy_functions()
        self._serve_slack_endpoint()
        self._start_runner()
        self._start_scheduler()
        if self.config.drs_events:
            self._route_drs_events()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._unsubscribe:
            self._unsubscribe()
        if self.drs_events:
            self.drs_events.stop()
        if self._runner:
            self._runner.join(timeout=10)
        if self._scheduler:
            self._scheduler.join(timeout=10)
        if self._http:
            self._http.shutdown()
            self._http.server_close()
        self.lambdas.wait_idle(timeout=10)
        for part in (self.lambdas, self.drs_server, self.slack, self.moto):
            try:
                part.stop()
            except Exception:
                log.exception("could not stop %s", part)
        self._restore_environment()

    def __enter__(self) -> SandboxStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what a user of the sandbox needs ------------------------------------------------------------

    @property
    def slack_request_url(self) -> str:
        assert self._http is not None
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/slack/events"

    def endpoints(self) -> dict[str, str]:
        return {
            "slack_request_url": self.slack_request_url,
            "signing_secret": self.config.signing_secret,
            "slack_api_url": self.slack.api_url,
            "drs_endpoint_url": self.drs_server.url,
            "dynamodb_endpoint_url": self.moto.url,
            "sandbox_admin_url": self.admin_url,
        }

    @property
    def admin_url(self) -> str:
        """Where `drs-bot sandbox advance` moves a running sandbox's time (POST {"seconds": n})."""
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}{ADMIN_PATH}"

    def wait_for_end(self, channel: str, timeout: float) -> Execution | None:
        """The channel's latest execution once it ended and every message is in Slack (None: timed out)."""
        assert self.container is not None
        store = self.container.store
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.lambdas.wait_idle(timeout=5)
            execution = store.latest_in_channel(channel)
            if (
                execution
                and execution.status.is_terminal
                and not store.pending_events(execution.execution_id)
            ):
                return execution
            time.sleep(0.2)
        return None

    def settings(self) -> Settings:
        return Settings.from_env()

    # --- parts -----------------------------------------------------------------------------------

    def _set_environment(self) -> None:
        # boto3 reads AWS_ENDPOINT_URL_<SERVICE>: the bot's code runs unchanged against the local parts.
        values = {
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_DYNAMODB": self.moto.url,
            "AWS_ENDPOINT_URL_SFN": self.moto.url,
            "AWS_ENDPOINT_URL_S3": self.moto.url,
            "AWS_ENDPOINT_URL_DRS": self.drs_server.url,
            # The bot assumes its role in other accounts through STS: the emulator's, whose credentials
            # select the account its DRS, EC2 and SSM calls act in.
            "AWS_ENDPOINT_URL_STS": self.drs_server.url,
            # Health checks and hooks: the recovery instances (and SSM Automation) exist only in the emulator;
            # alarms are moto's.
            "AWS_ENDPOINT_URL_EC2": self.drs_server.url,
            "AWS_ENDPOINT_URL_SSM": self.drs_server.url,
            "AWS_ENDPOINT_URL_CLOUDWATCH": self.moto.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambdas.url,
            "DRS_BOT_REGION": REGION,
            "DRS_BOT_CATALOG_TABLE": TABLES["CatalogTable"],
            "DRS_BOT_EXECUTIONS_TABLE": TABLES["ExecutionsTable"],
            "DRS_BOT_REPORTS_BUCKET": REPORTS_BUCKET,
            "DRS_BOT_SLACK_SIGNING_SECRET": self.config.signing_secret,
            "DRS_BOT_SLACK_BOT_TOKEN": self.config.bot_token,
            "DRS_BOT_SLACK_API_URL": self.slack.api_url,
            "DRS_BOT_POLL_SECONDS": str(self.config.poll_seconds),
            "DRS_BOT_LIMITS": self.config.limits.model_dump_json(),
            "DRS_BOT_ACCESS_POLICY": self.config.access_policy.model_dump_json(),
            "DRS_BOT_CLOCK_SCALE": str(self.config.time_scale),
            "DRS_BOT_CLOCK_ORIGIN": self.clock_origin.isoformat(),
            "POWERTOOLS_SERVICE_NAME": "drs-chatops",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            # No X-Ray daemon here; metrics' EMF lines would drown the demo's transcript (tests turn them on).
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
        }
        values.update(self.account_env())
        self._export(values)
        self.container = Container(Settings.from_env())

    def _export(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    # --- several accounts (#18) ------------------------------------------------------------------

    def add_account(
        self,
        account_id: str,
        *,
        regions: Iterable[str] = (REGION,),
        servers: Mapping[str, Iterable[str]] | None = None,
        role: bool = True,
        role_name: str | None = None,
        external_id: str | None = None,
        quotas: Quotas | None = None,
    ) -> DrsEmulator:
        """Another AWS account the bot recovers into: served by the DRS emulator (its own servers,
        quotas, faults and call log, `servers` by region), with the bot's role in it (the stack's
        `target_role_name`, trusting this account's bot, with the stack's external id) unless `role` is
        False or another `role_name`/`external_id` is given (a role the bot cannot assume). The bot's
        environment then lists the account (DRS_BOT_TARGET_ACCOUNTS), before or after start.

        Test modules share a stack: an account served already is served again with these regions and
        servers added, if what is asked agrees with what it has (else a ValueError)."""
        name = role_name or self.config.target_role_name
        wanted_id = external_id if external_id is not None else self.config.target_external_id
        if account_id in self.drs.accounts:
            account = self.drs.account(account_id)
            existing = self.drs.world.sts.roles.get((account_id, name))
            if quotas is not None and quotas != account.quotas:
                raise ValueError(f"account {account_id} is served already, with other quotas")
            if role and existing is not None and existing.external_id != wanted_id:
                raise ValueError(f"account {account_id} has role {name} already, with another external id")
            if not role and existing is not None:
                raise ValueError(f"account {account_id} is served already, with role {name}")
            for region in regions:
                account.initialize_region(region)
        else:
            account = self.drs.add_account(account_id, regions=tuple(regions), quotas=quotas)
            existing = None
        if role and existing is None:
            account.add_role(name, external_id=wanted_id)
        for region, ids in (servers or {}).items():
            account.add_source_servers(region, ids=list(ids))
        for document, runbook in hook_functions.RUNBOOKS.items():  # hooks' runbooks exist there too
            set_runbook(account, document, runbook)
        if account_id not in self.target_accounts:
            self.target_accounts.append(account_id)
        if self.container is not None:  # started: the functions read their environment again
            self._export(self.account_env())
            self._fresh_functions()
            self.container = Container(Settings.from_env())
        return account

    def account_env(self) -> dict[str, str]:
        """What the bot's stack parameters TargetAccounts, TargetAccountRoleName and
        TargetAccountExternalId put in its environment (none while there is one account only); also
        what `drs-bot plans validate|apply` needs to know the accounts."""
        if not self.target_accounts:
            return {}
        env = {
            "DRS_BOT_TARGET_ACCOUNTS": ",".join(self.target_accounts),
            "DRS_BOT_TARGET_ROLE_NAME": self.config.target_role_name,
        }
        if self.config.target_external_id is not None:
            env["DRS_BOT_TARGET_EXTERNAL_ID"] = self.config.target_external_id
        return env

    def _restore_environment(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _create_tables(self) -> None:
        client = boto3.client("dynamodb", region_name=REGION)
        create_tables(client, TABLES)
        store = DynamoCatalogStore(client, TABLES["CatalogTable"])
        assert self.container is not None
        store.replace(self.catalog, applied_by="sandbox", now=self.container.clock())
        # As the stack's bucket: versioned, so a report written again keeps the one before.
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=REPORTS_BUCKET)
        s3.put_bucket_versioning(Bucket=REPORTS_BUCKET, VersioningConfiguration={"Status": "Enabled"})

    def _set_up_slack(self) -> None:
        set_up_slack(self.slack, self.config.slack)

    def _seed_drs(self) -> None:
        for account_id, setup in self.config.accounts.items():
            account = self.add_account(
                account_id,
                regions=setup.regions,
                role=setup.role != "missing",
                quotas=Quotas(**setup.quotas.model_dump()),
            )
            if setup.role == "unassumable":
                account.refuse_assume_role(self.config.target_role_name)
            for operation in setup.deny:
                account.deny(operation)
        lagging = {sid for sid, behaviour in self.config.servers.items() if behaviour.lag_seconds}
        owner: dict[str, DrsEmulator] = {}  # a server's account, for the config's behaviours
        for group in self.catalog.protection_groups:
            drs = self._account_of(group.account, group.region)
            owner.update((sid, drs) for sid in group.source_servers)
            # A tag selector names no servers: DRS has whichever carry the tags.
            if plain := [sid for sid in group.source_servers if sid not in lagging]:
                drs.add_source_servers(group.region, ids=plain)
            for server_id in (sid for sid in group.source_servers if sid in lagging):
                behaviour = self.config.servers[server_id]
                drs.add_source_servers(
                    group.region,
                    ids=[server_id],
                    replication_state=behaviour.replication_state,
                    lag=behaviour.lag_seconds,
                )
        for server_id, behaviour in self.config.servers.items():
            drs = owner.get(server_id, self.drs)
            if behaviour.launch == "fail":
                drs.fail_launch(server_id, error=behaviour.error, event=behaviour.event)
            if behaviour.replication_state != "CONTINUOUS" and server_id not in lagging:
                drs.set_replication_state(server_id, behaviour.replication_state)
            if behaviour.slow_conversion_seconds:
                drs.slow_conversion(server_id, behaviour.slow_conversion_seconds)
            hold = behaviour.reverse_not_ready_seconds
            if hold:
                drs.hold_reverse_readiness(server_id, None if hold == "forever" else hold)
            if (
                behaviour.status_check == "failing"
                or behaviour.ssm_agent == "offline"
                or behaviour.ssm_command != "success"
            ):
                drs.set_instance_health(
                    server_id,
                    status_check_fails=behaviour.status_check == "failing",
                    agent_offline=behaviour.ssm_agent == "offline",
                    command=behaviour.ssm_command,
                )
        for name, state in self.config.alarms.items():
            self.set_alarm(name, state)

    def _account_of(self, account_id: str | None, region: str) -> DrsEmulator:
        """The emulator of the account a protection group names (the home one without), serving its
        region: an account the plans name is served with the bot's role, unless the config says more."""
        if account_id is None:
            return self.drs
        if account_id in self.drs.accounts:
            account = self.drs.account(account_id)
            account.initialize_region(region)
            return account
        return self.add_account(account_id, regions=[region])

    def set_alarm(self, name: str, state: str, reason: str = "set in the sandbox") -> None:
        """A CloudWatch alarm on moto in this state (created if new), for plans' health checks."""
        client = boto3.client("cloudwatch", region_name=REGION, endpoint_url=self.moto.url)
        if not client.describe_alarms(AlarmNames=[name])["MetricAlarms"]:
            client.put_metric_alarm(
                AlarmName=name,
                MetricName="HealthyHostCount",
                Namespace="AWS/ApplicationELB",
                Statistic="Minimum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="LessThanThreshold",
            )
        client.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)

    def _deploy_functions(self) -> None:
        # Import here: the handlers read the environment set above, as they would on Lambda.
        from handlers import drs_events, executor, scheduled_drill, slack_http, watch

        self._fresh_functions()
        self.lambdas.register(SCHEDULED_DRILL_FUNCTION, scheduled_drill.handler, timeout_seconds=60)
        self.lambdas.register(WATCH_FUNCTION, watch.handler, timeout_seconds=300)
        self.lambdas.register(SLACK_FUNCTION, slack_http.handler, timeout_seconds=60)
        self.lambdas.register(EXECUTOR_FUNCTION, executor.handler, timeout_seconds=300)
        self.lambdas.register(EVENTS_FUNCTION, drs_events.handler, timeout_seconds=60)
        # hooks (#15): functions and runbooks a plan's before:/after: may name, with their faults.
        self.hook_functions = hook_functions.deploy(self.lambdas, self.drs)

    def _fresh_functions(self) -> None:
        """The functions' next invocations build their wiring again from the environment (a cold start)."""
        from handlers import drs_events, executor, scheduled_drill, slack_http, watch

        slack_http._slack_handler.cache_clear()
        executor._ticking.cache_clear()
        drs_events._ticking.cache_clear()
        watch._watch.cache_clear()
        scheduled_drill._scheduled.cache_clear()

    def _route_drs_events(self) -> None:
        """What the stack's EventBridge rule, queue and event source mapping do on AWS: DRS launch
        results reach the events function in batches."""
        client = boto3.client("lambda", region_name=REGION)

        def invoke(batch: dict[str, Any]) -> None:
            client.invoke(
                FunctionName=EVENTS_FUNCTION, InvocationType="RequestResponse", Payload=json.dumps(batch)
            )

        self.drs_events = EventQueue(
            invoke,
            window=EVENTS_BATCH_WINDOW_SECONDS,
            batch_size=EVENTS_BATCH_SIZE,
            queue_arn=f"arn:aws:sqs:{REGION}:123456789012:drs-chatops-drs-events",
        ).start()
        queue = self.drs_events

        def deliver(event: dict[str, Any]) -> None:
            if event.get("detail-type") == "DRS Source Server Launch Result":
                queue.put(event)
            elif event.get("detail-type") == STALLED_CHANGE:
                # The watch rule's target: the watch function, invoked asynchronously as EventBridge does.
                client.invoke(FunctionName=WATCH_FUNCTION, InvocationType="Event", Payload=json.dumps(event))

        self._unsubscribe = self.drs.subscribe(deliver)

    def _serve_slack_endpoint(self) -> None:
        stack = self

        class SlackEndpoint(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == ADMIN_PATH + "/advance":
                    status, answer = stack.admin_advance(raw)
                    self._reply(status, json.dumps(answer).encode(), {"Content-Type": "application/json"})
                    return
                result = stack.invoke_slack_function(self.path, dict(self.headers.items()), raw)
                body = str(result.get("body") or "").encode()
                self._reply(int(result.get("statusCode", 500)), body, result.get("headers") or {})

            def _reply(self, status: int, body: bytes, headers: dict[str, Any]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("slack endpoint: " + format, *args)

        self._http = LocalHTTPServer(("127.0.0.1", 0), SlackEndpoint)
        threading.Thread(target=self._http.serve_forever, name="slack-endpoint", daemon=True).start()

    def _start_scheduler(self) -> None:
        """What EventBridge does on AWS, by the sandbox's clock: the watch's rate rule every
        `watch_minutes`, and each Scheduler schedule `plans apply` stored at its due times."""
        self.watch_every(self._watch_minutes)

        def run() -> None:
            while not self._stopping.wait(self.config.poll_seconds):
                try:
                    self.fire_due()
                except Exception:  # EventBridge would try the next time; so do we
                    log.exception("scheduler tick failed")

        self._scheduler = threading.Thread(target=run, name="scheduler", daemon=True)
        self._scheduler.start()

    def watch_every(self, minutes: float | None) -> None:
        """Run the watch every `minutes` of the sandbox's time from now on (None: only on DRS's events),
        as changing the stack's `WatchMinutes` does."""
        with self._scheduling:
            self._watch_minutes = minutes
            self._next_watch = self.bot.clock() + timedelta(minutes=minutes) if minutes else None

    # --- moving time -------------------------------------------------------------------------------

    def advance(self, seconds: float) -> list[dict[str, Any]]:
        """Move the sandbox's time ahead: the bot's clock, DRS's and Slack's together. Schedules due on
        the way fire at their time, in order, as the clock passes them; watch rounds due on the way are
        one round (nothing else changes during the jump, so more rounds would see the same). Returns
        what the schedules' invocations answered."""
        if not seconds > 0:
            raise ValueError("time moves forward only: give a positive duration")
        with self._scheduling:
            target = self.bot.clock() + timedelta(seconds=seconds)
            answers: list[dict[str, Any]] = []
            while (due := self._next_schedule_due()) is not None and due < target:
                self._move_to(due)
                answers += self.fire_due()
            self._move_to(target)
            answers += self.fire_due()
            return answers

    def admin_advance(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        """POST {ADMIN_PATH}/advance {"seconds": n}: (status, answer); a bad request moves nothing."""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return 400, {"error": 'the body is not JSON: send {"seconds": <positive number>}'}
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if not isinstance(body, dict) or set(body) != {"seconds"}:
            return 400, {"error": 'send exactly {"seconds": <positive number>}'}
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 < seconds <= MAX_ADVANCE
        ):
            return 400, {"error": f"seconds must be a number above 0 and at most {MAX_ADVANCE} (a year)"}
        fired = self.advance(seconds)
        return 200, {"now": self.bot.clock().isoformat(), "fired": fired}

    def _move_to(self, when: datetime) -> None:
        ahead = (when - self.bot.clock()).total_seconds()
        if ahead > 0:
            moved_time.advance(self.clock_origin, ahead)
            self._drs_clock.advance(ahead)
            self.drs.advance_all()

    def fire_due(self) -> list[dict[str, Any]]:
        """Fire what is due by now: each schedule once per due time (as Scheduler does, with the time
        it was due), then the watch if its round is due."""
        with self._scheduling:
            now = self.bot.clock()
            answers = []
            for key, schedule in self._schedules(now).items():
                fired_until = self._fired_until.get(key, self._seen[key])
                due = self._due_after(key, schedule, fired_until)
                while due is not None and due <= now:
                    answers.append(self._invoke_scheduled(schedule, due))
                    fired_until = due
                    due = self._due_after(key, schedule, due)
                self._fired_until[key] = now
            if self._next_watch is not None and self._watch_minutes and now >= self._next_watch:
                self.run_watch()
                self._next_watch = now + timedelta(minutes=self._watch_minutes)
            return answers

    def _next_schedule_due(self) -> datetime | None:
        with self._scheduling:
            dues = [
                self._due_after(key, schedule, self._fired_until.get(key, self._seen[key]))
                for key, schedule in self._schedules(self.bot.clock()).items()
            ]
            return min((due for due in dues if due is not None), default=None)

    def _due_after(self, key: tuple[str, str], schedule: dict[str, Any], after: datetime) -> datetime | None:
        timezone = schedule.get("ScheduleExpressionTimezone") or "UTC"
        return next_due(schedule["ScheduleExpression"], timezone, after, start=self._seen[key])

    def _schedules(self, now: datetime) -> dict[tuple[str, str], dict[str, Any]]:
        """The enabled schedules Scheduler (moto) holds now; a schedule is new when first seen."""
        client = boto3.client("scheduler", region_name=REGION, endpoint_url=self.moto.url)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for page in client.get_paginator("list_schedules").paginate():
            for item in page["Schedules"]:
                if item.get("State") != "ENABLED":
                    continue
                key = (item["GroupName"], item["Name"])
                found[key] = client.get_schedule(GroupName=key[0], Name=key[1])
                self._seen.setdefault(key, now)
        return found

    def _invoke_scheduled(self, schedule: dict[str, Any], due: datetime) -> dict[str, Any]:
        """The schedule's target invoked with its input, `<aws.scheduler.scheduled-time>` filled in."""
        target = schedule["Target"]
        payload = target.get("Input", "{}").replace(
            "<aws.scheduler.scheduled-time>", due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        client = boto3.client("lambda", region_name=REGION)
        reply = client.invoke(FunctionName=target["Arn"], InvocationType="RequestResponse", Payload=payload)
        result: dict[str, Any] = json.loads(reply["Payload"].read())
        return result

    def fire_schedule(self, plan_name: str, scheduled_time: str) -> dict[str, Any]:
        """What EventBridge Scheduler does at a plan's scheduled time: invoke the scheduled-drill
        function with the input `drs-bot plans apply` gives the schedule."""
        client = boto3.client("lambda", region_name=REGION)
        payload = {"plan": plan_name, "scheduled_time": scheduled_time}
        reply = client.invoke(
            FunctionName=SCHEDULED_DRILL_FUNCTION,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload),
        )
        result: dict[str, Any] = json.loads(reply["Payload"].read())
        return result

    def run_watch(self) -> dict[str, Any]:
        """What the watch's EventBridge schedule does: a scheduled event to the watch function."""
        client = boto3.client("lambda", region_name=REGION)
        event = {
            "version": "0",
            "id": "sandbox-watch",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": self.bot.clock().isoformat(),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/drs-chatops-watch"],
            "detail": {},
        }
        reply = client.invoke(
            FunctionName=WATCH_FUNCTION, InvocationType="RequestResponse", Payload=json.dumps(event)
        )
        result: dict[str, Any] = json.loads(reply["Payload"].read())
        return result

    def invoke_slack_function(self, path: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        """What API Gateway does: the request as an HTTP API v2 event to the Slack function."""
        from handlers import slack_http

        event = http_api_event(path, headers, raw)
        context = make_context(SLACK_FUNCTION)
        result: dict[str, Any] = slack_http.handler(event, context)
        return result

    def _start_runner(self) -> None:
        from handlers import executor

        def run() -> None:
            while not self._stopping.wait(self.config.poll_seconds):
                assert self.container is not None
                for execution_id in self.container.use_cases.ticking.active():
                    try:
                        executor.handler({"execution_id": execution_id}, make_context(EXECUTOR_FUNCTION))
                    except Exception:  # the Step Functions loop would retry the tick; so do we
                        log.exception("tick of %s failed", execution_id)

        self._runner = threading.Thread(target=run, name="executor-runner", daemon=True)
        self._runner.start()


def set_up_slack(slack: FakeSlack, setup: SlackSetup) -> None:
    """The config's hostile Slack: its channels declared, its faults armed."""
    for channel_id, channel in setup.channels.items():
        slack.add_channel(
            channel_id,
            channel.name,
            is_member=channel.is_member,
            is_private=channel.is_private,
            is_archived=channel.is_archived,
        )
    for fault in setup.faults:
        slack.inject_fault(**fault.model_dump(exclude={"count"}), count=fault.count)


def http_api_event(path: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    raw_path, _, query = path.partition("?")
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "http": {"method": "POST", "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": base64.b32encode(os.urandom(10)).decode().lower(),
            "stage": "$default",
        },
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
    }


def slack_signature(signing_secret: str, timestamp: str, body: str) -> str:
    """The X-Slack-Signature Slack sends with this body, computed by slack_sdk as Bolt verifies it."""
    from slack_sdk.signature import SignatureVerifier

    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)
    if signature is None:  # slack_sdk gives None only without a timestamp or a body
        raise ValueError("no Slack signature without a timestamp and a body")
    return signature


def signed_command(
    text: str,
    *,
    signing_secret: str,
    response_url: str,
    user_id: str,
    channel_id: str,
    timestamp: int,
    trigger_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A slash command as Slack sends it: form body and signature headers."""
    from urllib.parse import urlencode

    body = urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": "T0SANDBOX",
            "team_domain": "sandbox",
            "channel_id": channel_id,
            "channel_name": "drills",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/drs",
            "text": text,
            "api_app_id": "A0SANDBOX",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or f"{timestamp}.{os.urandom(6).hex()}",
        }
    ).encode()
    signature = slack_signature(signing_secret, str(timestamp), body.decode())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature,
    }
    return body, headers


__all__ = ["SandboxStack", "http_api_event", "set_up_slack", "signed_command"]
