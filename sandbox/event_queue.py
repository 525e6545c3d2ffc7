"""What the stack's EventBridge rule, SQS queue and event source mapping do with DRS events on AWS.

Events wait in a queue; the poller hands them to the function in SQS's event shape, in batches of up to
`batch_size`, waiting at most `window` seconds after the first event for a batch to fill, and invokes
synchronously, one batch at a time (the stack allows two at a time: `MaximumConcurrency`). Events left
in the queue when it stops are dropped, as SQS drops them after their retention period.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class EventQueue:
    def __init__(
        self,
        invoke: Callable[[dict[str, Any]], None],
        *,
        window: float,
        batch_size: int,
        queue_arn: str,
    ) -> None:
        self._invoke = invoke
        self._window = window
        self._batch_size = batch_size
        self._queue_arn = queue_arn
        self._events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._stopping = False
        self._in_flight = 0
        self._thread = threading.Thread(target=self._poll, name="sandbox-sqs-poller", daemon=True)
        self.batches: list[int] = []  # the size of each batch handed to the function

    def start(self) -> EventQueue:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join(timeout=10)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every event put so far has been handed to the function and the function answered."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._events and not self._in_flight, timeout)

    def put(self, event: dict[str, Any]) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    def _poll(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._events or self._stopping)
                if self._stopping:
                    return
                deadline = time.monotonic() + self._window
                while len(self._events) < self._batch_size and not self._stopping:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                if self._stopping:
                    return
                batch, self._events = self._events[: self._batch_size], self._events[self._batch_size :]
                self._in_flight += 1
            self.batches.append(len(batch))
            try:
                self._invoke({"Records": [self._record(event) for event in batch]})
            except Exception:  # the mapping would retry; early ticks are not worth it (as deployed)
                log.exception("the DRS events function failed on a batch of %d", len(batch))
            finally:
                with self._changed:
                    self._in_flight -= 1
                    self._changed.notify_all()

    def _record(self, event: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(event)
        now = str(int(time.time() * 1000))
        return {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": uuid.uuid4().hex,
            "body": body,
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": now,
                "SenderId": "AIDAEVENTBRIDGE",
                "ApproximateFirstReceiveTimestamp": now,
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._queue_arn.split(":")[3],
        }
