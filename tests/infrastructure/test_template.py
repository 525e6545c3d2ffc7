"""cfn/template.yaml holds what the code needs to run on AWS: tables, secret, settings, the loop, alarms."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.adapters import telemetry
from bot.domain.execution import Limits
from bot.settings import Settings
from sandbox.stack import EVENTS_BATCH_SIZE, EVENTS_BATCH_WINDOW_SECONDS
from tests.infrastructure import model

FUNCTIONS = sorted(model.resources("AWS::Lambda::Function"))
# Bolt's lazy listeners (DRS launch results come through a queue); the watch, from EventBridge rules.
ASYNC_FUNCTIONS = {"SlackFunction", "WatchFunction", "ScheduledDrillFunction"}
# Settings the code will read that bot/settings.py does not declare yet.
PENDING_SETTINGS = {"DRS_BOT_ACCESS_POLICY"}
# Each function: settings it must be given on AWS (where the defaults in bot/settings.py are local ones).
REQUIRED_SETTINGS = {
    "SlackFunction": {
        "DRS_BOT_CATALOG_TABLE",
        "DRS_BOT_EXECUTIONS_TABLE",
        "DRS_BOT_REGION",
        "DRS_BOT_SLACK_SECRET_ID",
        "DRS_BOT_STATE_MACHINE_ARN",
        "DRS_BOT_POLL_SECONDS",
        "DRS_BOT_LIMITS",
        "DRS_BOT_ACCESS_POLICY",
    },
    "ExecutorFunction": {
        "DRS_BOT_EXECUTIONS_TABLE",
        "DRS_BOT_REGION",
        "DRS_BOT_SLACK_SECRET_ID",
        "DRS_BOT_POLL_SECONDS",
        "DRS_BOT_LIMITS",
    },
    "DrsEventsFunction": {
        "DRS_BOT_EXECUTIONS_TABLE",
        "DRS_BOT_REGION",
        "DRS_BOT_SLACK_SECRET_ID",
        "DRS_BOT_STATE_MACHINE_ARN",
        "DRS_BOT_POLL_SECONDS",
        "DRS_BOT_LIMITS",
    },
    "ScheduledDrillFunction": {
        "DRS_BOT_CATALOG_TABLE",
        "DRS_BOT_EXECUTIONS_TABLE",
        "DRS_BOT_REGION",
        "DRS_BOT_SLACK_SECRET_ID",
        "DRS_BOT_STATE_MACHINE_ARN",
        "DRS_BOT_ACCESS_POLICY",
    },
    "WatchFunction": {
        "DRS_BOT_CATALOG_TABLE",
        "DRS_BOT_EXECUTIONS_TABLE",
        "DRS_BOT_REGION",
        "DRS_BOT_SLACK_SECRET_ID",
    },
}
SETTING_TARGETS = {
    "DRS_BOT_CATALOG_TABLE": "CatalogTable",
    "DRS_BOT_EXECUTIONS_TABLE": "ExecutionsTable",
    "DRS_BOT_SLACK_SECRET_ID": "SlackSecret",
    "DRS_BOT_STATE_MACHINE_ARN": "TickLoop",
}


def environment(function_id: str) -> dict[str, Any]:
    variables: dict[str, Any] = model.properties(function_id)["Environment"]["Variables"]
    return variables


def parameter_default(name: str) -> str:
    return str(model.template()["Parameters"][name]["Default"])


# --- tables --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", sorted(model.resources("AWS::DynamoDB::Table")))
def test_tables_are_on_demand_encrypted_and_recoverable(table: str) -> None:
    props = model.properties(table)
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_bots_data_outlives_the_stack() -> None:
    for table in ("CatalogTable", "ExecutionsTable"):
        resource = model.resources()[table]
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


def test_the_keys_the_stores_use() -> None:
    assert model.properties("CatalogTable")["KeySchema"] == [
        {"AttributeName": "CatalogId", "KeyType": "HASH"}
    ]
    assert model.properties("ExecutionsTable")["KeySchema"] == [
        {"AttributeName": "ExecutionId", "KeyType": "HASH"},
        {"AttributeName": "Item", "KeyType": "RANGE"},
    ]
    indexes = {gsi["IndexName"] for gsi in model.properties("ExecutionsTable")["GlobalSecondaryIndexes"]}
    named_in_code = {n for calls in model.adapter_calls().values() for n in calls.index_names}
    assert named_in_code <= indexes


def test_records_expire_by_ttl() -> None:
    ttl = model.properties("ExecutionsTable")["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "ExpiresAt", "Enabled": True}


def test_every_table_is_one_a_setting_of_the_code_names() -> None:
    # Nothing provisioned for later: duplicate deliveries are made harmless by the executions' own keys
    # and versions, not by a Powertools idempotency table (README "What gets deployed").
    declared = {f"DRS_BOT_{name.upper()}" for name in Settings.model_fields}
    named = {target for name, target in SETTING_TARGETS.items() if name in declared}
    assert set(model.resources("AWS::DynamoDB::Table")) <= named


# --- secret and settings -------------------------------------------------------------------------------


def test_the_secret_has_no_value_in_the_template() -> None:
    (secret,) = model.resources("AWS::SecretsManager::Secret")
    props = model.properties(secret)
    assert "SecretString" not in props and "GenerateSecretString" not in props


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_no_secret_is_passed_in_the_environment(function_id: str) -> None:
    env = environment(function_id)
    assert not [name for name in env if re.search(r"SIGNING_SECRET|TOKEN|PASSWORD", name)]
    assert not [v for v in env.values() if isinstance(v, str) and re.search(r"xox[abp]-", v)]
    assert model.target(env["DRS_BOT_SLACK_SECRET_ID"]) == "SlackSecret"


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_functions_get_the_settings_the_code_reads(function_id: str) -> None:
    env = environment(function_id)
    declared = {f"DRS_BOT_{name.upper()}" for name in Settings.model_fields}
    bot_settings = {name for name in env if name.startswith("DRS_BOT_")}
    assert bot_settings <= declared | PENDING_SETTINGS, "a typo is silently ignored (extra='ignore')"
    assert REQUIRED_SETTINGS[function_id] <= bot_settings
    for name, value in env.items():
        if name in SETTING_TARGETS:
            assert model.target(value) == SETTING_TARGETS[name], name
    assert env["DRS_BOT_REGION"] == {"Ref": "AWS::Region"}


def test_parameter_defaults_parse_as_the_code_expects() -> None:
    Limits.model_validate_json(parameter_default("DrsLimits"))
    assert isinstance(json.loads(parameter_default("AccessPolicy")), dict)
    assert float(parameter_default("PollSeconds")) > 0


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_each_handler_exists(function_id: str) -> None:
    module, _, attribute = model.properties(function_id)["Handler"].rpartition(".")
    path = model.ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if not path.exists():
        pytest.skip(f"{path.relative_to(model.ROOT)} is not written yet")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert attribute in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


# --- functions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_functions_log_to_their_own_group_with_retention(function_id: str) -> None:
    log_group = model.target(model.properties(function_id)["LoggingConfig"]["LogGroup"])
    assert log_group and model.resources()[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert model.properties(log_group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_log_group_has_retention() -> None:
    for log_group in model.resources("AWS::Logs::LogGroup"):
        assert "RetentionInDays" in model.properties(log_group)


def test_no_role_may_create_log_groups() -> None:
    assert not [s for s in model.all_statements() if s.allows("logs:CreateLogGroup")]


def _async_config(function_id: str) -> dict[str, Any]:
    configs = [
        model.properties(c)
        for c in model.resources("AWS::Lambda::EventInvokeConfig")
        if model.target(model.properties(c)["FunctionName"]) == function_id
    ]
    assert len(configs) == 1, f"{function_id} is invoked asynchronously: set its retries and event age"
    return configs[0]


@pytest.mark.parametrize("function_id", sorted(ASYNC_FUNCTIONS))
def test_asynchronous_invocations_are_configured_deliberately(function_id: str) -> None:
    config = _async_config(function_id)
    assert config["Qualifier"] == "$LATEST"
    assert 60 <= config["MaximumEventAgeInSeconds"] <= 300
    assert config["MaximumRetryAttempts"] in (0, 1, 2)


def test_lazy_work_is_never_retried_after_slacks_signature_expires() -> None:
    # Bolt re-checks the signature of a lazy invocation with the original timestamp: 5 minutes.
    config = _async_config("SlackFunction")
    assert config["MaximumEventAgeInSeconds"] <= 300
    timeout = model.properties("SlackFunction")["Timeout"]
    # Lambda retries an asynchronous event about 1 minute after the first failure.
    assert config["MaximumRetryAttempts"] * (timeout + 60) + timeout < 300


def test_the_slack_endpoint_is_one_post_route_to_the_slack_function() -> None:
    (route,) = model.resources("AWS::ApiGatewayV2::Route")
    assert model.properties(route)["RouteKey"] == "POST /slack/events"
    (integration,) = model.resources("AWS::ApiGatewayV2::Integration")
    assert model.target(model.properties(integration)["IntegrationUri"]) == "SlackFunction"
    assert model.properties(integration)["PayloadFormatVersion"] == "2.0"
    url = model.template()["Outputs"]["SlackRequestUrl"]["Value"]["Fn::Sub"]
    assert url.endswith("/slack/events")
    (stage,) = model.resources("AWS::ApiGatewayV2::Stage")
    assert model.properties(stage)["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0


def test_drs_launch_results_reach_the_drs_events_function_through_a_queue_in_bounded_batches() -> None:
    rule = "DrsLaunchResultRule"
    props = model.properties(rule)
    assert props["EventPattern"] == {
        "source": ["aws.drs"],
        "detail-type": ["DRS Source Server Launch Result"],
    }
    assert [model.target(t["Arn"]) for t in props["Targets"]] == ["DrsEventsQueue"]
    # Only the rule may send to the queue.
    (policy,) = model.resources("AWS::SQS::QueuePolicy")
    (statement,) = model.properties(policy)["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert model.target(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == rule
    # Nothing but the queue invokes the function: no permission for EventBridge, no async config.
    assert not [
        p
        for p in model.resources("AWS::Lambda::Permission")
        if model.target(model.properties(p)["FunctionName"]) == "DrsEventsFunction"
    ]
    (mapping,) = model.resources("AWS::Lambda::EventSourceMapping")
    settings = model.properties(mapping)
    assert model.target(settings["EventSourceArn"]) == "DrsEventsQueue"
    assert model.target(settings["FunctionName"]) == "DrsEventsFunction"
    # Bounded: a burst of events never takes more than two concurrent executions from the account.
    assert settings["ScalingConfig"]["MaximumConcurrency"] == 2
    # The sandbox batches as the stack does.
    assert (settings["BatchSize"], settings["MaximumBatchingWindowInSeconds"]) == (
        EVENTS_BATCH_SIZE,
        EVENTS_BATCH_WINDOW_SECONDS,
    )


def test_the_watch_runs_on_its_schedule_and_on_replication_stalled_events() -> None:
    assert parameter_default("WatchMinutes") == "30"
    schedule = model.properties("WatchSchedule")
    assert schedule["ScheduleExpression"] == {"Fn::Sub": "rate(${WatchMinutes} minutes)"}
    stalled = model.properties("WatchStalledRule")
    assert stalled["EventPattern"] == {
        "source": ["aws.drs"],
        "detail-type": ["DRS Source Server Data Replication Stalled Change"],
    }
    for rule in ("WatchSchedule", "WatchStalledRule"):
        assert [model.target(t["Arn"]) for t in model.properties(rule)["Targets"]] == ["WatchFunction"]
    # EventBridge may invoke the watch, each rule by its own ARN, and nothing else may.
    permitted = {
        model.target(model.properties(p)["SourceArn"])
        for p in model.resources("AWS::Lambda::Permission")
        if model.target(model.properties(p)["FunctionName"]) == "WatchFunction"
        and model.properties(p)["Principal"] == "events.amazonaws.com"
    }
    assert permitted == {"WatchSchedule", "WatchStalledRule"}
    # The sandbox's watch event carries what the handler reads: every region on the schedule, the
    # event's own region for a DRS event.
    from handlers.watch import regions_of

    assert regions_of({"source": "aws.events", "detail-type": "Scheduled Event"}) is None
    assert regions_of({"source": "aws.drs", "region": "us-west-2"}) == ["us-west-2"]


def test_stale_drs_events_are_dropped_not_retried() -> None:
    queue = model.properties("DrsEventsQueue")
    function_timeout = model.properties("DrsEventsFunction")["Timeout"]
    assert queue["MessageRetentionPeriod"] <= 300  # an early tick later than that is not early
    # Lambda needs the visibility timeout to outlast the function; outlasting the retention too means a
    # failed batch is dropped rather than retried minutes later.
    assert queue["VisibilityTimeout"] >= max(function_timeout, queue["MessageRetentionPeriod"])


# --- the loop ------------------------------------------------------------------------------------------


def definition() -> dict[str, Any]:
    props = model.properties("TickLoop")
    assert props["StateMachineType"] == "STANDARD"
    parsed: dict[str, Any] = json.loads(json.dumps(props["Definition"]))
    return parsed


def successors(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def reachable(states: dict[str, Any], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += successors(states[name])
    return seen


def test_the_loop_is_tick_choice_wait_tick() -> None:
    machine = definition()
    states = machine["States"]
    for state in states.values():
        assert set(successors(state)) <= set(states), "a transition to a state that does not exist"
    assert reachable(states, machine["StartAt"]) == set(states), "unreachable states"
    tick = states["Tick"]
    assert tick["Type"] == "Task" and tick["Resource"].endswith(":states:::lambda:invoke")
    assert tick["Arguments"]["FunctionName"] == "${ExecutorFunctionArn}"
    assert "execution_id" in json.dumps(tick["Arguments"]["Payload"])
    substitutions = model.properties("TickLoop")["DefinitionSubstitutions"]
    assert model.target(substitutions["ExecutorFunctionArn"]) == "ExecutorFunction"
    choice = states[tick["Next"]]
    assert choice["Type"] == "Choice" and "finished" in json.dumps(choice["Choices"])
    done, hand_over = (states[c["Next"]] for c in choice["Choices"])
    assert done["Type"] == "Succeed" and states[hand_over["Next"]]["Type"] == "Succeed"
    wait = states[choice["Default"]]
    assert wait["Type"] == "Wait" and "wait_seconds" in json.dumps(wait) and wait["Next"] == "Tick"
    assert tick["TimeoutSeconds"] > model.properties("ExecutorFunction")["Timeout"]


def test_a_loop_hands_over_to_a_successor_before_its_twelve_hours_are_up() -> None:
    """A gate or a pause may hold longer than one Step Functions execution lives (12 hours): after 11
    the loop starts a new execution of itself for the same bot execution, under a name of its own, and
    ends; the loop's role may start this state machine and nothing else."""
    machine = definition()
    states = machine["States"]
    assert machine["TimeoutSeconds"] == 12 * 3600
    (_, late) = states["Finished"]["Choices"]
    assert "$states.context.Execution.StartTime" in late["Condition"]
    assert str(11 * 3600 * 1000) in late["Condition"]
    hand_over = states[late["Next"]]
    assert hand_over["Type"] == "Task" and hand_over["Resource"].endswith(":states:::states:startExecution")
    arguments = hand_over["Arguments"]
    assert arguments["StateMachineArn"] == "{% $states.context.StateMachine.Id %}"
    assert arguments["Input"] == {"execution_id": "{% $states.input.execution_id %}"}
    # Not the execution id alone (the trigger's name, refused once closed) and unique per hand-over.
    assert "'-loop-'" in arguments["Name"] and "EnteredTime" in arguments["Name"]
    assert hand_over["Retry"] and states[hand_over["Next"]]["Type"] == "Succeed"
    statements = model.properties("TickLoopRole")["Policies"][0]["PolicyDocument"]["Statement"]
    (start,) = [s for s in statements if s["Action"] == "states:StartExecution"]
    state_machine_name = model.properties("TickLoop")["StateMachineName"]
    assert json.dumps(start["Resource"]).endswith(
        json.dumps(state_machine_name).split("${AWS::StackName}")[1]
    )


def test_lambda_service_errors_are_retried_with_backoff() -> None:
    (retry,) = definition()["States"]["Tick"]["Retry"]
    assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= set(retry["ErrorEquals"])
    assert retry["MaxAttempts"] >= 2 and retry["BackoffRate"] > 1


def test_a_failed_tick_loops_on_but_not_forever() -> None:
    states = definition()["States"]
    (catcher,) = states["Tick"]["Catch"]
    assert catcher["ErrorEquals"] == ["States.ALL"]
    after_failure = reachable(states, catcher["Next"])
    assert "Tick" in after_failure, "a failed tick must not end the loop"
    assert [s for s in after_failure if states[s]["Type"] == "Fail"], "the failures must be bounded"
    assert "failures" in json.dumps(catcher["Assign"])
    assert states["Tick"]["Assign"] == {"failures": 0}, "a good tick resets the count"
    limit = model.properties("TickLoop")["DefinitionSubstitutions"]["MaxConsecutiveFailures"]
    assert limit == {"Ref": "MaxConsecutiveTickFailures"}
    assert "${MaxConsecutiveFailures}" in json.dumps(states[catcher["Next"]])


def test_the_history_limit_is_not_reached_before_the_timeout() -> None:
    # About 9 history events per Tick -> Choice -> Wait round; Step Functions keeps at most 25,000.
    timeout = definition()["TimeoutSeconds"]
    shortest_poll = model.template()["Parameters"]["PollSeconds"]["MinValue"]
    assert timeout / shortest_poll * 9 < 25_000


# --- alarms and outputs --------------------------------------------------------------------------------


def alarms() -> list[dict[str, Any]]:
    return [model.properties(a) for a in model.resources("AWS::CloudWatch::Alarm")]


def test_alarms_on_executor_errors_and_stuck_or_failed_loops() -> None:
    watched = {(a["Namespace"], a["MetricName"], model.target(a["Dimensions"][0]["Value"])) for a in alarms()}
    assert ("AWS/Lambda", "Errors", "ExecutorFunction") in watched
    assert ("AWS/States", "ExecutionsTimedOut", "TickLoop") in watched
    assert ("AWS/States", "ExecutionsFailed", "TickLoop") in watched


def test_alarms_on_the_bots_own_drs_and_slack_error_counts() -> None:
    # The names the adapters emit (EMF); the alarm watches the total, emitted with the service alone.
    watched = {
        (a["Namespace"], a["MetricName"], tuple((d["Name"], d["Value"]) for d in a["Dimensions"]))
        for a in alarms()
        if a["Namespace"] == telemetry.NAMESPACE
    }
    by_service = (("service", telemetry.SERVICE),)
    assert (telemetry.NAMESPACE, telemetry.DRS_ERRORS, by_service) in watched
    assert (telemetry.NAMESPACE, telemetry.SLACK_POST_FAILURES, by_service) in watched


def test_outputs_give_what_the_readme_uses() -> None:
    outputs = model.template()["Outputs"]
    needed = {
        "SlackRequestUrl",
        "SlackSecretArn",
        "CatalogTableName",
        "ExecutionsTableName",
        "CliEnvironment",
    }
    assert needed <= set(outputs)
    cli = outputs["CliEnvironment"]["Value"]["Fn::Sub"]
    for name in ("DRS_BOT_REGION", "DRS_BOT_CATALOG_TABLE", "DRS_BOT_EXECUTIONS_TABLE"):
        assert f"{name}=" in cli
