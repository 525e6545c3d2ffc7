"""When an EventBridge Scheduler schedule is next due: what the sandbox's local scheduler fires by.

Pure: the expression, its time zone and an instant in, the next due instant (UTC) out. A `cron` is the
domain's reading (`bot.domain.schedule.next_start`, the one the Home tab shows), so the sandbox fires a
schedule exactly when the bot says it will. A `rate` counts whole intervals from the schedule's start,
which only Scheduler knows (the sandbox: when its scheduler first saw it), so that part lives here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.domain.schedule import next_start

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def next_due(expression: str, timezone: str, after: datetime, start: datetime) -> datetime | None:
    """The first time strictly after `after` that the schedule is due; None if never (a past year)."""
    rate = _RATE.match(expression)
    if rate:
        interval = timedelta(seconds=int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")])
        # The first is one interval after the start: a `rate(30 days)` drill does not start at `plans apply`.
        return start + interval * max(1, (after - start) // interval + 1)
    if not expression.startswith("cron("):
        raise ValueError(f"not a recurring schedule expression: {expression!r}")
    return next_start(expression, timezone, after)
