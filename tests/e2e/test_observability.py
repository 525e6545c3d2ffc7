"""What an operator reads in CloudWatch: JSON log lines keyed by execution, and EMF metrics to alarm on.

The lines are the functions' own (Powertools' JSON formatter, shared with the services' stdlib loggers);
the metrics are the EMF documents the functions print to stdout, as Lambda ships them to CloudWatch.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.execution import ExecutionStatus
from bot.slack.ids import APPROVE_ACTION
from sandbox.lambda_fake import make_context
from sandbox.stack import EVENTS_FUNCTION, EXECUTOR_FUNCTION, SLACK_FUNCTION
from tests.e2e.conftest import APPROVER, FAILING_SERVER, Sandbox


class Lines:
    """Every JSON line the functions' loggers (Powertools' and bot.*) print while the test runs."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]


@pytest.fixture
def lines(sandbox: Sandbox) -> Iterator[Lines]:
    from handlers.observability import logger

    captured = Lines()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(logger.registered_formatter)  # the formatter the functions print with
    bot = logging.getLogger("bot")
    level = bot.level
    bot.setLevel(logging.INFO)
    functions = logging.getLogger(logger.name)  # the stdlib logger under the functions' Powertools Logger
    bot.addHandler(handler)
    functions.addHandler(handler)
    try:
        yield captured
    finally:
        bot.removeHandler(handler)
        functions.removeHandler(handler)
        bot.setLevel(level)


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[Metrics]:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")  # the sandbox turns them off for the demo
    yield Metrics(capsys)


class Metrics:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def documents(self) -> list[dict[str, Any]]:
        out = self.capsys.readouterr().out
        found = []
        for line in out.splitlines():
            if line.startswith("{") and '"_aws"' in line:
                found.append(json.loads(line))
        return found


def values(documents: list[dict[str, Any]], name: str, **dimensions: str) -> list[float]:
    """The values of metric `name` in documents whose dimensions include `dimensions`."""
    found: list[float] = []
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "DrsChatops"
        if name not in {metric["Name"] for metric in directive["Metrics"]}:
            continue
        if all(document.get(key) == value for key, value in dimensions.items()):
            assert set(dimensions) <= set(directive["Dimensions"][0])
            assert document["service"] == "drs-chatops"
            value = document[name]
            found += value if isinstance(value, list) else [value]
    return found


def test_a_drill_with_a_failing_server_is_followed_by_its_keys_and_counted(
    sandbox: Sandbox, lines: Lines, metrics: Metrics
) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-flaky drill", channel=channel)
    execution = sandbox.finished_execution(channel)
    assert execution.status is ExecutionStatus.PARTIAL
    assert any(s.source_server_id == FAILING_SERVER and s.error for s in execution.servers())

    # Both functions tick: the loop's executor, and the events function on DRS's launch results.
    ticking = [
        line
        for line in lines.all()
        if line.get("function_name") in (EXECUTOR_FUNCTION, EVENTS_FUNCTION)
        and line.get("execution_id") == execution.execution_id
    ]
    # Lines logged deep in bot.services while ticking carry the execution, its plan and type.
    saved = [line for line in ticking if str(line["message"]).startswith("tick saved")]
    assert saved and all(line["name"] == "bot.services.ticking" for line in saved)
    assert any("wave_finished" in line["message"] for line in saved)
    for line in saved:
        assert (line["plan"], line["execution_type"]) == ("plan-flaky", "DRILL")
        assert line["function_request_id"] and line["level"] == "INFO"

    documents = metrics.documents()
    wave = execution.waves[0]
    assert wave.start_time and wave.end_time
    (duration,) = values(documents, "WaveDuration", ExecutionType="DRILL")
    assert duration == pytest.approx((wave.end_time - wave.start_time).total_seconds(), abs=1)
    assert values(documents, "ExecutionsStarted", ExecutionType="DRILL") == [1]
    assert values(documents, "ExecutionsEnded", ExecutionType="DRILL", Status="PARTIAL") == [1]
    assert sum(values(documents, "Ticks")) >= 2  # flushed by each invocation's log_metrics


def test_a_throttled_drs_is_counted_by_error_code_and_logged_with_the_execution(
    sandbox: Sandbox, lines: Lines, metrics: Metrics
) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x drill", channel=channel)
    store = sandbox.stack.container.store  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while store.latest_in_channel(channel) is None:  # started: the readiness check is behind it
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Thirty throttled DescribeJobs in a row: the tick's calls fail once boto3's standard retries (six
    # attempts each, with backoff) are used up; once they are spent, DRS answers again.
    sandbox.stack.drs.inject_fault("DescribeJobs", "ThrottlingException", count=30)
    # (The retries' real seconds are emulated hours at the sandbox's 600x clock: a wave may time out.)
    execution = sandbox.finished_execution(channel, timeout=180)
    # A tick goes on where DRS answers; here nothing did, so the waves may have timed out waiting for it
    # (never started) before every fault was used: what is left is used up here, not by the next test
    # (clear_faults would also clear the sandbox config's own launch failures, which other tests need).
    for _ in range(30):
        if not sandbox.stack.drs.faults:
            break
        sandbox.stack.drs.handle("DescribeJobs", "us-east-1", {})
    assert sandbox.stack.drs.faults == []

    throttled = values(metrics.documents(), "DrsErrors", ErrorCode="ThrottlingException")
    assert throttled and set(throttled) == {1}  # one per call that gave up (30 faults: at most 5)
    assert len(throttled) <= 5
    warnings = [
        line
        for line in lines.all()
        if any(said in str(line["message"]) for said in ("no start there", "not followed this tick"))
        and line.get("execution_id") == execution.execution_id
    ]
    assert warnings
    for warning in warnings:
        assert warning["level"] == "WARNING"
        assert warning["function_name"] in (EXECUTOR_FUNCTION, EVENTS_FUNCTION)
        assert (warning["plan"], warning["execution_type"]) == ("plan-x", "DRILL")


def test_keys_do_not_leak_into_the_next_invocation_of_a_warm_function(
    sandbox: Sandbox, lines: Lines, metrics: Metrics
) -> None:
    from handlers import executor, observability

    channel = sandbox.new_channel()
    sandbox.command("execute plan-x drill", channel=channel)
    execution = sandbox.finished_execution(channel)

    # Two invocations of the same warm function on one thread: a known execution, then an unknown one.
    executor.handler({"execution_id": execution.execution_id}, make_context(EXECUTOR_FUNCTION))
    executor.handler({"execution_id": "no-such-execution"}, make_context(EXECUTOR_FUNCTION))

    (unknown,) = [line for line in lines.all() if "tick for unknown execution" in str(line["message"])]
    assert unknown["execution_id"] == "no-such-execution"
    assert "plan" not in unknown and "execution_type" not in unknown
    assert observability.logger.thread_safe_get_current_keys() == {}  # nothing left once a tick returns
    assert sum(values(metrics.documents(), "Ticks")) >= 2


def test_a_failed_thread_post_is_counted_by_slacks_error_code_and_still_delivered_once(
    sandbox: Sandbox, lines: Lines, metrics: Metrics
) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x drill", channel=channel)
    store = sandbox.stack.container.store  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while store.latest_in_channel(channel) is None:  # started: its anchor is posted
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sandbox.stack.slack.inject_fault("chat.postMessage", "refused", error="internal_error")
    execution = sandbox.finished_execution(channel)

    documents = metrics.documents()
    assert values(documents, "SlackPostFailures", ErrorCode="internal_error") == [1]
    totals = [d for d in documents if "SlackPostFailures" in d and "ErrorCode" not in d]
    assert [d["SlackPostFailures"] for d in totals] == [[1.0]]  # the total, which the alarm watches
    (later,) = [line for line in lines.all() if "will be delivered later" in str(line["message"])]
    assert (later["execution_id"], later["plan"]) == (execution.execution_id, "plan-x")
    texts = [m["text"] for m in sandbox.public(channel)]
    assert len(texts) == len(set(texts))  # the refused one came later, and only once
    assert any("Drill of plan-x COMPLETED" in text for text in texts)


def test_a_tick_that_raises_is_counted_and_still_flushed(sandbox: Sandbox, metrics: Metrics) -> None:
    from handlers import executor

    with pytest.raises(KeyError):  # the loop's input lost its execution_id: Step Functions sees the error
        executor.handler({}, make_context(EXECUTOR_FUNCTION))
    documents = metrics.documents()
    assert [1.0] in [d.get("TickErrors") for d in documents]  # flushed by log_metrics on the way out


def test_an_approval_click_logs_the_recovery_it_starts_with_its_keys(
    sandbox: Sandbox, lines: Lines, metrics: Metrics
) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x recovery", channel=channel, user="U0REQUESTER")
    sandbox.settle()
    (card,) = [m for m in sandbox.public(channel) if not m["thread_ts"]]
    pending = sandbox.stack.container.store.latest_in_channel(channel)  # type: ignore[union-attr]
    assert pending is not None
    sandbox.click(channel, card["ts"], APPROVE_ACTION, pending.execution_id, user=APPROVER)
    execution = sandbox.finished_execution(channel)
    assert execution.status is ExecutionStatus.COMPLETED

    # The click's lazy listener ticks at once (the first wave starts without waiting for the loop): the
    # services' lines it logs in the Slack function carry the recovery's keys.
    clicked = [
        line
        for line in lines.all()
        if line.get("function_name") == SLACK_FUNCTION and str(line.get("name")).startswith("bot.")
    ]
    assert clicked
    for line in clicked:
        assert (line["execution_id"], line["plan"], line["execution_type"]) == (
            execution.execution_id,
            "plan-x",
            "RECOVERY",
        )
    documents = metrics.documents()
    assert values(documents, "ExecutionsEnded", ExecutionType="RECOVERY", Status="COMPLETED") == [1]
    assert len(values(documents, "WaveDuration", ExecutionType="RECOVERY")) == 2
