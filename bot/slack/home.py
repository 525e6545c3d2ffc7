"""The App Home tab: each plan's readiness, last drill and schedule, and what runs now. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from bot.domain.execution import Execution
from bot.domain.plans import Schedule
from bot.domain.schedule import next_start
from bot.services.home import HomeFacts
from bot.slack import layout
from bot.slack.layout import STATUS_ICON, context, kind_label, section, when
from bot.slack.mrkdwn import Mrkdwn, link, md, user

MAX_BLOCKS = 100  # Slack's limit for a view
MAX_RUNNING = 20  # the rest of the view is the plans'
NO_ACCESS = Mrkdwn(
    "You have no access to the recovery plans: the bot's access policy does not let you run drills, "
    "request recoveries or approve them. Ask whoever deployed the bot."
)


def thread_link(execution: Execution) -> str | None:
    """Slack's app_redirect opens the execution's channel (its thread is the message with the plan's name)."""
    if not execution.channel_id:
        return None
    return f"https://slack.com/app_redirect?channel={quote(execution.channel_id)}"


def _running(execution: Execution) -> Mrkdwn:
    url = thread_link(execution)
    where = md(" · {}", link(url, "open its channel")) if url else Mrkdwn("")
    return md(
        "{} *{}* of `{}` · {} · started by {} · `{}`{}",
        Mrkdwn(STATUS_ICON[execution.status]),
        kind_label(execution.execution_type),
        execution.plan_name,
        execution.status.value,
        user(execution.initiated_by),
        execution.execution_id,
        where,
    )


def _next_drill(schedule: Schedule, now: datetime) -> Mrkdwn:
    after = next_start(schedule.expression, schedule.timezone, now)
    if after is None:  # a rate counts from the schedule's creation, which the catalog does not know
        return md("Scheduled drills: `{}` ({})", schedule.expression, schedule.timezone)
    return md(
        "Next scheduled drill: {} (`{}` in {})",
        when(after),
        schedule.expression,
        schedule.timezone,
    )


def view(facts: HomeFacts) -> dict[str, Any]:
    """A view of type "home" of at most 100 blocks: plans beyond that are counted, not shown."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "DRS ChatOps"}},
        context(
            md("Updated {} · kept current as verdicts change and executions start and end", when(facts.now))
        ),
    ]
    if not facts.may_see or facts.catalog is None:
        blocks.append(section(NO_ACCESS))
        return {"type": "home", "blocks": blocks}
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Running now"}})
    if not facts.running:
        blocks.append(context(Mrkdwn("Nothing is running.")))
    for execution in facts.running[:MAX_RUNNING]:
        blocks.append(section(_running(execution)))
    if len(facts.running) > MAX_RUNNING:
        blocks.append(context(md("…and {} more running", len(facts.running) - MAX_RUNNING)))
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Plans"}})
    plans = facts.catalog.plans
    if not plans:
        blocks.append(context(Mrkdwn("No plans yet: `drs-bot plans apply` loads them.")))
    notes = layout.notes(facts.catalog, facts.plans, facts.now)
    room = MAX_BLOCKS - len(blocks)
    shown = plans if len(plans) <= room else plans[: room - 1]
    for plan in shown:
        schedule = plan.options.schedule
        next_drill = _next_drill(schedule, facts.now) if schedule else Mrkdwn("No scheduled drills")
        title = md("*{}* — {}", plan.name, plan.description) if plan.description else md("*{}*", plan.name)
        blocks.append(section(md("{}\n{}\n{}", title, notes[plan.name], next_drill)))
    if len(shown) < len(plans):
        blocks.append(
            context(md("…and {} more plans (`/drs plans` lists them all)", len(plans) - len(shown)))
        )
    return {"type": "home", "blocks": blocks}
