"""The report bucket as the services see it: both files per execution, and an outage on demand."""

from __future__ import annotations

from bot.services.report import ReportUnavailable


class FakeReportStore:
    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}  # execution id -> the HTML page
        self.versions: dict[str, int] = {}
        self.refusing: str | None = None  # S3's answer while it refuses every call
        self.links = 0

    def _check(self) -> None:
        if self.refusing:
            raise ReportUnavailable(self.refusing)

    def written_version(self, plan: str, execution_id: str) -> int | None:
        self._check()
        return self.versions.get(execution_id)

    def put(self, plan: str, execution_id: str, version: int, json_body: bytes, html_body: bytes) -> None:
        self._check()
        self.pages[execution_id] = html_body
        self.versions[execution_id] = version

    def link(self, plan: str, execution_id: str, seconds: int) -> str:
        self._check()
        self.links += 1
        return f"https://reports.example/{plan}/{execution_id}.html?X-Amz-Expires={seconds}&n={self.links}"
