"""Slack mrkdwn: the markup the bot writes, kept apart by type from text it did not write.

Slack reads `<…>` in mrkdwn, and in a message's `text` fallback, as a link or a mention (`<!channel>`,
`<@U…>`, `<https://…|label>`) and `&` as the start of an entity. So a wave name, a reject reason, a DRS
error or a user's command text must reach Slack as `&lt;`, `&gt;` and `&amp;`, or anyone who may name a
wave or reject a request can notify the whole channel or post a disguised link under the bot's name.

The rule, in one place: a Slack text is a `Mrkdwn`, built by `md(template, values…)` whose template is
the bot's own and whose every value is escaped unless it is `Mrkdwn` already (`+` and `join` escape
likewise). The builders of messages take only `Mrkdwn`, so mypy refuses an f-string that forgot.
Mentions are markup only for ids shaped as Slack's own (`user`, `usergroup`, `channel`).
Standard library only: the ack path (bot/slack/ack.py) uses it before Slack's 3 seconds are up.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, LiteralString

ELLIPSIS = "…"


class Mrkdwn(str):
    """Text ready for a Slack mrkdwn field: bot-written markup around escaped values.

    Call it directly only on text the bot wrote (a literal); anything else goes through `escape` or `md`.
    """

    __slots__ = ()

    def __add__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(self, escape(other)))

    def __radd__(self, other: str) -> Mrkdwn:
        return Mrkdwn(str.__add__(escape(other), self))

    def join(self, parts: Iterable[str]) -> Mrkdwn:
        return Mrkdwn(str.join(self, (escape(part) for part in parts)))

    def format(self, *args: object, **kwargs: object) -> Mrkdwn:
        """As `md(self, …)`: the values are escaped."""
        return Mrkdwn(_FORMATTER.vformat(self, args, kwargs))


def escape(text: str) -> Mrkdwn:
    """Text the bot did not write, shown as typed: Slack's three escapes (not HTML's quotes, which
    Slack would show as `&#39;`). `Mrkdwn` is already safe and passes unchanged."""
    if isinstance(text, Mrkdwn):
        return text
    return Mrkdwn(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


class _Escaping(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn):
            return Mrkdwn(format(str(value), format_spec)) if format_spec else value
        if isinstance(value, datetime):
            value = utc(value)
        return escape(format(value, format_spec))

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion is not None:
            raise ValueError("md() fields take no !r/!s/!a conversion: format the value instead")
        return value


_FORMATTER = _Escaping()


def md(template: LiteralString, /, *args: object, **kwargs: object) -> Mrkdwn:
    """`template.format(...)` with every value escaped, unless it is `Mrkdwn` already.

    Times are shown in UTC whatever offset they carry (every template labels them "UTC").
    """
    return Mrkdwn(_FORMATTER.vformat(template, args, kwargs))


def utc(moment: datetime) -> datetime:
    """A point in time as UTC: `--at 2026-11-29T08:00:00+14:00` is 2026-11-28 18:00 UTC, not 08:00."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# Slack's ids: U/W users, S user groups, C/G/D conversations; upper-case letters and digits.
_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_GROUP_ID = re.compile(r"S[A-Z0-9]+")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")


def user(user_id: str) -> Mrkdwn:
    """A mention of a user id Slack gave us (or the access policy lists); any other text stays text."""
    return Mrkdwn(f"<@{user_id}>") if _USER_ID.fullmatch(user_id) else escape(user_id)


def usergroup(group_id: str) -> Mrkdwn:
    return Mrkdwn(f"<!subteam^{group_id}>") if _GROUP_ID.fullmatch(group_id) else escape(group_id)


def channel(channel_id: str) -> Mrkdwn:
    return Mrkdwn(f"<#{channel_id}>") if _CHANNEL_ID.fullmatch(channel_id) else escape(channel_id)


_URL = re.compile(r"https?://[^\s<>|]+")


def link(url: str, label: LiteralString) -> Mrkdwn:
    """A link to a URL the bot made (a presigned report link); its `&` escaped as Slack requires.

    Anything that is not one plain http(s) URL is shown as text, never as markup."""
    if not _URL.fullmatch(url):
        return escape(url)
    return Mrkdwn(f"<{escape(url)}|{escape(label)}>")


def users(user_ids: Sequence[str], sep: str = ", ") -> Mrkdwn:
    return Mrkdwn(sep).join(user(u) for u in user_ids)


def clip(text: str, limit: int, ellipsis: str = ELLIPSIS) -> Mrkdwn:
    """At most `limit` characters once escaped, ending in `ellipsis` if cut.

    The cut falls before an entity (`&lt;`) or a bot-written `<…>`, never inside one: half an escape
    would show as `&l`, and half a mention as a dangling `<`.
    """
    safe = escape(text)
    if len(safe) <= limit:
        return safe
    cut = max(0, limit - len(ellipsis))
    amp = safe.rfind("&", max(0, cut - 4), cut)  # entities are at most 5 characters (&amp;)
    if amp != -1 and ";" not in safe[amp:cut]:
        cut = amp
    opened = safe.rfind("<", 0, cut)
    if opened != -1 and safe.find(">", opened, cut) == -1:
        cut = opened
    return Mrkdwn(str.__add__(safe[:cut], escape(ellipsis)))


def plain(text: Mrkdwn) -> Mrkdwn:
    """A notification's fallback: the same words without bold and code marks (escapes and mentions kept)."""
    return Mrkdwn(text.replace("*", "").replace("`", ""))
