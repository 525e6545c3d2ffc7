"""Command replies: what the person who typed `/drs …` or clicked a button alone sees (ephemeral).

Every answer of the lazy halves is here: plans, status, history, readiness, and each refusal, as pure
functions to `Mrkdwn` built with `md()` (bot/slack/mrkdwn.py): what the user typed is echoed escaped.
The immediate acks (help, a typo, "Looking that up…") stay in bot/slack/ack.py, which must not import
pydantic (Slack's 3 seconds).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from bot.domain import health
from bot.domain.approval import VoteResult
from bot.domain.cleanup import CleanupRefusal
from bot.domain.commands import Execute
from bot.domain.engine import READINESS_LINES, progress_fields
from bot.domain.events import ProgressUpdated
from bot.domain.execution import (
    ActionKind,
    Execution,
    ExecutionSummary,
    ExecutionType,
    ServerStatus,
    SlackBlock,
    WaveStatus,
    tally,
)
from bot.domain.plans import Catalog, Hook, OnFailure, PlanOptions, WaveOptions
from bot.domain.policy import Role, permission
from bot.domain.readiness import Verdict
from bot.domain.report import Judgement
from bot.domain.snapshot_ages import SnapshotAges, minutes
from bot.domain.steering import Stale
from bot.domain.trend import Trend, rto_seconds, trends
from bot.services.controlling import CancelResult, ControlOutcome, ControlResult, SteerOutcome, SteerResult
from bot.services.report import LINK_SECONDS
from bot.services.requesting import RequestResult
from bot.slack.ack import CHANNEL_REFUSAL
from bot.slack.layout import (
    STATUS_ICON,
    TEXT_LIMIT,
    WAVE_ICON,
    duration,
    fit,
    kind_label,
    place,
    point_in_time,
    progress_line,
    readiness_text,
)
from bot.slack.mrkdwn import Mrkdwn, channel, clip, link, md, user

# /drs plans, /drs plan


def plans_list(catalog: Catalog, notes: Mapping[str, Mrkdwn] | None = None) -> Mrkdwn:
    """`notes`: a line more under each plan (the readiness watch's verdict)."""
    if not catalog.plans:
        return Mrkdwn("No recovery plans yet. Apply a plans file with `drs-bot plans apply plans.yml`.")
    lines = []
    for plan in catalog.plans:
        groups = [catalog.group(w.protection_group) for w in plan.waves]
        servers = f"{sum(len(g.source_servers) for g in groups)} servers"
        if any(g.by_tags for g in groups):
            servers += " listed, more selected by tags at run time"
        description = md(" — {}", clip(plan.description, 150)) if plan.description else Mrkdwn("")
        lines.append(md("• `{}`{} ({} waves, {})", plan.name, description, len(plan.waves), servers))
        if notes and plan.name in notes:
            lines[-1] += md("\n    {}", notes[plan.name])
    return Mrkdwn("*Recovery plans*\n") + fit(lines, Mrkdwn("…and {n} more plans"), TEXT_LIMIT - 20)


def plan_text(catalog: Catalog, plan_name: str) -> Mrkdwn:
    plan = catalog.plan(plan_name)
    if plan is None:
        return unknown_plan(plan_name, tuple(catalog.plan_names()))
    description = md(" — {}", plan.description) if plan.description else Mrkdwn("")
    lines = [md("*Plan `{}`*{}", plan.name, description)]
    total = 0
    for index, wave in enumerate(plan.waves, start=1):
        group = catalog.group(wave.protection_group)
        total += len(group.source_servers)
        options = wave_options_text(wave.options)
        members = (
            "servers tagged " + ", ".join(f"{k}={v}" for k, v in group.source_server_tags.items())
            if group.by_tags
            else f"{len(group.source_servers)} servers"
        )
        if group.optional:  # their failure never fails the wave or stops the plan
            members += f", {len(group.optional)} optional"
        lines.append(
            md(
                "{}. *{}* — `{}`: {} in {} ({})",
                index,
                wave.name,
                group.name,
                members,
                place(group.region, group.account),
                "; ".join(options),
            )
        )
    lines += [md("{}", line) for line in plan_options_text(plan.options)]
    lines.append(
        md("{} waves, {} servers. Run a drill: `/drs execute {} drill`", len(plan.waves), total, plan.name)
    )
    return fit(lines, Mrkdwn("…and {n} more lines"), limit=TEXT_LIMIT)


def wave_options_text(options: WaveOptions) -> list[str]:
    """A wave's options as `/drs plan` shows them (the timeout always: it decides when servers fail)."""
    shown = [f"timeout {duration(options.timeout)}"]
    if options.wait_before:
        shown.insert(0, f"waits {duration(options.wait_before)} after the previous wave")
    if options.on_failure is OnFailure.STOP:
        shown.append("stops the plan if any server fails")
    if options.pause_before:
        shown.append("waits for a person's Continue before it starts (pause_before)")
    if options.health_check is not None:
        check = options.health_check
        names = list(check.checks()[:-1] if check.alarms else check.checks())
        if check.ssm_command is not None:
            command = check.ssm_command
            given = "; ".join(f"{key}: {' '.join(values)}" for key, values in command.parameters.items())
            names[names.index("ssm_command")] = (
                f"ssm_command {command.document}" + (f" ({given})" if given else "") + " Success"
            )
        if check.alarms:
            names.append("alarms " + ", ".join(check.alarms) + " OK")
        shown.append(f"health check: {', '.join(names)} within {duration(check.timeout)}")
    for phase, hooks in (("before", options.before), ("after", options.after)):
        if hooks:
            shown.append(f"{phase}: " + ", ".join(_hook_text(hook) for hook in hooks))
    return shown


def _hook_text(hook: Hook) -> str:
    """hooks (#15): `automation Promote-Db (30m, stop, not in drills)`."""
    notes = [duration(hook.timeout_seconds), hook.on_failure.value]
    if not hook.drill:
        notes.append("not in drills")
    kind = "automation" if hook.kind == "automation" else "Lambda"
    return f"{kind} {hook.target} ({', '.join(notes)})"


def plan_options_text(options: PlanOptions) -> list[str]:
    shown: list[str] = []
    if options.rpo_target is not None:
        shown.append(f"Readiness warns beyond an RPO of {duration(options.rpo_target)} (rpo_target).")
    if options.rto_target is not None:
        shown.append(
            f"Reports judge the time from request to the last launch against {duration(options.rto_target)} (rto_target)."
        )
    if options.cleanup_after is not None:
        shown.append(
            f"Drills are cleaned up {duration(options.cleanup_after)} after they end (cleanup_after)."
        )
    shown += _watch_options_lines(options)
    return shown


def unknown_plan(name: str, known: tuple[str, ...]) -> Mrkdwn:
    """`name` is what the user typed: escaped, and clipped so a pasted essay is not echoed whole."""
    typed = clip(name.replace("`", "'"), 80)
    if not known:
        return md(
            "There is no plan `{}`: no plans are loaded yet. Apply one with `drs-bot plans apply FILE`.",
            typed,
        )
    guess = difflib.get_close_matches(name, known, n=1)
    hint = md(" Did you mean `{}`?", guess[0]) if guess else Mrkdwn("")
    listed = Mrkdwn(", ").join(md("`{}`", p) for p in known[:30])
    more = md(" and {} more (`/drs plans` lists them)", len(known) - 30) if len(known) > 30 else Mrkdwn("")
    return md("There is no plan `{}`.{} Known plans: {}{}", typed, hint, listed, more)


# /drs status, /drs history

NO_EXECUTION_HERE = Mrkdwn("No execution has run in this channel yet.")


def status_text(execution: Execution, now: datetime) -> Mrkdwn:
    lines = [
        md(
            "{} *{} of `{}`* — {} (`{}`)",
            Mrkdwn(STATUS_ICON[execution.status]),
            kind_label(execution.execution_type),
            execution.plan_name,
            execution.status.value,
            execution.execution_id,
        ),
        progress_line(ProgressUpdated(seq=0, **progress_fields(execution, now)), now),
    ]
    if execution.paused and not execution.status.is_terminal:
        lines.append(
            md(
                ":double_vertical_bar: *Paused* by {} since {:%Y-%m-%d %H:%M} UTC: no new job or wave "
                "starts until `/drs resume {}`.",
                user(execution.paused_by or ""),
                execution.paused_at or now,
                execution.execution_id,
            )
        )
    if (gated := execution.gated_wave()) is not None:
        lines.append(
            md(
                ":raised_hand: *Gated* before wave {}/{} {} since {:%Y-%m-%d %H:%M} UTC: waiting for "
                "Continue or Stop here on the card in its thread.",
                gated.index + 1,
                len(execution.waves),
                gated.name,
                gated.gated_at or now,
            )
        )
    if execution.point_in_time:
        lines.append(md("Point in time: {}", point_in_time(execution.point_in_time)))
    if execution.failback is not None:
        lines.append(_failback_line(execution))
    if execution.slack_blocked is not None:
        lines.append(_slack_blocked_line(execution.slack_blocked))
    for wave in execution.waves[:STATUS_WAVES]:
        counts = tally(wave.servers())
        line = md(
            "{} {}: {}, {}/{} launched, {} failed",
            Mrkdwn(WAVE_ICON[wave.status]),
            wave.name,
            wave.status.value,
            counts.launched,
            counts.total,
            counts.failed,
        )
        if wave.account:  # another account's wave says where it runs
            line += md(" — in {}", place(wave.region, wave.account))
        if wave.options.health_check is not None and wave.status is not WaveStatus.PENDING:
            healthy, launched = health.counts(wave)
            line += md(", {}/{} healthy", healthy, launched)
            for failing in (
                health.failing(wave)[:STATUS_FAILURES] if wave.status is WaveStatus.CHECKING else []
            ):
                line += md(
                    "\n    • `{}`: {}: {}", failing.source_server_id, failing.check, clip(failing.detail, 200)
                )
        lines.append(line)
    if len(execution.waves) > STATUS_WAVES:
        lines.append(md("…and {} more waves", len(execution.waves) - STATUS_WAVES))
    to_launch, to_healthy = health.execution_rtos(execution)
    if to_healthy is not None:
        rto = (
            md("RTO so far: to launch {}", duration(to_launch))
            if to_launch is not None
            else Mrkdwn("RTO so far:")
        )
        lines.append(rto + md(", to healthy {}", duration(to_healthy)))
    if execution.readiness is not None:  # snapshot ages arrive after the launch: show them as they stand
        note = execution.readiness
        lines.append(readiness_text(note.current_level, list(note.all_lines()[:READINESS_LINES])))
    failed = [s for s in execution.servers() if s.status is ServerStatus.FAILED]
    if failed:
        # DRS's own error text, shortened; the history keeps it whole.
        lines.append(md("*Failed servers* ({}):", len(failed)))
        lines += [
            md("• `{}`: {}", s.source_server_id, clip(s.error or "", 200)) for s in failed[:STATUS_FAILURES]
        ]
        if len(failed) > STATUS_FAILURES:
            lines.append(
                md("…and {} more (the stored history lists them all)", len(failed) - STATUS_FAILURES)
            )
    return fit(lines, Mrkdwn("…and {n} more lines"), limit=TEXT_LIMIT)


STATUS_WAVES = 40


STATUS_FAILURES = 25


def _slack_blocked_line(block: SlackBlock) -> Mrkdwn:
    code = block.error if block.error.replace("_", "").isalnum() else "refused"  # Slack's codes are a-z_
    return md(
        ":warning: Its messages are not in its channel: Slack refuses them (`{}`) since "
        "{:%Y-%m-%d %H:%M} UTC. The history has everything.",
        code,
        block.since,
    )


_FAILBACK_STEP = {
    "REVERSING": "reversing replication",
    "SYNCING": "waiting for the origin-region servers to reach CONTINUOUS",
    "LAUNCHING": "launching in the origin region",
    "REPROTECTING": "re-protecting the launched instances",
    "DONE": "done",
}


def _failback_line(execution: Execution) -> Mrkdwn:
    run = execution.failback
    assert run is not None
    servers = run.servers
    return md(
        "Failback of recovery `{}` — step: {}; {}/{} reversed, {} CONTINUOUS, {} left out, {} re-protected",
        run.recovery_execution_id,
        _FAILBACK_STEP[run.phase.value],
        sum(1 for s in servers if s.reversed_source_server_id),
        len(servers),
        sum(1 for s in servers if s.ready),
        sum(1 for s in servers if s.failed),
        sum(1 for s in servers if s.reprotected),
    )


def _rto_note(rto: float | None, summary: ExecutionSummary) -> str:
    """An execution whose servers launched before summaries kept the last launch has an RTO nobody
    recorded: "—", never a guess or 0. One where nothing launched has none."""
    if rto is not None:
        return f" · RTO {duration(rto)}"
    return " · RTO —" if summary.launched else ""


def history_text(summaries: list[ExecutionSummary], plan_name: str | None, now: datetime) -> Mrkdwn:
    where = md("`{}`", plan_name) if plan_name else Mrkdwn("this channel")
    if not summaries:
        return md("No executions of {} yet.", where)
    lines = [md("*Recent executions of {}* (newest first)", where)]
    for summary in summaries:
        started = summary.start_time or summary.created_at
        took = duration(((summary.end_time or now) - started).total_seconds())
        failed = f", {summary.failed} failed" if summary.failed else ""
        rto = rto_seconds(summary)
        lines.append(
            md(
                "{} `{}` {} of `{}` — {}, {}/{} launched{}{} · {:%Y-%m-%d %H:%M} UTC, {} · {}",
                Mrkdwn(STATUS_ICON[summary.status]),
                summary.execution_id,
                kind_label(summary.execution_type).lower(),
                summary.plan_name,
                summary.status.value,
                summary.launched,
                summary.total,
                failed,
                _rto_note(rto, summary),
                started,
                took,
                user(summary.initiated_by),
            )
        )
    if plan_name:
        lines += [_trend_line(trend) for trend in trends(summaries)]
    return Mrkdwn("\n").join(lines)


_PLURAL = {
    ExecutionType.DRILL: "drills",
    ExecutionType.RECOVERY: "recoveries",
    ExecutionType.FAILBACK: "failbacks",
}
TREND_SHOWN = 10  # RTOs listed in a trend line; the comparison still spans every execution shown


def _trend_line(trend: Trend) -> Mrkdwn:
    """RTOs oldest → newest (request to last launch), and how the newest compares with the oldest."""
    change = trend.change_seconds
    verdict = (
        f"{duration(-change)} faster than the oldest"
        if change < 0
        else f"{duration(change)} slower than the oldest"
        if change > 0
        else "the same as the oldest"
    )
    shown = list(trend.rtos[-TREND_SHOWN:])
    more = len(trend.rtos) - len(shown)
    return md(
        "{} *RTO of {}* (request → last launch, oldest → newest): {}{} · newest {}",
        Mrkdwn(":chart_with_upwards_trend:" if change > 0 else ":chart_with_downwards_trend:"),
        _PLURAL[trend.execution_type],
        "… → " if more else "",
        " → ".join(duration(rto) for rto in shown),
        verdict,
    )


# /drs execute


def not_ready(verdict: Verdict, plan_name: str) -> Mrkdwn:
    return readiness_text(verdict.level.value, verdict.summary_lines(), plan_name=plan_name) + md(
        "\n\nThe drill did not start. Fix the above, or start it anyway: `/drs execute {} drill --force`.",
        plan_name,
    )


def no_snapshot(at: datetime, without_snapshot: Sequence[str]) -> Mrkdwn:
    more = len(without_snapshot) - 10
    return md(
        "Nothing was launched: {} server(s) have no recovery snapshot at or before "
        "{:%Y-%m-%d %H:%M:%S} UTC: {}{}. Pick a later time, or launch from the latest data "
        "without `--at`.",
        len(without_snapshot),
        at,
        Mrkdwn(", ").join(md("`{}`", sid) for sid in without_snapshot[:10]),
        md(" and {} more", more) if more > 0 else Mrkdwn(""),
    )


def too_large(plan_name: str, error: str | None) -> Mrkdwn:
    return md(
        "Nothing was launched: `{}` is larger than the bot can run: {}. Split the plan in plans.yml "
        "(`drs-bot plans validate` checks these limits) and apply it again.",
        plan_name,
        error,
    )


def drs_unavailable(error: str | None) -> Mrkdwn:
    return md("Nothing was launched: DRS did not answer ({}). Try again.", error)


def card_not_posted(slack_error: str | None, execution_id: str, plan_name: str) -> Mrkdwn:
    return md(
        "Nothing was requested: {}, so nobody could see the approval card. The request `{}` was "
        "withdrawn at once and `{}` is free: request it again once the bot can post here.",
        cannot_post(slack_error),
        execution_id,
        plan_name,
    )


def approval_requested(
    parsed: Execute, execution_id: str, card_posted: bool, slack_error: str | None
) -> Mrkdwn:
    where = (
        Mrkdwn("the card is in the channel")
        if card_posted
        else md("Slack did not take the card yet ({}); it follows in the channel", slack_error or "busy")
    )
    return md(
        "Approval requested for a {} of `{}` (`{}`): {}. Nothing launches until someone else approves it.",
        parsed.execution_type.value.lower(),
        parsed.plan_name,
        execution_id,
        where,
    )


def drill_not_shown(execution_id: str, slack_error: str | None) -> Mrkdwn:
    """The drill runs, but Slack refuses its messages in this channel for good."""
    return md(
        "The drill `{0}` is running, but {1}. Its messages follow if that is fixed while it runs (the "
        "bot tries again every few minutes); `/drs status {0}` shows it meanwhile.",
        execution_id,
        cannot_post(slack_error),
    )


def drill_messages_late(execution_id: str, slack_error: str) -> Mrkdwn:
    return md(
        "The drill `{}` is running, but Slack did not take its status message yet ({}); the messages follow.",
        execution_id,
        slack_error,
    )


def cannot_post(error: str | None) -> Mrkdwn:
    """Why the bot cannot post in the channel, and what to do about it."""
    if error in ("not_in_channel", "channel_not_found"):
        return Mrkdwn("I am not a member of this channel: invite me with `/invite @DRS ChatOps`")
    if error == "is_archived":
        return Mrkdwn("this channel is archived")
    return md("Slack refuses my messages here (`{}`): whoever runs the bot must check its Slack app", error)


def plan_busy(plan_name: str, running: Execution | None) -> Mrkdwn:
    if running is None:
        return md("`{}` is already running; one execution per plan at a time.", plan_name)
    where = md(" in {}", channel(running.channel_id)) if running.channel_id else Mrkdwn("")
    return md(
        "`{}` is already running: `{}` ({}, {}){}. One execution per plan at a time: follow it there, "
        "or stop it with `/drs cancel {}`.",
        plan_name,
        running.execution_id,
        running.execution_type.value.lower(),
        running.status.value,
        where,
        running.execution_id,
    )


REFUSALS: dict[RequestResult, Callable[[Execute], Mrkdwn]] = {
    RequestResult.CHANNEL_NOT_ALLOWED: lambda _: CHANNEL_REFUSAL,
    RequestResult.NOT_ALLOWED: lambda p: md(
        "You may not run a {}: the bot's access policy does not list you (or a user group of yours). "
        "Ask a DR lead to add you.",
        p.execution_type.value.lower(),
    ),
    RequestResult.NO_APPROVERS: lambda p: md(
        'A {} needs an approver, and none is configured. Set "approvers" (Slack user or user group ids) '
        'in DRS_BOT_ACCESS_POLICY, e.g. `{{"approvers": ["U012ABCDEF"], "recovery_requesters": '
        '["S0DRLEADS"]}}`.',
        p.execution_type.value.lower(),
    ),
    RequestResult.FUTURE_TIME: lambda p: md(
        "`--at` must be in the past ({:%Y-%m-%d %H:%M:%S} UTC is not): "
        "recovery snapshots are taken from what already happened.",
        p.at,
    ),
    RequestResult.NO_RECOVERY: lambda p: md(
        "Nothing to fail back: `{0}` has no recovery that launched servers (COMPLETED or PARTIAL) since "
        "its last failback. Failback undoes a recovery: run `/drs history {0}` to check.",
        p.plan_name,
    ),
}


# /drs check


def check_verdict(
    verdict: Verdict, plan_name: str, pending: SnapshotAges | None, watched: Mrkdwn | None = None
) -> Mrkdwn:
    """`watched`: the readiness watch's stored verdict for the plan, shown beside this fresh one."""
    text = readiness_text(verdict.level.value, verdict.summary_lines(), plan_name=plan_name)
    text = md("{}\n_{} servers checked._", text, verdict.servers_checked)
    if watched is not None:
        text += md("\n_Readiness watch: {}._", watched)
    if pending is not None:
        text += md(
            "\n_Recovery snapshot ages (rpo_target {}) take one DRS call per server: they follow in a moment._",
            minutes(pending.rpo_target_seconds),
        )
    return text


def check_snapshot_ages(verdict: Verdict, ages: SnapshotAges, plan_name: str) -> Mrkdwn:
    level = "WARN" if verdict.level.value == "READY" and ages.findings else verdict.level.value
    return readiness_text(level, ages.lines(), plan_name=plan_name) + md(
        "\n_Recovery snapshot ages of {:,} of {:,} servers read._", ages.checked, ages.total
    )


# /drs cancel, /drs cleanup, and naming an execution


def cancel_reply(result: CancelResult, execution: Execution, ref: str) -> Mrkdwn:
    name = md("`{}` ({})", execution.execution_id, execution.plan_name)
    texts = {
        CancelResult.NOT_ALLOWED: md(
            "You may not cancel {}: only its requester, an approver, or (for a drill) someone who may run "
            "drills can.",
            name,
        ),
        CancelResult.CANCELLING: md("Cancelling {}: nothing new starts; running jobs are followed.", name),
        CancelResult.ALREADY_CANCELLING: md("{} is already being cancelled.", name),
        CancelResult.ALREADY_ENDED: md(
            "{} already ended ({}); nothing to cancel.", name, execution.status.value
        ),
        CancelResult.NOT_FOUND: no_execution(ref),
    }
    return texts[result]


_VERBS = {
    ActionKind.CONTINUE: "continue it past a gate",
    ActionKind.STOP: "stop it at a gate",
    ActionKind.PAUSE: "pause it",
    ActionKind.RESUME: "resume it",
}


def may_steer(kind: ActionKind, execution: Execution) -> Mrkdwn:
    """Who may, in the words of the permission table (bot/domain/policy.py CONTROLS)."""
    allowed = permission(kind, execution)
    if allowed.approver_not_requester:
        return md("an approver other than its requester ({})", user(execution.initiated_by))
    order = (Role.REQUESTER, Role.APPROVER, Role.DRILL_RUNNER)
    names = {
        Role.REQUESTER: "its requester",
        Role.APPROVER: "an approver",
        Role.DRILL_RUNNER: "someone who may run drills",
    }
    roles = [names[role] for role in order if role in allowed.roles]
    return Mrkdwn(", ".join(roles[:-1]) + " or " + roles[-1] if len(roles) > 1 else roles[0])


def held_state(execution: Execution) -> Mrkdwn:
    """How an execution stands, in one phrase: its status, paused or gated, and the wave it is at."""
    if execution.status.is_terminal:
        return md("it ended {}", execution.status.value)
    text = md("it is {}", execution.status.value)
    if execution.paused:
        text += md(", paused by {}", user(execution.paused_by or ""))
    wave = execution.current_wave()
    if wave is not None:
        text += md(
            ", at wave {}/{} {} ({})", wave.index + 1, len(execution.waves), wave.name, wave.status.value
        )
    return text


def steer_reply(kind: ActionKind, outcome: SteerOutcome, execution: Execution) -> Mrkdwn:
    name = md("`{}` ({})", execution.execution_id, execution.plan_name)
    verb = _VERBS[kind]
    if outcome.result is SteerResult.NOT_FOUND:
        return no_execution(execution.execution_id)
    if outcome.result is SteerResult.NOT_ALLOWED:
        return md(
            "You may not {} ({}): only {} may, for a {}. Nothing changed.",
            verb,
            name,
            may_steer(kind, execution),
            execution.execution_type.value.lower(),
        )
    state = held_state(execution)
    if outcome.result is SteerResult.STALE:
        stale = {
            Stale.NOT_STARTED: md("{} has not started yet: it is awaiting approval. Nothing changed.", name),
            Stale.ENDED: md(
                "{} already ended ({}); nothing to do. Nothing changed.", name, execution.status.value
            ),
            Stale.CANCELLING: md("{} is being cancelled: nothing more starts. Nothing changed.", name),
            Stale.NO_GATE: md("No wave of {} waits at that gate any more: {}. Nothing changed.", name, state),
            Stale.PAUSED: md(
                "{} is paused: resume it first (`/drs resume {}`), then continue. Nothing changed.",
                name,
                execution.execution_id,
            ),
            Stale.ALREADY_PAUSED: md("{} is already paused: {}. Nothing changed.", name, state),
            Stale.NOT_PAUSED: md("{} is not paused: {}. Nothing changed.", name, state),
        }
        return stale[outcome.stale or Stale.ENDED]
    done = {
        ActionKind.CONTINUE: md("Continued {}: the next wave starts now.", name),
        ActionKind.STOP: md(
            "Stopped {} at the gate: nothing more starts; the remaining waves are skipped.", name
        ),
        ActionKind.PAUSE: md(
            "Paused {}: no new job or wave starts; running jobs are followed to their end. "
            "`/drs resume {}` goes on.",
            name,
            execution.execution_id,
        ),
        ActionKind.RESUME: md("Resumed {}: {}.", name, state),
    }
    return done[kind]


_CONTROL_WORDS = {ActionKind.RETRY: "retry", ActionKind.SKIP: "skip"}


def control_reply(kind: ActionKind, outcome: ControlOutcome, execution: Execution, ref: str) -> Mrkdwn:
    """The answer to /drs retry or /drs skip, or to their buttons."""
    current = outcome.execution or execution
    name = md("`{}` ({})", current.execution_id, current.plan_name)
    word = _CONTROL_WORDS[kind]
    if outcome.result is ControlResult.NOT_FOUND:
        return no_execution(ref)
    if outcome.result is ControlResult.NOT_ALLOWED:
        who = (
            "its requester, an approver or someone who may run drills"
            if current.execution_type.is_drill
            else f"an approver (for a {current.execution_type.value.lower()})"
        )
        return md("You may not {} waves of {}: only {} can.", word, name, who)
    wave = outcome.wave
    if outcome.result is ControlResult.REFUSED:
        text = md("Cannot {} {}: {}.", word, name, outcome.refusal or "")
        return text + _last_control(current, wave.index if wave else None)
    assert wave is not None
    wave = current.waves[wave.index]  # as it is now
    if kind is ActionKind.SKIP:
        return md("Wave *{}* of {} will not run; the thread says so.", wave.name, name)
    asked = [a.at for a in current.actions if a.kind is ActionKind.RETRY and a.wave == wave.index]
    retried = sum(
        1 for s in wave.servers() if s.attempts and asked and s.attempts[-1].retried_at == asked[-1]
    )
    again = Mrkdwn(" The execution runs again.") if outcome.reopened else Mrkdwn("")
    return md(
        "Retrying {} failed server(s) of wave *{}* of {}; the thread follows it.{}",
        retried,
        wave.name,
        name,
        again,
    )


def _last_control(execution: Execution, wave: int | None) -> Mrkdwn:
    """What a click that lost the race lost to: the last retry or skip of that wave."""
    done = [a for a in execution.actions if a.kind in _CONTROL_WORDS and (wave is None or a.wave == wave)]
    if not done:
        return Mrkdwn("")
    last = done[-1]
    return md(
        " ({} asked for a {} of it at {:%H:%M:%S} UTC.)",
        user(last.user_id),
        _CONTROL_WORDS[last.kind],
        last.at,
    )


def cleanup_reply(refusal: CleanupRefusal | None, execution: Execution) -> Mrkdwn:
    name = md("`{}` ({})", execution.execution_id, execution.plan_name)
    if refusal is CleanupRefusal.NOT_ALLOWED:
        return md(
            "You may not clean up {}: only its requester, an approver, or someone who may run drills can.",
            name,
        )
    if refusal is CleanupRefusal.NOT_A_DRILL:
        return md(
            "{} is a {}, not a drill: its recovery instances are your running systems now, and cleanup "
            "never touches them. Terminate them deliberately in DRS if you must.",
            name,
            execution.execution_type.value,
        )
    if refusal is CleanupRefusal.STILL_RUNNING:
        return md("{} is still running; clean it up when it has ended (or `/drs cancel` it first).", name)
    if refusal is CleanupRefusal.IN_PROGRESS:
        return md("A cleanup of {} is already under way; its progress is in the execution's thread.", name)
    return md("Cleaning up {}: its drill instances are being terminated; the thread has the details.", name)


def ambiguous(ref: str, matches: list[str]) -> Mrkdwn:
    return md(
        "`{}` is the start of {} executions in this channel ({}): type more of the id.",
        _typed(ref),
        len(matches),
        Mrkdwn(", ").join(md("`{}`", execution_id) for execution_id in matches[:5]),
    )


def no_execution(ref: str) -> Mrkdwn:
    return md(
        "There is no execution `{}` (use its id from the thread, or its first 6+ characters in the "
        "channel where it runs).",
        _typed(ref),
    )


def _typed(word: str) -> Mrkdwn:
    """A word the user typed, echoed in a code span: escaped, short, without a backtick to end it."""
    return clip(word.replace("`", "'"), 80)


# Approve / Reject: told to the clicker alone; a decision that took effect shows on the card for everyone.

_VOTE_REPLIES = {
    VoteResult.SELF_APPROVAL: Mrkdwn(
        "You requested this recovery, so you cannot approve it: another approver must."
    ),
    VoteResult.NOT_ALLOWED: Mrkdwn(
        "You are not an approver for recoveries. Approvers are set in the bot's access "
        "policy (DRS_BOT_ACCESS_POLICY)."
    ),
    VoteResult.ALREADY_VOTED: Mrkdwn("You already approved this request; it needs another approver."),
    VoteResult.EXPIRED: Mrkdwn(
        "This request has expired; nothing was launched. Request it again if still needed."
    ),
    VoteResult.CHANNEL_NOT_ALLOWED: Mrkdwn(
        "Nothing changed: recovery requests cannot be decided from this channel "
        "(the bot's access policy does not allow it here, or this is not the request's own card)."
    ),
}


def vote_reply(result: VoteResult, decided_status: str | None = None) -> Mrkdwn | None:
    """`decided_status`: the request's status as it stands, for a click that came too late."""
    if result in (VoteResult.APPROVED, VoteResult.RECORDED, VoteResult.REJECTED):
        return None
    if result is VoteResult.ALREADY_DECIDED:
        return md(
            "This request was already decided ({}); your click changed nothing.", decided_status or "gone"
        )
    return _VOTE_REPLIES[result]


REPORTS_OFF = Mrkdwn("Reports are not kept by this deployment (no reports bucket is configured).")


def _report_name(execution: Execution) -> Mrkdwn:
    return md("`{}` ({} {})", execution.execution_id, execution.plan_name, execution.execution_type.value)


def report_not_ended(execution: Execution) -> Mrkdwn:
    return md("{} has not ended yet; its report is written when it does.", _report_name(execution))


def report_unavailable(execution: Execution, error: Exception) -> Mrkdwn:
    return md(
        "The report of {} could not be written or read just now ({}); try again.",
        _report_name(execution),
        error,
    )


REPORT_POSTED = Mrkdwn("Posted in the execution's thread with its timeline picture.")
REPORT_NO_THREAD = Mrkdwn("The execution has no thread in Slack to post it into.")


def report_not_posted(error: str) -> Mrkdwn:
    return md("It could not be posted in the execution's thread (Slack answered `{}`).", error)


def report_link(execution: Execution, judgement: Judgement, url: str, where: Mrkdwn) -> Mrkdwn:
    """The verdict, its reasons one per line, a short-lived link to the HTML page, and `where` the
    report went (the execution's thread, or why not)."""
    reasons = [md("• {}", line) for line in (*judgement.failures, *judgement.findings)]
    return md(
        "*{}* — report of {}\n{}{}\n{} (the link works for {} minutes; `/drs report` makes a new one)\n{}",
        judgement.verdict.value,
        _report_name(execution),
        Mrkdwn("\n").join(reasons),
        md("\n") if reasons else md(""),
        link(url, "Open the report"),
        LINK_SECONDS // 60,
        where,
    )


def _watch_options_lines(options: PlanOptions) -> list[str]:
    """Plain lines (the caller escapes them) for `/drs plan`."""
    shown: list[str] = []
    if options.channel is not None:
        shown.append(f"Readiness changes and reminders go to channel {options.channel} (channel).")
    if options.drill_every is not None:
        shown.append(f"A drill is due every {options.drill_every} days (drill_every).")
    if options.schedule is not None:
        shown.append(
            f"Drills start by themselves on {options.schedule.expression} in {options.schedule.timezone} "
            "(schedule)."
        )
    return shown
