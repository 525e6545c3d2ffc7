"""When the sandbox's local scheduler fires a schedule: Scheduler's expressions, in their time zone, at
exactly the times the domain (and so the Home tab) says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.schedule import next_start
from sandbox.schedule_times import next_due

MONDAY_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "due"),
    [
        # The first Monday of the month at 09:00 in Paris (UTC+1 in winter).
        ("cron(0 9 ? * MON#1 *)", "Europe/Paris", MONDAY_NOON, datetime(2026, 12, 7, 8, 0, tzinfo=UTC)),
        # Due exactly at `after` is not due after it: the next one.
        (
            "cron(0 9 ? * MON#1 *)",
            "Europe/Paris",
            datetime(2026, 12, 7, 8, tzinfo=UTC),
            datetime(2027, 1, 4, 8, 0, tzinfo=UTC),
        ),
        # Summer time: 09:00 in Paris is 07:00 UTC.
        (
            "cron(0 9 ? * MON#1 *)",
            "Europe/Paris",
            datetime(2027, 6, 1, tzinfo=UTC),
            datetime(2027, 6, 7, 7, 0, tzinfo=UTC),
        ),
        ("cron(15 10 L * ? *)", "UTC", MONDAY_NOON, datetime(2026, 12, 31, 10, 15, tzinfo=UTC)),
        (
            "cron(0/15 8-9 ? * 2-6 *)",
            "America/New_York",
            MONDAY_NOON,
            datetime(2026, 11, 30, 13, 0, tzinfo=UTC),
        ),
        ("cron(0 0 ? * FRIL *)", "UTC", MONDAY_NOON, datetime(2026, 12, 25, 0, 0, tzinfo=UTC)),
        ("cron(30 6 1,15 JAN-MAR ? *)", "UTC", MONDAY_NOON, datetime(2027, 1, 1, 6, 30, tzinfo=UTC)),
        ("cron(0 0 1 1 ? 2025)", "UTC", MONDAY_NOON, None),
    ],
)
def test_cron_is_read_in_the_schedules_time_zone(
    expression: str, timezone: str, after: datetime, due: datetime | None
) -> None:
    assert next_due(expression, timezone, after, start=MONDAY_NOON) == due


def test_a_rate_counts_whole_intervals_from_the_schedules_start() -> None:
    start = MONDAY_NOON
    assert next_due("rate(30 days)", "UTC", start, start) == datetime(2026, 12, 30, 12, tzinfo=UTC)
    assert next_due("rate(1 hour)", "UTC", datetime(2026, 11, 30, 14, 30, tzinfo=UTC), start) == datetime(
        2026, 11, 30, 15, tzinfo=UTC
    )
    assert next_due("rate(5 minutes)", "UTC", datetime(2026, 11, 30, 12, 5, tzinfo=UTC), start) == datetime(
        2026, 11, 30, 12, 10, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 9 15W * ? *)",  # the weekday nearest the 15th
        "cron(0 9 1W * ? *)",  # a Saturday 1st moves to Monday the 3rd, never to the month before
        "cron(30 23 31W * ? *)",  # a Sunday 31st moves to Friday the 29th
        "cron(0 6 L * ? *)",
        "cron(0 6 ? * 6L *)",  # the last Friday
        "cron(0 6 ? * TUE#3 *)",
        "cron(0 6 ? * 2#5 *)",  # a fifth Monday: not every month has one
        "cron(0/20 8-9 ? * MON-FRI *)",
    ],
)
@pytest.mark.parametrize("timezone", ["UTC", "Europe/Paris", "Pacific/Auckland"])
def test_the_sandbox_fires_a_cron_exactly_when_the_domain_says(expression: str, timezone: str) -> None:
    after = MONDAY_NOON
    for _ in range(14):  # over a year of months: every kind of month start and end
        due = next_due(expression, timezone, after, start=MONDAY_NOON)
        assert due is not None and due == next_start(expression, timezone, after), (expression, after)
        after = due


def test_w_is_the_nearest_weekday_within_the_month() -> None:
    # 2027-05-01 is a Saturday, 2027-01-31 a Sunday, 2026-12-15 a Tuesday.
    assert next_due("cron(0 9 1W * ? *)", "UTC", datetime(2027, 4, 2, tzinfo=UTC), MONDAY_NOON) == datetime(
        2027, 5, 3, 9, tzinfo=UTC
    )
    assert next_due("cron(0 9 31W * ? *)", "UTC", datetime(2027, 1, 2, tzinfo=UTC), MONDAY_NOON) == datetime(
        2027, 1, 29, 9, tzinfo=UTC
    )
    assert next_due("cron(0 9 15W * ? *)", "UTC", MONDAY_NOON, MONDAY_NOON) == datetime(
        2026, 12, 15, 9, tzinfo=UTC
    )


@pytest.mark.parametrize("expression", ["at(2026-12-01T00:00:00)", "rate(2 weeks)"])
def test_what_it_cannot_fire_faithfully_is_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        next_due(expression, "UTC", MONDAY_NOON, MONDAY_NOON)


def test_a_rate_is_not_due_at_its_start_nor_before_it() -> None:
    day_later = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert next_due("rate(1 day)", "UTC", MONDAY_NOON, MONDAY_NOON) == day_later
    assert next_due("rate(1 day)", "UTC", datetime(2026, 11, 1, tzinfo=UTC), MONDAY_NOON) == day_later
