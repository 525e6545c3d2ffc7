"""Least privilege, checked against the code: every AWS call the adapters make is granted to the function
that makes it, and nothing beyond what the calls need.

The calls come from reading bot/adapters with `ast` (see model.scan_adapter), not from a list kept by hand.
Which adapters each function runs is the one thing written down here: update FUNCTION_ADAPTERS when a
function starts to use another adapter (e.g. the Slack function calling DRS for a readiness check).
"""

from __future__ import annotations

import fnmatch
import re

import pytest

from tests.infrastructure import model

# handlers/<module>.handler -> the adapters its code path uses (through bot.wiring.Container).
# Every function that calls DRS, health checks or hooks gets its clients from AccountSessions
# ("accounts"), which assumes the target accounts' roles (README "Several accounts").
FUNCTION_ADAPTERS = {
    # /drs commands and clicks: the catalog, executions and their outbox, starting the loop, Slack.
    # It ticks too (an approval or a cancel takes effect at once) and checks readiness: DRS.
    # /drs plans and /drs check show what the readiness watch stored.
    # `/drs report` links to a report (written first if it is not current).
    # app_home_opened remembers who has the Home tab (home_store); every function whose outbox tells a
    # start or an end, and the watch, republish it to them.
    # Ticking, it asks a CHECKING wave's health checks (EC2, SSM, CloudWatch: the health adapter) and may
    # call a wave's hooks (SSM Automation, Lambda), as the other functions that tick.
    "SlackFunction": {
        "dynamodb",
        "trigger",
        "secrets",
        "slack_notifier",
        "drs",
        "accounts",
        "reports",
        "watch_store",
        "home_store",
        "health",
        "hooks",
    },
    # One tick: DRS, executions and their outbox, Slack, health checks; the report of an execution it
    # finds ended; the waves' hooks.
    "ExecutorFunction": {
        "dynamodb",
        "drs",
        "accounts",
        "secrets",
        "slack_notifier",
        "reports",
        "watch_store",
        "home_store",
        "health",
        "hooks",
    },
    # A DRS event: finds the execution by the job's tags, ticks it; may (re)start its loop.
    "DrsEventsFunction": {
        "dynamodb",
        "drs",
        "accounts",
        "secrets",
        "slack_notifier",
        "trigger",
        "reports",
        "watch_store",
        "home_store",
        "health",
        "hooks",
    },
    # A scheduled drill: a drill request as `scheduler`, like the Slack function's.
    "ScheduledDrillFunction": {
        "dynamodb",
        "drs",
        "accounts",
        "secrets",
        "slack_notifier",
        "trigger",
        "watch_store",
        "home_store",
    },
    # A watch round: the catalog, every source server of a region, the watch's state items, Slack.
    "WatchFunction": {
        "dynamodb.DynamoCatalogStore",
        "drs_inventory",
        "accounts",
        "watch_store",
        "home_store",
        "secrets",
        "slack_notifier",
    },
}

# What StartRecovery needs from DRS on top of itself. The Service Authorization Reference lists
# drs:CreateRecoveryInstanceForDrs and drs:ListTagsForResource as its dependent actions; the job is
# created with tags (drs:TagResource at creation), which the bot uses to find its jobs after a crash.
DRS_DEPENDENT_ACTIONS = {
    "drs:StartRecovery": {"drs:CreateRecoveryInstanceForDrs", "drs:ListTagsForResource", "drs:TagResource"},
}

# Actions that support no resource-level permissions (Service Authorization Reference): the only ones a
# statement with Resource "*" may hold.
NO_RESOURCE_LEVEL = {
    "drs:DescribeJobs",
    "drs:DescribeSourceServers",
    "drs:DescribeRecoveryInstances",
    "drs:ListTagsForResource",
    "ssm:DescribeInstanceInformation",
    "ssm:ListCommands",
    "ssm:ListCommandInvocations",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "ec2:GetEbsDefaultKmsKeyId",
    "ec2:GetEbsEncryptionByDefault",
    "ec2:GetInstanceTypesFromInstanceRequirements",
}
NO_RESOURCE_LEVEL_PATTERNS = ("ec2:Describe*",)

DRS_SERVICE_ROLES = {
    "AWSElasticDisasterRecoveryConversionServerRole",
    "AWSElasticDisasterRecoveryRecoveryInstanceRole",
    "AWSElasticDisasterRecoveryRecoveryInstanceWithLaunchActionsRole",
}
CALLED_VIA_DRS = {"ForAnyValue:StringEquals": {"aws:CalledVia": "drs.amazonaws.com"}}


def _calls(adapter: str) -> model.AdapterCalls:
    """An adapter module, or one class of it ("dynamodb.DynamoCatalogStore") when a function uses no more."""
    module, _, cls = adapter.partition(".")
    calls = model.adapter_calls()[module]
    return calls.classes[cls] if cls else calls


def required_actions(function_id: str) -> set[str]:
    return {action for adapter in FUNCTION_ADAPTERS[function_id] for action in _calls(adapter).iam_actions()}


def test_the_table_names_every_function_of_the_template() -> None:
    assert set(FUNCTION_ADAPTERS) == set(model.resources("AWS::Lambda::Function"))
    known = set(model.adapter_calls())
    known |= {f"{module}.{cls}" for module, calls in model.adapter_calls().items() for cls in calls.classes}
    for function_id, adapters in FUNCTION_ADAPTERS.items():
        assert adapters <= known, f"{function_id}: no such adapter module {adapters - known}"


def test_the_scan_finds_the_calls_that_matter() -> None:
    # A floor for the scanner itself, not the list the policy is checked against.
    calls = model.adapter_calls()
    assert "drs:StartRecovery" in calls["drs"].iam_actions()
    assert "states:StartExecution" in calls["trigger"].iam_actions()
    assert "secretsmanager:GetSecretValue" in calls["secrets"].iam_actions()
    assert {"dynamodb:Query", "dynamodb:PutItem"} <= calls["dynamodb"].iam_actions()


@pytest.mark.parametrize(
    ("function_id", "action"),
    sorted((function, action) for function in FUNCTION_ADAPTERS for action in required_actions(function)),
)
def test_every_call_of_the_code_is_granted_to_its_function(function_id: str, action: str) -> None:
    statements = model.role_statements(model.function_role(function_id))
    assert model.allowed(statements, action), f"{function_id} calls {action} but its role does not allow it"


def _granted_on(function_id: str, action: str, table: str) -> bool:
    statements = model.allowed(model.role_statements(model.function_role(function_id)), action)
    return any(model.target(r) == table for s in statements for r in s.resources)


@pytest.mark.parametrize("function_id", sorted(f for f, a in FUNCTION_ADAPTERS.items() if "dynamodb" in a))
def test_the_execution_store_calls_are_granted_on_the_executions_table(function_id: str) -> None:
    store = model.adapter_calls()["dynamodb"].classes["DynamoExecutionStore"]
    missing = [a for a in sorted(store.iam_actions()) if not _granted_on(function_id, a, "ExecutionsTable")]
    assert not missing, f"{function_id} may not {missing} on ExecutionsTable"


def test_the_catalog_is_read_by_the_slack_function_and_written_by_no_function() -> None:
    # `drs-bot plans apply` writes the catalog with the operator's own credentials.
    store = model.adapter_calls()["dynamodb"].classes["DynamoCatalogStore"]
    reads = {
        a for a in store.iam_actions() if a.split(":")[1].startswith(("Get", "Query", "Scan", "BatchGet"))
    }
    assert reads, "the catalog store reads nothing?"
    for action in reads:
        assert _granted_on("SlackFunction", action, "CatalogTable"), action
    for function_id in FUNCTION_ADAPTERS:
        for statement in model.role_statements(model.function_role(function_id)):
            if "CatalogTable" in {model.target(r) for r in statement.resources}:
                assert set(statement.actions) <= reads, f"{function_id} may change the catalog"


def test_queries_on_indexes_are_granted_on_the_index_arns() -> None:
    if not any(calls.index_names for calls in model.adapter_calls().values()):
        pytest.skip("no query names an index")
    for function_id, adapters in FUNCTION_ADAPTERS.items():
        if "dynamodb" not in adapters:
            continue
        statements = model.allowed(model.role_statements(model.function_role(function_id)), "dynamodb:Query")
        index_arns = [
            r
            for s in statements
            for r in s.resources
            if isinstance(r, dict) and str(r.get("Fn::Sub", "")).endswith("/index/*")
        ]
        assert index_arns, f"{function_id} queries an index but may not"


def test_the_policies_allow_nothing_else_from_drs() -> None:
    from_code = {
        a for calls in model.adapter_calls().values() for a in calls.iam_actions() if a[:4] == "drs:"
    }
    expected = set(from_code)
    for action in from_code:
        expected |= DRS_DEPENDENT_ACTIONS.get(action, set())
    granted = {a for s in model.all_statements() for a in s.actions if a.lower().startswith("drs:")}
    assert not [a for a in granted if "*" in a or "?" in a], "DRS actions must be named one by one"
    assert granted == expected, (
        f"granted but not needed: {sorted(granted - expected)}; needed but not granted: "
        f"{sorted(expected - granted)}"
    )


def test_only_functions_that_call_drs_get_drs_or_ec2_permissions() -> None:
    for function_id, adapters in FUNCTION_ADAPTERS.items():
        if {"drs", "drs_inventory"} & adapters:
            continue
        statements = model.role_statements(model.function_role(function_id))
        assert not [a for s in statements for a in s.actions if a.split(":")[0] in ("drs", "ec2", "iam")]


def test_ec2_is_allowed_only_through_drs() -> None:
    # DRS launches with the caller's permissions (forward access sessions); the bot itself calls EC2
    # only to read its recovery instances' status checks (health checks, the health adapter's calls).
    own = {a for a in model.adapter_calls()["health"].iam_actions() if a.startswith("ec2:")}
    assert own == {"ec2:DescribeInstanceStatus"}
    for statement in model.all_statements():
        if any(a.startswith("ec2:") and a not in own for a in statement.actions):
            assert (
                statement.condition.get("ForAnyValue:StringEquals")
                == CALLED_VIA_DRS["ForAnyValue:StringEquals"]
            ), f"{statement.source} {statement.sid}: EC2 without aws:CalledVia=drs.amazonaws.com"


def test_pass_role_only_passes_drs_instance_roles_to_ec2_and_hook_roles_to_ssm() -> None:
    for statement in model.all_statements():
        if not statement.allows("iam:PassRole"):
            continue
        assert statement.actions == ("iam:PassRole",), statement.sid
        if statement.sid == "PassHookAutomationRoles":
            # A hook's automation role (its role:), named by the stack's HookAutomationRoles, to SSM only.
            assert statement.condition == {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}}
            assert [str(r["Fn::Sub"]) for r in statement.resources] == [
                "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${HookAutomationRoles}"
            ]
            continue
        assert statement.condition == {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
        names = {str(r["Fn::Sub"]).rsplit("/", 1)[-1] for r in statement.resources}
        assert names <= DRS_SERVICE_ROLES, names
        assert all(":role/service-role/" in str(r["Fn::Sub"]) for r in statement.resources)


def test_hooks_are_scoped_to_the_documents_and_functions_the_stack_names() -> None:
    statements = {s.sid: s for s in model.role_statements(model.function_role("ExecutorFunction"))}
    start = statements["HookAutomationsStart"]
    assert [str(r["Fn::Sub"]) for r in start.resources] == [
        "arn:${AWS::Partition}:ssm:*:${AWS::AccountId}:automation-definition/${HookAutomationDocuments}:*"
    ]
    invoke = statements["HookFunctions"]
    assert all("function:${HookFunctions}" in str(r["Fn::Sub"]) for r in invoke.resources)
    for role in model.resources("AWS::IAM::Role"):
        for statement in model.allowed(model.role_statements(role), "ssm:StartAutomationExecution"):
            assert statement.sid == "HookAutomationsStart", f"{role}: {statement.sid}"


def test_health_commands_are_scoped_to_the_stacks_documents_and_to_drs_recovery_instances() -> None:
    for role in model.resources("AWS::IAM::Role"):
        for statement in model.allowed(model.role_statements(role), "ssm:SendCommand"):
            assert statement.actions == ("ssm:SendCommand",), statement.sid
            resources = [str(r["Fn::Sub"]) for r in statement.resources]
            if statement.sid == "HealthCommandDocuments":
                assert all(r.endswith(":document/${HealthCommandDocuments}") for r in resources)
                assert statement.condition == {}
            else:
                assert statement.sid == "HealthCommandInstances", f"{role}: {statement.sid}"
                assert resources == ["arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*"]
                assert statement.condition == {
                    "Null": {"aws:ResourceTag/AWSElasticDisasterRecoveryManaged": "false"}
                }


def test_the_slack_function_may_invoke_only_itself_and_the_hook_functions() -> None:
    statements = model.allowed(
        model.role_statements(model.function_role("SlackFunction")), "lambda:InvokeFunction"
    )
    assert statements, "Bolt's lazy listeners re-invoke the Slack function: it needs lambda:InvokeFunction"
    for statement in statements:
        assert statement.actions == ("lambda:InvokeFunction",)
        if statement.sid == "HookFunctions":
            continue  # a tick after an approval may run a wave's Lambda hook
        assert [model.target(r) for r in statement.resources] == ["SlackFunction"]


def test_only_the_events_function_reads_the_events_queue_and_only_as_its_mapping_needs() -> None:
    # Lambda's event source mapping polls with the function's role: these three actions, nothing more.
    needed = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
    for role in model.resources("AWS::IAM::Role"):
        statements = [
            s for s in model.role_statements(role) if any(a.lower().startswith("sqs:") for a in s.actions)
        ]
        if role != model.function_role("DrsEventsFunction"):
            assert statements == [], f"{role} has SQS permissions"
            continue
        (statement,) = statements
        assert sorted(statement.actions) == sorted(needed)
        assert [model.target(r) for r in statement.resources] == ["DrsEventsQueue"]


def test_only_the_loop_invokes_the_executor_and_nothing_else() -> None:
    for role in model.resources("AWS::IAM::Role"):
        for statement in model.allowed(model.role_statements(role), "lambda:InvokeFunction"):
            if statement.sid == "HookFunctions":
                continue  # the waves' hook functions (test_hooks_are_scoped_to_the_documents_and_functions…)
            targets = [model.target(r) for r in statement.resources]
            expected = {
                "SlackRole": ["SlackFunction"],
                "TickLoopRole": ["ExecutorFunction"],
                "SchedulerRole": ["ScheduledDrillFunction"],  # plans' schedules
            }.get(role)
            assert targets == expected, f"{role} may invoke {targets}"


def test_step_functions_start_is_scoped_to_the_loop() -> None:
    # The loop's own role names it by its ARN's text (a reference would be circular): the same name.
    by_name = "stateMachine:" + model.properties("TickLoop")["StateMachineName"]["Fn::Sub"]
    for statement in model.all_statements():
        if statement.allows("states:StartExecution"):
            assert statement.actions == ("states:StartExecution",)
            for resource in statement.resources:
                assert model.target(resource) == "TickLoop" or (
                    isinstance(resource, dict) and str(resource.get("Fn::Sub", "")).endswith(by_name)
                ), resource


def test_dynamodb_is_scoped_to_the_stacks_tables() -> None:
    tables = set(model.resources("AWS::DynamoDB::Table"))
    for statement in model.all_statements():
        if any(a.startswith("dynamodb:") for a in statement.actions):
            assert all(a.startswith("dynamodb:") for a in statement.actions)
            assert {model.target(r) for r in statement.resources} <= tables, statement.sid


def test_reports_are_read_and_written_only_under_the_buckets_reports_prefix() -> None:
    needed = model.adapter_calls()["reports"].iam_actions()
    assert needed == {"s3:GetObject", "s3:PutObject"}
    for function_id, adapters in FUNCTION_ADAPTERS.items():
        statements = model.role_statements(model.function_role(function_id))
        s3 = [s for s in statements if any(a.startswith("s3:") for a in s.actions)]
        assert len(s3) == (1 if "reports" in adapters else 0), function_id
        if "reports" not in adapters:
            continue
        (statement,) = s3
        assert set(statement.actions) == needed
        assert statement.resources == ({"Fn::Sub": "${ReportsBucket.Arn}/reports/*"},)


def test_the_reports_bucket_is_encrypted_private_versioned_and_expires() -> None:
    bucket = model.properties("ReportsBucket")
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (lifecycle,) = bucket["LifecycleConfiguration"]["Rules"]
    assert lifecycle["ExpirationInDays"] == {"Ref": "ReportRetentionDays"}
    assert bucket["ObjectLockEnabled"] == {"Fn::If": ["HasReportLock", True, {"Ref": "AWS::NoValue"}]}


def test_the_secret_is_readable_only_by_arn() -> None:
    for statement in model.all_statements():
        if statement.allows("secretsmanager:GetSecretValue"):
            assert statement.actions == ("secretsmanager:GetSecretValue",)
            assert [model.target(r) for r in statement.resources] == ["SlackSecret"]


def test_logs_go_only_to_the_functions_own_log_group() -> None:
    for function_id in FUNCTION_ADAPTERS:
        log_group = model.target(model.properties(function_id)["LoggingConfig"]["LogGroup"])
        for statement in model.role_statements(model.function_role(function_id)):
            if any(a.startswith("logs:") for a in statement.actions):
                assert set(statement.actions) == {"logs:CreateLogStream", "logs:PutLogEvents"}
                assert [model.target(r) for r in statement.resources] == [log_group]


def test_no_wildcard_actions() -> None:
    for statement in model.all_statements():
        for action in statement.actions:
            assert action != "*" and not action.endswith(":*"), f"{statement.source} {statement.sid}"


def _needs_no_resource(action: str) -> bool:
    return action in NO_RESOURCE_LEVEL or any(
        fnmatch.fnmatchcase(action, pattern) for pattern in NO_RESOURCE_LEVEL_PATTERNS
    )


def test_resource_star_only_where_the_service_requires_it_and_said_why() -> None:
    text = model.TEMPLATE_PATH.read_text(encoding="utf-8").splitlines()
    for statement in model.all_statements():
        if "*" not in statement.resources:
            continue
        assert statement.resources == ("*",), statement.sid
        assert all(_needs_no_resource(a) for a in statement.actions), (
            f"{statement.source} {statement.sid}: Resource * with "
            f"{[a for a in statement.actions if not _needs_no_resource(a)]}"
        )
        # The justification is a comment just above the statement.
        line = next(i for i, t in enumerate(text) if re.search(rf"- Sid: {statement.sid}\b", t))
        above = "\n".join(text[max(0, line - 3) : line])
        assert re.search(r'#.*Resource "\*"', above), f"{statement.sid}: say why Resource * above it"


def test_each_function_has_a_role_of_its_own() -> None:
    roles = [model.function_role(function_id) for function_id in FUNCTION_ADAPTERS]
    assert len(set(roles)) == len(roles)
    for role in roles:
        trust = model.properties(role)["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]


def test_aws_managed_policies_are_only_the_optional_launch_actions_policy() -> None:
    for role in model.resources("AWS::IAM::Role"):
        arns = model.properties(role).get("ManagedPolicyArns")
        if arns is None:
            continue
        flat = list(model.unconditional(model.as_list(arns)))
        assert all(
            str(a.get("Fn::Sub", a)).endswith(":policy/AWSElasticDisasterRecoveryLaunchActionsPolicy")
            for a in flat
        ), flat


# Lambda's active tracing, and Powertools' Tracer in the handlers, send segments with the function's role.
TRACING_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


@pytest.mark.parametrize("function_id", sorted(FUNCTION_ADAPTERS))
def test_each_function_is_traced_and_may_send_its_traces_and_nothing_else_to_x_ray(function_id: str) -> None:
    assert model.properties(function_id)["TracingConfig"] == {"Mode": "Active"}
    statements = model.role_statements(model.function_role(function_id))
    xray = {a for s in statements for a in s.actions if a.startswith("xray:")}
    assert xray == TRACING_ACTIONS
