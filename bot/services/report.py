"""Execution reports: built from the stored execution, kept in the report store, linked on request.

A report is written by the tick that finds its execution ended, after that tick's save, and again
whenever the stored execution changes after its end (a drill's cleanup, a later retry): the store
remembers which version of the execution each report was made from. A failed write loses nothing: the
execution has ended either way, and its ticks go on until the report is written.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain import report as report_domain
from bot.domain import report_html
from bot.domain.execution import Execution
from bot.domain.timeline import timeline
from bot.errors import BotError
from bot.services.ports import Clock

logger = logging.getLogger(__name__)

LINK_SECONDS = 3600  # a presigned link lives an hour: long enough to open, short for a leaked one


class ReportUnavailable(BotError):
    """The report store could not be read or written (S3 down, refused): tried again later."""


class ReportStore(Protocol):
    def written_version(self, plan: str, execution_id: str) -> int | None:
        """The execution version of the stored report; None when there is none."""
        ...

    def put(self, plan: str, execution_id: str, version: int, json_body: bytes, html_body: bytes) -> None:
        """Store both files; the JSON last, since it carries the version that says the pair is complete."""
        ...

    def link(self, plan: str, execution_id: str, seconds: int) -> str:
        """A short-lived URL to the HTML page."""
        ...


@dataclass(frozen=True)
class Files:
    report: report_domain.Report
    json_body: bytes
    html_body: bytes


@dataclass(frozen=True)
class Linked:
    report: report_domain.Report
    url: str


def files(execution: Execution, now: datetime) -> Files:
    """The report's two files, as written to S3 and by `drs-bot report`."""
    built = report_domain.build(execution, now)
    body = json.dumps(built.json_document(), indent=2, ensure_ascii=False).encode()
    page = report_html.render(built, timeline(execution, now))
    return Files(report=built, json_body=body + b"\n", html_body=page.encode())


class Reports:
    def __init__(self, reports: ReportStore, clock: Clock) -> None:
        self._reports = reports
        self._clock = clock

    def keep_up(self, execution: Execution) -> bool:
        """Write the report of an ended execution unless the stored one is of this version.

        True when the stored report is current; False when it could not be written (the caller ticks
        again)."""
        if not execution.status.is_terminal:
            return True
        try:
            if (
                self._reports.written_version(execution.plan_name, execution.execution_id)
                == execution.version
            ):
                return True
            self._write(execution)
        except ReportUnavailable as error:
            logger.warning(
                "report of %s not written, tried again next tick: %s", execution.execution_id, error
            )
            return False
        return True

    def link(self, execution: Execution) -> Linked:
        """The report, written now if the stored one is older, and a fresh link to its HTML page."""
        built = self._write(execution) if self._stale(execution) else None
        if built is None:
            built = report_domain.build(execution, self._clock())
        url = self._reports.link(execution.plan_name, execution.execution_id, LINK_SECONDS)
        return Linked(report=built, url=url)

    def _stale(self, execution: Execution) -> bool:
        return self._reports.written_version(execution.plan_name, execution.execution_id) != execution.version

    def _write(self, execution: Execution) -> report_domain.Report:
        made = files(execution, self._clock())
        self._reports.put(
            execution.plan_name, execution.execution_id, execution.version, made.json_body, made.html_body
        )
        logger.info("report of %s written (%s)", execution.execution_id, made.report.judgement.verdict.value)
        return made.report
