"""`/drs execute <plan> drill` end to end through the real Lambda handler."""

from __future__ import annotations

import json
from typing import Any

from bot.domain.execution import ExecutionStatus, ServerStatus, WaveStatus
from bot.domain.history import to_history
from sandbox.transcript import render_channel
from tests.e2e.conftest import FAILING_SERVER, LAUNCH_ERROR, Sandbox


def test_a_drill_runs_every_wave_and_the_thread_tells_the_story(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    reply = sandbox.command("execute plan-x drill", channel=channel)
    assert reply.status == 200
    assert reply.body["response_type"] == "ephemeral"
    assert "Checking `plan-x` and starting a drill" in reply.body["text"]

    execution = sandbox.finished_execution(channel)
    assert execution.status is ExecutionStatus.COMPLETED
    assert [w.status for w in execution.waves] == [WaveStatus.COMPLETED, WaveStatus.COMPLETED]
    assert all(s.status is ServerStatus.LAUNCHED and s.instance_id for s in execution.servers())

    top_level = [m for m in sandbox.public(channel) if not m["thread_ts"]]
    assert len(top_level) == 1  # the anchor; everything else is in its thread
    anchor = top_level[0]
    thread = [m for m in sandbox.stack.slack.thread(channel, anchor["ts"]) if m["ts"] != anchor["ts"]]
    texts = [m["text"] for m in thread]
    assert len(texts) == 7, texts
    assert "Drill of plan-x started by <@U0ALICE>: 2 waves, 5 servers." in texts[0]
    assert texts[1].startswith(":arrow_forward: Wave 1/2 Databases started: 2 servers of db-tier")
    assert execution.waves[0].job_ids[0] in texts[1]
    assert "Wave 1/2 Databases COMPLETED: 2/2 launched" in texts[2]
    assert texts[3].startswith(":arrow_forward: Wave 2/2 Web started: 3 servers of web-tier")
    assert "Wave 2/2 Web COMPLETED: 3/3 launched" in texts[4]
    assert "Drill of plan-x COMPLETED: 5/5 servers launched, 0 failed" in texts[5]
    assert thread[5]["reply_broadcast"] is True
    # Then the timeline picture with the verdict line (tests/e2e/test_timeline_picture.py).
    assert texts[6].startswith(":bar_chart: Timeline of drill") and thread[6]["files"]

    # The anchor shows the final state.
    final_anchor = anchor["updates"][-1] if anchor.get("updates") else anchor
    assert "COMPLETED" in final_anchor["text"] and "5 launched" in final_anchor["text"]
    transcript = render_channel(sandbox.stack.slack.messages(), channel)
    assert "Wave 2/2" in transcript


def test_one_start_recovery_per_wave_and_the_next_wave_waits_for_the_last_launch(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x drill", channel=channel)
    execution = sandbox.finished_execution(channel)
    drs = sandbox.stack.drs
    starts = [
        call
        for call in drs.calls
        if call.operation == "StartRecovery"
        and call.params.get("tags", {}).get("drs-chatops:execution") == execution.execution_id
    ]
    assert len(starts) == 2  # one job per wave, never one per server
    wave1_servers = {s.source_server_id for s in execution.waves[0].servers()}
    assert {s["sourceServerID"] for s in starts[0].params["sourceServers"]} == wave1_servers
    assert starts[0].params["isDrill"] is True
    launched = drs.server_launch_times()
    last_wave1_launch = max(launched[sid] for sid in wave1_servers)
    assert starts[1].time > last_wave1_launch


def test_a_failed_launch_makes_the_wave_partial_and_drs_error_text_reaches_the_thread(
    sandbox: Sandbox,
) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-flaky drill", channel=channel)
    execution = sandbox.finished_execution(channel)
    assert execution.status is ExecutionStatus.PARTIAL
    assert execution.waves[0].status is WaveStatus.PARTIAL
    failed = next(s for s in execution.servers() if s.source_server_id == FAILING_SERVER)
    assert failed.status is ServerStatus.FAILED
    assert "ec2:CreateLaunchTemplateVersion" in (failed.error or "")
    thread_text = "\n".join(m["text"] for m in sandbox.public(channel))
    assert FAILING_SERVER in thread_text and "ec2:CreateLaunchTemplateVersion" in thread_text
    assert LAUNCH_ERROR.split(":")[0] in thread_text

    history = to_history(execution)
    assert history["Status"] == "PARTIAL"
    servers = {s["SourceServerId"]: s for s in history["Waves"][0]["Servers"]}
    assert servers[FAILING_SERVER]["Status"] == "FAILED" and "ec2:" in servers[FAILING_SERVER]["Error"]


def test_launch_results_reach_the_events_function_in_batches_as_the_stack_delivers_them(
    sandbox: Sandbox,
) -> None:
    from sandbox.stack import EVENTS_FUNCTION

    def events_invocations() -> list[Any]:
        return [i for i in sandbox.stack.lambdas.invocations if i.function_name == EVENTS_FUNCTION]

    sandbox.settle()
    before = len(events_invocations())
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x drill", channel=channel)
    execution = sandbox.finished_execution(channel)
    sandbox.settle()  # the last wave's results may still be in the queue's batching window
    invocations = events_invocations()[before:]
    records = [record for i in invocations for record in i.payload["Records"]]
    ours = [
        record
        for record in records
        if json.loads(record["body"])["detail"]["job-id"]
        in {job for w in execution.waves for job in w.job_ids}
    ]
    assert len(ours) == 5  # one launch result per server
    assert all(record["eventSource"] == "aws:sqs" for record in records)
    assert len(invocations) < len(records)  # a wave's results come together, not one invocation each
    assert [i.status for i in invocations] == ["succeeded"] * len(invocations)
