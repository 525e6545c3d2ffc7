"""Each way DRS can fail a server's launch reaches the thread and the history with DRS's reason."""

from __future__ import annotations

import pytest
import yaml

from bot.domain.execution import Execution, ExecutionStatus, ServerStatus
from bot.domain.history import to_history
from tests.e2e.conftest import FAILURES_CONFIG, Sandbox

FAILING = {
    server_id: (behaviour["event"], behaviour["error"])
    for server_id, behaviour in yaml.safe_load(FAILURES_CONFIG)["servers"].items()
}


@pytest.fixture(scope="module")
def failed_drill(sandbox: Sandbox) -> tuple[str, Execution]:
    """One drill of one wave, one server per failure event."""
    channel = sandbox.new_channel()
    assert sandbox.command("execute plan-failing drill", channel=channel).status == 200
    return channel, sandbox.finished_execution(channel)


def test_the_drill_started_every_server_in_one_job_and_none_launched(
    sandbox: Sandbox, failed_drill: tuple[str, Execution]
) -> None:
    _, execution = failed_drill
    assert execution.status is ExecutionStatus.FAILED
    starts = [c for c in sandbox.stack.drs.calls if c.operation == "StartRecovery" and c.status == 202]
    received = [{s["sourceServerID"] for s in c.params["sourceServers"]} for c in starts]
    assert set(FAILING) in received
    events = {
        r.source_server_id: r for r in sandbox.stack.drs.launch_results() if r.source_server_id in FAILING
    }
    assert {sid: (r.status, r.error) for sid, r in events.items()} == {
        sid: ("FAILED", error) for sid, (_, error) in FAILING.items()
    }


@pytest.mark.parametrize(("server_id", "event"), [(sid, event) for sid, (event, _) in FAILING.items()])
def test_each_failure_event_reaches_the_thread_and_the_history(
    sandbox: Sandbox, failed_drill: tuple[str, Execution], server_id: str, event: str
) -> None:
    channel, execution = failed_drill
    error = FAILING[server_id][1]
    server = next(s for s in execution.servers() if s.source_server_id == server_id)
    assert server.status is ServerStatus.FAILED
    assert server.error is not None and server.error.endswith(error)
    assert "DRS reported the launch as FAILED" not in server.error  # the reason, not a shrug

    lines = [line for m in sandbox.public(channel) for line in m["text"].splitlines()]
    assert any(server_id in line and error in line for line in lines), event

    (wave,) = to_history(execution)["Waves"]
    (stored,) = [s for s in wave["Servers"] if s["SourceServerId"] == server_id]
    assert stored["Status"] == "FAILED" and stored["Error"] == server.error
