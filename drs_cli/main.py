"""`drs-bot`: the command line for operators (plans as code), the local sandbox, and the bot itself
over Socket Mode on a laptop."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.settings import Settings
    from bot.wiring import Container

log = logging.getLogger("drs_cli")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    result: int = args.run(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drs-bot", description="Run AWS DRS recovery plans from Slack.")
    commands = parser.add_subparsers(title="commands")

    plans = commands.add_parser("plans", help="plans as code").add_subparsers(title="plans commands")
    validate = plans.add_parser("validate", help="check a plans file; nothing is written")
    validate.add_argument("file", type=Path)
    validate.add_argument(
        "--accounts",
        type=_account_list,
        help="the bot's target accounts, comma-separated (its stack parameter TargetAccounts): a "
        "protection group in any other account is refused (default: DRS_BOT_TARGET_ACCOUNTS; "
        "neither: the bot's own account only)",
    )
    validate.set_defaults(run=_plans_validate)
    apply = plans.add_parser("apply", help="check a plans file and make it the bot's catalog (DynamoDB)")
    apply.add_argument("file", type=Path)
    apply.set_defaults(run=_plans_apply)

    history = commands.add_parser("history", help="the stored execution history").add_subparsers(
        title="history commands"
    )
    upgrade = history.add_parser(
        "upgrade", help="rewrite executions stored by older releases in this release's shape"
    )
    upgrade.set_defaults(run=_history_upgrade)
    export = history.add_parser(
        "export", help="many executions in the history's shape, oldest first, to standard output"
    )
    export.add_argument("--plan", type=_plan_name, help="only this plan's executions")
    export.add_argument(
        "--since", type=_since, help="only executions requested at or after this UTC date or time (ISO-8601)"
    )
    export.add_argument(
        "--format",
        choices=("jsonl", "csv"),
        default="jsonl",
        help="jsonl: one execution a line; csv: a server a row",
    )
    export.set_defaults(run=_history_export)

    report = commands.add_parser(
        "report",
        help="write an execution's report (JSON and HTML) to a directory, as the bot stores it in S3",
    )
    report.add_argument("execution", help="the execution id (as the thread and /drs history show it)")
    report.add_argument("--out", type=Path, default=Path("."), help="the directory to write to (default: .)")
    report.set_defaults(run=_report)

    sandbox = commands.add_parser("sandbox", help="the whole stack on this machine, until interrupted")
    sandbox.add_argument("--plans", type=Path, default=Path("examples/plans.yml"))
    sandbox.add_argument(
        "--config", type=Path, default=None, help="sandbox behaviour (see examples/sandbox.yml)"
    )
    sandbox.set_defaults(run=_sandbox)
    sandbox_commands = sandbox.add_subparsers(title="sandbox commands")
    advance = sandbox_commands.add_parser(
        "advance",
        help="move a running sandbox's time ahead: due schedules fire, the watch runs",
        description="Moves the bot's, DRS's and Slack's clocks of a running `drs-bot sandbox` together.",
    )
    advance.add_argument("duration", type=_advance_duration, help="how far: like 7d, 2h, 30m, 1d12h, 90s")
    advance.add_argument(
        "--url",
        default=os.environ.get("DRS_BOT_SANDBOX_URL"),
        help="the sandbox's sandbox_admin_url (printed when it starts; default $DRS_BOT_SANDBOX_URL)",
    )
    advance.set_defaults(run=_sandbox_advance)

    serve = commands.add_parser(
        "serve",
        help="run the bot on this machine against a real Slack workspace (Socket Mode)",
        description="Runs the same Bolt app as the Lambda function, connected to Slack over Socket Mode "
        "(no public URL needed). Needs SLACK_APP_TOKEN (xapp-..., connections:write), "
        "DRS_BOT_SLACK_BOT_TOKEN (xoxb-...) or DRS_BOT_SLACK_SECRET_ID, DRS_BOT_CATALOG_TABLE, "
        "DRS_BOT_EXECUTIONS_TABLE and AWS credentials. See the README, 'Socket Mode on a laptop'.",
    )
    serve.add_argument(
        "--socket-mode",
        action="store_true",
        help="connect to Slack over Socket Mode (required: on AWS Slack reaches the bot over HTTPS instead)",
    )
    serve.add_argument(
        "--run-executor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="tick running executions every DRS_BOT_POLL_SECONDS in this process, as the Step Functions "
        "loop does on AWS (default: on; without it executions do not advance unless something else ticks them)",
    )
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="one drill of examples/plans.yml through the sandbox")
    demo.set_defaults(run=lambda args: _demo())

    emulator = commands.add_parser("emulator", help="the DRS emulator").add_subparsers(
        title="emulator commands"
    )
    serve = emulator.add_parser("serve", help="serve the DRS API on 127.0.0.1 for boto3 (endpoint_url)")
    from sandbox.drs_emulator.cli import add_serve_arguments, run_serve

    add_serve_arguments(serve)
    serve.set_defaults(run=run_serve)
    return parser


def _account_list(text: str) -> tuple[str, ...]:
    """12-digit account ids, comma-separated (as the stack parameter TargetAccounts)."""
    from bot.domain.accounts import is_account

    accounts = tuple(part.strip() for part in text.split(",") if part.strip())
    wrong = [account for account in accounts if not is_account(account)]
    if wrong:
        raise argparse.ArgumentTypeError(f"{', '.join(wrong)}: not a 12-digit AWS account id")
    return accounts


def _plans_validate(args: argparse.Namespace) -> int:
    from bot.domain.plans import InvalidCatalog
    from bot.services.plans import read_catalog

    accounts = args.accounts
    if accounts is None:
        try:
            accounts = _account_list(os.environ.get("DRS_BOT_TARGET_ACCOUNTS", ""))
        except argparse.ArgumentTypeError as error:
            print(f"DRS_BOT_TARGET_ACCOUNTS: {error}", file=sys.stderr)
            return 2
    try:
        catalog = read_catalog(args.file, accounts=accounts)
    except InvalidCatalog as error:
        print(error, file=sys.stderr)
        return 1
    servers = sum(len(group.source_servers) for group in catalog.protection_groups)
    print(
        f"{args.file}: valid — {len(catalog.plans)} plan(s), {len(catalog.protection_groups)} protection "
        f"group(s), {servers} source server(s)"
    )
    return 0


def _plans_apply(args: argparse.Namespace) -> int:
    from bot.domain.plans import InvalidCatalog
    from bot.services.plans import apply_catalog, read_catalog
    from bot.settings import Settings
    from bot.wiring import Container

    missing = [name for name in ("DRS_BOT_CATALOG_TABLE", "DRS_BOT_REGION") if not os.environ.get(name)]
    if missing:
        print(
            f"set {' and '.join(missing)} (the stack's outputs give them: see the README's "
            "'Load your recovery plans'); nothing was written.",
            file=sys.stderr,
        )
        return 2
    settings = Settings.from_env()
    container = Container(settings)
    try:
        scheduled = [
            plan.name
            for plan in read_catalog(args.file, accounts=settings.target_accounts).plans
            if plan.options.schedule
        ]
        if scheduled and not (settings.scheduled_drill_arn and settings.scheduler_role_arn):
            print(
                f"plans {', '.join(scheduled)} have a schedule: set DRS_BOT_SCHEDULED_DRILL_ARN and "
                "DRS_BOT_SCHEDULER_ROLE_ARN (the stack's CliEnvironment output gives them) so that their "
                "schedules are created; nothing was written.",
                file=sys.stderr,
            )
            return 2
        catalog = apply_catalog(
            args.file,
            container.catalog,
            applied_by=getpass.getuser(),
            clock=container.clock,
            accounts=settings.target_accounts,
        )
    except InvalidCatalog as error:
        print(error, file=sys.stderr)
        print("Nothing was written.", file=sys.stderr)
        return 1
    print(f"{args.file}: applied — plans: {', '.join(catalog.plan_names()) or 'none'}")
    if settings.scheduled_drill_arn and settings.scheduler_role_arn:
        from bot.adapters.schedules import Schedules

        synced = Schedules(
            settings.region, target_arn=settings.scheduled_drill_arn, role_arn=settings.scheduler_role_arn
        ).sync(catalog)
        print(
            f"schedules: created {', '.join(synced.created) or 'none'}; updated "
            f"{', '.join(synced.updated) or 'none'}; deleted {', '.join(synced.deleted) or 'none'}"
        )
    return 0


def _history_upgrade(args: argparse.Namespace) -> int:
    from bot.settings import Settings
    from bot.wiring import Container

    missing = [name for name in ("DRS_BOT_EXECUTIONS_TABLE", "DRS_BOT_REGION") if not os.environ.get(name)]
    if missing:
        print(
            f"set {' and '.join(missing)} (the stack's outputs give them); nothing was written.",
            file=sys.stderr,
        )
        return 2
    rewritten = Container(Settings.from_env()).history_upgrade.run()
    print(f"{rewritten} execution(s) rewritten in this release's stored shape")
    return 0


def _plan_name(text: str) -> str:
    if not text.strip() or text != text.strip():
        raise argparse.ArgumentTypeError(f"not a plan name: {text!r}")
    return text


def _since(text: str) -> datetime:
    """A date (2026-11-01, midnight UTC) or a time (2026-11-01T08:00:00Z; UTC when it has no offset)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 date or time: {text!r} (e.g. 2026-11-01 or 2026-11-01T08:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _history_export(args: argparse.Namespace) -> int:
    import csv

    from bot.adapters import aws
    from bot.adapters.history_export import HistoryExport
    from bot.domain.history import to_history
    from bot.domain.history_export import CSV_COLUMNS, csv_rows

    missing = [name for name in ("DRS_BOT_EXECUTIONS_TABLE", "DRS_BOT_REGION") if not os.environ.get(name)]
    if missing:
        print(
            f"set {' and '.join(missing)} (the stack's outputs give them); nothing was read.", file=sys.stderr
        )
        return 2
    region, table = os.environ["DRS_BOT_REGION"], os.environ["DRS_BOT_EXECUTIONS_TABLE"]
    export = HistoryExport(aws.dynamodb_client(region), table)
    writer = (
        csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        if args.format == "csv"
        else None
    )
    if writer is not None:
        writer.writeheader()
    count = 0
    for execution in export.executions(plan_name=args.plan, since=args.since):
        history = to_history(execution)
        if writer is not None:
            writer.writerows(csv_rows(history))
        else:
            print(json.dumps(history, ensure_ascii=False))
        count += 1
    print(f"{count} execution(s) exported", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace) -> int:
    from bot.domain.report import NotEnded
    from bot.services.report import files
    from bot.settings import Settings
    from bot.wiring import Container

    missing = [name for name in ("DRS_BOT_EXECUTIONS_TABLE", "DRS_BOT_REGION") if not os.environ.get(name)]
    if missing:
        print(
            f"set {' and '.join(missing)} (the stack's outputs give them: CliEnvironment); nothing was written.",
            file=sys.stderr,
        )
        return 2
    container = Container(Settings.from_env())
    execution = container.store.get(args.execution)
    if execution is None:
        print(f"no execution {args.execution!r} in {container.settings.executions_table}", file=sys.stderr)
        return 1
    try:
        made = files(execution, container.clock())
    except NotEnded as error:
        print(f"{error}; its report is written when it ends. Nothing was written.", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for extension, body in (("json", made.json_body), ("html", made.html_body)):
        path = args.out / f"{execution.execution_id}.{extension}"
        path.write_bytes(body)
        print(path)
    judgement = made.report.judgement
    print(
        f"{judgement.verdict.value}: "
        + ("; ".join(judgement.failures + judgement.findings) or "every target met")
    )
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from bot.domain.plans import InvalidCatalog
    from sandbox.config import InvalidSandboxConfig, SandboxConfig
    from sandbox.stack import SandboxStack

    try:
        stack = SandboxStack(args.plans, SandboxConfig.load(args.config))
    except (InvalidCatalog, InvalidSandboxConfig) as error:
        print(error, file=sys.stderr)
        return 1
    with stack:
        print(json.dumps(stack.endpoints()), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


_ADVANCE = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _advance_duration(text: str) -> int:
    """Seconds from 7d, 2h, 30m, 90s or a combination in that order (1d12h): the plans file's forms."""
    match = _ADVANCE.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (like 7d, 2h, 30m, 1d12h, 90s)")
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if total < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: time moves forward only; give more than 0")
    return total


def _sandbox_advance(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    if not args.url:
        print(
            "give --url (the sandbox_admin_url `drs-bot sandbox` printed) or set DRS_BOT_SANDBOX_URL",
            file=sys.stderr,
        )
        return 2
    request = urllib.request.Request(
        args.url.rstrip("/") + "/advance",
        data=json.dumps({"seconds": args.duration}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as reply:
            answer = json.loads(reply.read())
    except urllib.error.HTTPError as error:
        print(f"the sandbox refused: {json.loads(error.read()).get('error', error.reason)}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"no sandbox answers at {args.url}: {error}", file=sys.stderr)
        return 1
    print(f"sandbox time is now {answer['now']}")
    for fired in answer["fired"]:
        print(f"fired: {json.dumps(fired, sort_keys=True)}")
    return 0


# --- drs-bot serve --socket-mode -------------------------------------------------------------------

# Bolt checks no signature on Socket Mode requests (the WebSocket is authenticated by the app token),
# but the app factory wants a signing secret: a laptop need not have the real one.
UNUSED_SIGNING_SECRET = "not-used-in-socket-mode"


class ServeError(Exception):
    """A one-line reason `drs-bot serve` cannot start, saying what to set."""


def _serve(args: argparse.Namespace) -> int:
    if not args.socket_mode:
        print(
            "drs-bot serve: add --socket-mode (on a laptop the bot reaches Slack over Socket Mode; "
            "on AWS Slack calls the deployed HTTPS endpoint instead)",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "Found credentials in ..." on every client
    try:
        bot = SocketModeBot.build(run_executor=args.run_executor)
    except ServeError as error:
        print(f"drs-bot serve: {error}", file=sys.stderr)
        return 2
    return bot.run()


class RunningExecutions(Protocol):
    """What the loop needs of Ticking: the active executions, and one tick of one."""

    def active(self) -> list[str]: ...

    def tick(self, execution_id: str) -> object: ...


class ExecutorLoop:
    """What the Step Functions loop does on AWS: tick every active execution, every `interval` seconds.

    Ticks are idempotent and safe to run twice at once, so a tick that a click (approve, cancel) runs
    in a listener thread at the same moment does no harm."""

    def __init__(self, executions: Callable[[], RunningExecutions], interval: float) -> None:
        self._executions = executions
        self.interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick_all(self) -> int:
        """One round: tick each active execution once; a failing tick is logged and retried next round."""
        try:
            active = self._executions().active()
        except Exception:
            log.exception("could not list the active executions; trying again in %s s", self.interval)
            return 0
        for execution_id in active:
            try:
                self._executions().tick(execution_id)
            except Exception:
                log.exception("tick of %s failed; trying again in %s s", execution_id, self.interval)
        return len(active)

    def start(self) -> None:
        def run() -> None:
            while not self._stopping.is_set():
                self.tick_all()  # at once too: executions left running by an earlier run resume
                self._stopping.wait(self.interval)

        self._thread = threading.Thread(target=run, name="executor-loop", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout)


class SocketModeBot:
    """The Bolt app of the Lambda function, over Socket Mode, with the executor loop beside it."""

    def __init__(
        self,
        *,
        settings: Settings,
        container: Container,
        app: App,
        handler: SocketModeHandler,
        loop: ExecutorLoop | None,
    ) -> None:
        self.settings = settings
        self.container = container
        self.app = app
        self.handler = handler
        self.loop = loop

    @classmethod
    def build(cls, *, run_executor: bool = True) -> SocketModeBot:
        """Check the configuration and build the app; nothing connects to Slack or AWS yet
        (except to read DRS_BOT_SLACK_SECRET_ID's secret, when that is how the tokens are given)."""
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        from bot.wiring import Container

        app_token = _app_token()
        settings = _settings()
        container = Container(settings)
        try:
            app = container.slack_app()
        except Exception as error:  # reading the secret: the message says which and why
            raise ServeError(f"could not read the Slack credentials: {_one_line(error)}") from error
        handler = SocketModeHandler(app, app_token)
        loop = (
            ExecutorLoop(lambda: container.use_cases.ticking, settings.poll_seconds) if run_executor else None
        )
        return cls(settings=settings, container=container, app=app, handler=handler, loop=loop)

    def check(self) -> str:
        """Ask AWS and Slack whether the configuration works; say who the bot is in which workspace."""
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
        from slack_sdk.errors import SlackApiError

        region = self.settings.region
        dynamodb = boto3.client("dynamodb", region_name=region)
        tables = {
            "DRS_BOT_CATALOG_TABLE": self.settings.catalog_table,
            "DRS_BOT_EXECUTIONS_TABLE": self.settings.executions_table,
        }
        for variable, table in tables.items():
            try:
                dynamodb.describe_table(TableName=table)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                if code == "ResourceNotFoundException":
                    raise ServeError(
                        f"there is no table {table} in {region}: set {variable} (and DRS_BOT_REGION) to "
                        'your stack\'s, e.g. eval "$(output CliEnvironment)" (README, Deploy on AWS)'
                    ) from error
                raise ServeError(f"AWS refused DescribeTable on {table} in {region} ({code})") from error
            except BotoCoreError as error:
                raise ServeError(f"AWS credentials or connection: {_one_line(error)}") from error
        try:
            identity = self.container.slack_client.auth_test()
        except SlackApiError as error:
            code = error.response.get("error", "unknown_error")
            raise ServeError(
                f"Slack refused the bot token ({code}): set DRS_BOT_SLACK_BOT_TOKEN to the app's "
                "Bot User OAuth Token (xoxb-...)"
            ) from error
        except Exception as error:  # no network, a proxy, DNS
            raise ServeError(f"could not reach Slack: {_one_line(error)}") from error
        return f"@{identity.get('user')} in {identity.get('team')}"

    def run(self) -> int:
        """Check, connect, serve until Ctrl-C (or SIGTERM), then stop the loop and disconnect."""
        from slack_sdk.errors import SlackApiError

        try:
            who = self.check()
        except ServeError as error:
            print(f"drs-bot serve: {error}", file=sys.stderr)
            return 2
        self.warm_up()
        stop = threading.Event()
        with contextlib.suppress(ValueError):  # not the main thread: Ctrl-C still works
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            self.handler.connect()
        except SlackApiError as error:
            code = error.response.get("error", "unknown_error")
            print(
                f"drs-bot serve: Slack refused SLACK_APP_TOKEN ({code}): use an app-level token (xapp-...) "
                "with connections:write of an app whose manifest has socket_mode_enabled: true",
                file=sys.stderr,
            )
            self.handler.close()
            return 2
        except Exception as error:
            print(f"drs-bot serve: could not connect to Slack: {_one_line(error)}", file=sys.stderr)
            self.handler.close()
            return 2
        if self.loop:
            self.loop.start()
        ticking = (
            f"ticking running executions every {self.loop.interval:g} s"
            if self.loop
            else "NOT ticking executions (--no-run-executor): something else must"
        )
        print(f"drs-bot serve: connected to Slack over Socket Mode as {who}; {ticking}. Ctrl-C stops.")
        try:
            while not stop.wait(1):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            print("drs-bot serve: stopping", file=sys.stderr)
            if self.loop:
                self.loop.stop()
            self.handler.close()
        return 0

    def warm_up(self) -> None:
        """Build the services in this thread: boto3 creates clients unsafely from several threads at once,
        and listeners run in a thread pool in Socket Mode."""
        _ = self.container.use_cases
        _ = self.container.catalog


def _app_token() -> str:
    token = os.environ.get("SLACK_APP_TOKEN", "").strip()
    if not token:
        raise ServeError(
            "set SLACK_APP_TOKEN to the app's app-level token (xapp-..., scope connections:write: "
            "Basic Information -> App-Level Tokens)"
        )
    if not token.startswith("xapp-"):
        raise ServeError(
            f"SLACK_APP_TOKEN must be an app-level token (xapp-...), not one starting {token[:5]!r}: "
            "Basic Information -> App-Level Tokens"
        )
    return token


def _settings() -> Settings:
    from pydantic import SecretStr

    from bot.settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as error:  # names the DRS_BOT_* variable and what is wrong with it
        raise ServeError(_one_line(error)) from error
    if not settings.slack_secret_id:
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        if not token:
            raise ServeError(
                "set DRS_BOT_SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-..., OAuth & "
                "Permissions), or DRS_BOT_SLACK_SECRET_ID to a Secrets Manager secret that holds it"
            )
        if not token.startswith("xoxb-"):
            raise ServeError(
                f"DRS_BOT_SLACK_BOT_TOKEN must be a bot token (xoxb-...), not one starting {token[:5]!r}"
            )
        if settings.slack_signing_secret is None:
            settings = settings.model_copy(update={"slack_signing_secret": SecretStr(UNUSED_SIGNING_SECRET)})
    missing = [
        name for name in ("DRS_BOT_CATALOG_TABLE", "DRS_BOT_EXECUTIONS_TABLE") if not os.environ.get(name)
    ]
    if missing:
        raise ServeError(
            f"set {' and '.join(missing)} to your stack's tables, e.g. "
            'eval "$(output CliEnvironment)" (README, Deploy on AWS, step 6)'
        )
    import boto3

    if boto3.Session().get_credentials() is None:
        raise ServeError(
            "no AWS credentials: set AWS_PROFILE (after aws sso login) or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY"
        )
    return settings


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _demo() -> int:
    from sandbox.demo import main as demo_main

    return demo_main()


if __name__ == "__main__":
    raise SystemExit(main())
