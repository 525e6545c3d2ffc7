"""The sandbox config's health faults — `servers: {status_check: failing, ssm_agent: offline}`,
`servers: {ssm_command: failing}` and `alarms: {name: ALARM}` — reach a drill's health checks, as the README's health gates section says."""

from __future__ import annotations

import multiprocessing
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.stack import SandboxStack, signed_command

SERVER = "s-hc000000000000001"
COMMANDED = "s-hc000000000000002"  # its Run Command exits 1
ALARM = "sandbox-app-up"
PLANS = f"""
protection_groups:
  - {{name: tier, region: us-east-1, source_servers: [{SERVER}, {COMMANDED}]}}
plans:
  - name: plan-h
    waves:
      - name: Only
        protection_group: tier
        health_check:
          ec2_status: true
          ssm_online: true
          ssm_command: {{document: AWS-RunShellScript, parameters: {{commands: [curl -f localhost:8080/health]}}}}
          alarms: [{ALARM}]
          timeout: 5m
"""
CONFIG = f"""
time_scale: 600
poll_seconds: 0.2
servers:
  {SERVER}: {{status_check: failing, ssm_agent: offline}}
  {COMMANDED}: {{ssm_command: failing}}
alarms:
  {ALARM}: ALARM
"""


def test_the_configs_faults_fail_each_check(tmp_path: Path) -> None:
    # A stack of its own, in a process of its own: moto keeps its tables per process.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        status, servers = child.submit(_drill, str(tmp_path)).result(timeout=120)
    assert status == "FAILED"
    error, checks = servers[SERVER]
    assert error.startswith("health check ec2_status failed: not healthy 5m after the checks began")
    assert checks == {
        "ec2_status": (False, "instance status impaired, system status ok"),
        "ssm_online": (False, "no SSM agent registered for it yet"),
        "ssm_command": (False, "command not sent yet: it waits for the instance's checks"),
        "alarms": (False, f"alarm {ALARM} is ALARM: set in the sandbox"),
    }
    error, checks = servers[COMMANDED]
    assert error.startswith("health check ssm_command failed: command Failed (exit 1)")  # at once
    assert checks["ssm_command"] == (
        False,
        "command Failed (exit 1): ----------ERROR-------\n"
        "curl: (22) The requested URL returned error: 503 <Service Unavailable>",
    )


def _drill(directory: str) -> tuple[str, dict[str, tuple[str, dict[str, tuple[bool, str]]]]]:
    plans, config_file = Path(directory) / "plans.yml", Path(directory) / "sandbox.yml"
    plans.write_text(PLANS)
    config_file.write_text(CONFIG)
    config = SandboxConfig.load(config_file)
    with SandboxStack(plans, config) as stack:
        channel = config.channel_id
        body, headers = signed_command(
            "execute plan-h drill",
            signing_secret=config.signing_secret,
            response_url=stack.slack.new_response_url(channel, "U0HEALTH"),
            user_id="U0HEALTH",
            channel_id=channel,
            timestamp=int(time.time()),
        )
        request = urllib.request.Request(stack.slack_request_url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        execution = stack.wait_for_end(channel, 60)
        assert execution is not None
        return execution.status.value, {
            s.source_server_id: (s.error or "", {c.check: (c.passed, c.detail) for c in s.checks})
            for s in execution.waves[0].servers()
        }
