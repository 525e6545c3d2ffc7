"""Create the bot's DynamoDB tables from cfn/template.yaml, so tests and the template cannot drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.domain.strict_yaml import StrictLoader, load_yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "cfn" / "template.yaml"
# CreateTable takes these table properties as they are written in the template.
_CREATE_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
    "SSESpecification",
)


class _CfnLoader(StrictLoader):
    """Reads CloudFormation YAML strictly (a key written twice is refused, as cfn-lint does): short-form
    intrinsics (!Ref, !Sub, ...) become {Fn: value}."""

    local_tags = True


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    template: dict[str, Any] = load_yaml(path.read_bytes(), loader=_CfnLoader)
    return template


def table_definitions(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """Logical id -> the table's properties, for every AWS::DynamoDB::Table in the template."""
    resources = load_template(path).get("Resources", {})
    return {
        logical_id: resource.get("Properties", {})
        for logical_id, resource in resources.items()
        if resource.get("Type") == "AWS::DynamoDB::Table"
    }


def create_tables(client: Any, names: dict[str, str], path: Path = TEMPLATE) -> None:
    """Create each template table under the name given for its logical id (e.g. ExecutionsTable)."""
    definitions = table_definitions(path)
    missing = set(names) - set(definitions)
    if missing:
        raise KeyError(f"not declared in {path.name}: {', '.join(sorted(missing))}")
    for logical_id, table_name in names.items():
        properties = definitions[logical_id]
        request = {key: properties[key] for key in _CREATE_TABLE_KEYS if key in properties}
        if "SSESpecification" in request:
            # CloudFormation spells the switch SSEEnabled; the API calls it Enabled.
            sse = dict(request["SSESpecification"])
            sse["Enabled"] = sse.pop("SSEEnabled", True)
            request["SSESpecification"] = sse
        client.create_table(TableName=table_name, **request)
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            client.update_time_to_live(TableName=table_name, TimeToLiveSpecification=ttl)
