"""Health gates from a plans file through the sandbox: each check (ec2_status, ssm_online, alarms), each
fault (a failing status check, an agent that never comes Online, an alarm in ALARM), the timeout and
on_failure, and the next wave's StartRecovery never before the previous wave is healthy — read from
what the DRS emulator recorded (calls and their emulated times) and what the thread says.

The package's sandbox runs at 600x: an emulated minute is 0.1 real second."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.execution import ExecutionStatus, ServerStatus, WaveStatus
from bot.domain.history import to_history
from tests.e2e.conftest import Sandbox, apply_plans, restore_catalog
from tests.e2e.test_plan_options import drill, starts, thread_texts


def sid(prefix: str, n: int) -> str:
    return f"s-{prefix}{n:0{17 - len(prefix)}d}"


DB = [sid("hd", 1), sid("hd", 2)]
APP = [sid("ha", 1)]
IMPAIRED = [sid("hi", 1), sid("hi", 2)]  # the first's instance status check fails
QUIET = [sid("hq", 1)]  # its SSM agent never comes Online
ALARMED = [sid("hm", 1)]
AFTER = [sid("hz", n) for n in range(1, 7)]  # one per plan's second wave
COMMANDED = [sid("hc", n) for n in range(1, 52)]  # 51: two SendCommand batches (50 + 1)
COMMAND_FAILS = [sid("hf", 1), sid("hf", 2)]  # the first's command exits 1
COMMAND_HANGS = [sid("hh", 1)]  # its command never ends
OK_ALARM, BAD_ALARM = "db-healthy-hosts", "app-5xx <errors>"

PLANS = f"""
protection_groups:
  - {{name: he-db, region: us-east-1, source_servers: [{", ".join(DB)}]}}
  - {{name: he-app, region: us-east-1, source_servers: [{", ".join(APP)}]}}
  - {{name: he-impaired, region: us-east-1, source_servers: [{", ".join(IMPAIRED)}]}}
  - {{name: he-quiet, region: us-east-1, source_servers: [{", ".join(QUIET)}]}}
  - {{name: he-alarmed, region: us-east-1, source_servers: [{", ".join(ALARMED)}]}}
  - {{name: he-after-1, region: us-east-1, source_servers: [{AFTER[0]}]}}
  - {{name: he-after-2, region: us-east-1, source_servers: [{AFTER[1]}]}}
  - {{name: he-after-3, region: us-east-1, source_servers: [{AFTER[2]}]}}
  - {{name: he-after-4, region: us-east-1, source_servers: [{AFTER[3]}]}}
  - {{name: he-after-5, region: us-east-1, source_servers: [{AFTER[4]}]}}
  - {{name: he-after-6, region: us-east-1, source_servers: [{AFTER[5]}]}}
  - {{name: he-commanded, region: us-east-1, source_servers: [{", ".join(COMMANDED)}]}}
  - {{name: he-command-fails, region: us-east-1, source_servers: [{", ".join(COMMAND_FAILS)}]}}
  - {{name: he-command-hangs, region: us-east-1, source_servers: [{", ".join(COMMAND_HANGS)}]}}
plans:
  - name: plan-healthy
    waves:
      - name: Databases
        protection_group: he-db
        health_check:
          ec2_status: true
          ssm_online: true
          alarms: [{OK_ALARM}]
          timeout: 30m
      - name: Apps
        protection_group: he-app
  - name: plan-impaired
    waves:
      - name: Databases
        protection_group: he-impaired
        on_failure: stop
        health_check: {{ec2_status: true, timeout: 10m}}
      - name: Apps
        protection_group: he-after-1
  - name: plan-quiet
    waves:
      - name: Databases
        protection_group: he-quiet
        health_check: {{ssm_online: true, timeout: 5m}}
      - name: Apps
        protection_group: he-after-2
  - name: plan-alarmed
    waves:
      - name: Web
        protection_group: he-alarmed
        on_failure: stop
        health_check: {{alarms: ["{BAD_ALARM}"], timeout: 5m}}
      - name: Apps
        protection_group: he-after-3
  - name: plan-command
    waves:
      - name: Web
        protection_group: he-commanded
        health_check:
          ssm_command:
            document: AWS-RunShellScript
            parameters: {{commands: ["curl -f localhost:8080/health"]}}
            timeout: 5m
          timeout: 30m
      - name: Apps
        protection_group: he-after-4
  - name: plan-command-fails
    waves:
      - name: Web
        protection_group: he-command-fails
        on_failure: stop
        health_check:
          ssm_command: {{document: AWS-RunShellScript, parameters: {{commands: ["curl -f localhost:8080/health"]}}}}
          # Room for slow ticks under load (3 real seconds at 600x): the Failed answer must come first.
          timeout: 30m
      - name: Apps
        protection_group: he-after-5
  - name: plan-command-hangs
    waves:
      - name: Web
        protection_group: he-command-hangs
        health_check:
          ssm_command: {{document: AWS-RunShellScript, parameters: {{commands: ["sleep infinity"]}}}}
          timeout: 10m
      - name: Apps
        protection_group: he-after-6
"""


@pytest.fixture(scope="module")
def box(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """These plans applied with `drs-bot plans apply`, the faults set in the emulator and on moto's
    CloudWatch; the package's catalog comes back afterwards."""
    stack = sandbox.stack
    drs = stack.drs
    drs.add_source_servers(
        "us-east-1",
        ids=[*DB, *APP, *IMPAIRED, *QUIET, *ALARMED, *AFTER, *COMMANDED, *COMMAND_FAILS, *COMMAND_HANGS],
    )
    drs.set_instance_health(IMPAIRED[0], status_check_fails=True)
    drs.set_instance_health(COMMAND_FAILS[0], command="failing")
    drs.set_instance_health(COMMAND_HANGS[0], command="hanging")
    drs.set_instance_health(QUIET[0], agent_offline=True)
    stack.set_alarm(OK_ALARM, "OK", "Threshold crossed: OK")
    stack.set_alarm(BAD_ALARM, "ALARM", "Threshold crossed: ALARM")
    applied = apply_plans(sandbox, PLANS, tmp_path_factory.mktemp("health"))
    assert applied.returncode == 0, applied.stderr
    yield sandbox
    restore_catalog(sandbox)


def health_calls(box: Sandbox, operation: str, instance_ids: set[str]) -> list[Any]:
    """The calls of `operation` that asked about these instances."""
    found = []
    for call in box.stack.drs.calls:
        if call.operation != operation:
            continue
        asked = set(call.params.get("InstanceId", []))
        for item in call.params.get("Filters", []):
            asked |= set(item.get("Values", []))
        if asked & instance_ids:
            found.append(call)
    return found


def test_a_healthy_wave_passes_every_check_before_the_next_wave_starts(box: Sandbox) -> None:
    execution = drill(box, "plan-healthy")
    assert execution.status is ExecutionStatus.COMPLETED
    databases = execution.waves[0]
    servers = list(databases.servers())
    instances = {s.instance_id for s in servers if s.instance_id}
    assert len(instances) == 2
    healthy_at = [s.healthy_at for s in servers]
    assert all(t is not None for t in healthy_at)
    assert all({c.check for c in s.checks} == {"ec2_status", "ssm_online", "alarms"} for s in servers)
    assert all(c.passed for s in servers for c in s.checks)
    # What EC2 and SSM were asked, and the next wave's StartRecovery only after the last server was healthy.
    status_calls = health_calls(box, "DescribeInstanceStatus", instances)
    ping_calls = health_calls(box, "DescribeInstanceInformation", instances)
    assert status_calls and ping_calls
    assert all(len(call.params["InstanceId"]) == 2 for call in status_calls)  # one call for the wave
    _, second_start = starts(box, execution.execution_id)
    last_healthy = max(t for t in healthy_at if t is not None)
    assert second_start.time >= last_healthy
    # What EC2 and SSM last answered before it: every instance ok and Online (a tick that lost the race
    # to save may still ask after it; its answer changes nothing).
    (status,) = [c for c in status_calls if c.time <= second_start.time][-1:]
    assert {s["InstanceId"]: s["InstanceStatus"]["Status"] for s in status.response["InstanceStatuses"]} == (
        dict.fromkeys(instances, "ok")
    )
    (ping,) = [c for c in ping_calls if c.time <= second_start.time][-1:]
    assert {i["InstanceId"]: i["PingStatus"] for i in ping.response["InstanceInformationList"]} == (
        dict.fromkeys(instances, "Online")
    )
    launched = max(s.launch_time for s in servers if s.launch_time)
    assert min(call.time for call in status_calls) >= launched
    texts = thread_texts(box, execution)
    assert any(
        "Wave 1/2 Databases CHECKING: 0/2 healthy (ec2_status, ssm_online, alarms" in t for t in texts
    ), texts
    assert any(
        "Databases COMPLETED: 2/2 launched in" in t and "HEALTHY: 2/2 healthy in" in t for t in texts
    ), texts
    assert any(
        "COMPLETED: 3/3 servers launched" in t and "RTO: to launch" in t and "to healthy" in t for t in texts
    )
    history = to_history(execution)["Waves"][0]
    assert history["Options"]["HealthCheck"]["Alarms"] == [OK_ALARM]
    assert all(server["HealthyTime"] for server in history["Servers"])
    assert {c["Check"] for c in history["Servers"][0]["Checks"]} == {"ec2_status", "ssm_online", "alarms"}


def test_a_failing_status_check_fails_its_server_at_the_timeout_and_on_failure_stop_holds_the_rest(
    box: Sandbox,
) -> None:
    execution = drill(box, "plan-impaired")
    assert execution.status is ExecutionStatus.FAILED
    assert [w.status for w in execution.waves] == [WaveStatus.PARTIAL, WaveStatus.SKIPPED]
    servers = {s.source_server_id: s for s in execution.waves[0].servers()}
    bad, good = servers[IMPAIRED[0]], servers[IMPAIRED[1]]
    assert bad.status is ServerStatus.FAILED and bad.launch_time is not None
    assert bad.error is not None and bad.error.startswith("health check ec2_status failed: not healthy 10m")
    assert "instance status impaired" in bad.error
    assert good.status is ServerStatus.LAUNCHED and good.healthy_at is not None
    assert len(starts(box, execution.execution_id)) == 1  # Apps never reached DRS
    texts = thread_texts(box, execution)
    assert any(IMPAIRED[0] in t and "instance status impaired" in t for t in texts), texts
    assert any("PARTIAL: 2/2 launched in" in t and "UNHEALTHY: 1/2 healthy" in t for t in texts), texts


def test_an_agent_that_never_comes_online_fails_and_on_failure_continue_runs_the_next_wave(
    box: Sandbox,
) -> None:
    execution = drill(box, "plan-quiet")
    assert execution.status is ExecutionStatus.PARTIAL
    assert [w.status for w in execution.waves] == [WaveStatus.FAILED, WaveStatus.COMPLETED]
    (quiet,) = execution.waves[0].servers()
    assert quiet.error is not None and "health check ssm_online failed" in quiet.error
    assert "no SSM agent registered for it yet" in quiet.error
    assert len(starts(box, execution.execution_id)) == 2


def test_an_alarm_in_alarm_fails_the_wave_with_cloudwatchs_reason_escaped_in_the_thread(box: Sandbox) -> None:
    execution = drill(box, "plan-alarmed")
    assert execution.status is ExecutionStatus.FAILED
    (server,) = execution.waves[0].servers()
    assert server.error is not None and "health check alarms failed" in server.error
    assert f"alarm {BAD_ALARM} is ALARM: Threshold crossed: ALARM" in server.error
    texts = thread_texts(box, execution)
    assert any("app-5xx &lt;errors&gt;" in t for t in texts), texts
    assert not any("<errors>" in t for t in texts)


def commands_sent(box: Sandbox, instance_ids: set[str]) -> list[Any]:
    """The SendCommand calls DRS's emulator (serving SSM) received for these instances, answered."""
    return [
        call
        for call in box.stack.drs.calls
        if call.operation == "SendCommand"
        and set(call.params["InstanceIds"]) & instance_ids
        and call.status == 200
    ]


def test_a_command_that_succeeds_everywhere_is_sent_once_per_50_instances_and_the_wave_turns_healthy(
    box: Sandbox,
) -> None:
    execution = drill(box, "plan-command")
    assert execution.status is ExecutionStatus.COMPLETED
    web = execution.waves[0]
    assert web.status is WaveStatus.COMPLETED
    servers = list(web.servers())
    instances = {s.instance_id for s in servers if s.instance_id}
    assert len(instances) == len(COMMANDED) == 51
    assert all(s.healthy_at is not None for s in servers)
    assert all({c.check for c in s.checks} == {"ssm_online", "ssm_command"} for s in servers)
    sent = commands_sent(box, instances)
    assert sorted(len(call.params["InstanceIds"]) for call in sent) == [1, 50]  # one per 50, none twice
    assert {i for call in sent for i in call.params["InstanceIds"]} == instances
    for call in sent:
        assert call.params["DocumentName"] == "AWS-RunShellScript"
        assert call.params["Parameters"] == {"commands": ["curl -f localhost:8080/health"]}
        assert call.params["TimeoutSeconds"] == 300
        assert execution.execution_id in call.params["Comment"]
    history = to_history(execution)["Waves"][0]["Commands"]
    assert [(c["Batch"], tuple(c["InstanceIds"])) for c in history] == [
        (run.batch, run.instance_ids) for run in web.commands
    ]
    assert {c["CommandId"] for c in history} == {run.command_id for run in web.commands}
    assert {run.command_id for run in web.commands} == {
        call.response["Command"]["CommandId"] for call in sent
    }
    # Each server healthy only after its batch was sent, and the next wave only once SSM said Success
    # for every invocation (the last ListCommandInvocations of each command before it).
    _, second_start = starts(box, execution.execution_id)
    sent_at = {i: call.time for call in sent for i in call.params["InstanceIds"]}
    assert all(s.healthy_at and s.instance_id and s.healthy_at > sent_at[s.instance_id] for s in servers)
    assert second_start.time >= max(s.healthy_at for s in servers if s.healthy_at)
    for run in web.commands:
        reads = [
            c
            for c in box.stack.drs.calls
            if c.operation == "ListCommandInvocations"
            and c.params["CommandId"] == run.command_id
            and c.time <= second_start.time
        ]
        answer = reads[-1].response
        assert answer is not None
        statuses = {i["InstanceId"]: i["Status"] for i in answer["CommandInvocations"]}
        assert statuses == dict.fromkeys(run.instance_ids, "Success")


def test_a_command_that_exits_1_fails_its_server_with_stderr_escaped_and_on_failure_stop_holds(
    box: Sandbox,
) -> None:
    execution = drill(box, "plan-command-fails")
    assert execution.status is ExecutionStatus.FAILED
    assert [w.status for w in execution.waves] == [WaveStatus.PARTIAL, WaveStatus.SKIPPED]
    servers = {s.source_server_id: s for s in execution.waves[0].servers()}
    bad, good = servers[COMMAND_FAILS[0]], servers[COMMAND_FAILS[1]]
    assert bad.status is ServerStatus.FAILED
    assert bad.error is not None and "health check ssm_command failed" in bad.error
    assert "command Failed (exit 1)" in bad.error and "returned error: 503 <Service Unavailable>" in bad.error
    # Failed is final: the server fails when SSM says so, not at the 30m health timeout.
    assert bad.error.startswith("health check ssm_command failed: command Failed (exit 1)")
    web = execution.waves[0]
    assert web.end_time and web.checks_started_at
    assert web.end_time - web.checks_started_at < timedelta(minutes=30)
    assert good.status is ServerStatus.LAUNCHED and good.healthy_at is not None
    assert len(starts(box, execution.execution_id)) == 1  # Apps never reached DRS
    texts = thread_texts(box, execution)
    assert any(COMMAND_FAILS[0] in t and "503 &lt;Service Unavailable&gt;" in t for t in texts), texts
    assert not any("<Service Unavailable>" in t for t in texts)


def test_a_command_that_never_ends_fails_at_the_health_timeout_and_on_failure_continue_runs_on(
    box: Sandbox,
) -> None:
    execution = drill(box, "plan-command-hangs")
    assert execution.status is ExecutionStatus.PARTIAL
    assert [w.status for w in execution.waves] == [WaveStatus.FAILED, WaveStatus.COMPLETED]
    (hung,) = execution.waves[0].servers()
    assert hung.error is not None
    assert hung.error.startswith("health check ssm_command failed: not healthy 10m after the checks began")
    assert "command InProgress" in hung.error  # SSM's last word on it, read each tick
    assert len(commands_sent(box, {hung.instance_id or ""})) == 1
