"""Reading cfn/template.yaml and the adapters' source for the infrastructure tests (no AWS, no network).

Two views meet here: what the template grants each function's role, and what boto3 calls the code under
bot/adapters makes, found by reading it with `ast` and naming the calls through botocore's service models.
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name

from sandbox.tables import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "cfn" / "template.yaml"
# The role a target account gives the bot (README "Several accounts"); the same helpers read it.
TARGET_TEMPLATE_PATH = ROOT / "cfn" / "target-account.yaml"
ADAPTERS = ROOT / "bot" / "adapters"

# DynamoDB authorizes each item of a transaction as the single-item action.
_TRANSACTION_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# API operations whose IAM action has another name.
_ACTION_NAMES = {"lambda:Invoke": "lambda:InvokeFunction"}
# Calls to AWS made through a library rather than on a boto3 client.
_LIBRARY_CALLS = {"get_secret": "secretsmanager:GetSecretValue"}


@cache
def template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return load_template(path)


def resources(kind: str | None = None, path: Path = TEMPLATE_PATH) -> dict[str, dict[str, Any]]:
    everything: dict[str, dict[str, Any]] = template(path)["Resources"]
    return {name: r for name, r in everything.items() if kind is None or r["Type"] == kind}


def properties(logical_id: str, path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    props: dict[str, Any] = template(path)["Resources"][logical_id].get("Properties", {})
    return props


def target(value: Any) -> str | None:
    """The logical id a Ref / GetAtt (or a Sub of one) points at, else None."""
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return str(argument)
        if function == "Fn::GetAtt":
            return str(argument[0] if isinstance(argument, list) else argument.split(".")[0])
        if function == "Fn::Sub" and isinstance(argument, str) and argument.startswith("${"):
            return argument[2:].split("}")[0].split(".")[0]
    return None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def unconditional(items: list[Any]) -> Iterator[Any]:
    """Statements and list items behind Fn::If count as granted (every condition true: the most)."""
    for item in items:
        if isinstance(item, dict) and set(item) == {"Fn::If"}:
            for branch in item["Fn::If"][1:]:
                if branch != {"Ref": "AWS::NoValue"}:
                    yield from unconditional(as_list(branch))
        else:
            yield item


@dataclass(frozen=True)
class Statement:
    source: str  # where it is written: "<logical id>/<policy>"
    sid: str | None
    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    condition: dict[str, Any]

    def allows(self, action: str) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions)


def _statements(source: str, document: dict[str, Any]) -> list[Statement]:
    found = []
    for raw in unconditional(as_list(document["Statement"])):
        assert raw.get("Effect") == "Allow", f"{source}: only Allow statements are expected"
        assert "NotAction" not in raw and "NotResource" not in raw, f"{source}: NotAction/NotResource"
        found.append(
            Statement(
                source=source,
                sid=raw.get("Sid"),
                actions=tuple(as_list(raw["Action"])),
                resources=tuple(unconditional(as_list(raw["Resource"]))),
                condition=raw.get("Condition", {}),
            )
        )
    return found


def role_statements(role_id: str, path: Path = TEMPLATE_PATH) -> list[Statement]:
    """Every statement that applies to a role: inline, AWS::IAM::RolePolicy, attached managed policies."""
    found: list[Statement] = []
    for policy in properties(role_id, path).get("Policies", []):
        found += _statements(f"{role_id}/{policy['PolicyName']}", policy["PolicyDocument"])
    for logical_id, resource in resources(path=path).items():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::IAM::Policy"):
            if role_id in {target(role) for role in props.get("Roles", [])}:
                found += _statements(logical_id, props["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::RolePolicy" and target(props["RoleName"]) == role_id:
            found += _statements(logical_id, props["PolicyDocument"])
    return found


def all_statements(path: Path = TEMPLATE_PATH) -> list[Statement]:
    return [s for role in resources("AWS::IAM::Role", path) for s in role_statements(role, path)]


def function_role(function_id: str) -> str:
    role = target(properties(function_id)["Role"])
    assert role, f"{function_id}: Role must reference a role of the template"
    return role


def allowed(statements: list[Statement], action: str) -> list[Statement]:
    return [s for s in statements if s.allows(action)]


# --- the adapters' boto3 calls -------------------------------------------------------------------------


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def _operations(service: str) -> dict[str, str]:
    """snake_case method name -> API operation name, from botocore's model of the service."""
    return {xform_name(name): name for name in _session().get_service_model(service).operation_names}


# Where IAM's service prefix is not the API's signing name (CloudWatch signs as "monitoring").
_IAM_PREFIXES = {"cloudwatch": "cloudwatch"}


@cache
def iam_prefix(service: str) -> str:
    if service in _IAM_PREFIXES:
        return _IAM_PREFIXES[service]
    metadata = _session().get_service_model(service).metadata
    return str(metadata.get("signingName") or metadata["endpointPrefix"])


@dataclass
class AdapterCalls:
    name: str  # the module, or module.Class
    services: set[str] = field(default_factory=set)
    operations: dict[str, set[str]] = field(default_factory=dict)  # service -> API operation names
    library_actions: set[str] = field(default_factory=set)
    strings: set[str] = field(default_factory=set)
    index_names: set[str] = field(default_factory=set)
    classes: dict[str, AdapterCalls] = field(default_factory=dict)

    def iam_actions(self) -> set[str]:
        actions = set(self.library_actions)
        for service, operations in self.operations.items():
            prefix = iam_prefix(service)
            for operation in operations:
                if service == "dynamodb" and operation == "TransactWriteItems":
                    kinds = [a for kind, a in _TRANSACTION_ITEM_ACTIONS.items() if kind in self.strings]
                    actions |= {f"dynamodb:{a}" for a in kinds or _TRANSACTION_ITEM_ACTIONS.values()}
                elif service == "dynamodb" and operation == "TransactGetItems":
                    actions.add("dynamodb:GetItem")
                else:
                    action = f"{prefix}:{operation}"
                    actions.add(_ACTION_NAMES.get(action, action))
        return actions


def _service_of_stub(module: str) -> str | None:
    """mypy_boto3_<service> (the boto3-stubs package a client is typed with) -> botocore's service name."""
    if not module.startswith("mypy_boto3_"):
        return None
    name = module.removeprefix("mypy_boto3_").split(".")[0]
    available = set(_session().get_available_services())
    for candidate in (name, name.replace("_", "-")):
        if candidate in available:
            return candidate
    return None


def _services(tree: ast.AST) -> set[str]:
    """The clients a module is typed with (mypy_boto3_<service>) or creates (boto3.client("<service>"))."""
    services = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and (service := _service_of_stub(node.module)):
            services.add(service)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "client"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            services.add(str(node.args[0].value))
    return services


def _scan(name: str, tree: ast.AST, services: set[str]) -> AdapterCalls:
    calls = AdapterCalls(name=name, services=services)
    called: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            calls.strings.add(node.value)
        elif isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute):
                receiver_is_self = isinstance(function.value, ast.Name) and function.value.id in (
                    "self",
                    "cls",
                )
                if not receiver_is_self:
                    called.add(function.attr)
            elif isinstance(function, ast.Name):
                called.add(function.id)
            for keyword in node.keywords:
                if keyword.arg == "IndexName" and isinstance(keyword.value, ast.Constant):
                    calls.index_names.add(str(keyword.value.value))
    for service in services:
        operations = _operations(service)
        found = {operations[n] for n in called | calls.strings if n in operations}
        if found:
            calls.operations[service] = found
    calls.library_actions = {action for n, action in _LIBRARY_CALLS.items() if n in called}
    return calls


def scan_adapter(path: Path) -> AdapterCalls:
    """The AWS calls one adapter module makes, as a whole and per class.

    A call is a method called on something other than `self` whose name is an operation of one of the
    module's services (`client.start_recovery(...)`), or a string naming one (`get_paginator("query")`,
    `self._pages(region, "describe_jobs")`).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    services = _services(tree)
    calls = _scan(path.stem, tree, services)
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            calls.classes[node.name] = _scan(f"{path.stem}.{node.name}", node, services)
    return calls


@cache
def adapter_calls() -> dict[str, AdapterCalls]:
    return {
        path.stem: scan_adapter(path) for path in sorted(ADAPTERS.glob("*.py")) if path.name != "__init__.py"
    }
