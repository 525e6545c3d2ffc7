"""When a plan's scheduled drill next starts, as EventBridge Scheduler reads its cron in its time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.schedule import next_start

AFTER = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [
        # The first Monday of December 2026 is the 7th; Paris is UTC+1 in winter.
        ("cron(0 9 ? * MON#1 *)", "Europe/Paris", AFTER, datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        # ... and UTC+2 in summer.
        (
            "cron(0 9 ? * MON#1 *)",
            "Europe/Paris",
            datetime(2027, 6, 30, tzinfo=UTC),
            datetime(2027, 7, 5, 7, 0, tzinfo=UTC),
        ),
        # Strictly after: the same minute is not "next".
        ("cron(0 12 * * ? *)", "UTC", AFTER, datetime(2026, 12, 1, 12, 0, tzinfo=UTC)),
        ("cron(*/15 * * * ? *)", "UTC", AFTER, datetime(2026, 11, 30, 12, 15, tzinfo=UTC)),
        (
            "cron(0 6 L * ? *)",
            "UTC",
            AFTER,
            datetime(2026, 11, 30, 6, 0, tzinfo=UTC).replace(month=12, day=31),
        ),
        # The last Friday (6L) of the month; 15W: the weekday nearest the 15th (Sat 15 May 2027 -> Fri 14th).
        ("cron(0 18 ? * 6L *)", "UTC", AFTER, datetime(2026, 12, 25, 18, 0, tzinfo=UTC)),
        ("cron(0 8 15W 5 ? *)", "UTC", AFTER, datetime(2027, 5, 14, 8, 0, tzinfo=UTC)),
        ("cron(0 8 1 JAN-MAR ? 2027)", "America/New_York", AFTER, datetime(2027, 1, 1, 13, 0, tzinfo=UTC)),
        ("cron(0 9 ? * SAT,SUN *)", "UTC", AFTER, datetime(2026, 12, 5, 9, 0, tzinfo=UTC)),
    ],
)
def test_the_next_start_of_a_cron(
    expression: str, timezone: str, after: datetime, expected: datetime
) -> None:
    assert next_start(expression, timezone, after) == expected


def test_a_rate_or_a_cron_whose_years_are_past_has_no_next_start_to_show() -> None:
    assert next_start("rate(30 days)", "UTC", AFTER) is None
    assert next_start("cron(0 9 1 1 ? 2025)", "UTC", AFTER) is None
