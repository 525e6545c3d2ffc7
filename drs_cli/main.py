"""`drs-bot`: the command line for operators (plans as code) and for the local sandbox."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import sys
import threading
from pathlib import Path


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
    validate.set_defaults(run=_plans_validate)
    apply = plans.add_parser("apply", help="check a plans file and make it the bot's catalog (DynamoDB)")
    apply.add_argument("file", type=Path)
    apply.set_defaults(run=_plans_apply)

    sandbox = commands.add_parser("sandbox", help="the whole stack on this machine, until interrupted")
    sandbox.add_argument("--plans", type=Path, default=Path("examples/plans.yml"))
    sandbox.add_argument(
        "--config", type=Path, default=None, help="sandbox behaviour (see examples/sandbox.yml)"
    )
    sandbox.set_defaults(run=_sandbox)

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


def _plans_validate(args: argparse.Namespace) -> int:
    from bot.domain.plans import InvalidCatalog
    from bot.services.plans import read_catalog

    try:
        catalog = read_catalog(args.file)
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
    from bot.services.plans import apply_catalog
    from bot.settings import Settings
    from bot.wiring import Container

    container = Container(Settings())
    try:
        catalog = apply_catalog(
            args.file, container.catalog, applied_by=getpass.getuser(), clock=container.clock
        )
    except InvalidCatalog as error:
        print(error, file=sys.stderr)
        print("Nothing was written.", file=sys.stderr)
        return 1
    print(f"{args.file}: applied — plans: {', '.join(catalog.plan_names()) or 'none'}")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from bot.domain.plans import InvalidCatalog
    from sandbox.config import SandboxConfig
    from sandbox.stack import SandboxStack

    try:
        stack = SandboxStack(args.plans, SandboxConfig.load(args.config))
    except InvalidCatalog as error:
        print(error, file=sys.stderr)
        return 1
    with stack:
        print(json.dumps(stack.endpoints()), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


def _demo() -> int:
    from sandbox.demo import main as demo_main

    return demo_main()


if __name__ == "__main__":
    raise SystemExit(main())
