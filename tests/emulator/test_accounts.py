"""Several AWS accounts on one emulator: STS AssumeRole (over its real query protocol, through a plain boto3
STS client and through botocore's own assume-role credentials) issues credentials that select the account
a request acts in; each account has its own servers, quotas, faults and call log; roles that cannot be
assumed and permissions a role lacks are faults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials
from botocore.exceptions import ClientError
from botocore.loaders import create_loader

from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock, Quotas, ScaledClock

from .helpers import DRILL_SECONDS, REGION, START, start_drill

HOME = "123456789012"
TARGET = "111122223333"
OTHER = "444455556666"
ROLE = "drs-chatops-target"
EXTERNAL_ID = "drs-chatops-7f3a"
ROLE_ARN = f"arn:aws:iam::{TARGET}:role/{ROLE}"
STS_MODEL = create_loader().load_service_model("sts", "service-2")
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def world(emulator: DrsEmulator) -> dict[str, DrsEmulator]:
    """The home account plus two target accounts, each with the bot's role and servers of its own."""
    target = emulator.add_account(TARGET, regions=(REGION,))
    other = emulator.add_account(OTHER, regions=(REGION, "eu-west-1"))
    target.add_role(ROLE, external_id=EXTERNAL_ID)
    other.add_role(ROLE, external_id=EXTERNAL_ID)
    return {HOME: emulator, TARGET: target, OTHER: other}


def sts_client(server: EmulatorServer, *, validate: bool = True) -> Any:
    """STS with the default keys (the home account); validate=False lets bad input reach the emulator."""
    return boto3.client(
        "sts",
        region_name=REGION,
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=validate, retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def assume(server: EmulatorServer, account: str = TARGET, **kwargs: Any) -> dict[str, Any]:
    args = {"RoleArn": f"arn:aws:iam::{account}:role/{ROLE}", "RoleSessionName": "drs-chatops"}
    args["ExternalId"] = EXTERNAL_ID
    args.update(kwargs)
    args = {k: v for k, v in args.items() if v is not None}
    response: dict[str, Any] = sts_client(server).assume_role(**args)
    return response


def client_as(server: EmulatorServer, service: str, credentials: dict[str, Any], region: str = REGION) -> Any:
    """A client of `service` signing with credentials STS issued."""
    make: Any = boto3.client
    return make(
        service,
        region_name=region,
        endpoint_url=server.url,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        config=NO_RETRIES,
    )


def drs_as(server: EmulatorServer, credentials: dict[str, Any], region: str = REGION) -> Any:
    return client_as(server, "drs", credentials, region)


def server_ids(drs: Any) -> set[str]:
    return {item["sourceServerID"] for item in drs.describe_source_servers()["items"]}


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    error: dict[str, Any] = dict(raised.value.response["Error"])
    error["status"] = raised.value.response["ResponseMetadata"]["HTTPStatusCode"]
    return error


# ----- accounts -----------------------------------------------------------------------------------------


def test_an_assumed_roles_credentials_see_only_that_accounts_servers(
    world: dict[str, DrsEmulator], server: EmulatorServer, drs: Any
) -> None:
    home_ids = set(world[HOME].add_source_servers(REGION, count=2))
    target_ids = set(world[TARGET].add_source_servers(REGION, count=3))
    other_ids = set(world[OTHER].add_source_servers(REGION, count=1))

    credentials = assume(server)["Credentials"]

    assert server_ids(drs_as(server, credentials)) == target_ids
    assert server_ids(drs) == home_ids  # default keys: the home account, as before
    assert server_ids(drs_as(server, assume(server, OTHER)["Credentials"])) == other_ids
    assert not home_ids & target_ids and not target_ids & other_ids  # ids unique across accounts
    arns = {item["arn"] for item in drs_as(server, credentials).describe_source_servers()["items"]}
    assert all(f":{TARGET}:source-server/" in arn for arn in arns)
    # Each account logs its own calls, with who made them.
    assert {(c.operation, c.caller) for c in world[TARGET].calls} == {
        ("AssumeRole", f"arn:aws:sts::{HOME}:assumed-role/drs-chatops-executor/drs-chatops"),
        ("DescribeSourceServers", f"arn:aws:sts::{TARGET}:assumed-role/{ROLE}/drs-chatops"),
    }
    assert {c.caller for c in world[HOME].calls} == {
        f"arn:aws:sts::{HOME}:assumed-role/drs-chatops-executor/drs-chatops"
    }


def test_botocores_own_assume_role_credentials_select_the_account(clock: ManualClock) -> None:
    # botocore judges an Expiration by the wall clock: STS here runs on it, DRS on the test's clock.
    emulator = DrsEmulator(clock=clock, sts_clock=ScaledClock(1.0))
    target = emulator.add_account(TARGET)
    target.add_role(ROLE, external_id=EXTERNAL_ID)
    target_ids = set(target.add_source_servers(REGION, count=2))
    emulator.add_source_servers(REGION, count=1)
    source = boto3.Session(aws_access_key_id="base", aws_secret_access_key="base", region_name=REGION)
    server = EmulatorServer(emulator).start()

    def client_creator(service: str, **kwargs: Any) -> Any:
        make: Any = source.client
        return make(service, endpoint_url=server.url, **kwargs)

    fetcher = AssumeRoleCredentialFetcher(
        client_creator,
        source.get_credentials(),
        ROLE_ARN,
        extra_args={"ExternalId": EXTERNAL_ID, "RoleSessionName": "drs-chatops"},
    )
    credentials = DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")
    session = boto3.Session(region_name=REGION)
    # What botocore's AssumeRoleProvider gives a session.
    cast(Any, session._session)._credentials = credentials
    drs = session.client("drs", endpoint_url=server.url, config=NO_RETRIES)

    try:
        assert server_ids(drs) == target_ids
        assert (credentials.get_frozen_credentials().access_key or "").startswith("ASIA")
        assumed = [c.params for c in target.calls if c.operation == "AssumeRole"]
        assert assumed == [{"RoleArn": ROLE_ARN, "RoleSessionName": "drs-chatops", "ExternalId": EXTERNAL_ID}]
        drs_calls = {c.caller for c in target.calls if c.operation != "AssumeRole"}
        assert drs_calls == {f"arn:aws:sts::{TARGET}:assumed-role/{ROLE}/drs-chatops"}
    finally:
        server.stop()


def test_quotas_are_per_account_a_full_account_does_not_block_another(
    clock: ManualClock, server: EmulatorServer, drs: Any, emulator: DrsEmulator
) -> None:
    target = emulator.add_account(TARGET, quotas=Quotas(concurrent_jobs=1))
    target.add_role(ROLE, external_id=EXTERNAL_ID)
    busy, waiting = target.add_source_servers(REGION, count=2)
    home_ids = emulator.add_source_servers(REGION, count=2)
    target_drs = drs_as(server, assume(server)["Credentials"])

    start_drill(target_drs, [busy])
    full = error_of(lambda: start_drill(target_drs, [waiting]))
    home_jobs = [start_drill(drs, [sid]) for sid in home_ids]  # the home account keeps its own 20

    assert full["Code"] == "ServiceQuotaExceededException" and "1 concurrent jobs" in full["Message"]
    assert len({job["jobID"] for job in home_jobs}) == 2
    assert all(job["arn"].split(":")[4] == HOME for job in home_jobs)
    clock.advance(DRILL_SECONDS)
    assert start_drill(target_drs, [waiting])["arn"].split(":")[4] == TARGET


def test_launch_events_carry_their_own_account(
    world: dict[str, DrsEmulator], clock: ManualClock, server: EmulatorServer, drs: Any
) -> None:
    heard: list[dict[str, Any]] = []
    world[HOME].subscribe(heard.append)
    (home_id,) = world[HOME].add_source_servers(REGION, count=1)
    (target_id,) = world[TARGET].add_source_servers(REGION, count=1)
    start_drill(drs, [home_id])
    start_drill(drs_as(server, assume(server)["Credentials"]), [target_id])

    clock.advance(DRILL_SECONDS)
    world[HOME].advance_all()  # what the server's ticker does: every account's lifecycles move

    accounts = {event["detail"]["source-server-id"]: event["account"] for event in heard}
    assert accounts == {home_id: HOME, target_id: TARGET}
    (target_event,) = [e for e in heard if e["account"] == TARGET]
    assert target_event["resources"] == [f"arn:aws:drs:{REGION}:{TARGET}:source-server/{target_id}"]
    assert [r.source_server_id for r in world[TARGET].launch_results()] == [target_id]


def test_an_account_is_twelve_digits_and_served_once(emulator: DrsEmulator) -> None:
    emulator.add_account(TARGET)
    with pytest.raises(ValueError, match="already served"):
        emulator.add_account(TARGET)
    with pytest.raises(ValueError, match="12 digits"):
        emulator.add_account("11112222333")
    with pytest.raises(ValueError, match="not served"):
        emulator.account(OTHER)
    assert emulator.accounts == [HOME, TARGET]
    assert emulator.account(TARGET).account("123456789012") is emulator


def test_reset_forgets_added_accounts_roles_and_credentials(
    world: dict[str, DrsEmulator], server: EmulatorServer
) -> None:
    credentials = assume(server)["Credentials"]
    world[HOME].reset()
    assert world[HOME].accounts == [HOME]
    # The key no longer selects the target account: it is an unknown key, so the home account's.
    assert drs_as(server, credentials).describe_source_servers()["items"] == []
    assert error_of(lambda: assume(server))["Code"] == "AccessDenied"


# ----- STS ---------------------------------------------------------------------------------------------


def _walk(shape_name: str, value: Any) -> list[str]:
    """Where a parsed response breaks botocore's STS model (types, required members, sizes, patterns)."""
    import re
    from datetime import datetime

    shape = STS_MODEL["shapes"][shape_name]
    kind = shape["type"]
    if kind == "structure":
        problems = [f"{shape_name}.{r} missing" for r in shape.get("required", []) if r not in value]
        for key, item in value.items():
            if key not in shape["members"]:
                problems.append(f"{shape_name}.{key} unknown")
            else:
                problems += _walk(shape["members"][key]["shape"], item)
        return problems
    if kind == "string":
        if not isinstance(value, str):
            return [f"{shape_name}: not a string"]
        too_short = len(value) < shape.get("min", 0)
        too_long = len(value) > shape.get("max", len(value))
        bad = "pattern" in shape and not re.fullmatch(shape["pattern"], value)
        return [f"{shape_name}: {value!r}"] if too_short or too_long or bad else []
    if kind == "timestamp":
        return [] if isinstance(value, datetime) else [f"{shape_name}: not a time"]
    if kind == "integer":
        return [] if isinstance(value, int) else [f"{shape_name}: not an integer"]
    return [f"{shape_name}: unexpected {kind}"]


def test_assume_role_answers_in_the_shape_of_stss_model(
    world: dict[str, DrsEmulator], server: EmulatorServer, clock: ManualClock
) -> None:
    response = assume(server, DurationSeconds=900)
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}

    assert _walk("AssumeRoleResponse", body) == []
    credentials = response["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["AccessKeyId"]) == 20
    assert credentials["Expiration"] == START.replace(minute=15)  # the clock's now + DurationSeconds
    user = response["AssumedRoleUser"]
    assert user["Arn"] == f"arn:aws:sts::{TARGET}:assumed-role/{ROLE}/drs-chatops"
    assert user["AssumedRoleId"].startswith("AROA") and user["AssumedRoleId"].endswith(":drs-chatops")
    identity = client_as(server, "sts", credentials).get_caller_identity()
    assert {k: identity[k] for k in ("Account", "Arn", "UserId")} == {
        "Account": TARGET,
        "Arn": user["Arn"],
        "UserId": user["AssumedRoleId"],
    }
    assert (
        _walk("GetCallerIdentityResponse", {k: v for k, v in identity.items() if k != "ResponseMetadata"})
        == []
    )
    home = sts_client(server).get_caller_identity()
    assert (home["Account"], home["Arn"]) == (
        HOME,
        f"arn:aws:sts::{HOME}:assumed-role/drs-chatops-executor/drs-chatops",
    )


def _denied(account: str = TARGET) -> str:
    return (
        f"User: arn:aws:sts::{HOME}:assumed-role/drs-chatops-executor/drs-chatops is not authorized to perform: "
        f"sts:AssumeRole on resource: arn:aws:iam::{account}:role/{ROLE}"
    )


@pytest.mark.parametrize(
    ("case", "kwargs"),
    [
        ("wrong external id", {"ExternalId": "not-the-one"}),
        ("missing external id", {"ExternalId": None}),
        ("unknown role", {"RoleArn": f"arn:aws:iam::{TARGET}:role/somebody-else"}),
        ("account without the role", {"RoleArn": f"arn:aws:iam::999988887777:role/{ROLE}"}),
    ],
)
def test_assume_role_refuses_as_sts_does(
    world: dict[str, DrsEmulator], server: EmulatorServer, case: str, kwargs: dict[str, Any]
) -> None:
    error = error_of(lambda: assume(server, **kwargs))

    arn = kwargs.get("RoleArn", ROLE_ARN)
    assert error["Code"] == "AccessDenied" and error["status"] == 403, case
    assert error["Message"] == _denied().replace(ROLE_ARN, arn)
    assert error["Type"] == "Sender"


def test_an_unassumable_role_is_a_fault_until_cleared(
    world: dict[str, DrsEmulator], server: EmulatorServer
) -> None:
    world[TARGET].refuse_assume_role(ROLE)

    assert error_of(lambda: assume(server))["Message"] == _denied()
    assert assume(server, OTHER)["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{OTHER}:")
    world[TARGET].clear_faults()
    assert assume(server)["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_a_role_trusts_only_the_accounts_it_names(emulator: DrsEmulator, server: EmulatorServer) -> None:
    emulator.add_account(TARGET).add_role(ROLE, trusted=[OTHER])  # not the home account
    assert error_of(lambda: assume(server, ExternalId=None))["Code"] == "AccessDenied"


def test_expired_credentials_are_refused_as_aws_does(
    world: dict[str, DrsEmulator], server: EmulatorServer, clock: ManualClock
) -> None:
    credentials = assume(server, DurationSeconds=900)["Credentials"]
    drs = drs_as(server, credentials)
    drs.describe_jobs()

    clock.advance(900)
    error = error_of(drs.describe_jobs)

    assert (error["Code"], error["status"]) == ("ExpiredTokenException", 403)
    assert error["Message"] == "The security token included in the request is expired"
    ec2, sts = client_as(server, "ec2", credentials), client_as(server, "sts", credentials)
    assert error_of(ec2.describe_instance_status)["Code"] == "RequestExpired"
    assert error_of(sts.get_caller_identity)["Code"] == "ExpiredToken"
    assert drs_as(server, assume(server)["Credentials"]).describe_jobs()["items"] == []  # new ones work


def test_credentials_expire_by_the_sts_clock_when_one_is_given(server: EmulatorServer) -> None:
    """A sandbox runs DRS time faster than the wall clock botocore renews credentials by: STS's clock
    can be another one."""
    drs_clock, sts_clock = ManualClock(START), ManualClock(START)
    emulator = DrsEmulator(clock=drs_clock, sts_clock=sts_clock)
    emulator.add_account(TARGET).add_role(ROLE)
    with EmulatorServer(emulator) as own:
        credentials = assume(own, ExternalId=None)["Credentials"]
        drs_clock.advance(7200)
        assert drs_as(own, credentials).describe_jobs()["items"] == []
        sts_clock.advance(3600)
        assert error_of(drs_as(own, credentials).describe_jobs)["Code"] == "ExpiredTokenException"


@pytest.mark.parametrize(
    ("kwargs", "member", "constraint"),
    [
        ({"ExternalId": "x"}, "externalId", "length greater than or equal to 2"),
        ({"ExternalId": "has space"}, "externalId", "regular expression pattern"),
        ({"ExternalId": "e" * 1225}, "externalId", "length less than or equal to 1224"),
        ({"RoleSessionName": "a b"}, "roleSessionName", "regular expression pattern"),
        ({"RoleSessionName": "s" * 65}, "roleSessionName", "length less than or equal to 64"),
        ({"DurationSeconds": 899}, "durationSeconds", "value greater than or equal to 900"),
        ({"DurationSeconds": 43201}, "durationSeconds", "value less than or equal to 43200"),
        ({"RoleArn": "arn:aws:iam::1"}, "roleArn", "length greater than or equal to 20"),
    ],
)
def test_the_input_contract_of_assume_role(
    world: dict[str, DrsEmulator],
    server: EmulatorServer,
    kwargs: dict[str, Any],
    member: str,
    constraint: str,
) -> None:
    client = sts_client(server, validate=False)
    args = {"RoleArn": ROLE_ARN, "RoleSessionName": "drs-chatops", "ExternalId": EXTERNAL_ID, **kwargs}

    error = error_of(lambda: client.assume_role(**args))

    assert (error["Code"], error["status"]) == ("ValidationError", 400)
    message = error["Message"]
    assert f"at '{member}' failed to satisfy constraint: Member must" in message and constraint in message
    logged = [(c.operation, c.error) for account in (world[TARGET], world[HOME]) for c in account.calls]
    assert logged == [("AssumeRole", "ValidationError")]
    assert world[TARGET].world.sts.sessions == {}  # nothing issued


def test_assume_role_refuses_what_is_no_role_arn_and_a_session_longer_than_the_roles(
    world: dict[str, DrsEmulator], server: EmulatorServer
) -> None:
    not_a_role = error_of(lambda: assume(server, RoleArn=f"arn:aws:s3:::{TARGET}-bucket/role"))
    too_long = error_of(lambda: assume(server, DurationSeconds=7200))

    assert (not_a_role["Code"], not_a_role["status"]) == ("ValidationError", 400)
    assert "is not a valid IAM role ARN" in not_a_role["Message"]
    assert (
        too_long["Message"]
        == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    )


def test_a_role_needs_a_valid_external_id_and_session_limit(emulator: DrsEmulator) -> None:
    target = emulator.add_account(TARGET)
    with pytest.raises(ValueError, match="invalid external id"):
        target.add_role(ROLE, external_id="has space")
    with pytest.raises(ValueError, match=r"3600\.\.43200"):
        target.add_role(ROLE, max_session_seconds=600)


# ----- a role that lacks a permission ------------------------------------------------------------------


def test_a_denied_operation_answers_access_denied_naming_the_role(
    world: dict[str, DrsEmulator], server: EmulatorServer, drs: Any
) -> None:
    target_ids = world[TARGET].add_source_servers(REGION, count=1)
    home_ids = world[HOME].add_source_servers(REGION, count=1)
    world[TARGET].deny("StartRecovery")
    target_drs = drs_as(server, assume(server)["Credentials"])

    error = error_of(lambda: start_drill(target_drs, target_ids))

    assert (error["Code"], error["status"]) == ("AccessDeniedException", 403)
    assert error["Message"] == (
        f"User: arn:aws:sts::{TARGET}:assumed-role/{ROLE}/drs-chatops is not authorized to perform: "
        f"drs:StartRecovery on resource: arn:aws:drs:{REGION}:{TARGET}:* because no identity-based policy "
        "allows the drs:StartRecovery action"
    )
    assert not world[TARGET].launch_results() and target_drs.describe_jobs()["items"] == []
    assert server_ids(target_drs) == set(target_ids)  # only that permission is missing
    assert start_drill(drs, home_ids)["jobID"]  # and only in that account
    (denied,) = [c for c in world[TARGET].calls if c.operation == "StartRecovery"]
    assert (denied.status, denied.error) == (403, "AccessDeniedException")
    world[TARGET].clear_faults()
    assert start_drill(target_drs, target_ids)["jobID"]


def test_deny_reaches_ec2_and_ssm_too(world: dict[str, DrsEmulator], server: EmulatorServer) -> None:
    world[TARGET].deny("DescribeInstanceStatus", service="ec2")
    world[TARGET].deny("DescribeInstanceInformation", service="ssm")
    credentials = assume(server)["Credentials"]
    ec2, ssm = client_as(server, "ec2", credentials), client_as(server, "ssm", credentials)

    ec2_error = error_of(ec2.describe_instance_status)
    ssm_error = error_of(ssm.describe_instance_information)

    assert ec2_error["Code"] == "UnauthorizedOperation"
    assert "is not authorized to perform: ec2:DescribeInstanceStatus" in ec2_error["Message"]
    assert ssm_error["Code"] == "AccessDeniedException"
    assert (
        f"assumed-role/{ROLE}/drs-chatops is not authorized to perform: ssm:DescribeInstanceInformation"
        in (ssm_error["Message"])
    )


def test_deny_knows_the_operations(emulator: DrsEmulator) -> None:
    with pytest.raises(ValueError, match="not an operation of drs"):
        emulator.deny("StartRecoveries")
    with pytest.raises(ValueError, match="drs, ec2 or ssm"):
        emulator.deny("AssumeRole", service="sts")


# ----- extended source servers (staging accounts) ------------------------------------------------------

STAGING = "555566667777"


@pytest.fixture
def staged(world: dict[str, DrsEmulator]) -> list[str]:
    """Two servers replicating into a staging account (the 300-server cap is per staging account)."""
    staging = world[HOME].add_account(STAGING, regions=(REGION,))
    return staging.add_source_servers(REGION, count=2, hostnames=["erp-db", "erp-app"])


def test_a_server_extended_into_the_target_account_shows_its_staging_account(
    world: dict[str, DrsEmulator], server: EmulatorServer, staged: list[str]
) -> None:
    target_drs = drs_as(server, assume(server)["Credentials"])
    staging_arn = f"arn:aws:drs:{REGION}:{STAGING}:source-server/{staged[0]}"

    created = target_drs.create_extended_source_server(sourceServerArn=staging_arn, tags={"app": "erp"})
    by_python = world[TARGET].extend_source_server(STAGING, staged[1])
    (own,) = world[TARGET].add_source_servers(REGION, count=1)

    extended = created["sourceServer"]
    assert extended["stagingArea"] == {
        "status": "EXTENDED",
        "stagingAccountID": STAGING,
        "stagingSourceServerArn": staging_arn,
    }
    assert extended["arn"] == f"arn:aws:drs:{REGION}:{TARGET}:source-server/{extended['sourceServerID']}"
    assert extended["sourceServerID"] not in staged and extended["tags"] == {"Name": "erp-db", "app": "erp"}
    assert extended["sourceCloudProperties"]["originAccountID"] == STAGING
    listed = target_drs.describe_source_servers()["items"]
    assert {s["sourceServerID"] for s in listed} == {extended["sourceServerID"], by_python, own}
    from_staging = target_drs.describe_source_servers(filters={"stagingAccountIDs": [STAGING]})["items"]
    assert {s["sourceServerID"] for s in from_staging} == {extended["sourceServerID"], by_python}
    assert target_drs.describe_source_servers(filters={"stagingAccountIDs": [OTHER]})["items"] == []
    (own_item,) = [s for s in listed if s["sourceServerID"] == own]
    assert own_item["stagingArea"] == {"status": "NOT_EXTENDED"}


def test_an_extended_servers_replication_follows_the_staging_server(
    world: dict[str, DrsEmulator], server: EmulatorServer, staged: list[str], clock: ManualClock
) -> None:
    extended = world[TARGET].extend_source_server(STAGING, staged[0])
    target_drs = drs_as(server, assume(server)["Credentials"])

    def replication() -> dict[str, Any]:
        (item,) = target_drs.describe_source_servers(filters={"sourceServerIDs": [extended]})["items"]
        info: dict[str, Any] = item["dataReplicationInfo"]
        return info

    assert replication()["dataReplicationState"] == "CONTINUOUS"
    snapshots = target_drs.describe_recovery_snapshots(sourceServerID=extended)["items"]
    assert snapshots  # the staging server's week of points in time
    world[HOME].account(STAGING).set_replication_state(staged[0], "STALLED")
    clock.advance(1800)
    assert replication()["dataReplicationState"] == "STALLED"
    assert replication()["lagDuration"] == "PT30M"
    with pytest.raises(ValueError, match="set it there"):
        world[TARGET].set_replication_state(extended, "CONTINUOUS")


def test_an_extended_server_launches_in_the_target_account(
    world: dict[str, DrsEmulator], server: EmulatorServer, staged: list[str], clock: ManualClock
) -> None:
    extended = world[TARGET].extend_source_server(STAGING, staged[0])
    target_drs = drs_as(server, assume(server)["Credentials"])

    job = start_drill(target_drs, [extended])
    clock.advance(DRILL_SECONDS)

    (done,) = target_drs.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"]
    assert done["arn"].split(":")[4] == TARGET
    assert [(s["sourceServerID"], s["launchStatus"]) for s in done["participatingServers"]] == [
        (extended, "LAUNCHED")
    ]
    (instance,) = target_drs.describe_recovery_instances()["items"]
    assert instance["sourceServerID"] == extended and instance["arn"].split(":")[4] == TARGET
    assert [r.source_server_id for r in world[TARGET].launch_results()] == [extended]
    assert world[HOME].account(STAGING).launch_results() == []  # the staging account launches nothing


def test_create_extended_source_server_refuses_what_cannot_be_extended(
    world: dict[str, DrsEmulator], server: EmulatorServer, staged: list[str]
) -> None:
    target_drs = drs_as(server, assume(server)["Credentials"])
    (own,) = world[TARGET].add_source_servers(REGION, count=1)
    staging_arn = f"arn:aws:drs:{REGION}:{STAGING}:source-server/{staged[0]}"
    target_drs.create_extended_source_server(sourceServerArn=staging_arn)

    def refused(arn: str) -> tuple[str, str]:
        error = error_of(lambda: target_drs.create_extended_source_server(sourceServerArn=arn))
        return error["Code"], error["Message"]

    missing = f"arn:aws:drs:{REGION}:{STAGING}:source-server/s-0123456789abcdef0"
    assert refused(missing) == ("ResourceNotFoundException", f"Source server {missing} not found")
    assert refused(staging_arn)[1].endswith(
        "is already extended into this account as " + server_ids(target_drs).difference({own}).pop()
    )
    assert "is in this account" in refused(f"arn:aws:drs:{REGION}:{TARGET}:source-server/{own}")[1]
    assert refused(staging_arn.replace(REGION, "us-west-2"))[0] == "ValidationException"
    with pytest.raises(ValueError, match="already extended"):
        world[TARGET].extend_source_server(STAGING, staged[0])


def test_assume_role_is_logged_in_the_roles_account(
    world: dict[str, DrsEmulator], server: EmulatorServer
) -> None:
    """What a test counts to hold the bot to one AssumeRole per account per hour, not one per tick."""
    assume(server, DurationSeconds=900)
    world[TARGET].refuse_assume_role(ROLE)
    error_of(lambda: assume(server))
    error_of(lambda: assume(server, RoleArn=f"arn:aws:iam::999988887777:role/{ROLE}"))

    logged = [(c.operation, c.status, c.error, c.params.get("DurationSeconds")) for c in world[TARGET].calls]
    assert logged == [("AssumeRole", 200, None, 900), ("AssumeRole", 403, "AccessDenied", None)]
    assert {c.caller for c in world[TARGET].calls} == {
        f"arn:aws:sts::{HOME}:assumed-role/drs-chatops-executor/drs-chatops"
    }
    assert "Credentials" not in str(world[TARGET].calls[0].to_dict())  # no secret in the log
    # A role in an account the emulator does not serve: the caller's account logs the refusal.
    assert [(c.operation, c.error) for c in world[HOME].calls] == [("AssumeRole", "AccessDenied")]


# ----- STS's input contract, walked from botocore's model ---------------------------------------------

# A request that keeps every constraint of AssumeRoleRequest (each member given, so each can be broken).
VALID_ASSUME_ROLE: dict[str, Any] = {
    "RoleArn": ROLE_ARN,
    "RoleSessionName": "drs-chatops",
    "ExternalId": EXTERNAL_ID,
    "DurationSeconds": 900,
    "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}],
    "Policy": '{"Version": "2012-10-17"}',
    "Tags": [{"Key": "team", "Value": "dr"}],
    "TransitiveTagKeys": ["team"],
    "SerialNumber": "arn:aws:iam::123456789012:mfa/alice",
    "TokenCode": "123456",
    "SourceIdentity": "alice",
    "ProvidedContexts": [
        {"ProviderArn": "arn:aws:iam::aws:contextProvider/IdentityCenter", "ContextAssertion": "abcd"}
    ],
    "MinimumSessionTokenSize": 0,
}


def _sts_breaches(shape_name: str, value: Any, path: str) -> list[tuple[str, str, Any]]:
    """(member path as STS names it, constraint, a value breaking it) for each constraint of the shape."""
    shape = STS_MODEL["shapes"][shape_name]
    found: list[tuple[str, str, Any]] = []
    if shape["type"] == "structure":
        for name in shape.get("required", []):
            without = {k: v for k, v in value.items() if k != name}
            found.append((f"{path}.{name}".lstrip("."), "required", without))
        for name, member in shape["members"].items():
            for where, constraint, bad in _sts_breaches(
                member["shape"], value[name], f"{path}.{name}".lstrip(".")
            ):
                found.append((where, constraint, {**value, name: bad}))
    elif shape["type"] == "list":
        if "max" in shape:
            found.append((path, "max", value * (shape["max"] + 1)))
        if shape.get("min", 0) > 0:
            found.append((path, "min", []))
        for where, constraint, bad in _sts_breaches(shape["member"]["shape"], value[0], f"{path}.1.member"):
            found.append((where, constraint, [bad]))
    elif shape["type"] == "string":
        if shape.get("min", 0) > 1:
            found.append((path, "min", value[: shape["min"] - 1]))
        if "max" in shape:
            found.append((path, "max", (value * shape["max"])[: shape["max"] + 1]))
        if "pattern" in shape:
            found.append((path, "pattern", value[:-1] + "\u0001"))
    elif shape["type"] == "integer":
        if "min" in shape:
            found.append((path, "min", shape["min"] - 1))
        if "max" in shape:
            found.append((path, "max", shape["max"] + 1))
    return found


def _assume_role_breaches() -> list[tuple[str, str, dict[str, Any]]]:
    return _sts_breaches("AssumeRoleRequest", VALID_ASSUME_ROLE, "")


@pytest.mark.parametrize(
    ("member", "constraint", "request_"), _assume_role_breaches(), ids=lambda x: str(x)[:40]
)
def test_every_constraint_of_assume_role_is_enforced(
    world: dict[str, DrsEmulator],
    server: EmulatorServer,
    member: str,
    constraint: str,
    request_: dict[str, Any],
) -> None:
    client = sts_client(server, validate=False)

    error = error_of(lambda: client.assume_role(**request_))

    named = ".".join(part[:1].lower() + part[1:] for part in member.split("."))
    assert (error["Code"], error["status"]) == ("ValidationError", 400), error
    assert f"at '{named}' failed to satisfy constraint" in error["Message"], error["Message"]


def test_the_walk_reaches_every_member_of_assume_role() -> None:
    walked = {member.split(".")[0] for member, _, _ in _assume_role_breaches()}
    assert walked == set(STS_MODEL["shapes"]["AssumeRoleRequest"]["members"])
    kinds = {(member, constraint) for member, constraint, _ in _assume_role_breaches()}
    assert ("Tags.1.member.Key", "pattern") in kinds and ("DurationSeconds", "max") in kinds
    assert ("RoleArn", "required") in kinds and ("ProvidedContexts", "max") in kinds


def test_the_whole_valid_request_is_accepted(world: dict[str, DrsEmulator], server: EmulatorServer) -> None:
    assert (
        sts_client(server).assume_role(**VALID_ASSUME_ROLE)["AssumedRoleUser"]["Arn"].endswith("/drs-chatops")
    )


def test_a_launch_failing_in_another_account_names_the_role_there(
    world: dict[str, DrsEmulator], server: EmulatorServer, clock: ManualClock
) -> None:
    (sid,) = world[TARGET].add_source_servers(REGION, count=1)
    world[TARGET].fail_launch(sid)  # the default: the role lacks ec2:CreateLaunchTemplateVersion
    target_drs = drs_as(server, assume(server)["Credentials"])
    job = start_drill(target_drs, [sid])
    clock.advance(DRILL_SECONDS)

    (result,) = world[TARGET].launch_results()
    assert result.status == "FAILED" and job["jobID"] == result.job_id
    assert f"User: arn:aws:sts::{TARGET}:assumed-role/{ROLE}/drs-chatops is not authorized" in (
        result.error or ""
    )
