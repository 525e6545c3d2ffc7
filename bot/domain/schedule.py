"""Schedule expressions as EventBridge Scheduler reads them: checked when a plans file is validated,
so that `plans apply` never creates a schedule Scheduler refuses.

Scheduler's rules (its user guide, "Schedule types"): `rate(value unit)` with a positive whole value and
minute(s), hour(s) or day(s) (singular for 1); `cron(minutes hours day-of-month month day-of-week year)`,
six fields, where exactly one of day-of-month and day-of-week is `?`. The time zone is an IANA name.
One-time `at(...)` schedules exist but a drill cadence is recurring, so they are refused here.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta
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


# How far ahead next_start looks for a cron date: Scheduler's years end at 2199, and a valid expression
# such as cron(0 9 29 2 ? *) may wait years for its day.
_LOOKAHEAD_DAYS = 8 * 366


def next_start(expression: str, timezone: str, after: datetime) -> datetime | None:
    """When a cron(...) schedule next fires strictly after `after` (UTC), or None: a rate(...) counts from
    when Scheduler created the schedule, which the catalog does not know, and a cron may never fire
    again (its years are past). A local time that a daylight-saving change skips is taken as if the
    clocks had not changed (zoneinfo's reading)."""
    cron = _CRON.match(expression)
    if not cron:
        return None
    _check_cron(cron.group(1))
    minutes, hours, dom, month, dow, year = cron.group(1).split()
    zone = ZoneInfo(timezone)
    minute_set = _values(minutes, 0, 59)
    hour_set = _values(hours, 0, 23)
    month_set = _values(month, 1, 12, _MONTHS)
    year_set = _values(year, 1970, 2199)
    local = after.astimezone(zone)
    day = local.date()
    for _ in range(_LOOKAHEAD_DAYS):
        if day.year in year_set and day.month in month_set and _day_matches(day, dom, dow):
            for hour in sorted(hour_set):
                for minute in sorted(minute_set):
                    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)
                    if moment > after:
                        return moment
        day += timedelta(days=1)
    return None


def _values(text: str, low: int, high: int, names: tuple[str, ...] = ()) -> set[int]:
    def value(part: str) -> int:
        upper = part.upper()
        return names.index(upper) + 1 if upper in names else int(part)

    found: set[int] = set()
    for part in text.split(","):
        start, slash, step = part.partition("/")
        first, dash, last = start.partition("-")
        begin = low if start == "*" else value(first)
        end = value(last) if dash else (high if slash or start == "*" else begin)
        found.update(range(begin, end + 1, int(step) if slash else 1))
    return found


def _weekday(day: date) -> int:
    """Scheduler's day-of-week: 1 is Sunday, 7 Saturday."""
    return (day.weekday() + 1) % 7 + 1


def _last_of_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _day_matches(day: date, dom: str, dow: str) -> bool:
    if dom != "?":
        if dom == "*":
            return True
        if dom == "L":
            return day.day == _last_of_month(day)
        if dom.upper().endswith("W"):
            return day == _nearest_weekday(day, int(dom[:-1]))
        return day.day in _values(dom, 1, 31)
    text = dow.upper()
    if text == "*":
        return True
    if text == "L":
        return _weekday(day) == 7
    if text.endswith("L"):
        wanted = _values(text[:-1], 1, 7, _DAYS)
        return _weekday(day) in wanted and day.day + 7 > _last_of_month(day)
    if "#" in text:
        name, _, nth = text.partition("#")
        return _weekday(day) in _values(name, 1, 7, _DAYS) and (day.day - 1) // 7 + 1 == int(nth)
    return _weekday(day) in _values(text, 1, 7, _DAYS)


def _nearest_weekday(day: date, wanted: int) -> date | None:
    """`15W`: the weekday nearest the 15th, within its month."""
    last = _last_of_month(day)
    if wanted > last:
        return None
    target = day.replace(day=wanted)
    if target.weekday() == 5:  # Saturday: the Friday before, or Monday after when the 1st
        target = target - timedelta(days=1) if wanted > 1 else target + timedelta(days=2)
    elif target.weekday() == 6:  # Sunday: the Monday after, or Friday before when the month's last
        target = target + timedelta(days=1) if wanted < last else target - timedelta(days=2)
    return target
