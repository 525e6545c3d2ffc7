"""The admin HTTP API under /_emulator/: seeding, faults, clock and inspection for tests and demos."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .clock import fmt_time, parse_time
from .config import Quotas
from .emulator import DrsEmulator


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[[DrsEmulator, dict[str, Any], dict[str, list[str]]], dict[str, Any]]


def _require(body: dict[str, Any], name: str) -> Any:
    if body.get(name) is None:
        raise AdminError(400, f"missing '{name}'")
    return body[name]


def health(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    return {"ok": True}


def state(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    return emu.state_summary()


def seed_servers(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    ids = emu.add_source_servers(
        _require(body, "region"),
        ids=body.get("ids"),
        count=body.get("count"),
        tags=body.get("tags"),
        replication_state=body.get("replicationState", "CONTINUOUS"),
        lag=body.get("lag", "P0D"),
        hostnames=body.get("hostnames"),
        origin_region=body.get("originRegion"),
    )
    return {"sourceServerIDs": ids}


def replication_state(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.set_replication_state(_require(body, "sourceServerID"), _require(body, "state"), body.get("lag"))
    return {}


def launch_failure(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.fail_launch(
        _require(body, "sourceServerID"),
        body.get("error"),
        event=body.get("event", "LAUNCH_FAILED"),
        times=body.get("times"),
    )
    return {}


def slow_conversion(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.slow_conversion(_require(body, "sourceServerID"), float(_require(body, "extraSeconds")))
    return {}


def reverse_readiness(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    resource = body.get("recoveryInstanceID") or body.get("sourceServerID")
    if not resource:
        raise AdminError(400, "give 'recoveryInstanceID' or 'sourceServerID'")
    seconds = body.get("seconds")
    emu.hold_reverse_readiness(resource, None if seconds is None else float(seconds))
    return {}


def list_faults(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    return {"faults": emu.faults}


def add_fault(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.inject_fault(
        _require(body, "operation"),
        body.get("error", "ThrottlingException"),
        count=body.get("count"),
        rate=body.get("rate"),
        retry_after=int(body.get("retryAfter", 1)),
        message=body.get("message"),
    )
    return {"faults": emu.faults}


def clear_faults(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.clear_faults()
    return {}


def get_clock(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    return {"now": fmt_time(emu.now()), "manual": hasattr(emu.clock, "set")}


def move_clock(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    clock: Any = emu.clock
    if not hasattr(clock, "set"):
        raise AdminError(
            409, "the clock is not manual; start the emulator with a ManualClock (--manual-clock)"
        )
    if body.get("advanceSeconds") is not None:
        clock.advance(float(body["advanceSeconds"]))
    elif body.get("set") is not None:
        clock.set(parse_time(body["set"]))
    else:
        raise AdminError(400, "give 'advanceSeconds' or 'set'")
    events = emu.advance_all()
    return {"now": fmt_time(emu.now()), "events": events}


def list_calls(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    operation = query["operation"][0] if query.get("operation") else None
    region = query["region"][0] if query.get("region") else None
    calls = [
        c.to_dict()
        for c in emu.calls
        if (operation is None or c.operation == operation) and (region is None or c.region == region)
    ]
    return {"calls": calls}


def clear_calls(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.clear_calls()
    return {}


def launch_results(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    return {"results": [r.to_dict() for r in emu.launch_results()]}


def events(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    return {"events": emu.events}


def advance(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    return {"events": emu.advance_all()}


def initialize(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.initialize_region(_require(body, "region"))
    return {}


def reset(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.reset()
    return {}


def instance_health(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    """{"sourceServerID", "statusCheck": "failing"|"passing", "agent": "offline"|"online", "command":
    "success"|"failing"|"hanging"}: the health EC2 and SSM report for the recovery instances this
    server launches, and what a Run Command does on them."""
    check, agent, command = body.get("statusCheck"), body.get("agent"), body.get("command")
    if (
        check not in (None, "failing", "passing")
        or agent not in (None, "offline", "online")
        or command not in (None, "success", "failing", "hanging")
    ):
        raise AdminError(
            400,
            "statusCheck is failing or passing; agent is offline or online; command is success, "
            "failing or hanging",
        )
    try:
        emu.set_instance_health(
            _require(body, "sourceServerID"),
            status_check_fails=None if check is None else check == "failing",
            agent_offline=None if agent is None else agent == "offline",
            command=command,
        )
    except KeyError as error:
        raise AdminError(404, str(error)) from None
    return {}


def list_accounts(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    return {"accounts": emu.accounts}


def add_account(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    """{"accountID", "regions": [...], "quotas": {servers_per_job, ...}}"""
    quotas = body.get("quotas")
    if quotas is not None and not isinstance(quotas, dict):
        raise AdminError(400, "'quotas' is an object of Quotas fields")
    account = emu.add_account(
        _require(body, "accountID"),
        regions=body.get("regions") or ("us-east-1",),
        quotas=Quotas(**quotas) if quotas else None,
    )
    return {"accountID": account.account_id, "regions": account.regions}


def add_role(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    """{"roleName", "externalId", "trusted": [accounts], "maxSessionSeconds"} in ?account=…"""
    arn = emu.add_role(
        _require(body, "roleName"),
        external_id=body.get("externalId"),
        trusted=body.get("trusted"),
        max_session_seconds=int(body.get("maxSessionSeconds", 3600)),
    )
    return {"roleArn": arn}


def refuse_role(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.refuse_assume_role(_require(body, "roleName"))
    return {}


def deny(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    emu.deny(_require(body, "operation"), service=body.get("service", "drs"))
    return {}


def extend(emu: DrsEmulator, body: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    """{"stagingAccountID", "sourceServerID", "tags"} in ?account=… (the target account)"""
    server_id = emu.extend_source_server(
        _require(body, "stagingAccountID"), _require(body, "sourceServerID"), tags=body.get("tags")
    )
    return {"sourceServerID": server_id}


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "accounts"): list_accounts,
    ("POST", "accounts"): add_account,
    ("POST", "roles"): add_role,
    ("POST", "role-refusals"): refuse_role,
    ("POST", "denials"): deny,
    ("POST", "extended-source-servers"): extend,
    ("POST", "instance-health"): instance_health,
    ("GET", "health"): health,
    ("GET", "state"): state,
    ("POST", "source-servers"): seed_servers,
    ("POST", "replication-state"): replication_state,
    ("POST", "launch-failures"): launch_failure,
    ("POST", "slow-conversions"): slow_conversion,
    ("POST", "reverse-readiness"): reverse_readiness,
    ("GET", "faults"): list_faults,
    ("POST", "faults"): add_fault,
    ("DELETE", "faults"): clear_faults,
    ("GET", "clock"): get_clock,
    ("POST", "clock"): move_clock,
    ("GET", "calls"): list_calls,
    ("DELETE", "calls"): clear_calls,
    ("GET", "launch-results"): launch_results,
    ("GET", "events"): events,
    ("POST", "advance"): advance,
    ("POST", "initialize"): initialize,
    ("POST", "reset"): reset,
}


def handle(
    emu: DrsEmulator, method: str, path: str, body: Any, query: dict[str, list[str]]
) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for an admin request; `path` is what follows /_emulator/."""
    name = path.strip("/")
    handler = ROUTES.get((method, name))
    if handler is None:
        known = any(route_name == name for _, route_name in ROUTES)
        return (
            (405, {"error": f"{method} not allowed on /_emulator/{name}"})
            if known
            else (
                404,
                {
                    "error": f"no admin endpoint /_emulator/{name}",
                    "endpoints": sorted({n for _, n in ROUTES}),
                },
            )
        )
    if body is None or not isinstance(body, dict):
        return 400, {"error": "the body must be a JSON object"}
    try:
        if query.get("account"):  # ?account=…: the endpoint acts on that account (default: home)
            emu = emu.account(query["account"][0])
        return 200, handler(emu, body, query)
    except AdminError as exc:
        return exc.status, {"error": str(exc)}
    except (ValueError, KeyError, TypeError) as exc:
        return 400, {"error": str(exc).strip("'\"")}
