"""Hostile Slack, through the real WebClient and the fake Web API over HTTP: long rate limits, a busy
channel, a channel the bot is not in, an archived one. Nothing is posted twice, out of order, or lost,
and nothing is retried for ever."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.adapters.slack_notifier import LONGEST_CALL_SECONDS, SlackNotifier, web_client
from bot.domain.execution import ExecutionStatus, ExecutionType
from bot.errors import SlackUnavailable, StaleExecution
from bot.services.outbox import CLAIM_SECONDS, RECHECK_SECONDS
from bot.services.ports import Message
from bot.services.requesting import RequestResult
from bot.services.use_cases import UseCases
from sandbox.slack_fake import FakeSlack
from tests.integration.executor_world import CHANNEL, World, build_world
from tests.integration.test_executor_faults import assert_told_the_truth
from tests.unit.builders import catalog


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def world(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Iterator[World]:
    slack.reset()
    slack.add_channel(CHANNEL)  # a member, not archived: tests below change it
    built, server = build_world(dynamodb, tables, catalog(3, 2), slack)
    yield built
    server.stop()


def production_notifier(world: World) -> SlackNotifier:
    """The notifier as wired on AWS: its client retries short rate limits in place, and only those."""
    return SlackNotifier(web_client(world.slack.bot_token, world.slack.api_url))


def race(use_cases: UseCases, execution_id: str) -> None:
    with contextlib.suppress(StaleExecution):
        use_cases.ticking.tick(execution_id)


def thread_order(world: World) -> list[int]:
    replies = [m for m in world.slack.messages(CHANNEL) if m["thread_ts"] and not m["ephemeral"]]
    return [int(m["metadata"]["event_payload"]["key"].split(":")[1]) for m in replies]


def history_calls(world: World) -> list[dict[str, Any]]:
    return [c for c in world.slack.calls if c["method"] == "conversations.history"]


def anchors(world: World) -> list[dict[str, Any]]:
    return [m for m in world.slack.messages(CHANNEL) if not m["thread_ts"] and m["author"] == "U0BOT"]


# --- rate limits: a claim outlives every call made under it -------------------------------------------


def test_a_claim_outlives_the_longest_slack_call() -> None:
    assert CLAIM_SECONDS > 2 * LONGEST_CALL_SECONDS


def test_a_long_retry_after_is_not_waited_out_in_place(world: World) -> None:
    notifier = production_notifier(world)
    world.slack.inject_fault("chat.postMessage", "ratelimited", count=2, retry_after=30)
    began = time.monotonic()
    with pytest.raises(SlackUnavailable) as raised:
        notifier.post(CHANNEL, Message(text="hello"), key="k")
    assert time.monotonic() - began < 5  # not 2 x 30 s asleep while holding a claim
    assert raised.value.error == "ratelimited" and raised.value.retry_after == 30
    assert world.slack.messages(CHANNEL) == []
    # A short one is ridden out in place, as before.
    world.slack.clear_faults()
    world.slack.inject_fault("chat.postMessage", "ratelimited", count=2, retry_after=1)
    notifier.post(CHANNEL, Message(text="hello"), key="k")
    assert [m["text"] for m in world.slack.messages(CHANNEL)] == ["hello"]


def test_two_deliveries_racing_through_long_retry_afters_post_each_message_once_in_order(
    world: World,
) -> None:
    use_cases = world.use_cases(notifier=production_notifier(world))
    world.slack.inject_fault("chat.postMessage", "ratelimited", count=2, retry_after=40)
    execution_id = world.start_drill(use_cases)
    for _ in range(3):  # Slack keeps saying "wait 40 s" to several posts while two ticks race
        world.slack.inject_fault("chat.postMessage", "ratelimited", count=2, retry_after=40)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda _: race(use_cases, execution_id), range(2)))
        world.clock.advance(30)
    began = time.monotonic()
    world.run(use_cases, execution_id, parallel=2)
    assert time.monotonic() - began < 60
    limited = [c for c in world.slack.calls if c["outcome"] == "fault:ratelimited"]
    assert len(limited) == 8
    assert_told_the_truth(world, execution_id)
    order = thread_order(world)
    assert order == sorted(order)


def test_a_deliverer_whose_claim_was_taken_over_posts_nothing(world: World) -> None:
    """Deliverer A looks for an anchor an earlier attempt may have posted; Slack answers late, and A's
    claim expires meanwhile. B takes over and posts everything. A must not post again."""
    use_cases = world.use_cases()
    world.slack.inject_fault("chat.postMessage", "server_error")  # the anchor's first attempt fails
    execution_id = world.start_drill(use_cases)
    assert anchors(world) == []
    world.slack.inject_fault("conversations.history", "slow", delay=1.5)
    lookups = len(history_calls(world))
    a = threading.Thread(target=world.use_cases().ticking.tick, args=(execution_id,))
    a.start()
    deadline = time.monotonic() + 10
    while len(history_calls(world)) == lookups:  # A's look-up reached Slack; its answer is late
        assert time.monotonic() < deadline
        time.sleep(0.02)
    world.clock.advance(CLAIM_SECONDS + 1)  # A's claim expires while its look-up is answered late
    world.use_cases().ticking.tick(execution_id)  # B
    a.join()
    world.run(use_cases, execution_id)
    assert len(anchors(world)) == 1
    assert_told_the_truth(world, execution_id)


# --- the anchor is found whatever the channel's traffic ------------------------------------------------


def test_a_lost_anchor_answer_is_found_in_a_busy_channel(world: World) -> None:
    use_cases = world.use_cases()
    # The anchor is posted, but its answer is lost; then the channel gets busy.
    world.slack.inject_fault("chat.postMessage", "ambiguous")
    execution_id = world.start_drill(use_cases)
    for n in range(450):
        world.slack.post_user_message(CHANNEL, "U0CHATTY", f"message {n}")
    world.run(use_cases, execution_id)
    assert len(anchors(world)) == 1
    assert_told_the_truth(world, execution_id)
    assert any(c["params"].get("cursor") for c in history_calls(world))  # it read past the first page


# --- a channel Slack refuses for good ---------------------------------------------------------------------


def test_an_archived_channel_stops_the_retries_and_loses_nothing_else(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    world.slack.add_channel(CHANNEL, is_archived=True)
    with caplog.at_level(logging.ERROR, logger="bot.services.outbox"):
        final = world.run(use_cases, execution_id)  # ends: it is not ticked for ever
    assert final.status is ExecutionStatus.COMPLETED
    assert set(world.launches_per_server(execution_id).values()) == {1}
    assert final.slack_blocked is not None and final.slack_blocked.error == "is_archived"
    assert execution_id not in world.store().active_ids()
    assert world.store().pending_events(execution_id)  # kept, not thrown away
    refused = [c for c in world.slack.calls if c["outcome"] == "is_archived"]
    assert final.end_time is not None
    ticks = (final.end_time - final.created_at).total_seconds() / 30
    assert len(refused) <= ticks * 30 / RECHECK_SECONDS + 2  # not one per tick
    (line,) = [r.getMessage() for r in caplog.records if "refuses every message" in r.getMessage()]
    assert f"{execution_id} to channel {CHANNEL} (is_archived)" in line and "unarchive" in line


def test_unarchived_while_it_runs_the_waiting_messages_follow_in_order(world: World) -> None:
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    world.slack.add_channel(CHANNEL, is_archived=True)
    for _ in range(4):
        use_cases.ticking.tick(execution_id)
        world.clock.advance(30)
    assert world.stored(execution_id).slack_blocked is not None
    world.slack.add_channel(CHANNEL)  # unarchived
    final = world.run(use_cases, execution_id)
    assert final.slack_blocked is None
    assert_told_the_truth(world, execution_id)
    order = thread_order(world)
    assert order == sorted(order)


@pytest.mark.parametrize("error", ["invalid_auth", "account_inactive", "channel_not_found"])
def test_other_permanent_refusals_stop_the_retries_too(world: World, error: str) -> None:
    use_cases = world.use_cases()
    execution_id = world.start_drill(use_cases)
    world.slack.inject_fault("*", "refused", error=error, count=10_000)
    final = world.run(use_cases, execution_id)
    world.slack.clear_faults()
    assert final.status is ExecutionStatus.COMPLETED
    assert final.slack_blocked is not None and final.slack_blocked.error == error
    assert execution_id not in world.store().active_ids()


# --- a recovery requested where the bot cannot post ------------------------------------------------------


def request_recovery(use_cases: UseCases, key: str) -> Any:
    return use_cases.requesting.request(
        plan_name="plan-x",
        execution_type=ExecutionType.RECOVERY,
        user_id="U0REQ",
        channel_id=CHANNEL,
        request_key=key,
    )


def test_a_recovery_whose_card_cannot_be_posted_ends_at_once_and_frees_the_plan(world: World) -> None:
    world.slack.add_channel(CHANNEL, is_member=False, is_private=True)
    use_cases = world.use_cases()
    outcome = request_recovery(use_cases, "war-room")
    assert outcome.result is RequestResult.CARD_NOT_POSTED
    assert outcome.slack_error == "channel_not_found"  # a private channel hides itself from outsiders
    ended = world.store().get(outcome.execution.execution_id)
    assert ended is not None and ended.status is ExecutionStatus.CANCELLED
    assert ended.slack_blocked is not None
    assert world.store().plan_holder("plan-x") is None
    assert world.store().active_ids() == []
    assert [c for c in world.emulator.calls if c.operation == "StartRecovery"] == []
    world.slack.add_channel(CHANNEL)  # invited: a new request goes through
    again = request_recovery(use_cases, "after-invite")
    assert again.result is RequestResult.APPROVAL_REQUESTED and again.card_posted
