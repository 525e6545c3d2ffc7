"""Faults injected on demand, consumed one per matching call, in the order they were added."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS = ("ratelimited", "server_error", "timeout", "not_in_channel", "refused", "slow", "ambiguous")
ANY_METHOD = "*"
RESPONSE_URL = "response_url"  # the method name faults use for response_url POSTs
FILE_UPLOAD = "file_upload"  # the method name faults use for POSTs to a files.getUploadURLExternal URL


@dataclass
class Fault:
    """One kind of failure for `remaining` more calls of `method` (a Web API method name,
    "response_url", or "*").

    - ratelimited: HTTP 429 + Retry-After; nothing happens.
    - server_error: HTTP `status` (500 unless set); nothing happens.
    - timeout: the request is held `delay` seconds, then the connection closes unanswered;
      nothing happens.
    - not_in_channel: HTTP 200 `{"ok": false, "error": "not_in_channel"}`.
    - refused: HTTP 200 `{"ok": false, "error": <error>}` (is_archived, invalid_auth, account_inactive…).
    - slow: a Web API call is carried out (and recorded) at once and answered `delay` seconds late;
      a response_url POST is held `delay` seconds first.
    - ambiguous: the call IS carried out (the message is recorded), then the answer is lost:
      HTTP `status` (500 unless set), or a dropped connection when `drop` is true.
    """

    method: str
    kind: str
    remaining: int = 1
    retry_after: int = 1
    status: int | None = None
    drop: bool = False
    delay: float = 2.0
    error: str = "not_in_channel"  # the error code of a "refused" fault

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.remaining < 1:
            raise ValueError("count must be at least 1")
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status")

    def http_status(self) -> int:
        return self.status or 500


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str) -> Fault | None:
        """Use up one call of the first fault that matches `method`."""
        with self._lock:
            for fault in self._faults:
                if fault.method in (method, ANY_METHOD):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]
