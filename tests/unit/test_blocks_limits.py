"""Every message the bot renders stays within Slack's limits, for a plan of DRS's 4,000-server maximum.

Slack refuses a message that breaks a Block Kit limit (`invalid_blocks`, `msg_too_long`): at 3 a.m. that
would be a thread that stops talking. Each renderer (bot/slack/thread_messages.py, replies.py) is fed the
largest inputs the domain allows (names of 64 characters, 4,000 servers in 1 and in 60 waves, 600-character DRS errors) and
checked with the fake Slack's own Block Kit checker plus the limits below.
"""

from __future__ import annotations

import re
import typing
from datetime import timedelta

import pytest

from bot.domain.engine import progress_fields
from bot.domain.events import (
    FAILURES_LISTED,
    ApprovalExpired,
    ApprovalRecorded,
    ApprovalRequested,
    CancelRequested,
    CleanupFinished,
    CleanupScheduled,
    CleanupStarted,
    ControlRecorded,
    Event,
    ExecutionApproved,
    ExecutionFinished,
    ExecutionRejected,
    ExecutionStarted,
    FailbackReprotected,
    FailbackReversed,
    FailbackReverseWaiting,
    FailbackSyncFinished,
    FailbackSyncProgress,
    HealthFailing,
    HookFinished,
    ProgressUpdated,
    ReadinessReported,
    RetryRequested,
    ServerFailure,
    TimelineReady,
    WaveChecking,
    WaveFinished,
    WaveGated,
    WaveLine,
    WaveScheduled,
    WaveSkippedByUser,
    WavesSkipped,
    WaveStarted,
)
from bot.domain.execution import (
    ERROR_TEXT_LIMIT,
    ActionKind,
    Approval,
    Execution,
    ExecutionStatus,
    ExecutionSummary,
    ExecutionType,
    Rejection,
    ServerStatus,
    WaveStatus,
    new_execution,
)
from bot.domain.health import FAILING_LISTED
from bot.domain.hooks import OUTPUT_LIMIT
from bot.domain.plans import Catalog
from bot.services.ports import Message
from bot.slack import ack, ids, replies, thread_messages
from sandbox.slack_fake.blockkit import problems_in_blocks
from tests.unit.builders import T0, at, server_ids

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_MESSAGE_TEXT = 40_000
SERVERS = 4000  # DRS's source-server quota per region: the largest plan a wave engine can meet
JOB_IDS = [f"drsjob-{n:017x}" for n in range(SERVERS // 100)]  # 100 servers per StartRecovery
NAME = "n" * 63  # plan, group and wave names: at most 64 characters
DRS_ERROR = (
    "Failed to launch recovery instance: You are not authorized to perform this operation: "
    "ec2:CreateLaunchTemplateVersion. Encoded authorization failure message: "
)
LONG_ERROR = (DRS_ERROR + "x" * ERROR_TEXT_LIMIT)[: ERROR_TEXT_LIMIT - 1] + "…"
USERS = [f"U{n:010d}" for n in range(2)]
REASON = "r" * 500  # the reject modal's max_length


def big_catalog(*wave_sizes: int) -> Catalog:
    groups = [
        {"name": f"{NAME[:60]}{i:04d}", "region": "ap-southeast-2", "source_servers": server_ids(f"{i:x}", n)}
        for i, n in enumerate(wave_sizes)
    ]
    waves = [
        {"name": f"{NAME[:60]}{i:04d}", "protection_group": group["name"]} for i, group in enumerate(groups)
    ]
    plan = {"name": f"{NAME}p", "description": "d" * 300, "waves": waves}
    return Catalog.model_validate({"protection_groups": groups, "plans": [plan]})


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def big_execution(waves: int, kind: ExecutionType = ExecutionType.DRILL) -> Execution:
    catalog = big_catalog(*split(SERVERS, waves))
    plan = catalog.plans[0]
    return new_execution(
        execution_id="0123456789abcdef",
        plan=plan,
        catalog=catalog,
        execution_type=kind,
        initiated_by=USERS[0],
        channel_id="C0DRILLS",
        now=T0,
        servers_per_job=100,
    )


def all_failed(execution: Execution) -> Execution:
    """Every server FAILED with a DRS error of the longest length the history keeps."""
    done = execution
    for wave in execution.waves:
        chunks = tuple(
            chunk.model_copy(
                update={
                    "job_id": JOB_IDS[chunk.index % len(JOB_IDS)],
                    "servers": tuple(
                        s.model_copy(update={"status": ServerStatus.FAILED, "error": LONG_ERROR})
                        for s in chunk.servers
                    ),
                }
            )
            for chunk in wave.chunks
        )
        done = done.replace_wave(
            wave.model_copy(
                update={"status": WaveStatus.FAILED, "start_time": T0, "end_time": at(600), "chunks": chunks}
            )
        )
    return done.model_copy(update={"status": ExecutionStatus.FAILED, "end_time": at(3600)})


def view(execution: Execution, **changes: object) -> ProgressUpdated:
    return ProgressUpdated(seq=1, **{**progress_fields(execution, at(60)), **changes})


def check_message(message: Message) -> None:
    assert problems_in_blocks(message.blocks) == []
    assert len(message.blocks) <= MAX_BLOCKS
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
    check_text(message.text)
    assert "*" not in message.text and "`" not in message.text, "the fallback is plain text"


def check_text(text: str) -> None:
    assert text.strip(), "a message always has a fallback text"
    assert len(text) <= MAX_MESSAGE_TEXT


def section_texts(message: Message) -> str:
    return "\n".join(block["text"]["text"] for block in message.blocks if block["type"] == "section")


# --- the anchor message and the approval card ----------------------------------------------------

WAVE_COUNTS = [1, 60]


@pytest.mark.parametrize("waves", WAVE_COUNTS)
@pytest.mark.parametrize(
    "status", [ExecutionStatus.IN_PROGRESS, ExecutionStatus.COMPLETED, ExecutionStatus.FAILED]
)
def test_anchor_of_a_drill(waves: int, status: ExecutionStatus) -> None:
    execution = big_execution(waves)
    if status is ExecutionStatus.FAILED:
        execution = all_failed(execution)
    else:
        execution = execution.model_copy(update={"status": status})
    message = thread_messages.anchor(view(execution), at(60))
    check_message(message)
    assert_every_wave_accounted_for(waves_section(message), waves)


def waves_section(message: Message) -> str:
    text: str = next(
        block["text"]["text"]
        for block in message.blocks
        if block["type"] == "section" and re.match(r"^:\w+: 1\. ", block["text"]["text"])
    )
    return text


def assert_every_wave_accounted_for(text: str, waves: int) -> None:
    """Waves that do not fit are counted, never cut off mid-line or silently dropped."""
    listed = text.splitlines()
    shown = [line for line in listed if re.match(r"^:\w+: \d+\. ", line)]
    more = [int(m.group(1)) for line in listed if (m := re.match(r"^…and (\d+) more waves$", line))]
    assert len(shown) + sum(more) == waves, listed
    assert len(shown) + len(more) == len(listed), listed


@pytest.mark.parametrize("waves", WAVE_COUNTS)
def test_approval_card(waves: int) -> None:
    execution = big_execution(waves, ExecutionType.RECOVERY).model_copy(
        update={
            "approvals_required": 2,
            "approval_expires_at": at(1800),
            "approvals": (Approval(user_id=USERS[1], at=at(30)),),
        }
    )
    card = view(
        execution,
        readiness_level="WARN",
        readiness_lines=[f"{n} servers: replication lag 3h ({'x' * 150})" for n in range(8)],
    )
    message = thread_messages.anchor(card, at(60))
    check_message(message)
    buttons = next(block for block in message.blocks if block["type"] == "actions")
    assert {element["action_id"] for element in buttons["elements"]} == {
        ids.APPROVE_ACTION,
        ids.REJECT_ACTION,
    }
    assert f"*Servers:* {SERVERS}" in section_texts(message)
    assert_every_wave_accounted_for(waves_section(message), waves)


@pytest.mark.parametrize("waves", WAVE_COUNTS)
@pytest.mark.parametrize(
    "status", [ExecutionStatus.IN_PROGRESS, ExecutionStatus.REJECTED, ExecutionStatus.EXPIRED]
)
def test_the_card_after_the_decision(waves: int, status: ExecutionStatus) -> None:
    execution = big_execution(waves, ExecutionType.RECOVERY).model_copy(
        update={
            "status": status,
            "approvals_required": 2,
            "approval_expires_at": at(1800),
            "end_time": at(1800) if status is not ExecutionStatus.IN_PROGRESS else None,
            "approvals": tuple(Approval(user_id=user, at=at(30)) for user in USERS),
            "rejection": (
                Rejection(user_id=USERS[1], at=at(40), reason=REASON)
                if status is ExecutionStatus.REJECTED
                else None
            ),
        }
    )
    check_message(thread_messages.anchor(view(execution), at(60)))


def test_the_reject_reason_modal() -> None:
    modal = ack.reason_modal("0123456789abcdef", "C0DRILLS")
    assert problems_in_blocks(modal["blocks"]) == []
    assert len(modal["title"]["text"]) <= 24  # a modal title's limit
    assert len(modal["private_metadata"]) <= 3000


# --- every thread reply --------------------------------------------------------------------------


def wave_finished_with_failures() -> WaveFinished:
    failures = [
        ServerFailure(source_server_id=sid, error=LONG_ERROR, job_id=JOB_IDS[0])
        for sid in server_ids("0", FAILURES_LISTED)
    ]
    return WaveFinished(
        seq=9,
        at=at(600),
        execution_id="0123456789abcdef",
        wave_index=59,
        wave_count=60,
        wave_name=NAME,
        status=WaveStatus.FAILED,
        launched=0,
        failed=SERVERS,
        not_started=0,
        duration_seconds=4 * 3600,
        job_ids=JOB_IDS,
        failures=failures,
        more_failures=SERVERS - FAILURES_LISTED,
    )


def every_event() -> list[Event]:
    """One event of each kind, each as large as the domain lets it be."""
    common = {"seq": 3, "at": at(60), "execution_id": "0123456789abcdef"}
    execution = big_execution(1, ExecutionType.RECOVERY)
    events: list[Event] = [
        ExecutionStarted(
            **common,
            plan_name=NAME,
            execution_type=ExecutionType.RECOVERY,
            initiated_by=USERS[0],
            wave_count=60,
            server_count=SERVERS,
        ),
        WaveStarted(
            **common,
            wave_index=0,
            wave_count=1,
            wave_name=NAME,
            protection_group=NAME,
            region="ap-southeast-2",
            server_count=SERVERS,
            job_ids=JOB_IDS,
        ),
        WaveChecking(
            **common,
            wave_index=0,
            wave_count=60,
            wave_name=NAME,
            healthy=0,
            launched=SERVERS,
            checks=["ec2_status", "ssm_online", "alarms"],
            timeout_seconds=12 * 3600,
            failing=[
                HealthFailing(source_server_id=f"s-{i:017d}", check="alarms", detail="<&>" * 100)
                for i in range(FAILING_LISTED)
            ],
            more_failing=SERVERS - FAILING_LISTED,
        ),
        WaveScheduled(
            **common,
            wave_index=1,
            wave_count=60,
            wave_name=NAME,
            starts_at=at(3600),
            wait_seconds=3600,
        ),
        wave_finished_with_failures(),
        WavesSkipped(
            **common,
            wave_names=[f"{NAME[:60]}{n:04d}" for n in range(59)],
            reason=f"wave {NAME} ended FAILED and its on_failure is stop",
        ),
        HookFinished(
            **common,
            wave_index=1,
            wave_count=60,
            wave_name=NAME,
            phase="after",
            hook_index=9,
            hook_count=10,
            hook_kind="automation",
            target="D" * 128,
            region="ap-southeast-2",
            status="FAILED",
            run_id="a" * 36,
            output="<&>" * (OUTPUT_LIMIT // 3),
            error="<&>" * (ERROR_TEXT_LIMIT // 3),
            stops=True,
            duration_seconds=11 * 3600,
        ),
        CancelRequested(**common, requested_by=USERS[0], jobs_running=20),
        WaveGated(
            **common,
            execution_type=ExecutionType.RECOVERY,
            initiated_by=USERS[0],
            wave_index=59,
            wave_count=60,
            wave_name=NAME,
            protection_group=NAME,
            region="ap-southeast-2",
            server_count=SERVERS,
            first_servers=[f"s-{n:017d}" for n in range(5)],
            why="step",
            done=[
                WaveLine(
                    name=NAME, protection_group=NAME, region="ap-southeast-2", servers=100, status=status
                )
                for status in [WaveStatus.PARTIAL] * 10
            ],
            waves_done=59,
            launched=SERVERS - 1,
            failed=1,
            reminder=True,
            gated_at=at(0),
        ),
        ControlRecorded(
            **common,
            control=ActionKind.PAUSE,
            user_id=USERS[0],
            wave_index=59,
            wave_name=NAME,
            wave_count=60,
            jobs_running=20,
        ),
        RetryRequested(
            **common,
            requested_by=USERS[0],
            wave_index=59,
            wave_count=60,
            wave_name=NAME,
            servers=[f"s-{n:017x}" for n in range(FAILURES_LISTED)],
            server_count=4000,
            reopened_waves=[f"{NAME[:60]}{n:04d}" for n in range(59)],
            reopened_execution=True,
        ),
        WaveSkippedByUser(
            **common, skipped_by=USERS[0], wave_index=1, wave_count=60, wave_name=NAME, reason="r" * 500
        ),
        ApprovalRequested(
            **common,
            plan_name=NAME,
            execution_type=ExecutionType.RECOVERY,
            requested_by=USERS[0],
            approvers=[f"U{n:010d}" for n in range(100)] + [f"S{n:010d}" for n in range(20)],
            approvals_required=2,
            expires_at=at(24 * 3600),
        ),
        ApprovalRecorded(**common, approved_by=USERS[1], approvals=1, approvals_required=2),
        ExecutionApproved(**common, approved_by=USERS),
        ExecutionRejected(**common, rejected_by=USERS[1], reason=REASON),
        ApprovalExpired(**common, expired_at=at(1800)),
        view(execution),
        ExecutionFinished(
            **common,
            plan_name=NAME,
            execution_type=ExecutionType.RECOVERY,
            status=ExecutionStatus.PARTIAL,
            launched=SERVERS - 1,
            failed=1,
            total=SERVERS,
            duration_seconds=5 * 3600,
        ),
        TimelineReady(
            **common,
            plan_name=NAME,
            execution_type=ExecutionType.RECOVERY,
            status=ExecutionStatus.PARTIAL,
            launched=SERVERS - 1,
            total=SERVERS,
            duration_seconds=5 * 3600,
        ),
        ReadinessReported(
            **common, level="BLOCKED", lines=[f"{n}: {'x' * 200}" for n in range(8)], forced=True
        ),
        CleanupScheduled(**common, due_at=at(24 * 3600)),
        CleanupStarted(
            **common,
            requested_by=USERS[0],
            terminating=SERVERS,
            already_gone=0,
            job_ids=JOB_IDS[: SERVERS // 200],  # TerminateRecoveryInstances takes 200 instances a call
            failures=[f"i-{n:017x}: {LONG_ERROR}" for n in range(FAILURES_LISTED)],
        ),
        CleanupFinished(
            **common,
            terminated=SERVERS - FAILURES_LISTED,
            already_gone=0,
            failures=[f"i-{n:017x}: {LONG_ERROR}" for n in range(FAILURES_LISTED)],
        ),
        *failback_events(common),
    ]
    return events


def failback_events(common: dict[str, typing.Any]) -> list[Event]:
    """Failback's steps for 4,000 servers, each of the 20 listed failures with a long DRS error."""
    failures = [
        ServerFailure(source_server_id=f"s-{n:017x}", error=LONG_ERROR) for n in range(FAILURES_LISTED)
    ]
    more = SERVERS - FAILURES_LISTED
    return [
        FailbackReversed(
            **common,
            reversed=0,
            total=SERVERS,
            origin_regions=["ap-southeast-2", "us-west-2"],
            failures=failures,
            more_failures=more,
        ),
        FailbackReverseWaiting(
            **common,
            waiting=SERVERS,
            total=SERVERS,
            servers=[
                ServerFailure(source_server_id=f"i-{n:017x}", error=LONG_ERROR)
                for n in range(FAILURES_LISTED)
            ],
            more_servers=more,
            deadline=T0 + timedelta(hours=6),
        ),
        FailbackSyncProgress(
            **common,
            continuous=1,
            total=SERVERS,
            states={
                state: 400 for state in ("INITIATING", "INITIAL_SYNC", "BACKLOG", "CONTINUOUS", "STALLED")
            },
            deadline=T0 + timedelta(hours=6),
        ),
        FailbackSyncFinished(**common, ready=0, total=SERVERS, failures=failures, more_failures=more),
        FailbackReprotected(**common, reprotected=0, total=SERVERS, failures=failures, more_failures=more),
    ]


def test_every_event_kind_is_covered() -> None:
    union = typing.get_args(typing.get_args(Event)[0])
    kinds = {model.model_fields["kind"].default for model in union}
    assert {event.kind for event in every_event()} == kinds


@pytest.mark.parametrize("event", every_event(), ids=lambda event: event.kind)
def test_every_event(event: Event) -> None:
    check_message(thread_messages.event(event))


def test_a_wave_started_as_4000_jobs_of_one_server() -> None:
    """servers_per_job may be set as low as 1: the job list is cut, never the message refused."""
    started = WaveStarted(
        seq=2,
        at=at(0),
        execution_id="0123456789abcdef",
        wave_index=0,
        wave_count=1,
        wave_name=NAME,
        protection_group=NAME,
        region="ap-southeast-2",
        server_count=SERVERS,
        job_ids=[f"drsjob-{n:017x}" for n in range(SERVERS)],
    )
    check_message(thread_messages.event(started))


def test_a_wave_of_4000_failures_lists_20_and_counts_the_rest() -> None:
    message = thread_messages.event(wave_finished_with_failures())
    check_message(message)
    shown = section_texts(message)
    # Every listed failure and the count of the others survive (no cut in the middle of the list).
    for sid in server_ids("0", FAILURES_LISTED):
        assert sid in shown
    assert f"…and {SERVERS - FAILURES_LISTED} more failed servers" in shown
    assert DRS_ERROR[:80] in shown  # the start of DRS's own text is kept


# --- the ephemeral answers (text only) -----------------------------------------------------------


@pytest.mark.parametrize("waves", WAVE_COUNTS)
def test_status_text(waves: int) -> None:
    text = replies.status_text(all_failed(big_execution(waves)), at(7200))
    check_text(text)


def summaries(count: int) -> list[ExecutionSummary]:
    return [
        ExecutionSummary(
            execution_id=f"{n:016x}",
            plan_name=NAME,
            execution_type=ExecutionType.RECOVERY,
            status=ExecutionStatus.PARTIAL,
            initiated_by=USERS[0],
            created_at=T0 - timedelta(days=n),
            start_time=T0 - timedelta(days=n),
            end_time=T0 - timedelta(days=n) + timedelta(hours=5),
            channel_id="C0DRILLS",
            total=SERVERS,
            launched=SERVERS - 1,
            failed=1,
        )
        for n in range(count)
    ]


def test_history_text_with_50_entries() -> None:
    check_text(replies.history_text(summaries(50), NAME, T0))
    check_text(replies.history_text(summaries(50), None, T0))
    check_text(replies.history_text([], NAME, T0))


@pytest.mark.parametrize("waves", WAVE_COUNTS)
def test_plan_text(waves: int) -> None:
    catalog = big_catalog(*split(SERVERS, waves))
    check_text(replies.plan_text(catalog, catalog.plans[0].name))
    check_text(replies.plan_text(catalog, "no-such-plan"))


def many_plans(count: int) -> Catalog:
    groups = [
        {"name": f"g{n}", "region": "us-east-1", "source_servers": server_ids(f"{n:x}", 1)}
        for n in range(count)
    ]
    plans = [
        {
            "name": f"{NAME[:58]}{n:06d}",
            "description": "Payments stack, primary region, all tiers " * 10,
            "waves": [{"name": "Wave 1", "protection_group": f"g{n}"}],
        }
        for n in range(count)
    ]
    return Catalog.model_validate({"protection_groups": groups, "plans": plans})


@pytest.mark.parametrize("count", [0, 1, 100, 1000])
def test_plans_list(count: int) -> None:
    check_text(replies.plans_list(many_plans(count)))


def test_unknown_plan_with_many_known() -> None:
    catalog = many_plans(1000)
    check_text(replies.unknown_plan("plan-y", tuple(catalog.plan_names())))


def test_help() -> None:
    from bot.domain.commands import USAGE

    check_text(ack.help_text(USAGE))


@pytest.mark.parametrize("kind", [ExecutionType.DRILL, ExecutionType.RECOVERY])
def test_sixty_waves_with_ordinary_names(kind: ExecutionType) -> None:
    from tests.unit.builders import execution as ordinary

    running = ordinary(*split(SERVERS, 60), kind=kind)
    if kind is ExecutionType.RECOVERY:
        running = running.model_copy(update={"approvals_required": 1, "approval_expires_at": at(1800)})
    message = thread_messages.anchor(view(running), at(60))
    check_message(message)
    assert_every_wave_accounted_for(waves_section(message), 60)


def test_few_failures_keep_drs_errors_whole_and_twenty_keep_a_typical_one() -> None:
    few = wave_finished_with_failures().model_copy(
        update={"failures": wave_finished_with_failures().failures[:3], "more_failures": 0, "failed": 3}
    )
    assert section_texts(thread_messages.event(few)).count(LONG_ERROR) == 3
    typical = "Failed to launch recovery instance: You are not authorized to perform: ec2:CreateLaunchTemplateVersion"
    twenty = wave_finished_with_failures()
    twenty = twenty.model_copy(
        update={"failures": [f.model_copy(update={"error": typical}) for f in twenty.failures]}
    )
    message = thread_messages.event(twenty)
    check_message(message)
    assert section_texts(message).count(typical) == FAILURES_LISTED
