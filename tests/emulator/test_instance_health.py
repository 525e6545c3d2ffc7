"""EC2 DescribeInstanceStatus and SSM DescribeInstanceInformation for the recovery instances the
emulator launched, through real boto3 clients: health follows the clock, faults hold it back, and
every answer parses with botocore's own EC2 and SSM models (the emulator also checks each response
against them before sending it)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bot.adapters.health import HealthGateway
from bot.domain.accounts import home
from bot.errors import HealthCheckRefused
from sandbox.drs_emulator import DrsEmulator, EmulatorServer, ManualClock

from .helpers import DRILL_SECONDS, REGION, start_drill
from .test_admin_cli import admin

_SESSION = boto3.session.Session(
    aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
)


def client(service: str, server: EmulatorServer) -> Any:
    make: Any = _SESSION.client  # the service is a variable: no stub overload applies
    return make(service, endpoint_url=server.url, region_name=REGION)


def launched(emulator: DrsEmulator, server: EmulatorServer, clock: ManualClock, count: int) -> dict[str, str]:
    """Source server id -> recovery instance id, once a drill of `count` servers launched."""
    ids = emulator.add_source_servers(REGION, count=count)
    drs = client("drs", server)
    for start in range(0, count, 100):  # the servers-per-job quota
        start_drill(drs, ids[start : start + 100])
    clock.advance(DRILL_SECONDS)
    pages = drs.get_paginator("describe_recovery_instances").paginate()
    return {item["sourceServerID"]: item["ec2InstanceID"] for page in pages for item in page["items"]}


def test_status_checks_initialize_then_pass_and_a_fault_fails_the_instance_check(
    emulator: DrsEmulator, server: EmulatorServer, clock: ManualClock
) -> None:
    instances = launched(emulator, server, clock, 3)
    broken = sorted(instances)[0]
    emulator.set_instance_health(broken, status_check_fails=True)
    ec2 = client("ec2", server)
    first = ec2.describe_instance_status(InstanceIds=list(instances.values()), IncludeAllInstances=True)
    summaries = {s["InstanceId"]: s["InstanceStatus"]["Status"] for s in first["InstanceStatuses"]}
    assert set(summaries.values()) <= {"initializing", "ok"} and "initializing" in summaries.values()
    clock.advance(emulator.timings.status_checks_pass)
    later = ec2.describe_instance_status(InstanceIds=list(instances.values()))["InstanceStatuses"]
    by_id = {s["InstanceId"]: s for s in later}
    assert by_id[instances[broken]]["InstanceStatus"] == {
        "Status": "impaired",
        "Details": [{"Name": "reachability", "Status": "failed"}],
    }
    healthy = [i for s, i in instances.items() if s != broken]
    assert all(
        by_id[i]["InstanceStatus"]["Status"] == "ok" and by_id[i]["SystemStatus"]["Status"] == "ok"
        for i in healthy
    )
    assert by_id[healthy[0]]["InstanceState"] == {"Code": 16, "Name": "running"}


def test_describe_instance_status_refuses_what_ec2_refuses(
    emulator: DrsEmulator, server: EmulatorServer, clock: ManualClock
) -> None:
    ec2 = client("ec2", server)
    with pytest.raises(ClientError) as caught:
        ec2.describe_instance_status(InstanceIds=["i-0123456789abcdef0"])
    assert caught.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"
    with pytest.raises(ClientError) as caught:
        ec2.describe_instance_status(InstanceIds=[f"i-{n:017x}" for n in range(101)])
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_the_ssm_agent_registers_online_after_boot_unless_held_offline(
    emulator: DrsEmulator, server: EmulatorServer, clock: ManualClock
) -> None:
    instances = launched(emulator, server, clock, 2)
    quiet = sorted(instances)[0]
    emulator.set_instance_health(quiet, agent_offline=True)
    ssm = client("ssm", server)
    ids = list(instances.values())
    before = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": ids}])
    clock.advance(emulator.timings.ssm_agent_online)
    after = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": ids}], MaxResults=5)
    online = {i["InstanceId"]: i["PingStatus"] for i in after["InstanceInformationList"]}
    assert len(before["InstanceInformationList"]) < 2
    assert online == {instances[s]: "Online" for s in instances if s != quiet}
    with pytest.raises(ClientError) as caught:
        ssm.describe_instance_information(Filters=[{"Key": "AgentVersion", "Values": ["1"]}])
    assert caught.value.response["Error"]["Code"] == "InvalidFilterKey"


def test_the_gateway_batches_and_pages_many_instances(
    emulator: DrsEmulator, server: EmulatorServer, clock: ManualClock
) -> None:
    instances = launched(emulator, server, clock, 120)
    clock.advance(emulator.timings.status_checks_pass)
    emulator.clear_calls()
    gateway = HealthGateway(
        lambda region: client("ec2", server),
        lambda region: client("ssm", server),
        lambda region: None,
        lambda region: None,
    )
    ids = sorted(instances.values())
    status = gateway.instance_status(home(REGION), ids)
    online = gateway.agents_online(home(REGION), ids)
    assert status == dict.fromkeys(ids, (True, "instance status ok, system status ok"))
    assert online == dict.fromkeys(ids, (True, "SSM agent Online"))
    calls = [call.operation for call in emulator.calls]
    assert calls.count("DescribeInstanceStatus") == 2  # 100 ids a call
    assert calls.count("DescribeInstanceInformation") == 3  # 50 a page


def test_the_gateway_turns_ec2s_refusal_into_ours(server: EmulatorServer) -> None:
    gateway = HealthGateway(
        lambda region: client("ec2", server), lambda region: None, lambda region: None, lambda region: None
    )
    with pytest.raises(HealthCheckRefused) as refused:
        gateway.instance_status(home(REGION), ["i-0123456789abcdef0"])
    assert (refused.value.service, refused.value.code) == ("EC2", "InvalidInstanceID.NotFound")


def test_run_commands_follow_the_clock_with_a_failing_and_a_hanging_one_through_the_gateway(
    emulator: DrsEmulator, server: EmulatorServer, clock: ManualClock
) -> None:
    instances = launched(emulator, server, clock, 53)
    sources = sorted(instances)
    failing, hanging, offline = sources[:3]
    status, _ = admin(server, "POST", "instance-health", {"sourceServerID": failing, "command": "failing"})
    assert status == 200
    emulator.set_instance_health(hanging, command="hanging")
    emulator.set_instance_health(offline, agent_offline=True)
    bad, _ = admin(server, "POST", "instance-health", {"sourceServerID": failing, "command": "exit 2"})
    assert bad == 400
    clock.advance(emulator.timings.ssm_agent_online)
    ssm = client("ssm", server)
    gateway = HealthGateway(lambda region: None, lambda region: ssm, lambda region: None, lambda region: ssm)
    # As SSM: one instance without an Online agent refuses the whole call.
    with pytest.raises(HealthCheckRefused) as refused:
        gateway.send_command(home(REGION), "AWS-RunShellScript", {}, [instances[offline]], 600, "c")
    assert refused.value.code == "InvalidInstanceId"
    ids = [instances[s] for s in sources if s != offline]
    sent_at = clock.now()
    first = gateway.send_command(
        home(REGION), "AWS-RunShellScript", {"commands": ["true"]}, ids[:50], 600, "run 1"
    )
    second = gateway.send_command(
        home(REGION), "AWS-RunShellScript", {"commands": ["true"]}, ids[50:], 600, "run 2"
    )
    assert gateway.command_results(home(REGION), first)[ids[0]] == (False, "command InProgress", False)
    # Found again by its Comment, among the document's commands since the claim; not another's.
    assert gateway.find_command(home(REGION), "AWS-RunShellScript", "run 2", sent_at) == second
    assert gateway.find_command(home(REGION), "AWS-RunPowerShellScript", "run 2", sent_at) is None
    assert gateway.find_command(home(REGION), "AWS-RunShellScript", "run 3", sent_at) is None
    clock.advance(emulator.timings.command_runs)
    results = {
        **gateway.command_results(home(REGION), first),
        **gateway.command_results(home(REGION), second),
    }
    assert len(results) == 52
    assert results[instances[failing]] == (
        False,
        "command Failed (exit 1): ----------ERROR-------\n"
        "curl: (22) The requested URL returned error: 503 <Service Unavailable>",
        True,  # ended: the server fails now
    )
    assert results[instances[hanging]] == (False, "command InProgress", False)
    assert {results[i] for i in ids if i not in (instances[failing], instances[hanging])} == {
        (True, "command Success", True)
    }
    # 50 invocations a page: the first command's 50 take one call each time.
    pages = [
        c
        for c in emulator.calls
        if c.operation == "ListCommandInvocations" and c.params["CommandId"] == first
    ]
    assert all(c.params["MaxResults"] == 50 for c in pages) and len(pages) == 2
