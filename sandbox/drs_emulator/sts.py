"""STS for several accounts: AssumeRole and GetCallerIdentity over STS's query protocol (form-encoded
request, XML response), checked against botocore's STS model. The credentials it issues are remembered:
a request signed with them acts in the role's account (see emulator.World.caller)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from . import model, shapes
from .clock import Clock
from .ids import det_hex
from .instance_health import ApiError

SERVICE = "sts"
NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
OPERATIONS = ("AssumeRole", "GetCallerIdentity")
DEFAULT_DURATION = 3600  # AssumeRole's DurationSeconds when omitted (the model's documentation)
# Who calls with credentials the emulator did not issue: the bot's own Lambda role in the home account.
HOME_ROLE = "drs-chatops-executor"
HOME_SESSION = "drs-chatops"
_ROLE_ARN = re.compile(r"arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})")
EXPIRED_MESSAGE = "The security token included in the request is expired"


# STS's XML error (<ErrorResponse><Error><Type/><Code/><Message/>): a code, a message, an HTTP status,
# as EC2's and SSM's.
StsError = ApiError


@dataclass(frozen=True)
class Identity:
    """Who signed a request: the home account's own role, or a session of an assumed role."""

    account: str
    arn: str  # arn:aws:sts::<account>:assumed-role/<role>/<session>
    user_id: str  # <role id>:<session>
    access_key_id: str | None = None  # None: credentials the emulator did not issue
    expires: datetime | None = None


@dataclass
class Role:
    account: str
    name: str
    role_id: str  # AROA…, as IAM gives a role
    external_id: str | None
    trusted: frozenset[str]  # accounts whose principals the trust policy names
    max_session_seconds: int = 3600
    assumable: bool = True  # False: the fault of a role whose trust policy refuses everyone

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.name}"


@dataclass
class StsState:
    """Roles (by account and name) and the sessions issued, by access key id (one dict lookup per
    request, however many accounts there are)."""

    seed: int
    clock: Clock
    roles: dict[tuple[str, str], Role] = field(default_factory=dict)
    sessions: dict[str, Identity] = field(default_factory=dict)
    issued: int = 0

    def home_identity(self, home: str) -> Identity:
        role_id = "AROA" + det_hex(self.seed, "role", home, HOME_ROLE, length=17).upper()
        return Identity(
            home, f"arn:aws:sts::{home}:assumed-role/{HOME_ROLE}/{HOME_SESSION}", f"{role_id}:{HOME_SESSION}"
        )


def parse_form(operation: str, form: dict[str, list[str]]) -> dict[str, Any]:
    """The request's members (model names) from the query protocol's form: scalars by name, lists as
    `Name.member.N` (structures `Name.member.N.Field`). Integers stay text until validate()."""
    shape_name = shapes.service_model(SERVICE)["operations"][operation]["input"]["shape"]
    table = shapes.service_model(SERVICE)["shapes"]
    params: dict[str, Any] = {}
    for name, member in table[shape_name]["members"].items():
        member_shape = table[member["shape"]]
        if member_shape["type"] != "list":
            if name in form:
                params[name] = form[name][0]
            continue
        items: dict[int, Any] = {}
        prefix = f"{name}.member."
        for key, values in form.items():
            if not key.startswith(prefix):
                continue
            index, _, sub = key[len(prefix) :].partition(".")
            if not index.isdigit():
                continue
            if sub:
                items.setdefault(int(index), {})[sub] = values[0]
            else:
                items[int(index)] = values[0]
        if items:
            params[name] = [items[i] for i in sorted(items)]
        elif name in form:  # the query protocol's empty list: `Name=` with nothing after it
            params[name] = []
    return params


def validate(operation: str, params: dict[str, Any]) -> None:
    """STS's input contract (botocore's model): ValidationError naming each broken member as STS does
    (lowerCamel names)."""
    table = shapes.service_model(SERVICE)["shapes"]
    shape_name = shapes.service_model(SERVICE)["operations"][operation]["input"]["shape"]
    typed = dict(params)
    for name, member in table[shape_name]["members"].items():
        if table[member["shape"]]["type"] == "integer" and isinstance(typed.get(name), str):
            text = typed[name]
            if not re.fullmatch(r"-?\d{1,10}", text):
                raise StsError(
                    "ValidationError",
                    f"1 validation error detected: Value '{text}' at '{_camel(name)}' failed to satisfy "
                    "constraint: Member must be an integer",
                )
            typed[name] = int(text)
    issues = model.validate(shape_name, typed, table)
    if issues:
        parts = [
            f"Value{'' if i.value is None else f' {str(i.value)!r}'} at '{_camel(i.name)}' failed to satisfy "
            f"constraint: {i.message}"
            for i in issues
        ]
        count = len(issues)
        raise StsError(
            "ValidationError",
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(parts),
        )
    params.update(typed)


def validate_external_id(value: str) -> str | None:
    """What is wrong with an external id by the model (externalIdType), or None."""
    issues = model.validate("externalIdType", value, shapes.service_model(SERVICE)["shapes"])
    return "; ".join(issue.message for issue in issues) or None


def _camel(name: str) -> str:
    return ".".join(part[:1].lower() + part[1:] for part in name.split("."))


def assume_role(state: StsState, caller: Identity, params: dict[str, Any], now: datetime) -> dict[str, Any]:
    validate("AssumeRole", params)
    arn = params["RoleArn"]
    match = _ROLE_ARN.fullmatch(arn)
    if match is None:
        # Guessed text: STS refuses an ARN that is no role's as invalid input.
        raise StsError("ValidationError", f"{arn} is not a valid IAM role ARN")
    account, name = match.group(2), match.group(3)
    role = state.roles.get((account, name))
    given = params.get("ExternalId")
    if (
        role is None
        or not role.assumable
        or caller.account not in role.trusted
        or (role.external_id is not None and given != role.external_id)
    ):
        # STS answers an unknown role, an untrusted caller and a wrong or missing external id alike.
        raise StsError(
            "AccessDenied",
            f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {arn}",
            403,
        )
    duration = int(params.get("DurationSeconds") or DEFAULT_DURATION)
    if duration > role.max_session_seconds:
        raise StsError(
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        )
    session = params["RoleSessionName"]
    state.issued += 1
    n = state.issued
    key = "ASIA" + det_hex(state.seed, "sts-key", n, length=16).upper()
    expires = now + timedelta(seconds=duration)
    identity = Identity(
        account,
        f"arn:aws:sts::{account}:assumed-role/{name}/{session}",
        f"{role.role_id}:{session}",
        key,
        expires,
    )
    state.sessions[key] = identity
    return {
        "Credentials": {
            "AccessKeyId": key,
            "SecretAccessKey": det_hex(state.seed, "sts-secret", n, length=40),
            "SessionToken": "FwoGZXIvYXdzE" + det_hex(state.seed, "sts-token", n, length=64) * 3,
            "Expiration": expires,
        },
        "AssumedRoleUser": {"AssumedRoleId": identity.user_id, "Arn": identity.arn},
        "PackedPolicySize": 0,
    }


def get_caller_identity(
    state: StsState, caller: Identity, params: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {"UserId": caller.user_id, "Account": caller.account, "Arn": caller.arn}


HANDLERS: dict[str, Callable[[StsState, Identity, dict[str, Any], datetime], dict[str, Any]]] = {
    "AssumeRole": assume_role,
    "GetCallerIdentity": get_caller_identity,
}


@dataclass
class Outcome:
    """What one STS request was and what it got, for the call log (no credentials in it)."""

    action: str
    params: dict[str, Any]
    status: int
    error: StsError | None
    role_account: str | None  # AssumeRole: the account of the role asked for


def handle(state: StsState, caller: Identity, form: dict[str, list[str]]) -> tuple[bytes, Outcome]:
    """One STS request: (XML, outcome). Responses are checked against the model before they go."""
    action = (form.get("Action") or [""])[0]
    now = state.clock.now()
    params: dict[str, Any] = {}
    try:
        if action not in HANDLERS:
            raise StsError("InvalidAction", f"Could not find operation {action} for version 2011-06-15")
        if caller.expires is not None and caller.expires <= now:
            raise StsError("ExpiredToken", EXPIRED_MESSAGE, 403)
        params = parse_form(action, form)
        result = HANDLERS[action](state, caller, params, now)
        output = shapes.output_shape(SERVICE, action)
        if output and (issues := shapes.problems(SERVICE, output, result)):
            raise StsError("InternalFailure", f"emulator bug: {'; '.join(issues)}", 500)
    except StsError as error:
        return error_xml(error), Outcome(action, params, error.status, error, _role_account(params))
    except Exception as bug:  # told loudly, as the DRS operations' bugs are, not as a dropped connection
        failure = StsError("InternalFailure", f"emulator bug: {type(bug).__name__}: {bug}", 500)
        return error_xml(failure), Outcome(action, params, 500, failure, _role_account(params))
    return to_xml(action, result), Outcome(action, params, 200, None, _role_account(params))


def _role_account(params: dict[str, Any]) -> str | None:
    match = _ROLE_ARN.fullmatch(str(params.get("RoleArn", "")))
    return match.group(2) if match else None


def _fmt(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return escape(str(value))


def _members(value: dict[str, Any]) -> str:
    out = []
    for key, item in value.items():
        inner = _members(item) if isinstance(item, dict) else _fmt(item)
        out.append(f"<{key}>{inner}</{key}>")
    return "".join(out)


def to_xml(action: str, result: dict[str, Any]) -> bytes:
    return (
        f'<{action}Response xmlns="{NAMESPACE}"><{action}Result>{_members(result)}</{action}Result>'
        f"<ResponseMetadata><RequestId>{det_hex(0, action, repr(result), length=32)}</RequestId>"
        f"</ResponseMetadata></{action}Response>"
    ).encode()


def error_xml(error: StsError) -> bytes:
    kind = "Receiver" if error.status >= 500 else "Sender"
    return (
        f'<ErrorResponse xmlns="{NAMESPACE}"><Error><Type>{kind}</Type><Code>{escape(error.code)}</Code>'
        f"<Message>{escape(error.message)}</Message></Error><RequestId>sts-emulator</RequestId></ErrorResponse>"
    ).encode()
