"""The fake workspace's state: channels, users, user groups, messages and response_urls.

Every rule about *what may be posted where* lives here, so the Web API methods and the
response_url endpoint enforce the same ones. All public methods take the lock; the HTTP
server calls them from many threads at once.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.slack_fake.blockkit import MAX_MESSAGE_TEXT, problems_in_blocks

# Ids Slack itself would hand out; anything shaped like one is assumed to exist.
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60


class ApiError(Exception):
    """A Slack error answer: `{"ok": false, "error": code, ...extra}` with an HTTP status."""

    def __init__(self, code: str, *, status: int = 200, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}


@dataclass
class Channel:
    id: str
    name: str
    is_member: bool = True
    is_private: bool = False
    is_archived: bool = False


@dataclass
class User:
    id: str
    name: str
    real_name: str
    is_bot: bool = False
    deleted: bool = False


@dataclass
class Content:
    """What a message shows; `blocks=None` means "no blocks", not "keep the old ones"."""

    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None


@dataclass
class Message:
    channel: str
    ts: str
    content: Content
    author: str
    via: str
    thread_ts: str | None = None
    ephemeral: bool = False
    user: str | None = None  # the only person who sees an ephemeral message
    reply_broadcast: bool = False
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False
    original: Content | None = None  # as first posted; `content` is the current version
    files: list[dict[str, Any]] = field(default_factory=list)  # shared by files.completeUploadExternal

    def record(self) -> dict[str, Any]:
        """The inspection shape served by /_fake/messages (a deep copy, safe to keep)."""
        c = self.content
        return copy.deepcopy(
            {
                "channel": self.channel,
                "ts": self.ts,
                "thread_ts": self.thread_ts,
                "text": c.text,
                "blocks": c.blocks,
                "attachments": c.attachments,
                "metadata": c.metadata,
                "ephemeral": self.ephemeral,
                "user": self.user,
                "author": self.author,
                "reply_broadcast": self.reply_broadcast,
                "unfurl_links": self.unfurl_links,
                "unfurl_media": self.unfurl_media,
                "via": self.via,
                "updates": self.updates,
                "deleted": self.deleted,
                "original": _content_record(self.original or c),
                "files": self.files,
            }
        )


def _content_record(content: Content) -> dict[str, Any]:
    return {"text": content.text, "blocks": content.blocks, "metadata": content.metadata}


@dataclass
class Upload:
    """A file between files.getUploadURLExternal and files.completeUploadExternal (then shared)."""

    id: str
    filename: str
    length: int
    alt_txt: str | None
    data: bytes | None = None  # what was sent to the upload URL
    completed: bool = False

    def info(self, title: str | None) -> dict[str, Any]:
        """The file as Slack's methods show it (files[] of a message, files.completeUploadExternal)."""
        info: dict[str, Any] = {
            "id": self.id,
            "name": self.filename,
            "title": title or self.filename,
            "size": len(self.data or b""),
        }
        width_height = png_size(self.data or b"")
        if width_height is not None:
            info.update(
                mimetype="image/png", filetype="png", original_w=width_height[0], original_h=width_height[1]
            )
        else:
            info.update(mimetype="application/octet-stream", filetype="binary")
        return info


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, as Slack reads an image's size."""
    if len(data) < 24 or not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@dataclass
class ResponseUrl:
    id: str
    channel: str
    user: str
    message_ts: str | None  # the message a button was clicked on, if any
    issued_at: float
    ttl_seconds: float
    uses: int = 0
    last_ts: str | None = None  # what replace_original targets for a slash command


def check_content(content: Content) -> None:
    """Slack's checks on a message body, in the order Slack reports them."""
    if not content.text and not content.blocks and not content.attachments:
        raise ApiError("no_text")
    if len(content.text) > MAX_MESSAGE_TEXT:
        raise ApiError("msg_too_long")
    if content.blocks is not None:
        problems = problems_in_blocks(content.blocks)
        if problems:
            raise ApiError(
                "invalid_blocks",
                errors=problems,
                response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
            )
    if content.metadata is not None:
        check_metadata(content.metadata)


def check_metadata(metadata: object) -> None:
    if not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and metadata["event_type"]
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise ApiError("invalid_metadata_format")


class Workspace:
    def __init__(
        self,
        *,
        team_id: str,
        bot_user_id: str,
        usergroups: dict[str, list[str]] | None,
        chat_write_public: bool,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self._clock = clock or time.time
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.chat_write_public = chat_write_public
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, list[str]] = {k: list(v) for k, v in (usergroups or {}).items()}
        self.messages: list[Message] = []
        self.response_urls: dict[str, ResponseUrl] = {}
        self.views: list[dict[str, Any]] = []  # modals opened with views.open, in order
        self.home_views: dict[str, dict[str, Any]] = {}  # each user's Home tab, as views.publish left it
        self.uploads: dict[str, Upload] = {}  # by file id
        self.files_url = ""  # where upload URLs point (the server's /upload/v1/), set when it starts
        self._last_ts_us = 0

    # -- clock -------------------------------------------------------------------------
    def next_ts(self) -> str:
        """Slack-format ts ("1764412345.000100"): from the workspace's clock, unique and increasing."""
        with self.lock:
            now_us = int(self._clock() * 1_000_000) // 100 * 100
            self._last_ts_us = max(now_us, self._last_ts_us + 100)
            return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    # -- directory ---------------------------------------------------------------------
    def add_channel(self, channel: Channel) -> None:
        with self.lock:
            self.channels[channel.id] = channel

    def channel(self, ref: object) -> Channel:
        """Resolve an id, a name or "#name"; well-formed unknown ids become member channels."""
        if not isinstance(ref, str) or not ref:
            raise ApiError("channel_not_found")
        with self.lock:
            if ref in self.channels:
                return self.channels[ref]
            name = ref.removeprefix("#")
            for channel in self.channels.values():
                if channel.name == name:
                    return channel
            if _CHANNEL_ID.match(ref):
                created = Channel(id=ref, name=ref.lower(), is_private=ref.startswith("G"))
                self.channels[ref] = created
                return created
        raise ApiError("channel_not_found")

    def add_user(self, user: User) -> None:
        with self.lock:
            self.users[user.id] = user

    def user(self, user_id: object) -> User:
        if not isinstance(user_id, str):
            raise ApiError("user_not_found")
        with self.lock:
            if user_id in self.users:
                return self.users[user_id]
            if user_id == self.bot_user_id:
                return User(id=user_id, name="drs-bot", real_name="DRS bot", is_bot=True)
            if _USER_ID.match(user_id):
                return User(id=user_id, name=user_id.lower(), real_name=f"User {user_id}")
        raise ApiError("user_not_found")

    def usergroup_users(self, usergroup: object) -> list[str]:
        with self.lock:
            if not isinstance(usergroup, str) or usergroup not in self.usergroups:
                raise ApiError("no_such_subteam")
            return list(self.usergroups[usergroup])

    # -- posting rules -------------------------------------------------------------------
    def writable_channel(self, ref: object) -> Channel:
        channel = self.channel(ref)
        if channel.is_archived:
            raise ApiError("is_archived")
        public_ok = self.chat_write_public and not channel.is_private
        if not channel.is_member and not public_ok:
            raise ApiError("not_in_channel")
        return channel

    def readable_channel(self, ref: object) -> Channel:
        channel = self.channel(ref)
        if not channel.is_member:
            raise ApiError("channel_not_found" if channel.is_private else "not_in_channel")
        return channel

    def thread_parent(self, channel: str, thread_ts: object) -> Message:
        """The visible top-level message a reply may hang under (Slack has no nested threads)."""
        with self.lock:
            parent = self.find(channel, thread_ts)
            if parent is None or parent.ephemeral or parent.thread_ts is not None:
                raise ApiError("thread_not_found")
            return parent

    def find(self, channel: str, ts: object, *, include_deleted: bool = False) -> Message | None:
        with self.lock:
            for message in self.messages:
                if message.channel == channel and message.ts == ts:
                    if message.deleted and not include_deleted:
                        return None
                    return message
            return None

    def post(self, message: Message) -> Message:
        with self.lock:
            message.original = copy.deepcopy(message.content)
            self.messages.append(message)
            return message

    def update(self, message: Message, content: Content, *, via: str) -> None:
        with self.lock:
            message.content = content
            message.updates.append(
                {
                    "ts": self.next_ts(),
                    "via": via,
                    "text": content.text,
                    "blocks": copy.deepcopy(content.blocks),
                    "metadata": copy.deepcopy(content.metadata),
                }
            )

    def replies(self, parent: Message) -> list[Message]:
        with self.lock:
            return [
                m
                for m in self.messages
                if m.channel == parent.channel
                and m.thread_ts == parent.ts
                and not m.deleted
                and not m.ephemeral
            ]

    def visible_history(self, channel: str) -> list[Message]:
        """What conversations.history returns: top-level and broadcast replies, oldest first."""
        with self.lock:
            return [
                m
                for m in self.messages
                if m.channel == channel
                and not m.deleted
                and not m.ephemeral
                and (m.thread_ts is None or m.reply_broadcast)
            ]

    # -- response_url bookkeeping -----------------------------------------------------------
    def issue_response_url(
        self, channel: str, user: str, message_ts: str | None, ttl_seconds: float
    ) -> ResponseUrl:
        with self.lock:
            entry = ResponseUrl(
                id=secrets.token_urlsafe(12),
                channel=channel,
                user=user,
                message_ts=message_ts,
                issued_at=time.monotonic(),
                ttl_seconds=ttl_seconds,
            )
            self.response_urls[entry.id] = entry
            return entry

    def reset(self) -> None:
        """Forget messages and response_urls; keep the directory (channels, users, groups)."""
        with self.lock:
            self.messages.clear()
            self.views.clear()
            self.home_views.clear()
            self.uploads.clear()
            self.response_urls.clear()
