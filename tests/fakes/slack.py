"""Slack as the services see it: a notifier that keeps the channel's messages and threads (and can
refuse a channel for good), the user-group directory, and the executor's trigger."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.timeline import Timeline
from bot.errors import SlackBlocked
from bot.services.ports import Message


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    key: str
    thread_ts: str | None = None
    edits: list[str] = field(default_factory=list)


class FakeNotifier:
    def __init__(self, *, blocked: dict[str, str] | None = None) -> None:
        self.messages: list[Posted] = []
        self.blocked = dict(blocked or {})  # channel -> Slack's error (not_in_channel, is_archived…)
        self._ts = itertools.count(1)
        self.files: dict[str, bytes] = {}  # ts of the message it came with -> the file's bytes

    def post(
        self,
        channel: str,
        message: Message,
        *,
        key: str,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> str:
        if channel in self.blocked:
            raise SlackBlocked(self.blocked[channel])
        posted = Posted(channel, f"1700000000.{next(self._ts):06d}", message.text, key, thread_ts)
        self.messages.append(posted)
        return posted.ts

    def find(
        self, channel: str, key: str, *, thread_ts: str | None = None, since: datetime | None = None
    ) -> str | None:
        return next((m.ts for m in self.messages if m.channel == channel and m.key == key), None)

    def update(self, channel: str, ts: str, message: Message) -> None:
        next(m for m in self.messages if m.ts == ts).edits.append(message.text)

    def upload(
        self, channel: str, thread_ts: str, *, filename: str, data: bytes, title: str, comment: Message
    ) -> str:
        """files.uploadV2 as the thread shows it: the comment, posted with the file."""
        if channel in self.blocked:
            raise SlackBlocked(self.blocked[channel])
        posted = Posted(
            channel, f"1700000000.{next(self._ts):06d}", comment.text, f"file:{filename}", thread_ts
        )
        self.messages.append(posted)
        self.files[posted.ts] = data
        return f"F{posted.ts}"

    def find_file(self, channel: str, thread_ts: str, filename: str) -> str | None:
        return next(
            (
                f"F{m.ts}"
                for m in self.messages
                if (m.channel, m.thread_ts, m.key) == (channel, thread_ts, f"file:{filename}")
            ),
            None,
        )

    def thread(self, channel: str) -> list[str]:
        """What a person reads: the anchor's latest text, then the thread's messages in order."""
        anchor = next(m for m in self.messages if m.channel == channel and m.thread_ts is None)
        replies = [m.text for m in self.messages if m.thread_ts == anchor.ts]
        return [anchor.edits[-1] if anchor.edits else anchor.text, *replies]


class FakeDirectory:
    def __init__(self, members: dict[str, set[str]] | None = None) -> None:
        self.members = members or {}  # user group -> its users

    def groups_of(self, user_id: str, candidates: set[str]) -> set[str]:
        return {group for group in candidates if user_id in self.members.get(group, set())}


class FakeTrigger:
    """The Step Functions loop: remembers which executions it was asked to tick."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, execution_id: str, run: str = "") -> None:
        self.started.append(f"{execution_id}-{run}" if run else execution_id)


class FakePictures:
    """Draws a timeline as a stand-in PNG (the signature and the title), and remembers what it drew."""

    def __init__(self) -> None:
        self.drawn: list[tuple[Timeline, str]] = []

    def png(self, timeline: Timeline, title: str) -> bytes:
        self.drawn.append((timeline, title))
        return b"\x89PNG\r\n\x1a\n" + title.encode()
