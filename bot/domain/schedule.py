"""Schedule expressions as EventBridge Scheduler reads them: checked when a plans file is validated,
so that `plans apply` never creates a schedule Scheduler refuses.

Scheduler's rules (its user guide, "Schedule types"): `rate(value unit)` with a positive whole value and
minute(s), hour(s) or day(s) (singular for 1); `cron(minutes hours day-of-month month day-of-week year)`,
six fields, where exactly one of day-of-month and day-of-week is `?`. The time zone is an IANA name.
One-time `at(...)` schedules exist but a drill cadence is recurring, so they are refused here.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_RATE = re.compile(r"^rate\((\d+) ([a-z]+)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNITS = {"minute", "minutes", "hour", "hours", "day", "days"}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")


class ScheduleError(ValueError):
    """What Scheduler would refuse, and why, in the words of its documentation."""


def check_expression(expression: str) -> None:
    rate = _RATE.match(expression)
    if rate:
        _check_rate(int(rate.group(1)), rate.group(2))
        return
    cron = _CRON.match(expression)
    if cron:
        _check_cron(cron.group(1))
        return
    if expression.startswith("at("):
        raise ScheduleError("at(...) runs once; a drill schedule recurs: use cron(...) or rate(...)")
    raise ScheduleError(
        f"{expression!r} is not a schedule expression: use cron(minutes hours day-of-month month "
        "day-of-week year), like cron(0 9 ? * MON#1 *), or rate(value unit), like rate(30 days)"
    )


def check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{name!r} is not an IANA time zone (like UTC or Europe/Paris)") from None


def _check_rate(value: int, unit: str) -> None:
    if unit not in _UNITS:
        raise ScheduleError(f"rate: {unit!r} is not a unit (minute(s), hour(s) or day(s))")
    if value < 1:
        raise ScheduleError("rate: the value must be a whole number of 1 or more")
    if (value == 1) != (not unit.endswith("s")):
        raise ScheduleError(f"rate: write {value} {unit.rstrip('s') if value == 1 else unit + 's'}")


def _check_cron(body: str) -> None:
    fields = body.split()
    if len(fields) != len(_FIELDS):
        raise ScheduleError(
            f"cron: {len(fields)} fields given; Scheduler's cron has 6: minutes hours day-of-month "
            "month day-of-week year"
        )
    minutes, hours, dom, month, dow, year = fields
    _check_field("minutes", minutes, 0, 59)
    _check_field("hours", hours, 0, 23)
    _check_field("day-of-month", dom, 1, 31, special="?LW")
    _check_field("month", month, 1, 12, names=_MONTHS)
    _check_field("day-of-week", dow, 1, 7, names=_DAYS, special="?L#")
    _check_field("year", year, 1970, 2199)
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(
            "cron: exactly one of day-of-month and day-of-week must be ? (you cannot give both)"
        )


def _check_field(
    name: str, text: str, low: int, high: int, *, names: tuple[str, ...] = (), special: str = ""
) -> None:
    def value(part: str) -> int:
        upper = part.upper()
        if upper in names:
            return names.index(upper) + 1
        if not part.isdigit() or not low <= int(part) <= high:
            allowed = f"{low}-{high}" + (f" or {names[0]}-{names[-1]}" if names else "")
            raise ScheduleError(f"cron: {name} {text!r}: {part!r} is not {allowed}")
        return int(part)

    if text == "*":
        return
    if text == "?":
        if "?" not in special:
            raise ScheduleError(f"cron: {name} cannot be ? (only day-of-month or day-of-week)")
        return
    if "L" in special and (text == "L" or (name == "day-of-week" and text.upper().endswith("L"))):
        if text != "L":
            value(text[:-1])
        return
    if "W" in special and text.upper().endswith("W"):
        value(text[:-1])
        return
    if "#" in special and "#" in text:
        day, _, nth = text.partition("#")
        value(day)
        if nth not in {"1", "2", "3", "4", "5"}:
            raise ScheduleError(f"cron: {name} {text!r}: the week after # is 1 to 5")
        return
    for part in text.split(","):
        start, slash, step = part.partition("/")
        if slash and (not step.isdigit() or int(step) < 1):
            raise ScheduleError(f"cron: {name} {text!r}: the step after / is a whole number of 1 or more")
        if start == "*":
            continue
        first, dash, last = start.partition("-")
        value(first)
        if dash:
            value(last)
