"""Properties of the full HTTP path: Slack-signed requests through handlers/slack_http.py.

Every request goes over HTTP to the sandbox's Slack endpoint, which hands it to the real Lambda handler as
an API Gateway HTTP API v2 event; lazy listeners run through the fake Lambda Invoke API, as on AWS.

- Whatever the text of a correctly signed `/drs` command (from the grammar, arbitrary text, Slack's own
  form field names, `k=v&` fragments, `%`, `+`, unicode, newlines) and whatever the user and channel
  names: the answer is 200 with a non-empty ephemeral text, never 404 or 500; a command that needs a
  lookup gets its follow-up; no lazy listener fails.
- Nothing is launched unless the text is `execute <known plan> drill`: no execution in the channel that
  could launch, and no StartRecovery.
- A wrong signature or a body altered after signing gets 401; a body that is not UTF-8 gets 400.

The oracle for "valid" is written here from the usage text, not taken from bot.domain.commands.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import Phase, assume, example, given, settings
from hypothesis import strategies as st

from bot.domain.approval import Vote
from sandbox.stack import SLACK_FUNCTION
from tests.e2e.conftest import Reply, Sandbox

KNOWN_PLANS = ("plan-x", "plan-flaky")
KEYWORDS = ("help", "plans", "plan", "execute", "status", "history", "cancel", "check", "cleanup")
TYPES = ("drill", "recovery", "failback")
# Every field of a slash command and of an interactivity request, and a few Slack sends elsewhere.
SLACK_FIELDS = (
    "payload",
    "token",
    "team_id",
    "team_domain",
    "enterprise_id",
    "enterprise_name",
    "channel_id",
    "channel_name",
    "user_id",
    "user_name",
    "command",
    "text",
    "api_app_id",
    "is_enterprise_install",
    "response_url",
    "trigger_id",
    "type",
    "actions",
    "ssl_check",
    "challenge",
)
# The sandbox fixture is shared by the package (not function-scoped); each example uses a fresh channel.
PROPERTY = settings(max_examples=50, deadline=None)


# --- strategies ---------------------------------------------------------------------------------------


def random_case(word: str) -> st.SearchStrategy[str]:
    flips = st.lists(st.booleans(), min_size=len(word), max_size=len(word))
    return flips.map(lambda up: "".join(c.upper() if u else c for c, u in zip(word, up, strict=True)))


separators = st.sampled_from([" ", "  ", "\t", "\n", " \n ", "\u00a0"])
keywords = st.one_of(
    st.sampled_from(KEYWORDS).flatmap(random_case),
    st.sampled_from(["exec", "run", "executes", "stat", "halp", "plan-x", "drill", "/drs"]),
)
plan_names = st.one_of(
    st.sampled_from(KNOWN_PLANS),
    st.sampled_from(["plan-y", "PLAN-X", "plan_x", "plan-x.", "`plan-x`", "plan-flaky2", "*"]),
    st.sampled_from(SLACK_FIELDS),
    st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True),
)
types = st.one_of(
    st.sampled_from(TYPES).flatmap(random_case),
    st.sampled_from(["dril", "drills", "test", "DR", "recover", "fail-back", "payload"]),
)
extra_words = st.lists(
    st.one_of(
        st.sampled_from(SLACK_FIELDS), plan_names, types, st.from_regex(r"[\w=&%+-]{1,10}", fullmatch=True)
    ),
    max_size=2,
)


@st.composite
def joined(draw: st.DrawFn, words: list[str]) -> str:
    text = draw(st.sampled_from(["", " ", "\n"]))
    for index, word in enumerate(words):
        text += (draw(separators) if index else "") + word
    return text + draw(st.sampled_from(["", " ", "\n"]))


@st.composite
def grammar_texts(draw: st.DrawFn) -> str:
    """Texts shaped like the usage: a keyword and arguments, right or a little wrong."""
    keyword = draw(keywords)
    args = draw(
        st.one_of(
            st.tuples(plan_names, types).map(list),  # the shape of execute
            st.tuples(plan_names, types, extra_words).map(lambda t: [t[0], t[1], *t[2]]),
            st.lists(
                st.one_of(plan_names, types, st.from_regex(r"[0-9a-f-]{1,36}", fullmatch=True)), max_size=3
            ),
        )
    )
    return draw(joined([keyword, *args]))


form_fragments = st.one_of(
    st.sampled_from(SLACK_FIELDS),
    st.builds(
        "{}={}".format,
        st.sampled_from(SLACK_FIELDS),
        st.text(alphabet="abc/&=%+ {}:\"'#?é💥\n", max_size=8),
    ),
    st.sampled_from(
        [
            "&",
            "=",
            "%",
            "+",
            "%26",
            "%3D",
            "%2B",
            "%25",
            "%",
            "%zz",
            "&&",
            "==",
            "?",
            "#",
            "payload={}",
            'payload={"type":"block_actions"}',
            "payload=not-json",
            "text=execute plan-x drill",
            "command=/drs",
            "execute",
            "plan-x",
            "drill",
            "é",
            "💥",
            "日本語",
            "\u202e",
            "\x00",
        ]
    ),
)


@st.composite
def field_texts(draw: st.DrawFn) -> str:
    """Texts made of Slack's form field names and form syntax."""
    parts = draw(st.lists(form_fragments, min_size=1, max_size=6))
    text = parts[0]
    for part in parts[1:]:
        text += draw(st.sampled_from(["", " ", "&", "\n", "=", "+"])) + part
    return text


any_text = st.text(max_size=60)
command_texts = st.one_of(grammar_texts(), any_text, field_texts())
names = st.one_of(
    st.text(max_size=20),
    st.builds(
        "{}{}{}".format,
        st.text(max_size=5),
        st.sampled_from(["payload", "payload=", "&payload={}"]),
        any_text,
    ),
)


# --- oracle -----------------------------------------------------------------------------------------


def is_valid_drill(text: str) -> bool:
    """`execute <known plan> drill`, keyword and type in any letter case (Python's case mapping)."""
    words = text.split()
    return (
        len(words) == 3
        and words[0].lower() == "execute"
        and words[1] in KNOWN_PLANS
        and words[2].upper() == "DRILL"
    )


def needs_follow_up(text: str) -> bool:
    """Commands the ack cannot answer alone: the lazy half must say something in the channel."""
    words = text.split()
    if not words:
        return False
    keyword, args = words[0].lower(), words[1:]
    return (
        (keyword == "plans" and not args)
        or (keyword == "status" and len(args) <= 1)
        or (keyword == "execute" and len(args) == 2 and args[1].upper() in {t.upper() for t in TYPES})
    )


# --- requests ---------------------------------------------------------------------------------------


def slack_form(
    sandbox: Sandbox,
    text: str,
    *,
    channel: str,
    user: str = "U0PROPERTY",
    user_name: str = "property",
    channel_name: str = "drills",
    timestamp: int,
) -> str:
    """A slash command's form body with Slack's fields, in Slack's order."""
    return urllib.parse.urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": "T0SANDBOX",
            "team_domain": "sandbox",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": user_name,
            "command": "/drs",
            "text": text,
            "api_app_id": "A0SANDBOX",
            "is_enterprise_install": "false",
            "response_url": sandbox.stack.slack.new_response_url(channel, user),
            "trigger_id": f"{timestamp}.{time.perf_counter_ns()}",
        }
    )


def signature(secret: str, timestamp: int, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post(
    sandbox: Sandbox, body: bytes, *, secret: str, timestamp: int, signed_body: bytes | None = None
) -> Reply:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature(secret, timestamp, body if signed_body is None else signed_body),
    }
    try:
        return sandbox.post(body, headers)
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError) as error:
        # The handler raised: the sandbox's endpoint drops the connection where API Gateway answers 500.
        return Reply(status=500, body={"error": f"the handler raised, no answer ({error!r})"})


# --- what must hold after every request -----------------------------------------------------------


class ErrorLog(logging.Handler):
    """ERROR records logged while the Slack function ran a lazy listener (the fake Lambda's worker
    threads are named after the function; the executor's ticks run under another name)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName and record.threadName.startswith(f"lambda-{SLACK_FUNCTION}-"):
            self.records.append(record)


@pytest.fixture(scope="module")
def error_log() -> Iterator[ErrorLog]:
    """Bolt only logs an exception raised in a lazy listener; this catches it."""
    handler = ErrorLog()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


@dataclass
class Before:
    invocations: int
    errors: int
    starts: int
    idle: bool


def before(sandbox: Sandbox, error_log: ErrorLog) -> Before:
    sandbox.settle()
    return Before(
        invocations=len(slack_invocations(sandbox)),
        errors=len(error_log.records),
        starts=len(start_recoveries(sandbox)),
        idle=not sandbox.stack.bot.use_cases.ticking.active(),
    )


def slack_invocations(sandbox: Sandbox) -> list[Any]:
    """Lazy listeners: Bolt's re-invocations of the Slack function (the executor is another function)."""
    return [i for i in sandbox.stack.lambdas.invocations if i.function_name == SLACK_FUNCTION]


def start_recoveries(sandbox: Sandbox) -> list[Any]:
    return [call for call in sandbox.stack.drs.calls if call.operation == "StartRecovery"]


def assert_helpful_ephemeral_200(reply: Reply, text: str) -> None:
    assert reply.status == 200, f"{text!r} -> {reply.status} {reply.body}"
    assert reply.body.get("response_type") == "ephemeral", f"{text!r} -> {reply.body}"
    answer = reply.body.get("text")
    assert isinstance(answer, str) and answer.strip(), f"{text!r} -> {reply.body}"


def assert_lazy_half_ok(sandbox: Sandbox, error_log: ErrorLog, was: Before, channel: str, text: str) -> None:
    sandbox.settle()
    invocations = slack_invocations(sandbox)[was.invocations :]
    failed = [
        (i.status, i.error, i.result)
        for i in invocations
        if i.status != "succeeded" or (i.result or {}).get("statusCode") != 200
    ]
    assert failed == [], f"{text!r}: lazy invocations failed: {failed}"
    errors = [record.getMessage() for record in error_log.records[was.errors :]]
    assert errors == [], f"{text!r}: errors logged: {errors}"
    if needs_follow_up(text):
        assert sandbox.ephemeral(channel) or sandbox.public(channel), f"{text!r}: no follow-up"


def assert_nothing_launched(sandbox: Sandbox, was: Before, channel: str, text: str) -> None:
    execution = sandbox.stack.bot.store.latest_in_channel(channel)
    if execution is not None:
        # Only a request for a real recovery or failback may leave a record: one waiting for approval.
        assert str(execution.execution_type) != "DRILL", f"{text!r} started {execution.execution_id}"
        assert str(execution.status) in ("PENDING_APPROVAL", "REJECTED", "EXPIRED"), (text, execution.status)
        tagged = [
            call
            for call in start_recoveries(sandbox)
            if call.params.get("tags", {}).get("drs-chatops:execution") == execution.execution_id
        ]
        assert tagged == [], f"{text!r}: StartRecovery for {execution.execution_id}"
        if str(execution.status) == "PENDING_APPROVAL":
            # Withdrawn, as its requester could, so that the plan is free for the next example.
            use_cases = sandbox.stack.bot.use_cases
            use_cases.controlling.vote(
                execution.execution_id, Vote.REJECT, execution.initiated_by, reason="test over"
            )
    if was.idle and not sandbox.stack.bot.use_cases.ticking.active():
        assert len(start_recoveries(sandbox)) == was.starts, f"{text!r}: a StartRecovery happened"


def check_command(sandbox: Sandbox, error_log: ErrorLog, text: str, **names: str) -> None:
    channel = sandbox.new_channel()
    was = before(sandbox, error_log)
    now = int(time.time())
    body = slack_form(sandbox, text, channel=channel, timestamp=now, **names).encode()
    reply = post(sandbox, body, secret=sandbox.secret, timestamp=now)
    assert_helpful_ephemeral_200(reply, text)
    assert_lazy_half_ok(sandbox, error_log, was, channel, text)
    assert_nothing_launched(sandbox, was, channel, text)


# --- properties ---------------------------------------------------------------------------------------


@PROPERTY
@given(text=grammar_texts())
@example(text="execute payload drill")
@example(text="EXECUTE plan-x RECOVERY")
@example(text="status payload")
@example(text="plans payload")
def test_grammar_texts_get_a_helpful_answer_and_only_valid_drills_launch(
    sandbox: Sandbox, error_log: ErrorLog, text: str
) -> None:
    assume(not is_valid_drill(text))
    check_command(sandbox, error_log, text)


@PROPERTY
@given(text=any_text)
@example(text="")
@example(text="\n")
@example(text="\x00")
@example(text="execute plan-x drill\x00")
def test_arbitrary_texts_get_a_helpful_answer_and_launch_nothing(
    sandbox: Sandbox, error_log: ErrorLog, text: str
) -> None:
    assume(not is_valid_drill(text))
    check_command(sandbox, error_log, text)


@PROPERTY
@given(text=field_texts())
@example(text="payload")
@example(text="payload=not-json")
@example(text='payload={"type":"block_actions","actions":[]}')
@example(text="token=x&command=/drs&text=execute plan-x drill")
@example(text="execute plan-x drill&payload=1")
@example(text="100% + 1 = 101 & more")
def test_texts_made_of_slack_field_names_and_form_syntax_get_a_helpful_answer(
    sandbox: Sandbox, error_log: ErrorLog, text: str
) -> None:
    assume(not is_valid_drill(text))
    check_command(sandbox, error_log, text)


@settings(PROPERTY, max_examples=40)
@given(
    text=st.one_of(grammar_texts(), st.sampled_from(["help", "plans", "status", "execute plan-y drill"])),
    user_name=names,
    channel_name=names,
)
@example(text="help", user_name="payload", channel_name="payload")
@example(text="plans", user_name="&payload={}", channel_name="payload=x")
def test_user_and_channel_names_with_payload_in_them_change_nothing(
    sandbox: Sandbox, error_log: ErrorLog, text: str, user_name: str, channel_name: str
) -> None:
    assume(not is_valid_drill(text))
    check_command(sandbox, error_log, text, user_name=user_name, channel_name=channel_name)


@settings(PROPERTY, max_examples=40)
@given(text=command_texts, secret=st.text(min_size=1, max_size=40))
@example(text="execute plan-x drill", secret="not-the-secret")
def test_a_wrong_secret_gets_401_and_changes_nothing(
    sandbox: Sandbox, error_log: ErrorLog, text: str, secret: str
) -> None:
    assume(secret != sandbox.secret)
    channel = sandbox.new_channel()
    was = before(sandbox, error_log)
    now = int(time.time())
    body = slack_form(sandbox, text, channel=channel, timestamp=now).encode()
    reply = post(sandbox, body, secret=secret, timestamp=now)
    assert reply.status == 401, f"{text!r} -> {reply.status} {reply.body}"
    sandbox.settle()
    assert len(slack_invocations(sandbox)) == was.invocations
    assert sandbox.ephemeral(channel) == [] and sandbox.public(channel) == []
    assert_nothing_launched(sandbox, was, channel, text)


alterations = st.one_of(
    st.tuples(st.just("text"), command_texts),  # another text in place of the signed one
    st.tuples(
        st.just("append"), st.sampled_from([f for f in SLACK_FIELDS if f != "payload"]), st.text(max_size=10)
    ),
    st.tuples(st.just("user_id"), st.sampled_from(["U0MALLORY", "U0ALICE", ""])),
    st.tuples(st.just("drop"), st.integers(min_value=0, max_value=10_000)),
)


@settings(PROPERTY, max_examples=40)
@given(text=command_texts, alteration=alterations)
@example(text="help", alteration=("text", "execute plan-x drill"))
def test_a_body_altered_after_signing_gets_401_and_changes_nothing(
    sandbox: Sandbox, error_log: ErrorLog, text: str, alteration: tuple[Any, ...]
) -> None:
    """Alterations that keep a well-formed form with no `payload` field (those: the next test)."""
    channel = sandbox.new_channel()
    was = before(sandbox, error_log)
    now = int(time.time())
    signed = slack_form(sandbox, text, channel=channel, timestamp=now)
    fields = urllib.parse.parse_qsl(signed, keep_blank_values=True)
    kind = alteration[0]
    if kind == "text":
        altered = urllib.parse.urlencode([(k, alteration[1] if k == "text" else v) for k, v in fields])
    elif kind == "append":
        altered = signed + "&" + urllib.parse.urlencode({alteration[1]: alteration[2]})
    elif kind == "user_id":
        altered = urllib.parse.urlencode([(k, alteration[1] if k == "user_id" else v) for k, v in fields])
    else:  # drop one character
        index = alteration[1] % len(signed)
        altered = signed[:index] + signed[index + 1 :]
    assume(altered != signed)
    reply = post(sandbox, altered.encode(), secret=sandbox.secret, timestamp=now, signed_body=signed.encode())
    assert reply.status == 401, f"{altered!r} -> {reply.status} {reply.body}"
    sandbox.settle()
    assert len(slack_invocations(sandbox)) == was.invocations
    assert sandbox.ephemeral(channel) == [] and sandbox.public(channel) == []
    assert_nothing_launched(sandbox, was, channel, text)


def is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def not_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


@settings(PROPERTY, max_examples=20)
@given(body=st.binary(min_size=1, max_size=64).filter(not_utf8))
@example(body=b"\xff\xfe")
@example(body=b"token=x&text=caf\xe9")
def test_a_forged_body_that_is_not_utf8_gets_400(sandbox: Sandbox, body: bytes) -> None:
    """Refused before the signature check (slack_sdk can only check UTF-8 bodies); signed or not:
    tests/e2e/test_hostile_requests.py."""
    reply = post(sandbox, body, secret="not-the-secret", timestamp=int(time.time()))
    assert reply.status == 400, f"{body!r} -> {reply.status} {reply.body}"


@settings(PROPERTY, max_examples=20)
@given(prefix=st.sampled_from(["", "token=x&", "command=%2Fdrs&text=help&"]), payload=st.text(max_size=30))
@example(prefix="", payload="not-json")
@example(prefix="token=x&", payload="")
def test_a_forged_body_with_a_payload_field_that_is_not_json_gets_401(
    sandbox: Sandbox, prefix: str, payload: str
) -> None:
    assume(not is_json(payload))
    body = (prefix + urllib.parse.urlencode({"payload": payload})).encode()
    reply = post(sandbox, body, secret="not-the-secret", timestamp=int(time.time()))
    assert reply.status == 401, f"{body!r} -> {reply.status} {reply.body}"


# --- the one thing that does launch ------------------------------------------------------------------


# Two drills at most, and no shrinking: each example runs a whole drill.
@settings(PROPERTY, max_examples=2, phases=[Phase.explicit, Phase.generate])
@given(
    plan=st.sampled_from(KNOWN_PLANS),
    keyword=random_case("execute"),
    kind=random_case("drill"),
    spaces=st.tuples(separators, separators),
)
def test_a_valid_drill_in_any_letter_case_launches_that_plan_as_a_drill(
    sandbox: Sandbox, error_log: ErrorLog, plan: str, keyword: str, kind: str, spaces: tuple[str, str]
) -> None:
    text = f"{keyword}{spaces[0]}{plan}{spaces[1]}{kind}"
    assert is_valid_drill(text)
    channel = sandbox.new_channel()
    was = before(sandbox, error_log)
    now = int(time.time())
    reply = post(
        sandbox,
        slack_form(sandbox, text, channel=channel, timestamp=now).encode(),
        secret=sandbox.secret,
        timestamp=now,
    )
    assert_helpful_ephemeral_200(reply, text)
    try:
        execution = sandbox.finished_execution(channel, timeout=30)
    except AssertionError as error:
        raise AssertionError(
            f"{text!r}: {error}; what the channel saw: {sandbox.messages(channel)}"
        ) from None
    assert execution.plan_name == plan
    assert str(execution.execution_type) == "DRILL"
    starts = [
        call
        for call in start_recoveries(sandbox)
        if call.params.get("tags", {}).get("drs-chatops:execution") == execution.execution_id
    ]
    assert starts and all(call.params["isDrill"] is True for call in starts)
    assert_lazy_half_ok(sandbox, error_log, was, channel, text)
