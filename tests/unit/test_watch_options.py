"""The plan options of the readiness watch and scheduled drills: channel, drill_every, schedule.
Read from plans.yml, refused with the path and why, kept whole through the stored catalog."""

from __future__ import annotations

import pytest

from bot.domain.plans import Catalog, InvalidCatalog, Schedule, parse_catalog
from bot.slack.replies import plan_text

PLANS = """
protection_groups:
  - name: db-tier
    region: us-east-1
    source_servers: [s-aaaaaaaaaaaaaaaa0]
plans:
  - name: plan-x
{options}
    waves:
      - name: Databases
        protection_group: db-tier
"""


def plans(**options: str) -> str:
    lines = "\n".join(f"    {key}: {value}" for key, value in options.items())
    return PLANS.format(options=lines)


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(text, "plans.yml")
    return [str(problem) for problem in caught.value.problems]


def test_the_options_are_read_and_survive_the_stored_catalog() -> None:
    text = plans(
        channel="C0123ABCD",
        drill_every="90d",
        cleanup_after="4h",
        schedule='{expression: "cron(0 9 ? * MON#1 *)", timezone: Europe/Paris}',
    )
    catalog = parse_catalog(text, "plans.yml")
    plan = catalog.plan("plan-x")
    assert plan is not None
    assert plan.options.channel == "C0123ABCD"
    assert plan.options.drill_every == 90
    assert plan.options.schedule == Schedule(expression="cron(0 9 ? * MON#1 *)", timezone="Europe/Paris")
    # The catalog table holds the JSON of the model; it reads back to the same plan.
    assert Catalog.model_validate_json(catalog.model_dump_json()) == catalog
    assert '"drill_every":"90d"' in catalog.model_dump_json()
    shown = plan_text(catalog, "plan-x")
    assert "channel C0123ABCD" in shown and "every 90 days" in shown
    assert "cron(0 9 ? * MON#1 *) in Europe/Paris" in shown


@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 day)",
        "rate(30 days)",
        "rate(12 hours)",
        "cron(0 9 ? * MON#1 *)",
        "cron(30 2 1 * ? *)",
        "cron(0 6 L * ? 2027)",
        "cron(0/15 8-17 ? * MON-FRI *)",
        "cron(0 9 15W JAN,APR,JUL,OCT ? *)",
        "cron(0 9 ? * 6L *)",
    ],
)
def test_expressions_scheduler_accepts_are_accepted(expression: str) -> None:
    text = plans(channel="C0123ABCD", cleanup_after="2h", schedule=f'{{expression: "{expression}"}}')
    plan = parse_catalog(text, "plans.yml").plan("plan-x")
    assert plan is not None and plan.options.schedule is not None
    assert plan.options.schedule.timezone == "UTC"


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("cron(0 9 * * MON *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 9 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 9 * * ?)", "5 fields given; Scheduler's cron has 6"),
        ("cron(60 9 ? * MON *)", "minutes '60': '60' is not 0-59"),
        ("cron(0 24 ? * MON *)", "hours '24': '24' is not 0-23"),
        ("cron(0 9 ? * FUN *)", "day-of-week 'FUN': 'FUN' is not 1-7 or SUN-SAT"),
        ("cron(0 9 ? * MON#6 *)", "the week after # is 1 to 5"),
        ("cron(0 9 ? 13 MON *)", "month '13'"),
        ("cron(0 9 ? * MON 1969)", "year '1969'"),
        ("cron(0/0 9 ? * MON *)", "the step after / is a whole number of 1 or more"),
        ("rate(1 days)", "write 1 day"),
        ("rate(2 day)", "write 2 days"),
        ("rate(0 days)", "1 or more"),
        ("rate(3 weeks)", "'weeks' is not a unit"),
        ("at(2027-01-01T09:00:00)", "at(...) runs once"),
        ("every monday", "is not a schedule expression"),
    ],
)
def test_expressions_scheduler_refuses_are_refused_with_the_path_and_why(expression: str, why: str) -> None:
    text = plans(channel="C0123ABCD", cleanup_after="2h", schedule=f'{{expression: "{expression}"}}')
    (problem,) = problems(text)
    assert problem.startswith("plans[0].schedule.expression: "), problem
    assert why in problem


def test_a_time_zone_that_is_not_one_is_refused() -> None:
    text = plans(
        channel="C0123ABCD",
        cleanup_after="2h",
        schedule='{expression: "rate(7 days)", timezone: Mars/Olympus}',
    )
    assert problems(text) == [
        "plans[0].schedule.timezone: 'Mars/Olympus' is not an IANA time zone (like UTC or Europe/Paris)"
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"channel": "'#dr-drills'"}, "plans[0].channel: '#dr-drills' is not a Slack channel id"),
        ({"channel": "U0123ABCD"}, "plans[0].channel: 'U0123ABCD' is not a Slack channel id"),
        (
            {"channel": "C0123ABCD", "drill_every": "90"},
            "plans[0].drill_every: 90 is not a number of days like 90d",
        ),
        ({"channel": "C0123ABCD", "drill_every": "3m"}, "plans[0].drill_every: '3m' is not a number of days"),
        ({"channel": "C0123ABCD", "drill_every": "0d"}, "plans[0].drill_every: '0d' is not a number of days"),
        ({"drill_every": "90d"}, "plans[0].drill_every: needs channel (a Slack channel id)"),
        (
            {"cleanup_after": "1h", "schedule": '{expression: "rate(7 days)"}'},
            "plans[0].schedule: needs channel",
        ),
        (
            {"channel": "C0123ABCD", "schedule": '{expression: "rate(7 days)"}'},
            "plans[0].schedule: a scheduled drill needs cleanup_after",
        ),
        (
            {
                "channel": "C0123ABCD",
                "cleanup_after": "1h",
                "schedule": '{expression: "rate(7 days)", when: now}',
            },
            "plans[0].schedule.when: unknown key",
        ),
        (
            {"channel": "C0123ABCD", "cleanup_after": "1h", "schedule": "{timezone: UTC}"},
            "plans[0].schedule.expression: ",
        ),
    ],
)
def test_bad_options_are_refused_with_the_path_and_why(options: dict[str, str], expected: str) -> None:
    (problem,) = problems(plans(**options))
    assert problem.startswith(expected), problem


def test_plans_without_them_are_stored_as_the_previous_release_reads_them() -> None:
    # The previous release forbids unknown keys: a catalog or an execution of a plan without these
    # options must not carry them, even empty, or a rollback could not read it.
    catalog = parse_catalog(plans(rpo_target="15m"), "plans.yml")
    stored = catalog.model_dump_json()
    assert not [name for name in ("rto_target", "channel", "drill_every", "schedule") if name in stored]
    plan = catalog.plan("plan-x")
    assert plan is not None
    assert plan.options.model_dump(by_alias=True) == {"RpoTarget": 900, "CleanupAfter": None}
