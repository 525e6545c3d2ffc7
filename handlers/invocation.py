"""An invocation's own Lambda context on its log lines, on the thread that runs it.

Powertools' `inject_lambda_context` keeps function_name and function_request_id on the Logger's
formatter, which every thread of the process shares. On Lambda an environment runs one invocation at a
time, but the sandbox (and `make demo`) runs the three functions and their concurrent invocations on
threads of one process, where a line took the name of whichever function had started last. Thread-safe
keys live in a context variable, one per thread, and win over the formatter's. Light: the ack imports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model


@contextmanager
def invocation_keys(logger: Logger, context: Any) -> Iterator[None]:
    """This invocation's context on every line it logs; nothing left from a warm environment's previous
    invocation, and nothing left behind for the thread's next one."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**vars(build_lambda_context_model(context)))
    try:
        yield
    finally:
        logger.thread_safe_clear_keys()
