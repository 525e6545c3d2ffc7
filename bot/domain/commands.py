"""The /drs command grammar: text in, a command or a specific complaint out."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.execution_type import ExecutionType

USAGE = (
    "Usage:\n"
    "• `/drs help` — this help\n"
    "• `/drs plans` — the recovery plans\n"
    "• `/drs plan <plan>` — a plan's waves, protection groups and servers\n"
    "• `/drs check <plan>` — is the plan ready to launch? (replication, lag, snapshots, quotas)\n"
    "• `/drs execute <plan> drill [--force]` — check, then run a drill (--force: even if BLOCKED)\n"
    "• `/drs execute <plan> drill|recovery --at <ISO time>` — launch from the snapshots of that time\n"
    "• `/drs execute <plan> recovery|failback` — request a real recovery or failback (needs approval)\n"
    "• `/drs execute <plan> <type> --step` — stop before every wave until someone clicks Continue\n"
    "• `/drs status [<execution>]` — the latest execution in this channel, or the one named\n"
    "• `/drs history [<plan>] [<n>]` — recent executions of a plan, or in this channel\n"
    "• `/drs cancel <execution>` — start nothing new; running jobs are followed to their end\n"
    "• `/drs pause <execution>` — hold it: no new job or wave starts; running jobs are followed\n"
    "• `/drs resume <execution>` — go on where it was paused\n"
    "• `/drs cleanup <execution>` — terminate the recovery instances a drill launched\n"
    "• `/drs retry <execution> [<wave>]` — launch a wave's failed servers again\n"
    "• `/drs skip <execution> <wave> [reason…]` — a pending wave will not run\n"
    "• `/drs report <execution>` — an ended execution's verdict and a fresh link to its report"
)

KEYWORDS = (
    "help",
    "plans",
    "plan",
    "execute",
    "status",
    "history",
    "cancel",
    "check",
    "cleanup",
    "report",
    "pause",
    "resume",
    "retry",
    "skip",
)


# Commands are frozen dataclasses, not pydantic models: only our own parser makes them, from a string,
# and they are used on Slack's ack path, where importing pydantic would cost ≈ 130 ms of a cold start.
@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class ListPlans:
    pass


@dataclass(frozen=True, slots=True)
class ShowPlan:
    plan_name: str


@dataclass(frozen=True, slots=True)
class Execute:
    plan_name: str
    execution_type: ExecutionType
    force: bool = False  # start a drill whose readiness verdict is BLOCKED
    at: datetime | None = None  # point in time: launch from snapshots taken at or before this
    step: bool = False  # --step: a gate before every wave


@dataclass(frozen=True, slots=True)
class Cleanup:
    execution_ref: str


@dataclass(frozen=True, slots=True)
class Report:
    execution_ref: str


@dataclass(frozen=True, slots=True)
class Check:
    plan_name: str


@dataclass(frozen=True, slots=True)
class Status:
    execution_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    execution_ref: str


@dataclass(frozen=True, slots=True)
class Pause:
    execution_ref: str


@dataclass(frozen=True, slots=True)
class Resume:
    execution_ref: str


@dataclass(frozen=True, slots=True)
class Retry:
    execution_ref: str
    wave_ref: str | None = None  # a number (1-based) or a name; None: the one wave with failed servers


@dataclass(frozen=True, slots=True)
class Skip:
    execution_ref: str
    wave_ref: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class History:
    plan_name: str | None = None
    limit: int = 10


HISTORY_MAX = 50


@dataclass(frozen=True, slots=True)
class NotYetAvailable:
    """A reserved keyword whose command this version does not offer yet."""

    keyword: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """The text is not a command; `message` says what was wrong and what to type instead."""

    message: str


Command = (
    Help
    | ListPlans
    | ShowPlan
    | Execute
    | Check
    | Cleanup
    | Report
    | Status
    | Cancel
    | Pause
    | Resume
    | Retry
    | Skip
    | History
    | NotYetAvailable
    | Invalid
)


def parse(text: str) -> Command:
    words = text.split()
    if not words:
        return Help()
    keyword, args = words[0].lower(), words[1:]
    if keyword == "help":
        return Help()
    if keyword == "plans":
        return ListPlans() if not args else _invalid("`/drs plans` takes no arguments.")
    if keyword == "plan":
        if len(args) != 1:
            return _invalid(
                "`/drs plan` needs a plan name, e.g. `/drs plan plan-x` (`/drs plans` lists them)."
            )
        return ShowPlan(plan_name=args[0])
    if keyword == "execute":
        return _parse_execute(args)
    if keyword == "cleanup":
        if len(args) != 1:
            return _invalid("`/drs cleanup` needs the drill's execution id (or its first 6+ characters).")
        return Cleanup(execution_ref=args[0])
    if keyword == "report":
        if len(args) != 1:
            return _invalid("`/drs report` needs the execution id (or its first 6+ characters).")
        return Report(execution_ref=args[0])
    if keyword == "check":
        if len(args) != 1:
            return _invalid("`/drs check` needs a plan name, e.g. `/drs check plan-x`.")
        return Check(plan_name=args[0])
    if keyword == "status":
        if len(args) > 1:
            return _invalid("`/drs status` takes at most one execution id.")
        return Status(execution_ref=args[0] if args else None)
    if keyword == "cancel":
        if len(args) != 1:
            return _invalid("`/drs cancel` needs the execution id (or its first 6+ characters).")
        return Cancel(execution_ref=args[0])
    if keyword in ("pause", "resume"):
        if len(args) != 1:
            return _invalid(f"`/drs {keyword}` needs the execution id (or its first 6+ characters).")
        return Pause(execution_ref=args[0]) if keyword == "pause" else Resume(execution_ref=args[0])
    if keyword == "retry":
        if not 1 <= len(args) <= 2:
            return _invalid(
                "`/drs retry` needs the execution id and, if several waves failed, the wave's number or "
                "name, e.g. `/drs retry 1a2b3c 2`."
            )
        return Retry(execution_ref=args[0], wave_ref=args[1] if len(args) == 2 else None)
    if keyword == "skip":
        if len(args) < 2:
            return _invalid(
                "`/drs skip` needs the execution id and the wave's number or name, then a reason if you "
                "like, e.g. `/drs skip 1a2b3c 2 not needed this time`."
            )
        return Skip(execution_ref=args[0], wave_ref=args[1], reason=" ".join(args[2:]))
    if keyword == "history":
        return _parse_history(args)
    if keyword in KEYWORDS:
        return NotYetAvailable(keyword=keyword)
    guess = difflib.get_close_matches(keyword, KEYWORDS, n=1, cutoff=0.6)
    hint = f" Did you mean `{guess[0]}`?" if guess else ""
    return _invalid(f"`{_clip(words[0])}` is not a /drs command.{hint}")


# Slack clients may turn a typed "--" into an em or en dash.
FORCE_FLAGS = ("--force", "\u2014force", "\u2013force")


STEP_FLAGS = ("--step", "\u2014step", "\u2013step")


def _parse_execute(args: list[str]) -> Command:
    force = any(arg.lower() in FORCE_FLAGS for arg in args)
    step = any(arg.lower() in STEP_FLAGS for arg in args)
    args = [arg for arg in args if arg.lower() not in FORCE_FLAGS + STEP_FLAGS]
    at: datetime | None = None
    for flag in AT_FLAGS:
        if flag in [arg.lower() for arg in args]:
            index = [arg.lower() for arg in args].index(flag)
            if index + 1 >= len(args):
                return _invalid(
                    "`--at` needs a time, e.g. `--at 2026-11-29T08:00:00Z` (ISO-8601, UTC if no offset)."
                )
            at = _parse_time(args[index + 1])
            if at is None:
                return _invalid(
                    f"`{_clip(args[index + 1])}` is not an ISO-8601 time, e.g. `2026-11-29T08:00:00Z`."
                )
            args = args[:index] + args[index + 2 :]
    types = ", ".join(t.value.lower() for t in ExecutionType)
    if len(args) != 2:
        return _invalid(
            f"`/drs execute` needs a plan and a type ({types}), e.g. `/drs execute plan-x drill`."
        )
    plan_name, kind = args
    # Compare lower-case words: upper() maps a Turkish dotless i to I, so "dr\u0131ll" would pass.
    execution_type = {t.value.lower(): t for t in ExecutionType}.get(kind.lower())
    if execution_type is None:
        guess = difflib.get_close_matches(kind.lower(), [t.value.lower() for t in ExecutionType], n=1)
        hint = f" Did you mean `{guess[0]}`?" if guess else ""
        return _invalid(f"`{_clip(kind)}` is not an execution type; use one of {types}.{hint}")
    if force and not execution_type.is_drill:
        return _invalid(
            f"`--force` is for drills: a {kind.lower()} is never held back by its readiness check; its "
            "approvers see the verdict on the approval card and decide."
        )
    if at is not None and execution_type is ExecutionType.FAILBACK:
        return _invalid(
            "`--at` does not apply to a failback: it launches in the origin region from the data "
            "replicated back since the recovery."
        )
    return Execute(plan_name=plan_name, execution_type=execution_type, force=force, at=at, step=step)


def _parse_history(args: list[str]) -> Command:
    plan_name: str | None = None
    limit = 10
    for arg in args:
        if arg.isdigit():
            limit = int(arg)
        elif plan_name is None:
            plan_name = arg
        else:
            return _invalid(
                "`/drs history` takes at most a plan and a number, e.g. `/drs history plan-x 20`."
            )
    if not 1 <= limit <= HISTORY_MAX:
        return _invalid(f"`/drs history` shows 1 to {HISTORY_MAX} executions.")
    return History(plan_name=plan_name, limit=limit)


AT_FLAGS = ("--at", "\u2014at", "\u2013at")


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    # One instant, in UTC: an offset typed as +14:00 is not a second, local clock to show as UTC.
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _invalid(message: str) -> Invalid:
    return Invalid(message=f"{message}\n\n{USAGE}")


def _clip(word: str, limit: int = 40) -> str:
    # Echo the user's word back safely: short, and without backticks that would break the formatting.
    word = word.replace("`", "'")
    return word if len(word) <= limit else word[: limit - 1] + "…"
