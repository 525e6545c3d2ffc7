"""Several accounts (#18): cfn/target-account.yaml's role against the code, and the bot stack's side of it.

The target role is what the bot's functions call in a target account (the adapters that act there, read
with `ast` as in test_iam.py) plus what DRS needs from the caller, and nothing from the bot's own
resources. The bot stack may assume that role in the listed accounts only, and takes their forwarded DRS
launch results on its default bus.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from typing import Any

import pytest

from bot.adapters import accounts
from bot.domain.accounts import role_arn
from bot.settings import Settings
from tests.infrastructure import model
from tests.infrastructure.test_iam import DRS_DEPENDENT_ACTIONS, FUNCTION_ADAPTERS, NO_RESOURCE_LEVEL

TARGET = model.TARGET_TEMPLATE_PATH
ROLE = "TargetRole"


def _takes_account_region(module: str) -> bool:
    tree = ast.parse((model.ADAPTERS / f"{module}.py").read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.ImportFrom)
        and node.module == "bot.domain.accounts"
        and "AccountRegion" in {alias.name for alias in node.names}
        for node in ast.walk(tree)
    )


# The adapters whose calls go to the account a wave recovers in: those whose methods take an
# AccountRegion (AccountSessions, "accounts", gives them their clients). Every other adapter works on the
# bot's own resources (tables, secret, loop, reports, Slack).
IN_TARGET_ACCOUNTS = {m for m in model.adapter_calls() if m != "accounts" and _takes_account_region(m)}
# The main stack's policies that hold the same calls in the bot's own account.
MAIN_POLICIES = {"RecoveryPolicy", "HealthCheckPolicy", "HookPolicy"}
CALLED_VIA_DRS = {"ForAnyValue:StringEquals": {"aws:CalledVia": "drs.amazonaws.com"}}
# Stack parameters with the same meaning in both templates: a user passes the same values to both.
SHARED_PARAMETERS = (
    "EbsKmsKeyArns",
    "EnableLaunchActions",
    "HookAutomationDocuments",
    "HookAutomationRoles",
    "HookFunctions",
    "HealthCommandDocuments",
)


def target_statements() -> list[model.Statement]:
    return model.role_statements(ROLE, TARGET)


def required_in_target() -> set[str]:
    return {a for adapter in IN_TARGET_ACCOUNTS for a in model.adapter_calls()[adapter].iam_actions()}


def callers() -> list[str]:
    """The bot's functions (their roles) whose code acts in target accounts."""
    acting = {
        f
        for f, adapters in FUNCTION_ADAPTERS.items()
        if {a.split(".")[0] for a in adapters} & IN_TARGET_ACCOUNTS
    }
    assert acting == {f for f, adapters in FUNCTION_ADAPTERS.items() if "accounts" in adapters}
    return sorted(model.function_role(f) for f in acting)


def parameter(name: str, path: Any = model.TEMPLATE_PATH) -> dict[str, Any]:
    found: dict[str, Any] = model.template(path)["Parameters"][name]
    return found


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


# --- the target role against the code ------------------------------------------------------------------


def test_the_adapters_that_act_in_target_accounts_exist_and_call_aws() -> None:
    # A new one here means a new kind of call in target accounts: review the role before adding it.
    assert {"drs", "drs_inventory", "health", "hooks"} == IN_TARGET_ACCOUNTS
    for adapter in IN_TARGET_ACCOUNTS:
        assert model.adapter_calls()[adapter].iam_actions(), adapter
    assert "drs:StartRecovery" in required_in_target()


@pytest.mark.parametrize("action", sorted(required_in_target()))
def test_every_call_the_code_makes_in_a_target_account_is_granted_there(action: str) -> None:
    assert model.allowed(target_statements(), action), f"the code calls {action}; the target role lacks it"


def test_the_target_role_allows_nothing_else() -> None:
    """Each action is a call of the code, one StartRecovery needs, or one DRS makes on the caller's behalf
    (EC2 through aws:CalledVia, a DRS role passed to EC2, a hook's role passed to SSM, a KMS key via EC2)."""
    needed = set(required_in_target())
    for action in set(needed):
        needed |= DRS_DEPENDENT_ACTIONS.get(action, set())
    for statement in target_statements():
        for action in statement.actions:
            assert "*" not in action and "?" not in action, f"{statement.sid}: {action} names no one action"
            if action in needed:
                continue
            if (
                statement.condition.get("ForAnyValue:StringEquals")
                == CALLED_VIA_DRS["ForAnyValue:StringEquals"]
            ):
                assert action.startswith("ec2:"), f"{statement.sid}: {action}"
            elif action == "iam:PassRole":
                assert set(statement.condition["StringEquals"]) == {"iam:PassedToService"}, statement.sid
            elif action.startswith("kms:"):
                assert statement.condition == {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}
            else:
                pytest.fail(f"{statement.sid}: {action} is not called by the code in a target account")


def test_the_target_role_has_nothing_of_the_bots_own_resources() -> None:
    services = {a.split(":")[0] for s in target_statements() for a in s.actions}
    assert not services & {
        "dynamodb",
        "s3",
        "secretsmanager",
        "states",
        "sqs",
        "logs",
        "xray",
        "sts",
        "events",
    }
    assert {"drs", "ec2", "iam", "ssm", "cloudwatch", "lambda"} >= services - {"kms"}


def test_the_target_role_grants_what_the_bot_stack_grants_in_its_own_account() -> None:
    """Same Sids, actions, resources (both name ${AWS::AccountId}: their own account) and conditions as
    the main stack's recovery, health-check and hook policies: a change to one that misses the other fails."""
    main = {
        s.sid: s
        for s in model.role_statements(model.function_role("ExecutorFunction"))
        if s.source in MAIN_POLICIES
    }
    target = {s.sid: s for s in target_statements()}
    assert set(target) == set(main)
    for sid, statement in main.items():
        other = target[sid]
        assert (other.actions, other.resources, other.condition) == (
            statement.actions,
            statement.resources,
            statement.condition,
        ), sid


def test_resource_star_only_where_the_service_requires_it_and_said_why() -> None:
    text = TARGET.read_text(encoding="utf-8").splitlines()
    for statement in target_statements():
        if "*" not in statement.resources:
            continue
        assert statement.resources == ("*",), statement.sid
        assert all(a in NO_RESOURCE_LEVEL or a.startswith("ec2:Describe") for a in statement.actions)
        line = next(i for i, t in enumerate(text) if re.search(rf"- Sid: {statement.sid}\b", t))
        assert re.search(r'#.*Resource "\*"', "\n".join(text[max(0, line - 3) : line])), statement.sid


def test_the_parameters_both_stacks_share_mean_the_same() -> None:
    for name in SHARED_PARAMETERS:
        main, target = parameter(name), parameter(name, TARGET)
        for key in ("Type", "Default", "AllowedPattern", "AllowedValues"):
            assert main.get(key) == target.get(key), f"{name}.{key}"
    assert parameter("RoleName", TARGET)["Default"] == parameter("TargetAccountRoleName")["Default"]
    assert (
        parameter("RoleName", TARGET)["AllowedPattern"]
        == parameter("TargetAccountRoleName")["AllowedPattern"]
    )


# --- who may assume it ---------------------------------------------------------------------------------


def test_only_the_bots_function_roles_may_assume_it_and_only_with_the_external_id() -> None:
    (trust,) = model.properties(ROLE, TARGET)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    # The roles named one by one, never the account's root (anyone the bot's account lets assume roles).
    assert trust["Principal"] == {"AWS": {"Ref": "BotRoleArns"}}
    assert trust["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
    external_id = parameter("ExternalId", TARGET)
    assert "Default" not in external_id and external_id["MinLength"] >= 2


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("arn:aws:iam::111122223333:role/drs-chatops-ExecutorRole-1A2B3C4D5E6F", True),
        ("arn:aws-us-gov:iam::111122223333:role/drs-chatops-SlackRole-1A2B3C", True),
        ("arn:aws:iam::111122223333:root", False),
        ("111122223333", False),
        ("*", False),
        ("arn:aws:iam::111122223333:user/alice", False),
        ("arn:aws:iam::*:role/drs-chatops-ExecutorRole", False),
    ],
)
def test_the_trusted_principals_can_only_be_roles(value: str, accepted: bool) -> None:
    assert _matches(parameter("BotRoleArns", TARGET)["AllowedPattern"], value) is accepted


def test_the_bot_stack_names_the_roles_to_trust_and_lets_exactly_them_assume_target_roles() -> None:
    value = model.template()["Outputs"]["TargetAccountCallerRoles"]["Value"]["Fn::Join"]
    assert value[0] == ","
    assert sorted(str(model.target(r)) for r in value[1]) == callers()
    policy = model.resources()["TargetAccountsPolicy"]
    assert policy["Condition"] == "HasTargetAccounts"
    assert sorted(str(model.target(r)) for r in policy["Properties"]["Roles"]) == callers()


def test_the_functions_may_assume_only_the_target_role_of_the_listed_accounts() -> None:
    statements = [s for s in model.all_statements() if s.allows("sts:AssumeRole")]
    assert [s.sid for s in statements] == ["AssumeTargetAccountRoles"] * len(callers())
    statement = statements[0]
    assert statement.actions == ("sts:AssumeRole",)
    assert statement.resources == ({"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${TargetAccountRoleName}"},)
    assert statement.condition == {"StringEquals": {"aws:ResourceAccount": {"Ref": "TargetAccounts"}}}


def _assume_allowed(role: str, accounts: list[str], role_name: str, partition: str = "aws") -> bool:
    """The AssumeTargetAccountRoles statement, resolved for these parameters, on one role ARN."""
    (statement,) = {s.sid: s for s in model.all_statements() if s.allows("sts:AssumeRole")}.values()
    (resource,) = statement.resources
    arn = resource["Fn::Sub"].replace("${AWS::Partition}", partition)
    arn = arn.replace("${TargetAccountRoleName}", role_name)
    ((operator, keys),) = statement.condition.items()
    assert operator == "StringEquals" and list(keys) == ["aws:ResourceAccount"]
    return fnmatch.fnmatchcase(role, arn) and role.split(":")[4] in accounts


def test_an_account_or_role_not_listed_cannot_be_assumed() -> None:
    listed = ["111122223333", "444455556666"]
    name = "drs-chatops-target"
    assert _assume_allowed("arn:aws:iam::111122223333:role/drs-chatops-target", listed, name)
    assert _assume_allowed("arn:aws:iam::444455556666:role/drs-chatops-target", listed, name)
    assert not _assume_allowed("arn:aws:iam::777788889999:role/drs-chatops-target", listed, name)
    assert not _assume_allowed("arn:aws:iam::111122223333:role/Admin", listed, name)


@pytest.mark.parametrize(
    ("region", "partition"), [("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_the_role_the_bot_asks_for_is_the_one_it_may_assume(region: str, partition: str) -> None:
    # The ARN AccountSessions sends to STS, as the stack deployed in that partition allows it.
    asked = role_arn("111122223333", "dr-bot", region)
    assert _assume_allowed(asked, ["111122223333"], "dr-bot", partition)
    assert not _assume_allowed(asked, ["444455556666"], "dr-bot", partition)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("111122223333", True), ("", True), ("11112222333", False), ("1111-2222-3333", False), ("*", False)],
)
def test_target_accounts_are_twelve_digit_ids(value: str, accepted: bool) -> None:
    assert _matches(parameter("TargetAccounts")["AllowedPattern"], value) is accepted


def test_target_accounts_need_an_external_id() -> None:
    rule = model.template()["Rules"]["ExternalIdWithTargetAccounts"]
    assert rule["RuleCondition"] == model.template()["Conditions"]["HasTargetAccounts"]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "TargetAccountExternalId"}, ""]}]}


@pytest.mark.parametrize("function_id", sorted(FUNCTION_ADAPTERS))
def test_functions_that_act_in_target_accounts_are_told_which_and_how(function_id: str) -> None:
    env = model.properties(function_id)["Environment"]["Variables"]
    if "accounts" not in FUNCTION_ADAPTERS[function_id]:
        assert not [name for name in env if name.startswith("DRS_BOT_TARGET_")]
        return
    assert env["DRS_BOT_TARGET_ACCOUNTS"] == {"Fn::Join": [",", {"Ref": "TargetAccounts"}]}
    assert env["DRS_BOT_TARGET_ROLE_NAME"] == {"Ref": "TargetAccountRoleName"}
    assert env["DRS_BOT_TARGET_EXTERNAL_ID"] == {
        "Fn::If": ["HasExternalId", {"Ref": "TargetAccountExternalId"}, {"Ref": "AWS::NoValue"}]
    }


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """The few intrinsic functions the functions' environment and conditions use, for these parameters
    (other references resolve to their own name: table names and ARNs the settings take as text)."""
    if not isinstance(value, dict):
        return value
    ((function, argument),) = value.items()
    if function == "Ref":
        return parameters.get(argument, argument)
    if function == "Fn::Join":
        return argument[0].join(_resolve(argument[1], parameters))
    if function == "Fn::Equals":
        return _resolve(argument[0], parameters) == _resolve(argument[1], parameters)
    if function == "Fn::Not":
        return not _resolve(argument[0], parameters)
    if function == "Fn::If":
        condition = model.template()["Conditions"][argument[0]]
        return _resolve(argument[1] if _resolve(condition, parameters) else argument[2], parameters)
    if function == "Fn::GetAtt":
        return ".".join(argument) if isinstance(argument, list) else argument
    raise AssertionError(f"not resolved here: {function}")


def _settings(function_id: str, **given: Any) -> Settings:
    parameters: dict[str, Any] = {
        name: spec.get("Default", "") for name, spec in model.template()["Parameters"].items()
    }
    parameters["TargetAccounts"] = [""]  # CloudFormation's value of an empty CommaDelimitedList
    parameters |= given
    environment = {
        name: str(resolved)
        for name, value in model.properties(function_id)["Environment"]["Variables"].items()
        if (resolved := _resolve(value, parameters)) != "AWS::NoValue"
    }
    return Settings.from_env(environment)


@pytest.mark.parametrize("function_id", sorted(f for f, a in FUNCTION_ADAPTERS.items() if "accounts" in a))
def test_the_bot_reads_the_stacks_target_account_parameters(function_id: str) -> None:
    # At their defaults: one account, and no external id (the bot refuses an empty one).
    alone = _settings(function_id)
    assert (alone.target_accounts, alone.target_role_name, alone.target_external_id) == (
        (),
        "drs-chatops-target",
        None,
    )
    listed = _settings(
        function_id,
        TargetAccounts=["111122223333", "044455556666"],
        TargetAccountRoleName="dr-bot",
        TargetAccountExternalId="xid-7f3a91c2",
    )
    assert (listed.target_accounts, listed.target_role_name, listed.target_external_id) == (
        ("111122223333", "044455556666"),
        "dr-bot",
        "xid-7f3a91c2",
    )


def _bot_accepts(field: str, value: str) -> bool:
    try:
        Settings.model_validate({field: value})
    except ValueError:
        return False
    return True


def _stack_accepts(spec: dict[str, Any], value: str) -> bool:
    return _matches(spec["AllowedPattern"], value) and len(value) <= spec.get("MaxLength", len(value))


@pytest.mark.parametrize(
    ("parameter_name", "field", "values"),
    [
        (
            "TargetAccountRoleName",
            "target_role_name",
            ["drs-chatops-target", "a", "x" * 64, "x" * 65, "has space", "path/name", "dr+bot=,.@_"],
        ),
        (
            "TargetAccountExternalId",
            "target_external_id",
            ["xid-7f3a91c2", "a", "ab", "x" * 1224, "x" * 1225, "has space", "arn:aws:x/y", "a*b"],
        ),
    ],
)
def test_the_stack_accepts_what_the_bot_accepts(parameter_name: str, field: str, values: list[str]) -> None:
    """A value the stack takes and the bot refuses would deploy a bot that answers every command with a
    configuration error."""
    spec = parameter(parameter_name)
    for value in values:
        assert _stack_accepts(spec, value) == _bot_accepts(field, value), (parameter_name, value)
    assert _stack_accepts(spec, spec["Default"])


def test_the_role_name_defaults_agree() -> None:
    default = Settings.model_fields["target_role_name"].default
    assert (
        parameter("TargetAccountRoleName")["Default"] == parameter("RoleName", TARGET)["Default"] == default
    )
    target_id = parameter("ExternalId", TARGET)
    for value in ("a", "ab", "x" * 1225, "has space"):
        accepted = (
            _matches(target_id["AllowedPattern"], value) and target_id["MinLength"] <= len(value) <= 1224
        )
        assert accepted == _bot_accepts("target_external_id", value), value


def test_the_role_lasts_as_long_as_the_bot_asks_for() -> None:
    # AssumeRole refuses a DurationSeconds above the role's MaxSessionDuration.
    assert model.properties(ROLE, TARGET)["MaxSessionDuration"] >= accounts.DURATION_SECONDS


# --- DRS launch results from target accounts -----------------------------------------------------------

BOT_BUS = "arn:${AWS::Partition}:events:${BotRegion}:${BotAccountId}:event-bus/default"


def test_the_target_account_forwards_exactly_the_launch_results_the_bot_listens_to() -> None:
    rule = model.resources(path=TARGET)["LaunchResultForwardRule"]
    assert rule["Condition"] == "Forward"
    props = rule["Properties"]
    assert props["EventPattern"] == model.properties("DrsLaunchResultRule")["EventPattern"]
    assert "EventBusName" not in props  # DRS sends its events to the default bus
    (destination,) = props["Targets"]
    assert destination["Arn"] == {"Fn::Sub": BOT_BUS}
    assert model.target(destination["RoleArn"]) == "LaunchResultForwardRole"
    (bots,) = model.properties("DrsLaunchResultRule")["Targets"]
    assert destination["RetryPolicy"] == bots["RetryPolicy"]


def test_the_forwarding_role_may_put_events_on_the_bots_bus_and_nothing_else() -> None:
    role = model.resources(path=TARGET)["LaunchResultForwardRole"]
    assert role["Condition"] == "Forward"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (statement,) = model.role_statements("LaunchResultForwardRole", TARGET)
    assert statement.actions == ("events:PutEvents",)
    assert statement.resources == ({"Fn::Sub": BOT_BUS},)


def test_the_bots_bus_takes_those_events_from_the_listed_accounts_only() -> None:
    policy = model.resources()["TargetAccountsEventBusPolicy"]
    assert policy["Condition"] == "HasTargetAccounts"
    props = policy["Properties"]
    assert props["EventBusName"] == "default"
    statement = props["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "TargetAccounts"}}
    assert statement["Action"] == "events:PutEvents"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
    }
    pattern = model.properties("DrsLaunchResultRule")["EventPattern"]
    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"events:source": pattern["source"][0]},
        "StringEquals": {"events:detail-type": pattern["detail-type"][0]},
    }


def test_the_bots_rule_matches_forwarded_events_too() -> None:
    # A forwarded event keeps the account and region it happened in: a pattern naming them would drop it.
    props = model.properties("DrsLaunchResultRule")
    assert set(props["EventPattern"]) == {"source", "detail-type"}
    assert "EventBusName" not in props


# --- deployable as a StackSet ----------------------------------------------------------------------------

NAME_PROPERTIES = ("RoleName", "Name", "FunctionName", "PolicyName", "TopicName", "QueueName", "LogGroupName")


def test_no_two_stacks_of_a_stackset_create_the_same_name() -> None:
    """The one fixed name is the role's (IAM is global): only the stack in RoleRegion creates it."""
    named = {
        logical_id: {key: props[key] for key in NAME_PROPERTIES if key in props}
        for logical_id, resource in model.resources(path=TARGET).items()
        if (props := resource.get("Properties", {}))
    }
    assert {k: v for k, v in named.items() if v} == {ROLE: {"RoleName": {"Ref": "RoleName"}}}
    assert model.resources(path=TARGET)[ROLE]["Condition"] == "CreateRole"
    assert model.template(TARGET)["Conditions"]["CreateRole"] == {
        "Fn::Or": [
            {"Fn::Equals": [{"Ref": "RoleRegion"}, ""]},
            {"Fn::Equals": [{"Ref": "RoleRegion"}, {"Ref": "AWS::Region"}]},
        ]
    }
    output = model.template(TARGET)["Outputs"]["TargetRoleArn"]
    assert output["Condition"] == "CreateRole"
    # Nothing of one account is written in it: every account-specific value is a parameter.
    assert not re.search(r"\b\d{12}\b", TARGET.read_text(encoding="utf-8"))


def _readme_section() -> str:
    text = (model.ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("### Deploy in several accounts")
    return text[start : text.index("\n### ", start + 1)]


def test_the_readme_names_the_parameters_as_the_templates_do() -> None:
    section = _readme_section()
    for name in model.template(TARGET)["Parameters"]:
        assert f"`{name}" in section or f"{name}=" in section or f'"{name}"' in section, name
    for name in ("TargetAccounts", "TargetAccountRoleName", "TargetAccountExternalId"):
        assert f"`{name}`" in section and name in model.template()["Parameters"], name
    for output in re.findall(r"output (\w+)", section):
        assert output in model.template()["Outputs"], output
    assert "cfn/target-account.yaml" in section and model.TARGET_TEMPLATE_PATH.exists()
