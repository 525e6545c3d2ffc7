"""`/drs history <plan>` shows each execution's RTO and the trend, so a team sees drills get faster."""

from __future__ import annotations

import time

from bot.domain.execution import Execution, summarize
from bot.domain.trend import rto_seconds
from bot.slack.layout import duration
from tests.e2e.conftest import Sandbox


def drill(sandbox: Sandbox, channel: str, previous: Execution | None = None) -> Execution:
    sandbox.command("execute plan-x drill", channel=channel)
    deadline = time.monotonic() + 60
    while (done := sandbox.finished_execution(channel)) == previous or (
        previous is not None and done.execution_id == previous.execution_id
    ):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return done


def test_history_of_a_plan_shows_each_rto_and_the_trend_of_its_drills(sandbox: Sandbox) -> None:
    channel = sandbox.new_channel()
    first = drill(sandbox, channel)
    second = drill(sandbox, channel, first)
    rtos = [rto_seconds(summarize(sandbox.stored(e.execution_id))) for e in (first, second)]
    assert all(rto is not None and rto > 0 for rto in rtos)
    # From the request to the last launch, as the stored servers say.
    last = max(s.launch_time for s in sandbox.stored(second.execution_id).servers() if s.launch_time)
    assert rtos[1] == (last - second.created_at).total_seconds()

    sandbox.command("history plan-x", channel=channel)
    sandbox.settle()
    listing = sandbox.ephemeral(channel)[-1]
    lines = listing.splitlines()
    for execution, rto in zip((first, second), rtos, strict=True):
        (line,) = [line for line in lines if execution.execution_id in line]
        assert rto is not None and f"· RTO {duration(rto)} ·" in line
    (trend,) = [line for line in lines if "RTO of drills" in line]  # recoveries of plan-x have their own
    assert trend.startswith(":chart_with_")
    assert rtos[1] is not None and f"→ {duration(rtos[1])} · newest" in trend  # the newest comes last
