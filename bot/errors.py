"""The project's own errors: adapters turn AWS and Slack failures into these."""

from __future__ import annotations


class BotError(Exception):
    """Base for errors the bot explains to users."""


class ConfigurationError(BotError, ValueError):
    """A DRS_BOT_* setting (or the Slack secret) is missing or invalid; the message names it."""


class AmbiguousExecution(BotError):
    """An id prefix that several recent executions of the channel share."""

    def __init__(self, ref: str, matches: list[str]) -> None:
        super().__init__(f"{ref} names {len(matches)} executions")
        self.ref = ref
        self.matches = matches


class StaleExecution(BotError):
    """Someone else saved the execution since we read it (optimistic locking)."""


class StaleWatchState(BotError):
    """Another watch round saved the plan's readiness since we read it: that round tells the news."""


class ExecutionExists(BotError):
    """An execution with this id was already created (a repeated request)."""


class PlanBusy(BotError):
    """The plan already has an execution that has not ended (one at a time per plan)."""

    def __init__(self, plan_name: str, execution_id: str | None) -> None:
        self.plan_name = plan_name
        self.execution_id = execution_id
        super().__init__(f"plan {plan_name} is busy with execution {execution_id}")


class DrsError(BotError):
    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class DrsUnavailable(DrsError):
    """Throttled or failing after retries: the call had no effect; try again later."""


class AccountUnreachable(DrsUnavailable):
    """The bot could not assume its role in a target account (README "Several accounts"): nothing was
    called there. Retried like throttling; a refusal that lasts is reported on the servers it holds back."""

    def __init__(self, account: str, role_arn: str, code: str, message: str, *, transient: bool) -> None:
        self.account = account
        self.role_arn = role_arn
        self.transient = transient
        super().__init__(code, f"cannot assume {role_arn} in account {account}: {message}")


class DrsConflict(DrsError):
    """A source server is already in an active job (maybe ours, started before a crash)."""


class DrsQuotaExceeded(DrsError):
    """A DRS quota is full right now (jobs or servers in flight); it frees up as jobs end."""


class DrsRefused(DrsError):
    """DRS said no for good (validation, access denied, uninitialized region, quota)."""


class HookError(BotError):
    """hooks (#15): SSM or Lambda answered a hook call with an error."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class HookUnavailable(HookError):
    """Throttled or failing after retries, or a limit full for now: nothing ran; try again later."""


class HookRefused(HookError):
    """SSM or Lambda said no for good (no such document or function, access denied, bad parameters)."""


class SlackError(BotError):
    def __init__(self, error: str, *, retry_after: float | None = None) -> None:
        self.error = error
        self.retry_after = retry_after
        super().__init__(error)


class SlackUnavailable(SlackError):
    """Rate limited, 5xx, or no answer: deliver later."""


class SlackRefused(SlackError):
    """Slack refused the call (not_in_channel, channel_not_found, invalid_blocks...)."""


class SlackBlocked(SlackRefused):
    """Slack refuses every message to this channel (or from this token) until a person acts: invites
    the bot, unarchives the channel, reinstalls the app. Retrying changes nothing before that."""


class StoredByNewerRelease(BotError):
    """A stored item carries a schema version this release does not know: a newer release wrote it.
    Reading on would drop the fields it does not know, so nothing is read (or rewritten)."""

    def __init__(self, what: str, found: int, known: int) -> None:
        self.what = what
        self.found = found
        self.known = known
        super().__init__(
            f"{what} has stored schema version {found}, this release reads up to {known}: "
            "it was written by a newer release of the bot; deploy that release (or newer)"
        )


class HealthCheckError(BotError):
    """EC2, SSM or CloudWatch did not answer a health check's question."""

    def __init__(self, service: str, code: str, message: str) -> None:
        self.service = service
        self.code = code
        self.message = message
        super().__init__(f"{service} {code}: {message}")


class HealthCheckUnavailable(HealthCheckError):
    """Throttled or failing after retries: nothing was learnt; the next tick asks again."""


class HealthCheckRefused(HealthCheckError):
    """Refused for good (access denied, validation): the check cannot pass until someone fixes it."""
