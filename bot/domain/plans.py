"""Protection groups and recovery plans: the catalog users keep as code in plans.yml."""

from __future__ import annotations

import re
from collections.abc import Collection
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SerializerFunctionWrapHandler,
    StrictBool,
    StringConstraints,
    model_serializer,
    model_validator,
)
from pydantic.alias_generators import to_pascal

from bot.domain.accounts import Account, AccountRegion
from bot.domain.schedule import ScheduleError, check_expression, check_timezone

SourceServerId = Annotated[str, StringConstraints(pattern=r"^s-[0-9a-zA-Z]{17}$")]
# Plan and group names are typed in slash commands, so no spaces; wave names are only displayed.
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
WaveName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\S.*$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")]


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _seconds(value: object) -> object:
    """Durations in plans.yml: 300, "90s", "15m", "2h", "1h30m"."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (use seconds, or like 90s, 15m, 2h, 1h30m)")
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if not value.strip() or match is None:
            raise ValueError(f"{value!r} is not a duration (use seconds, or like 90s, 15m, 2h, 1h30m)")
        hours, minutes, seconds = (int(part or 0) for part in match.groups())
        return hours * 3600 + minutes * 60 + seconds
    return value


Seconds = Annotated[int, BeforeValidator(_seconds), Field(ge=0)]


def _days(value: object) -> object:
    """drill_every in plans.yml: "90d" (days: the unit drill cadences are counted in)."""
    match = re.fullmatch(r"(\d+)d", value.strip()) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"{value!r} is not a number of days like 90d")
    return int(match.group(1))


# Stored as written ("90d"), so the catalog reads back through the same rule.
Days = Annotated[int, BeforeValidator(_days), PlainSerializer(lambda days: f"{days}d", return_type=str)]
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{8,}$")


def _channel(value: object) -> object:
    if not isinstance(value, str) or not _CHANNEL_ID.match(value):
        raise ValueError(
            f"{value!r} is not a Slack channel id (C or G and capitals or digits, like C0123ABCD: "
            "the channel's details show it; a #name is not one)"
        )
    return value


ChannelId = Annotated[str, BeforeValidator(_channel)]
DEFAULT_WAVE_TIMEOUT = 2 * 3600  # a DRS launch takes ~9 minutes; two hours means something is stuck
# About 9 minutes from StartRecovery to LAUNCHED even for small servers (drs-facts.md, real timings):
# a shorter timeout would fail healthy servers, and no wave can take less than LAUNCH_SECONDS.
MIN_WAVE_TIMEOUT = 10 * 60
LAUNCH_SECONDS = 9 * 60
# The executor's loop (cfn/template.yaml, TickLoop's TimeoutSeconds) stops ticking an execution after
# 12 hours: a wait, a timeout or a cleanup due later than that would never happen.
EXECUTOR_LOOP_SECONDS = 12 * 3600
# Each step of an execution is saved in one DynamoDB transaction of at most 100 writes (bot.domain.limits).
MAX_WAVES_PER_PLAN = 20


def duration_text(seconds: int) -> str:
    """2h, 45m, 1h30m, 90s: as plans.yml writes durations."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return text or "0s"


_LOOP = duration_text(EXECUTOR_LOOP_SECONDS)


class OnFailure(StrEnum):
    CONTINUE = "continue"
    STOP = "stop"


class _Strict(BaseModel):
    # Unknown keys are typos in a file that decides what gets launched: refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Options(_Strict):
    """Options written beside a wave's (or plan's) other keys in plans.yml, and held as one value from
    there on: by the plan, the execution, a failback and the history (PascalCase there, as its fields)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=AliasGenerator(serialization_alias=to_pascal)
    )


# CloudWatch's AlarmName (botocore's model: 1..255 characters); DescribeAlarms takes up to 100 names.
AlarmName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
MAX_ALARMS = 100
DEFAULT_HEALTH_TIMEOUT = 15 * 60
MIN_HEALTH_TIMEOUT = 60  # status checks take a minute or two to first report after boot
HEALTH_CHECKS = ("ec2_status", "ssm_online", "ssm_command", "alarms")  # in the order they are shown
# SendCommand's TimeoutSeconds (botocore's model): how long SSM tries to deliver it before it gives up.
MIN_COMMAND_TIMEOUT, MAX_COMMAND_TIMEOUT = 30, 2592000
DEFAULT_COMMAND_TIMEOUT = 10 * 60


class HealthCheck(_Options):
    """What must hold for each launched server of a wave before the wave counts as done."""

    # EC2's instance and system status checks both pass (DescribeInstanceStatus).
    ec2_status: StrictBool = False
    # The SSM agent reports Online (DescribeInstanceInformation).
    ssm_online: StrictBool = False
    # ssm_command (#15): a Run Command document on the servers (SendCommand); each invocation Success.
    ssm_command: HealthCommand | None = None
    # These CloudWatch alarms are OK (DescribeAlarms): the wave's application is up.
    alarms: tuple[AlarmName, ...] = ()
    # Servers not healthy this long after the wave's checks began are FAILED with the failing check.
    timeout: Seconds = DEFAULT_HEALTH_TIMEOUT

    def checks(self) -> tuple[str, ...]:
        # A command goes only to instances whose SSM agent is Online (SendCommand refuses the others).
        return tuple(
            name
            for name in HEALTH_CHECKS
            if getattr(self, name) or (name == "ssm_online" and self.ssm_command is not None)
        )


# Patterns from botocore's service models, so that what validates is what AWS accepts: SSM's
# DocumentARN (StartAutomationExecution's DocumentName), Lambda's NamespacedFunctionName (Invoke's
# FunctionName), IAM's role name inside a role ARN.
DOCUMENT_NAME = re.compile(r"^[a-zA-Z0-9_\-.:/]{3,128}$")
FUNCTION_NAME = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
ROLE_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
# A Lambda hook is invoked synchronously inside the tick (RequestResponse): it must answer quickly. The
# tick after an approval runs in the Slack function, whose Lambda timeout is 60 s (cfn/template.yaml).
MAX_LAMBDA_HOOK_TIMEOUT = 30
DEFAULT_LAMBDA_HOOK_TIMEOUT = 15
DEFAULT_AUTOMATION_HOOK_TIMEOUT = 30 * 60
# StartAutomationExecution's AutomationParameterMap: keys 1-50 characters, values 1-512, 50 a key.
_PARAMETER_KEY_MAX, _PARAMETER_VALUE_MAX, _PARAMETER_VALUES_MAX = 50, 512, 50


def _document(value: object) -> object:
    if not isinstance(value, str) or not DOCUMENT_NAME.match(value):
        raise ValueError(
            f"{value!r} is not an SSM document name or ARN (3 to 128 letters, digits, _ - . : /)"
        )
    return value


def _function(value: object) -> object:
    if not isinstance(value, str) or not 1 <= len(value) <= 256 or not FUNCTION_NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a Lambda function name or ARN (like my-function, my-function:alias or "
            "arn:aws:lambda:us-east-1:123456789012:function:my-function)"
        )
    if not value.startswith("arn:") and ":function:" not in value and len(value.split(":")[0]) > 64:
        raise ValueError(f"{value!r}: a Lambda function name is at most 64 characters")
    return value


def _role(value: object) -> object:
    if not isinstance(value, str) or not ROLE_ARN.match(value):
        raise ValueError(
            f"{value!r} is not an IAM role ARN (like arn:aws:iam::123456789012:role/dr-automation)"
        )
    return value


def _parameters(value: object) -> object:
    # Automation parameters are lists of text; a single text is the one-item list.
    if not isinstance(value, dict):
        return value
    shaped: dict[object, object] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= _PARAMETER_KEY_MAX:
            raise ValueError(f"{key!r}: a parameter name is 1 to {_PARAMETER_KEY_MAX} characters")
        items = item if isinstance(item, list) else [item]
        if len(items) > _PARAMETER_VALUES_MAX:
            raise ValueError(f"{key}: at most {_PARAMETER_VALUES_MAX} values")
        for one in items:
            if not isinstance(one, str) or not 1 <= len(one) <= _PARAMETER_VALUE_MAX:
                raise ValueError(
                    f"{key}: {one!r} is not a text of 1 to {_PARAMETER_VALUE_MAX} characters (quote numbers)"
                )
        shaped[key] = tuple(items)
    return shaped


DocumentName = Annotated[str, BeforeValidator(_document)]
FunctionName = Annotated[str, BeforeValidator(_function)]
RoleArn = Annotated[str, BeforeValidator(_role)]


class Automation(_Strict):
    """An SSM Automation runbook: StartAutomationExecution, followed with GetAutomationExecution."""

    document: DocumentName
    parameters: Annotated[dict[str, tuple[str, ...]], BeforeValidator(_parameters)] = Field(
        default_factory=dict
    )
    # The role the automation assumes (its AutomationAssumeRole parameter; the bot passes it).
    role: RoleArn | None = None

    @model_validator(mode="after")
    def _role_once(self) -> Automation:
        if self.role is not None and "AutomationAssumeRole" in self.parameters:
            raise ValueError("parameters: AutomationAssumeRole is given by role; write it once")
        return self


class HealthCommand(_Options):
    """health_check.ssm_command: a Run Command document (SendCommand) run on each launched server."""

    document: DocumentName
    parameters: Annotated[dict[str, tuple[str, ...]], BeforeValidator(_parameters)] = Field(
        default_factory=dict
    )
    # SendCommand's TimeoutSeconds: a command not delivered by then is not run (TimedOut).
    timeout: Seconds = DEFAULT_COMMAND_TIMEOUT

    @model_validator(mode="after")
    def _timeout_within_ssm(self) -> HealthCommand:
        if not MIN_COMMAND_TIMEOUT <= self.timeout <= MAX_COMMAND_TIMEOUT:
            raise ValueError(
                f"timeout: SSM takes {duration_text(MIN_COMMAND_TIMEOUT)} to {duration_text(MAX_COMMAND_TIMEOUT)} "
                f"for a command (SendCommand's TimeoutSeconds), not {duration_text(self.timeout)}"
            )
        return self


HealthCheck.model_rebuild()


class LambdaHook(_Strict):
    """A Lambda function, invoked with the execution's context and `payload` (under "payload")."""

    function: FunctionName
    payload: dict[str, object] = Field(default_factory=dict)


class Hook(_Strict):
    """One step run before a wave's launch or after it: exactly one of automation or lambda."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_alias=True, validate_by_name=False, serialize_by_alias=True
    )

    automation: Automation | None = None
    lambda_: LambdaHook | None = Field(default=None, alias="lambda")
    # How long it may run: automations are followed across ticks; a Lambda answers within the tick.
    timeout: Seconds | None = None
    # stop (the default for hooks): a failed or timed-out hook fails its wave and stops the plan.
    on_failure: OnFailure = OnFailure.STOP
    # false: skipped in a drill (a DNS change that would touch production), run in a recovery.
    drill: bool = True

    @model_validator(mode="after")
    def _one_kind(self) -> Hook:
        if (self.automation is None) == (self.lambda_ is None):
            raise ValueError("give either automation: or lambda: (exactly one) for each hook")
        if self.timeout is not None and self.timeout < 1:
            raise ValueError("timeout: a hook needs at least 1s")
        if self.lambda_ is not None and (self.timeout or 0) > MAX_LAMBDA_HOOK_TIMEOUT:
            raise ValueError(
                f"timeout: {duration_text(self.timeout or 0)} is longer than a Lambda hook may take "
                f"({duration_text(MAX_LAMBDA_HOOK_TIMEOUT)}: it runs inside a tick); "
                "use an automation for longer work"
            )
        return self

    @property
    def kind(self) -> str:
        return "automation" if self.automation is not None else "lambda"

    @property
    def target(self) -> str:
        """The document or function, as the thread names it."""
        if self.automation is not None:
            return self.automation.document
        assert self.lambda_ is not None
        return self.lambda_.function

    @property
    def timeout_seconds(self) -> int:
        if self.timeout is not None:
            return self.timeout
        return DEFAULT_AUTOMATION_HOOK_TIMEOUT if self.automation is not None else DEFAULT_LAMBDA_HOOK_TIMEOUT


class WaveOptions(_Options):
    """How the engine runs one wave. A new option is declared here, used by the engine, and shown by
    the renderers: plans, executions, failbacks and the history carry this value whole. What the
    engine cannot honour is refused where a plans file is read (Wave), not here: stored executions
    written under other rules must still load."""

    # Seconds to wait after the previous wave ended before this one starts.
    wait_before: Seconds = 0
    # Servers not launched this long after the wave started are marked FAILED ("timed out").
    timeout: Seconds = DEFAULT_WAVE_TIMEOUT
    # stop: a wave that ends with any failed server skips the remaining waves and fails the execution.
    on_failure: OnFailure = OnFailure.CONTINUE
    # Stop before this wave (after its wait_before) until a person clicks Continue or Stop here.
    pause_before: StrictBool = False  # "yes" or 1 is a typo here, not a yes
    # After the launch, each server's health is checked (status CHECKING) before the next wave starts.
    health_check: HealthCheck | None = None
    # Hooks run in order before the wave's first StartRecovery, and after its servers launched (and
    # passed their health checks).
    before: tuple[Hook, ...] = ()
    after: tuple[Hook, ...] = ()

    @model_serializer(mode="wrap")
    def _unused_left_out(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # Newer than the previous release: left out where unused, so that what it stored keeps the
        # shape that release reads (it forbids unknown keys).
        dumped: dict[str, object] = handler(self)
        if not self.pause_before:
            dumped.pop("pause_before", None)
            dumped.pop("PauseBefore", None)
        if self.health_check is None:
            dumped.pop("health_check", None)
            dumped.pop("HealthCheck", None)
        for name in ("before", "after"):
            if not getattr(self, name):
                dumped.pop(name, None)
                dumped.pop(to_pascal(name), None)
        return dumped

    def hooks(self, phase: str) -> tuple[Hook, ...]:
        return self.before if phase == "before" else self.after


class Schedule(_Strict):
    """When scheduled drills start: an EventBridge Scheduler expression and its time zone."""

    expression: str
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _scheduler_accepts(self) -> Schedule:
        try:
            check_expression(self.expression)
        except ScheduleError as error:
            raise ValueError(f"expression: {error}") from None
        try:
            check_timezone(self.timezone)
        except ScheduleError as error:
            raise ValueError(f"timezone: {error}") from None
        return self


class PlanOptions(_Options):
    """How the bot runs any execution of a plan, held whole like WaveOptions."""

    # Readiness warns when replication lag or the newest snapshot is older than this.
    rpo_target: Seconds | None = None
    # The report judges the execution against it: request to the last server launched.
    rto_target: Seconds | None = None
    # Drills of this plan are cleaned up (their instances terminated) this long after they end.
    cleanup_after: Seconds | None = None
    # Where the plan's news goes: readiness changes (the watch), drill reminders, scheduled drills.
    channel: ChannelId | None = None
    # The channel is reminded when the last successful drill is older than this.
    drill_every: Days | None = None
    # A drill starts by itself on this EventBridge Scheduler schedule.
    schedule: Schedule | None = None

    @model_serializer(mode="wrap")
    def _unused_left_out(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # Options newer than the previous release are left out where unused, so that the catalog,
        # executions and the history of plans without them keep the shape it reads (it forbids them).
        dumped: dict[str, object] = handler(self)
        for name in _NEWER_OPTIONS:
            if getattr(self, name) is None:
                dumped.pop(name, None)
                dumped.pop(to_pascal(name), None)
        return dumped


_NEWER_OPTIONS = ("rto_target", "channel", "drill_every", "schedule")


def _gather(data: object, options: type[_Options]) -> object:
    """plans.yml keeps options beside the other keys; the model holds them as one `options` value
    (code passes it whole; a file may not: `options:` there is an unknown key)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    flat = {name: data.pop(name) for name in options.model_fields if name in data}
    if "options" not in data:
        data["options"] = flat
    elif not isinstance(data["options"], options) or flat:
        raise ValueError("options: unknown key (check the spelling; unknown keys are not ignored)")
    return data


def _flatten(handler: SerializerFunctionWrapHandler, value: BaseModel) -> dict[str, object]:
    dumped: dict[str, object] = handler(value)
    held = dumped.pop("options", {})
    assert isinstance(held, dict)
    return {**dumped, **held}


class ProtectionGroup(_Strict):
    """A named set of DRS source servers in one account and region: listed, or selected by their tags
    at run time. Without `account`, the bot's own account."""

    name: Name
    region: Region
    account: Account | None = Field(default=None, exclude_if=lambda account: account is None)
    source_servers: list[SourceServerId] = Field(default_factory=list)
    source_server_tags: dict[str, str] = Field(default_factory=dict)
    # Servers whose failure is reported but never fails the wave or stops the plan (impact level).
    optional: list[SourceServerId] = Field(default_factory=list, exclude_if=lambda marked: not marked)

    @property
    def by_tags(self) -> bool:
        return bool(self.source_server_tags)

    @property
    def where(self) -> AccountRegion:
        return AccountRegion(self.account, self.region)

    @model_validator(mode="after")
    def _servers_unique(self) -> ProtectionGroup:
        if bool(self.source_servers) == bool(self.source_server_tags):
            raise ValueError(
                "source_servers: give either source_servers (a list of ids) or source_server_tags "
                "(tags that select servers at run time), not both and not neither"
            )
        seen: set[str] = set()
        for index, server in enumerate(self.source_servers):
            if server in seen:
                raise ValueError(f"source_servers[{index}]: {server} is listed twice")
            seen.add(server)
        if self.optional and self.by_tags:
            raise ValueError(
                "optional: a group selected by source_server_tags has no server list to mark; list its "
                "servers in source_servers to mark some optional"
            )
        marked: set[str] = set()
        for index, server in enumerate(self.optional):
            if server not in seen:
                raise ValueError(f"optional[{index}]: {server} is not in the group's source_servers")
            if server in marked:
                raise ValueError(f"optional[{index}]: {server} is listed twice")
            marked.add(server)
        return self


class Wave(_Strict):
    """One step of a plan: launch one protection group."""

    name: WaveName
    protection_group: Name
    options: WaveOptions = WaveOptions()

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: object) -> object:
        return _gather(data, WaveOptions)

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        # Stored as written: the catalog table holds the same shape as plans.yml.
        return _flatten(handler, self)

    @model_validator(mode="after")
    def _honourable(self) -> Wave:
        options = self.options
        if options.wait_before >= EXECUTOR_LOOP_SECONDS:
            raise ValueError(
                f"wait_before: {duration_text(options.wait_before)} is not shorter than the executor "
                f"follows an execution ({_LOOP}); the wave would never start"
            )
        if options.timeout < MIN_WAVE_TIMEOUT:
            raise ValueError(
                f"timeout: {duration_text(options.timeout)} is shorter than a DRS launch takes (about 9 "
                f"minutes), so healthy servers would fail; use at least {duration_text(MIN_WAVE_TIMEOUT)}"
            )
        if options.timeout > EXECUTOR_LOOP_SECONDS:
            raise ValueError(
                f"timeout: {duration_text(options.timeout)} is longer than the executor follows an "
                f"execution ({_LOOP}); the wave would never time out"
            )
        if options.health_check is not None:
            _check_health(options.health_check)
        return self


def _check_health(health: HealthCheck) -> None:
    if not health.checks():
        raise ValueError(
            "health_check: names no check; use ec2_status: true, ssm_online: true or alarms: [names] "
            "(or leave health_check out)"
        )
    if health.timeout < MIN_HEALTH_TIMEOUT:
        raise ValueError(
            f"health_check.timeout: {duration_text(health.timeout)} is shorter than EC2 takes to first "
            f"report a booted instance's status; use at least {duration_text(MIN_HEALTH_TIMEOUT)}"
        )
    if health.timeout > EXECUTOR_LOOP_SECONDS:
        raise ValueError(
            f"health_check.timeout: {duration_text(health.timeout)} is longer than the executor follows an "
            f"execution ({_LOOP}); the checks would never time out"
        )
    if len(health.alarms) > MAX_ALARMS:
        raise ValueError(
            f"health_check.alarms: {len(health.alarms)} alarms; CloudWatch reads at most {MAX_ALARMS}"
        )
    seen: set[str] = set()
    for index, name in enumerate(health.alarms):
        if name in seen:
            raise ValueError(f"health_check.alarms[{index}]: {name!r} is listed twice")
        seen.add(name)


class RecoveryPlan(_Strict):
    """A named, ordered list of waves."""

    name: Name
    description: str = ""
    waves: list[Wave] = Field(min_length=1)
    options: PlanOptions = PlanOptions()

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: object) -> object:
        return _gather(data, PlanOptions)

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        return _flatten(handler, self)

    @model_validator(mode="after")
    def _wave_names_unique(self) -> RecoveryPlan:
        _reject_duplicates([wave.name for wave in self.waves], "waves")
        return self

    @model_validator(mode="after")
    def _fits_the_executor(self) -> RecoveryPlan:
        for name in ("rpo_target", "rto_target", "cleanup_after"):
            if getattr(self.options, name) == 0:
                raise ValueError(f"{name}: 0 is not a duration more than 0 (leave the key out for none)")
        if len(self.waves) > MAX_WAVES_PER_PLAN:
            return self  # bot.domain.limits refuses it, more plainly than a sum of launch times would
        # The waits are certain and every wave takes at least a launch: if they (and a drill's
        # cleanup_after) outlast the executor's loop, the plan's end can never be reached.
        waits = sum(wave.options.wait_before for wave in self.waves)
        needed = waits + len(self.waves) * LAUNCH_SECONDS
        if needed > EXECUTOR_LOOP_SECONDS:
            raise ValueError(
                f"waves: their wait_before ({duration_text(waits)}) and about 9 minutes of launch per "
                f"wave add up to {duration_text(needed)}, longer than the executor follows an "
                f"execution ({_LOOP})"
            )
        cleanup = self.options.cleanup_after or 0
        if needed + cleanup > EXECUTOR_LOOP_SECONDS:
            raise ValueError(
                f"cleanup_after: {duration_text(cleanup)} after the waves (at least "
                f"{duration_text(needed)}) is later than the executor follows an execution ({_LOOP}); "
                "the cleanup would never run"
            )
        return self

    @model_validator(mode="after")
    def _news_has_a_channel(self) -> RecoveryPlan:
        options = self.options
        for name in ("drill_every", "schedule"):
            if getattr(options, name) is not None and options.channel is None:
                raise ValueError(f"{name}: needs channel (a Slack channel id) to say where its news goes")
        if options.schedule is not None and options.cleanup_after is None:
            raise ValueError(
                "schedule: a scheduled drill needs cleanup_after, so that nobody has to remember to "
                "terminate its instances"
            )
        return self


class Catalog(_Strict):
    """Everything plans.yml declares, checked as a whole (names unique, references resolve)."""

    protection_groups: list[ProtectionGroup] = Field(default_factory=list)
    plans: list[RecoveryPlan] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> Catalog:
        _reject_duplicates([group.name for group in self.protection_groups], "protection_groups")
        _reject_duplicates([plan.name for plan in self.plans], "plans")
        groups = {group.name for group in self.protection_groups}
        for plan_index, plan in enumerate(self.plans):
            for wave_index, wave in enumerate(plan.waves):
                if wave.protection_group not in groups:
                    known = ", ".join(sorted(groups)) or "none"
                    raise ValueError(
                        f"plans[{plan_index}].waves[{wave_index}].protection_group: "
                        f"unknown protection group {wave.protection_group!r} (known: {known})"
                    )
        return self

    def plan(self, name: str) -> RecoveryPlan | None:
        return next((plan for plan in self.plans if plan.name == name), None)

    def group(self, name: str) -> ProtectionGroup:
        return next(group for group in self.protection_groups if group.name == name)

    def plan_names(self) -> list[str]:
        return [plan.name for plan in self.plans]


def _reject_duplicates(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            raise ValueError(f"{where}[{index}].name: {name!r} is used twice; names must be unique")
        seen.add(name)


class PlanProblem(BaseModel):
    """One thing wrong in a plans file, located the way a user searches the file."""

    model_config = ConfigDict(frozen=True)

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidCatalog(Exception):
    """A plans file that must not be applied; `problems` says where and why."""

    def __init__(self, source: str, problems: list[PlanProblem]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def account_problems(catalog: Catalog, accounts: Collection[str]) -> list[PlanProblem]:
    """Groups in an account the bot has no role for (`accounts`: the bot's TargetAccounts). A group
    without `account` is in the bot's own account, always reachable."""
    return [
        PlanProblem(
            path=f"protection_groups[{index}].account",
            message=(
                f"protection group {group.name} is in account {group.account}, which the bot has no role "
                "for: deploy cfn/target-account.yaml there and add the account to the bot stack's "
                "TargetAccounts parameter (known: " + (", ".join(sorted(accounts)) or "none") + ")"
            ),
        )
        for index, group in enumerate(catalog.protection_groups)
        if group.account is not None and group.account not in accounts
    ]


def parse_catalog(text: str | bytes, source: str) -> Catalog:
    """Parse and check plans.yml; raise InvalidCatalog naming `source` and each path.

    The YAML is read strictly (bot/domain/strict_yaml.py): a key written twice, a key that is not text,
    a tag, non-UTF-8 bytes, deep nesting or an alias bomb is refused before any value is built."""
    from pydantic import ValidationError

    from bot.domain.strict_json import DocumentError
    from bot.domain.strict_yaml import load_yaml

    try:
        data = load_yaml(text)
    except DocumentError as error:
        raise InvalidCatalog(
            source, [PlanProblem(path=problem.path, message=problem.message) for problem in error.problems]
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidCatalog(
            source, [PlanProblem(path="", message="expected a mapping with protection_groups and plans")]
        )
    try:
        return Catalog.model_validate(data)
    except ValidationError as error:
        raise InvalidCatalog(source, [_problem(e) for e in error.errors()]) from None


def _problem(error: object) -> PlanProblem:
    assert isinstance(error, dict)
    path = _format_loc(error.get("loc", ()))
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    # Our whole-catalog checks carry their own relative path ("plans[0].waves[1].x: ...").
    head, sep, rest = message.partition(": ")
    if sep and head and " " not in head and ("[" in head or "." in head or head.isidentifier()):
        path = f"{path}.{head}" if path else head
        message = rest
    if error.get("type") == "extra_forbidden":
        message = "unknown key (check the spelling; unknown keys are not ignored)"
    elif error.get("type") == "string_pattern_mismatch" and "source_servers" in path:
        message = f"{error.get('input')!r} is not a DRS source server id (s- followed by 17 letters/digits)"
    elif error.get("type") == "string_pattern_mismatch" and path.endswith("region"):
        message = f"{error.get('input')!r} is not an AWS region name (like us-east-1)"
    elif error.get("type") == "string_pattern_mismatch" and path.endswith("account"):
        message = f"{error.get('input')!r} is not an AWS account id (12 digits, quoted)"
    elif error.get("type") == "string_pattern_mismatch":
        message = f"{error.get('input')!r} is not a valid name (letters, digits, '.', '_' or '-'; no spaces)"
    elif error.get("type") == "greater_than_equal":
        message = f"{error.get('input')!r} is negative; durations are 0 or more"
    elif error.get("type") in _EXPECTED:
        message = f"expected {_EXPECTED[str(error.get('type'))]}, not {_kind(error.get('input'))}"
    elif error.get("type") == "too_short" and path.endswith("waves"):
        message = "a plan needs at least one wave"
    elif error.get("type") == "too_short" and path.endswith("source_servers"):
        message = "a protection group needs at least one source server"
    return PlanProblem(path=path, message=message)


# pydantic's wording for a value of the wrong shape, in the words of a YAML file.
_EXPECTED = {
    "model_type": "a mapping (key: value lines)",
    "dict_type": "a mapping (key: value lines)",
    "list_type": "a list (- item lines, or [a, b])",
    "string_type": "text",
    "bool_type": "true or false",
    "tuple_type": "a list (- item lines, or [a, b])",
}


def _kind(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value: quote it if it is text)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return "a list" if isinstance(value, list) else "a mapping"


def _format_loc(loc: object) -> str:
    path = ""
    for part in loc if isinstance(loc, tuple | list) else ():
        if part == "options":
            continue  # the model holds options as one value; the file writes them beside the others
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path
