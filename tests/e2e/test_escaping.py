"""Text the bot did not write reaches Slack as text, never as markup (issue #12, item 1).

Reproduced through the sandbox's HTTP path as a reviewer did: a plans file whose wave name and
description carry `<!here>`, a mention and a disguised link; a DRS launch error carrying `<!channel>`
(the emulator's launch-failure fault); a reject reason; command texts echoed back. What the fake Slack
received (every message, every edit, every ephemeral reply) may contain `<…>` only where the bot
mentions someone who acted; the rest arrives escaped, and a reader sees it exactly as typed.
And `--at` with a +14:00 offset is shown as the same instant in UTC everywhere it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import yaml

from bot.domain.execution import ExecutionStatus
from bot.slack.ids import APPROVE_ACTION, REASON_BLOCK, REASON_INPUT, REJECT_ACTION
from drs_cli.main import main as drs_bot
from sandbox.stack import REPORTS_BUCKET
from sandbox.transcript import render_channel
from tests.e2e.conftest import APPROVER, LEAD_MEMBERS, PLANS, Sandbox

CHANNEL_PING = "<!channel>"
HERE_PING = "<!here>"
MENTION = "<@U0MALLORY>"
PHISH = "<https://evil.example/login|Click here to re-authenticate>"
WAVE_NAME = f"{HERE_PING} {MENTION} & <https://evil.example|Log in>"  # wave names: 64 characters at most
DESCRIPTION = f"{CHANNEL_PING} {PHISH} & friends"
DRS_ERROR = f"{CHANNEL_PING} Launch failed: {PHISH} (code <5> & more)"
REASON = "<!channel> <https://evil.example|x>"
HOSTILE_SERVERS = ["s-2b0000000000000e1", "s-2b0000000000000e2"]
HOSTILE_PLAN = "plan-hostile"
REQUESTER = "U0REQUESTER"


@pytest.fixture(scope="module")
def hostile_plan(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shared plans plus one whose free text is hostile, applied as an operator does
    (`drs-bot plans apply`); DRS knows its servers, and one of them fails to launch with a hostile error."""
    catalog = yaml.safe_load(PLANS)
    catalog["protection_groups"].append(
        {"name": "hostile-tier", "region": "us-east-1", "source_servers": HOSTILE_SERVERS}
    )
    catalog["plans"].append(
        {
            "name": HOSTILE_PLAN,
            "description": DESCRIPTION,
            "waves": [{"name": WAVE_NAME, "protection_group": "hostile-tier"}],
        }
    )
    folder = tmp_path_factory.mktemp("hostile")
    hostile, shared = folder / "hostile.yml", folder / "shared.yml"
    hostile.write_text(yaml.safe_dump(catalog, sort_keys=False))
    shared.write_text(PLANS)
    sandbox.stack.drs.add_source_servers("us-east-1", ids=HOSTILE_SERVERS)
    sandbox.stack.drs.fail_launch(HOSTILE_SERVERS[1], error=DRS_ERROR)
    assert drs_bot(["plans", "apply", str(hostile)]) == 0
    yield HOSTILE_PLAN
    assert drs_bot(["plans", "apply", str(shared)]) == 0


def texts_of(message: dict[str, Any]) -> list[str]:
    """Every text Slack would parse in a recorded message and its edits: `text` and the blocks' texts."""
    found: list[str] = []
    for version in [message, *(message.get("updates") or [])]:
        found.append(str(version.get("text") or ""))
        found.extend(_block_texts(version.get("blocks") or []))
    return found


def _block_texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from _block_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _block_texts(item)


def markup(texts: list[str]) -> set[str]:
    """Every `<…>` Slack would act on: mentions, channel pings, links."""
    return {found for text in texts for found in re.findall(r"<[^<>]*>", text)}


def everything_in(sandbox: Sandbox, channel: str) -> list[str]:
    return [text for message in sandbox.messages(channel) for text in texts_of(message)]


def test_a_hostile_plan_and_drs_error_reach_the_thread_as_text(sandbox: Sandbox, hostile_plan: str) -> None:
    channel = sandbox.new_channel()
    reply = sandbox.command(f"execute {hostile_plan} drill", channel=channel)
    assert reply.status == 200
    execution = sandbox.finished_execution(channel)
    assert execution.status is ExecutionStatus.PARTIAL
    (failed,) = [s for s in execution.servers() if s.error]
    assert failed.error is not None and CHANNEL_PING in failed.error  # the history keeps DRS's words
    for question in (f"plan {hostile_plan}", "plans", f"status {execution.execution_id}"):
        assert sandbox.command(question, channel=channel).status == 200
    sandbox.settle()

    texts = everything_in(sandbox, channel)
    # The bot's own link to the report (a presigned URL it made) is the only other markup.
    report = (
        f"<{sandbox.stack.moto.url}/{REPORTS_BUCKET}/reports/{hostile_plan}/{execution.execution_id}.html?"
    )
    links = {
        found for found in markup(texts) if found.startswith(report) and found.endswith("|Open the report>")
    }
    assert len(links) == 1
    assert markup(texts) - links == {"<@U0ALICE>"}, "only the requester is mentioned; nothing else is markup"
    joined = "\n".join(texts)
    assert "&lt;!here&gt; &lt;@U0MALLORY&gt; &amp; &lt;https://evil.example|Log in&gt;" in joined  # wave
    assert "&lt;!channel&gt; Launch failed: &lt;https://evil.example/login|Click here" in joined  # DRS
    assert "&lt;!channel&gt; &lt;https://evil.example/login|" in joined  # the plan's description
    # What a person in the channel reads (ephemeral answers included): the words as written, as text.
    seen = render_channel(sandbox.stack.slack.messages(), channel)
    assert WAVE_NAME in seen and DRS_ERROR in seen and DESCRIPTION in seen


def test_a_reject_reason_with_markup_is_shown_as_text_on_the_card_and_in_the_thread(
    sandbox: Sandbox,
) -> None:
    channel = sandbox.new_channel()
    sandbox.command("execute plan-x recovery", channel=channel, user=REQUESTER)
    sandbox.settle()
    execution = sandbox.stack.bot.store.latest_in_channel(channel)
    assert execution is not None
    (card,) = [m for m in sandbox.public(channel) if not m["thread_ts"]]
    rejecter = LEAD_MEMBERS[1]
    sandbox.click(channel, card["ts"], REJECT_ACTION, execution.execution_id, user=rejecter)
    modal = sandbox.stack.slack.views()[-1]
    values = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": REASON}}}
    assert sandbox.submit(modal, values, user=rejecter).status == 200
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.REJECTED
    assert final.rejection is not None and final.rejection.reason == REASON  # recorded as given

    texts = everything_in(sandbox, channel)
    assert markup(texts) <= {f"<@{REQUESTER}>", f"<@{rejecter}>", f"<@{APPROVER}>", "<!subteam^S0DRLEADS>"}
    escaped = f"Rejected by <@{rejecter}>: &lt;!channel&gt; &lt;https://evil.example|x&gt;"
    card_now = next(m for m in sandbox.public(channel) if m["ts"] == card["ts"])["updates"][-1]
    assert escaped in "\n".join(_block_texts(card_now["blocks"]))
    assert any(escaped in text for text in texts if "Nothing was launched" in text)  # the thread reply


@pytest.mark.parametrize(
    ("text", "echoed"),
    [
        ("<!channel>", "`&lt;!channel&gt;` is not a /drs command"),  # answered by the ack alone
        ("plan <!here>", "There is no plan `&lt;!here&gt;`"),
        ("execute <https://evil.example|x> drill", "Checking `&lt;https://evil.example|x&gt;`"),
        ("status <@U0MALLORY>&", "There is no execution `&lt;@U0MALLORY&gt;&amp;`"),
    ],
)
def test_a_command_text_echoed_back_is_escaped(sandbox: Sandbox, text: str, echoed: str) -> None:
    channel = sandbox.new_channel()
    reply = sandbox.command(text, channel=channel)
    assert reply.status == 200
    sandbox.settle()
    answers = [reply.body["text"], *sandbox.ephemeral(channel)]
    assert any(echoed in answer for answer in answers), answers
    assert markup(answers) == set(), answers
    assert sandbox.public(channel) == []


def test_at_with_a_plus_14_offset_is_shown_as_that_instant_in_utc_everywhere(sandbox: Sandbox) -> None:
    """`--at 2026-11-29T08:00:00+14:00` is 2026-11-28 18:00 UTC. The sandbox's clock runs 600x, so the
    test asks for a time 3 hours before the bot's now, typed with the same +14:00 offset."""
    kiritimati = timezone(timedelta(hours=14))
    bot_now: datetime = sandbox.stack.bot.clock()
    instant = (bot_now - timedelta(hours=3)).replace(microsecond=0, second=0)
    typed = instant.astimezone(kiritimati).strftime("%Y-%m-%dT%H:%M:%S+14:00")
    in_utc = f"{instant.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    as_typed_but_labelled_utc = f"{instant.astimezone(kiritimati):%Y-%m-%d %H:%M:%S} UTC"

    channel = sandbox.new_channel()
    reply = sandbox.command(f"execute plan-x recovery --at {typed}", channel=channel, user=REQUESTER)
    assert reply.status == 200 and in_utc in reply.body["text"]  # the ack
    sandbox.settle()
    execution = sandbox.stack.bot.store.latest_in_channel(channel)
    assert execution is not None and execution.point_in_time == instant
    (card,) = [m for m in sandbox.public(channel) if not m["thread_ts"]]
    assert f"*Point in time:* each server from its newest snapshot at or before {in_utc}" in str(
        card["blocks"]
    )
    sandbox.click(channel, card["ts"], APPROVE_ACTION, execution.execution_id, user=APPROVER)
    final = sandbox.finished_execution(channel)
    assert final.status is ExecutionStatus.COMPLETED
    sandbox.command(f"status {final.execution_id}", channel=channel, user=REQUESTER)
    sandbox.settle()

    shown = f"Point in time: each server from its newest snapshot at or before {in_utc}"
    thread = [m["text"] for m in sandbox.public(channel) if m["thread_ts"]]
    assert any(shown in text for text in thread), thread
    assert any(shown in text for text in sandbox.ephemeral(channel))  # /drs status
    anchor = next(m for m in sandbox.public(channel) if m["ts"] == card["ts"])["updates"][-1]
    assert in_utc in str(anchor["blocks"])
    everything = "\n".join(everything_in(sandbox, channel))
    assert as_typed_but_labelled_utc not in everything
    # And DRS launched each server from a snapshot taken at or before that instant.
    snapshot_times = [s.snapshot_time for s in final.servers()]
    assert snapshot_times and all(t is not None and t <= instant for t in snapshot_times)
