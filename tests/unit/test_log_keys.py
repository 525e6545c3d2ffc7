"""The execution keys on log lines: scoped, nested (a click that ticks), per thread, gone on errors."""

from __future__ import annotations

import io
import json
import logging
import threading

import pytest

from bot.adapters.telemetry import PowertoolsLogKeys
from handlers.invocation import invocation_keys
from handlers.observability import logger
from sandbox.lambda_fake import make_context


def current() -> dict[str, object]:
    return dict(logger.thread_safe_get_current_keys())


def test_a_nested_scope_gives_the_outer_keys_back() -> None:
    keys = PowertoolsLogKeys()
    logger.thread_safe_clear_keys()
    with keys.scope():
        keys.add(execution_id="e-1", plan="plan-x")
        with keys.scope():  # the tick an approval runs
            keys.add(execution_id="e-1", plan="plan-x", execution_type="RECOVERY")
            assert current()["execution_type"] == "RECOVERY"
        assert current() == {"execution_id": "e-1", "plan": "plan-x"}
    assert current() == {}


def test_a_scope_that_raises_leaves_no_keys() -> None:
    keys = PowertoolsLogKeys()
    logger.thread_safe_clear_keys()
    with pytest.raises(RuntimeError), keys.scope():
        keys.add(execution_id="e-2")
        raise RuntimeError("tick failed")
    assert current() == {}


def test_keys_belong_to_the_thread_that_added_them() -> None:
    keys = PowertoolsLogKeys()
    logger.thread_safe_clear_keys()
    seen: list[dict[str, object]] = []
    with keys.scope():
        keys.add(execution_id="e-3")
        other = threading.Thread(target=lambda: seen.append(current()))
        other.start()
        other.join()
    assert seen == [{}]  # another invocation on another thread (the sandbox's lazy listeners)


def test_two_functions_invoked_at_once_in_one_process_each_log_their_own_context() -> None:
    # The sandbox runs the Slack function and the executor on threads of one process; on Lambda each has
    # its own. A line names the invocation that logged it, not the one that started last.
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(logger.registered_formatter)
    logging.getLogger(logger.name).addHandler(capture)
    started = threading.Barrier(2)

    def invoke(function: str) -> None:
        with invocation_keys(logger, make_context(function)):
            started.wait(timeout=10)  # both have begun before either logs
            logger.warning("ticking", extra={"invoked": function})

    try:
        threads = [threading.Thread(target=invoke, args=(name,)) for name in ("slack-fn", "executor-fn")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        logging.getLogger(logger.name).removeHandler(capture)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted((line["invoked"], line["function_name"]) for line in lines) == [
        ("executor-fn", "executor-fn"),
        ("slack-fn", "slack-fn"),
    ]
    assert len({line["function_request_id"] for line in lines}) == 2
    assert current() == {}  # this thread's keys: neither invocation's
