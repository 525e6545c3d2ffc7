"""The execution keys on log lines: scoped, nested (a click that ticks), per thread, gone on errors."""

from __future__ import annotations

import threading

import pytest

from bot.adapters.telemetry import PowertoolsLogKeys, clear_log_keys
from handlers.observability import logger


def current() -> dict[str, object]:
    return dict(logger.thread_safe_get_current_keys())


def test_a_nested_scope_gives_the_outer_keys_back() -> None:
    keys = PowertoolsLogKeys()
    clear_log_keys()
    with keys.scope():
        keys.add(execution_id="e-1", plan="plan-x")
        with keys.scope():  # the tick an approval runs
            keys.add(execution_id="e-1", plan="plan-x", execution_type="RECOVERY")
            assert current()["execution_type"] == "RECOVERY"
        assert current() == {"execution_id": "e-1", "plan": "plan-x"}
    assert current() == {}


def test_a_scope_that_raises_leaves_no_keys() -> None:
    keys = PowertoolsLogKeys()
    clear_log_keys()
    with pytest.raises(RuntimeError), keys.scope():
        keys.add(execution_id="e-2")
        raise RuntimeError("tick failed")
    assert current() == {}


def test_keys_belong_to_the_thread_that_added_them() -> None:
    keys = PowertoolsLogKeys()
    clear_log_keys()
    seen: list[dict[str, object]] = []
    with keys.scope():
        keys.add(execution_id="e-3")
        other = threading.Thread(target=lambda: seen.append(current()))
        other.start()
        other.join()
    assert seen == [{}]  # another invocation on another thread (the sandbox's lazy listeners)
