"""When an EventBridge Scheduler schedule is next due: what the sandbox's local scheduler fires by.

Pure: the expression, its time zone and an instant in, the next due instant (UTC) out. Expressions are
the ones `plans validate` accepts (bot/domain/schedule.py); `cron` is read in the schedule's time zone
as Scheduler does, `rate` counts whole intervals from the schedule's start
(the sandbox: when its scheduler first saw it). `W` (nearest weekday) is
not rehearsed: such a schedule is refused here rather than fired at a guessed time.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # cron's 1-7
_HORIZON_DAYS = 366 * 5


def next_due(expression: str, timezone: str, after: datetime, start: datetime) -> datetime | None:
    """The first time strictly after `after` that the schedule is due; None if never (a past year)."""
    rate = _RATE.match(expression)
    if rate:
        interval = timedelta(seconds=int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")])
        # The first is one interval after the start: a `rate(30 days)` drill does not start at `plans apply`.
        return start + interval * max(1, (after - start) // interval + 1)
    cron = _CRON.match(expression)
    if not cron:
        raise ValueError(f"not a recurring schedule expression: {expression!r}")
    return _next_cron(cron.group(1).split(), ZoneInfo(timezone), after)


def _next_cron(fields: list[str], zone: ZoneInfo, after: datetime) -> datetime | None:
    minutes_f, hours_f, dom_f, month_f, dow_f, year_f = fields
    minutes = _values(minutes_f, 0, 59)
    hours = _values(hours_f, 0, 23)
    months = _values(month_f, 1, 12, _MONTHS)
    years = None if year_f == "*" else _values(year_f, 1970, 2199)
    local = after.astimezone(zone)
    day = local.date()
    for _ in range(_HORIZON_DAYS):
        if (years is None or day.year in years) and day.month in months and _day_matches(dom_f, dow_f, day):
            for hour in sorted(hours):
                for minute in sorted(minutes):
                    due = datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
                    if due > after:
                        return due
        day += timedelta(days=1)
    return None


def _day_matches(dom_f: str, dow_f: str, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    if dow_f == "?":
        if dom_f == "L":
            return day.day == last
        if dom_f.upper().endswith("W"):
            raise ValueError("W (nearest weekday) is not rehearsed in the sandbox")
        return day.day in _values(dom_f, 1, 31)
    weekday = (day.isoweekday() % 7) + 1  # cron: SUN=1 … SAT=7
    if "#" in dow_f:
        name, _, nth = dow_f.partition("#")
        return weekday == _value(name, 1, 7, _DAYS) and (day.day - 1) // 7 + 1 == int(nth)
    if dow_f.upper().endswith("L") and dow_f != "L":
        return weekday == _value(dow_f[:-1], 1, 7, _DAYS) and day.day + 7 > last
    if dow_f == "L":
        return weekday == 7
    return weekday in _values(dow_f, 1, 7, _DAYS)


def _value(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> int:
    if text.upper() in names:
        return names.index(text.upper()) + 1
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{text!r} is not {low}-{high}")
    return number


def _values(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    found: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            a, _, b = span.partition("-")
            first, last = _value(a, low, high, names), _value(b, low, high, names)
        else:
            first = _value(span, low, high, names)
            last = high if step else first
        found.update(range(first, last + 1, int(step) if step else 1))
    return found
