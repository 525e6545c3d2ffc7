"""No rendered Slack text carries markup from strings the bot did not write, and every payload is valid.

Every string field of every event, of an execution, of a plans file's free text and of a typed command
is filled with arbitrary text rich in Slack's markup (`<!channel>`, `<@U…>`, `<https://…|label>`, `&`).
The fields are found by walking the models, so a field added later is covered without editing this test.
What comes out may contain `<…>` only as the bot's own mentions of the Slack ids it was given, and `&`
only as the start of `&amp;`, `&lt;` or `&gt;`; each payload validates with slack_sdk's Block Kit models
(round-tripping unchanged), the fake Slack's checker and Slack's size limits.
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from enum import Enum
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain import commands
from bot.domain.cleanup import CleanupRefusal
from bot.domain.execution import Execution, ExecutionStatus, ExecutionSummary, ExecutionType
from bot.domain.plans import Catalog
from bot.services.controlling import CancelResult
from bot.services.ports import Message
from bot.slack import ack, layout, replies, thread_messages
from bot.slack.mrkdwn import clip, escape
from tests.unit.builders import T0, at
from tests.unit.builders import execution as small_execution
from tests.unit.test_blocks_limits import all_failed, big_execution, every_event, view

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_MESSAGE_TEXT = 40_000

# Slack ids the bot was given by Slack itself (or its access policy): the only mentions allowed out.
USERS = ["U0ALICE", "U0BOB", "W0CAROL"]
GROUPS = ["S0DRLEADS"]
ALLOWED = {f"<@{u}>" for u in USERS} | {f"<!subteam^{g}>" for g in GROUPS}
USER_FIELDS = {"initiated_by", "approved_by", "rejected_by", "requested_by", "approvers", "user_id"}
BOT_FIELDS = {"kind", "execution_id"}  # the discriminator, and the id the bot generates (a button's value)

MARKUP = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0MALLORY>",
    "<@U0ALICE>",  # a real user's mention typed as text is still text
    "<#C0SECRET>",
    "<!subteam^S0DRLEADS>",
    "<https://evil.example/login|Click here to re-authenticate>",
    "<mailto:x@evil.example>",
    "&",
    "&amp;",
    "&lt;",
    "&#60;",
    "<",
    ">",
    "|",
    "*",
    "`",
    "\n",
]
# A string shaped like a Slack id ("U0", "C0X") is an id, not markup: given as a user or channel, the bot
# mentions it by design (bot/slack/mrkdwn.py), so it is no hostile input.
SLACK_ID = re.compile(r"[UWSCGD][A-Z0-9]+")
hostile = (
    st.lists(st.one_of(st.sampled_from(MARKUP), st.text(max_size=8)), min_size=1, max_size=10)
    .map("".join)
    .filter(lambda text: not SLACK_ID.fullmatch(text))
)
pools = st.lists(hostile, min_size=1, max_size=8)
user_ids = st.lists(st.one_of(st.sampled_from(USERS + GROUPS), hostile), min_size=1, max_size=4)


def poison(value: Any, texts: Callable[[], str], ids: Callable[[], str], name: str = "") -> Any:
    """`value` with every string in it (model fields, list items, dict keys and values) replaced."""
    if isinstance(value, Enum) or name in BOT_FIELDS:
        return value
    if isinstance(value, str):
        return ids() if name in USER_FIELDS else texts()
    if isinstance(value, list | tuple):
        return type(value)(poison(item, texts, ids, name) for item in value)
    if isinstance(value, dict):
        return {poison(k, texts, ids, name): poison(v, texts, ids, name) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return value.model_copy(
            update={
                field: poison(getattr(value, field), texts, ids, field) for field in type(value).model_fields
            }
        )
    return value


def cycling(values: list[str]) -> Callable[[], str]:
    return itertools.cycle(values).__next__


# --- what Slack would act on ----------------------------------------------------------------------


def slack_texts(node: Any) -> Iterator[str]:
    """Every `text` string of a payload: mrkdwn and plain_text objects, the message's fallback."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from slack_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from slack_texts(item)


def assert_no_foreign_markup(text: str) -> None:
    outside = re.sub("|".join(re.escape(token) for token in ALLOWED), "", text)
    assert "<" not in outside and ">" not in outside, text
    assert re.fullmatch(r"([^&]|&(amp|lt|gt);)*", outside, re.DOTALL), text


def assert_valid_payload(message: Message) -> None:
    from sandbox.slack_fake.blockkit import problems_in_blocks

    assert message.text.strip() and len(message.text) <= MAX_MESSAGE_TEXT
    assert len(message.blocks) <= MAX_BLOCKS
    assert problems_in_blocks(message.blocks) == []
    parsed = Block.parse_all(message.blocks)
    assert None not in parsed
    # to_dict() runs slack_sdk's validators (sizes, required fields) and must give back what we send.
    assert [block.to_dict() for block in parsed] == message.blocks
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_TEXT
    for text in [message.text, *slack_texts(message.blocks)]:
        assert_no_foreign_markup(text)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENTS = every_event()


# --- thread replies, the anchor and the approval card ---------------------------------------------


@SETTINGS
@given(texts=pools, ids=user_ids, which=st.sampled_from(range(len(EVENTS))))
def test_every_event_rendered_from_hostile_strings(texts: list[str], ids: list[str], which: int) -> None:
    event = poison(EVENTS[which], cycling(texts), cycling(ids))
    assert_valid_payload(thread_messages.event(event))


# The largest card the domain allows (4,000 servers in 60 waves), with a readiness verdict: escaping
# lengthens text up to five times, and every section must still fit.
CARD = view(
    big_execution(60, ExecutionType.RECOVERY).model_copy(
        update={"approvals_required": 2, "approval_expires_at": at(1800), "point_in_time": at(-60)}
    ),
    readiness_level="WARN",
    readiness_lines=["replication lag 3h", "no snapshot within the RPO target"],
    approved_by=["U0BOB"],
    rejected_by="U0BOB",
    rejection_reason="why",
)


@SETTINGS
@given(texts=pools, ids=user_ids, status=st.sampled_from(list(ExecutionStatus)))
def test_the_anchor_and_the_card_rendered_from_hostile_strings(
    texts: list[str], ids: list[str], status: ExecutionStatus
) -> None:
    card = poison(CARD.model_copy(update={"status": status}), cycling(texts), cycling(ids))
    assert_valid_payload(thread_messages.anchor(card, at(60)))


# --- ephemeral answers: text only, but Slack parses it the same way -------------------------------


def hostile_catalog(texts: list[str]) -> Catalog:
    """A plans file's free text: descriptions, wave names (one line, 64 characters), tag selectors."""
    wave = cycling([("w" + t.replace("\n", " "))[:63] for t in texts])
    tag = cycling(texts)
    return Catalog.model_validate(
        {
            "protection_groups": [
                {"name": "db", "region": "us-east-1", "source_servers": ["s-0000000000000000a"]},
                {"name": "web", "region": "us-east-1", "source_server_tags": {tag(): tag()}},
            ],
            "plans": [
                {
                    "name": "plan-x",
                    "description": tag(),
                    "waves": [
                        {"name": wave() + "1", "protection_group": "db"},
                        {"name": wave() + "2", "protection_group": "web"},
                    ],
                },
                {
                    "name": "plan-y",
                    "description": tag(),
                    "waves": [{"name": "only", "protection_group": "db"}],
                },
            ],
        }
    )


@SETTINGS
@given(texts=pools, typed=hostile)
def test_plans_and_plan_answers_from_a_hostile_plans_file(texts: list[str], typed: str) -> None:
    catalog = hostile_catalog(texts)
    for text in (
        replies.plans_list(catalog),
        replies.plan_text(catalog, "plan-x"),
        replies.plan_text(catalog, typed),
        replies.unknown_plan(typed, tuple(catalog.plan_names())),
        replies.unknown_plan(typed, ()),
    ):
        assert_valid_payload(Message(text=text))


@SETTINGS
@given(texts=pools, ids=user_ids)
def test_status_and_history_answers_from_hostile_strings(texts: list[str], ids: list[str]) -> None:
    execution: Execution = poison(all_failed(small_execution(3, 2, 1)), cycling(texts), cycling(ids))
    assert_valid_payload(Message(text=replies.status_text(execution, at(7200))))
    summary = ExecutionSummary(
        execution_id="0123456789abcdef",
        plan_name="plan-x",
        execution_type=ExecutionType.DRILL,
        status=ExecutionStatus.PARTIAL,
        initiated_by="U0ALICE",
        created_at=T0,
        start_time=T0,
        end_time=T0 + timedelta(hours=1),
        channel_id="C0DRILLS",
        total=2,
        launched=1,
        failed=1,
    )
    hostile_summary = poison(summary, cycling(texts), cycling(ids))
    assert_valid_payload(Message(text=replies.history_text([hostile_summary], texts[0], at(7200))))
    verdict = layout.readiness_text("WARN", texts, plan_name=texts[-1], forced=True)
    assert_valid_payload(Message(text=verdict))


@SETTINGS
@given(texts=pools, ids=user_ids, typed=hostile)
def test_answers_about_a_named_execution_from_hostile_strings(
    texts: list[str], ids: list[str], typed: str
) -> None:
    """What `/drs cancel`, `/drs cleanup` and `/drs execute` answer echoes what was typed and the plan's names."""
    execution: Execution = poison(small_execution(2), cycling(texts), cycling(ids))
    answers = [
        replies.no_execution(typed),
        replies.ambiguous(typed, [typed, *texts]),
        replies.plan_busy(typed, execution),
        replies.plan_busy(typed, None),
        replies.too_large(typed, texts[0]),
        replies.drs_unavailable(texts[0]),
        replies.card_not_posted(texts[0], "0123456789abcdef", typed),
        replies.drill_not_shown("0123456789abcdef", texts[0]),
        replies.drill_messages_late("0123456789abcdef", texts[0]),
        replies.no_snapshot(T0, texts),
        *(replies.cancel_reply(result, execution, typed) for result in CancelResult),
        *(replies.cleanup_reply(refusal, execution) for refusal in (None, *CleanupRefusal)),
    ]
    for text in answers:
        assert_valid_payload(Message(text=text))


@SETTINGS
@given(words=st.lists(st.one_of(hostile, st.sampled_from((*commands.KEYWORDS, "drill", "--at"))), max_size=5))
def test_the_ack_of_any_command_text(words: list[str]) -> None:
    """The ack echoes what was typed (a plan name, a typo): never as markup."""
    text = " ".join(words)
    assert_valid_payload(Message(text=ack.ack_text(commands.parse(text))))


def test_the_reject_form_validates_as_a_modal() -> None:
    modal = ack.reason_modal("0123456789abcdef", "C0DRILLS")
    assert View(**modal).to_dict() == modal


# --- the rule itself --------------------------------------------------------------------------------


@given(text=hostile, limit=st.integers(min_value=1, max_value=60))
def test_clipping_never_cuts_an_escape_or_a_mention_in_half(text: str, limit: int) -> None:
    clipped = clip(text, limit)
    assert len(clipped) <= max(limit, 1)
    assert_no_foreign_markup(clipped)
    if len(escape(text)) <= limit:
        assert clipped == escape(text)
    else:
        assert clipped.endswith("…") and escape(text).startswith(clipped[:-1])


def test_slack_reads_the_escaped_text_back_as_typed() -> None:
    for text in [*MARKUP, "a < b && c > d", "<<!here>>"]:
        assert html.unescape(escape(text)) == text


def test_no_slack_text_in_the_code_is_an_f_string_or_a_format() -> None:
    """The builders that send text (`_section`, `_message`, `_reply`…) take only Mrkdwn, which mypy checks.
    What mypy cannot see is a `text=` handed to Bolt or slack_sdk directly: it must be a built value
    (a name, an attribute, a call), never an f-string, a `+` or a `.format()` that skipped `md()`."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in sorted([*(root / "bot").rglob("*.py"), *(root / "handlers").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                value = keyword.value
                if keyword.arg != "text":
                    continue
                formatted = isinstance(value, ast.JoinedStr | ast.BinOp) or (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Attribute)
                    and value.func.attr == "format"
                )
                marked_up = isinstance(value, ast.Constant) and any(c in str(value.value) for c in "<>&")
                if formatted or marked_up:
                    offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []


def test_a_time_with_an_offset_is_shown_as_that_instant_in_utc() -> None:
    """An execution saved before `--at` was kept in UTC still shows the right instant."""
    from datetime import datetime

    from bot.domain.events import ExecutionStarted
    from bot.slack.mrkdwn import md

    kiribati = datetime.fromisoformat("2026-11-29T08:00:00+14:00")
    assert md("{:%Y-%m-%d %H:%M} UTC", kiribati) == "2026-11-28 18:00 UTC"
    started = ExecutionStarted(
        seq=1,
        at=T0,
        execution_id="0123456789abcdef",
        plan_name="plan-x",
        execution_type=ExecutionType.RECOVERY,
        initiated_by="U0ALICE",
        wave_count=1,
        server_count=1,
        point_in_time=kiribati,
    )
    text = thread_messages.event(started).blocks[0]["text"]["text"]
    assert "at or before 2026-11-28 18:00:00 UTC" in text and "08:00:00 UTC" not in text


def test_the_bot_s_own_markup_stays_markup_and_values_become_text() -> None:
    from bot.slack.mrkdwn import Mrkdwn, channel, md, user, usergroup

    assert md("*{}* by {}", "<!here> & co", user("U0ALICE")) == "*&lt;!here&gt; &amp; co* by <@U0ALICE>"
    assert user("<!channel>") == "&lt;!channel&gt;" and user("U0ALICE|x") == "U0ALICE|x"
    assert usergroup("S0DRLEADS") == "<!subteam^S0DRLEADS>" and channel("C0DRILLS") == "<#C0DRILLS>"
    assert Mrkdwn("a ") + "<b>" == "a &lt;b&gt;" and "<b>" + Mrkdwn(" a") == "&lt;b&gt; a"
    assert Mrkdwn(", ").join(["<x>", Mrkdwn("<@U0BOB>")]) == "&lt;x&gt;, <@U0BOB>"
    assert Mrkdwn("…and {n} more").format(n="<!here>") == "…and &lt;!here&gt; more"
    # Shortened before a mention or an escape, never inside one.
    assert clip("ab<c", 5) == "ab…" and clip(md("{} {}", "a", user("U0ALICE")), 8) == "a …"


def test_a_report_link_escapes_its_ampersands_and_refuses_markup() -> None:
    from bot.slack.mrkdwn import link

    url = "https://b.s3.amazonaws.com/reports/p/e.html?X-Amz-Expires=3600&X-Amz-Signature=ab"
    assert link(url, "Open the report") == (
        "<https://b.s3.amazonaws.com/reports/p/e.html?X-Amz-Expires=3600&amp;X-Amz-Signature=ab|Open the report>"
    )
    assert link("https://x|<!channel>", "Open") == "https://x|&lt;!channel&gt;"
    assert link("javascript:alert(1)", "Open") == "javascript:alert(1)"
