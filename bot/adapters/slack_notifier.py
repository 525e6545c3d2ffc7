"""Posting to Slack with slack_sdk's WebClient; Slack's errors become the bot's own."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.adapters import telemetry
from bot.errors import SlackBlocked, SlackError, SlackRefused, SlackUnavailable
from bot.services.ports import Message

EVENT_TYPE = "drs_chatops_message"
_TRANSIENT = {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}
# Refused for the whole channel (or the whole token) until a person acts; no retry can succeed before.
BLOCKING = frozenset(
    {
        "not_in_channel",
        "channel_not_found",
        "is_archived",
        "account_inactive",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "team_access_not_granted",
        "ekm_access_denied",
    }
)
TIMEOUT_SECONDS = 10
RATE_LIMIT_RETRIES = 2
# A longer Retry-After is not waited out in place: the call fails and a later tick tries again.
MAX_WAIT_IN_PLACE_SECONDS = 10
# The longest one Web API call can take, in-place retries included (each wait adds up to 1 s of jitter).
LONGEST_CALL_SECONDS = (RATE_LIMIT_RETRIES + 1) * TIMEOUT_SECONDS + RATE_LIMIT_RETRIES * (
    MAX_WAIT_IN_PLACE_SECONDS + 1
)
HISTORY_PAGE = 200  # conversations.history: Slack advises at most 200 per page
MAX_HISTORY_PAGES = 50


class ShortRateLimitRetry(RateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, but only for a short Retry-After, so that a call's duration is bounded
    (LONGEST_CALL_SECONDS): the outbox's claim on a message must outlive the call that posts it."""

    def __init__(self, max_retry_count: int, max_wait_seconds: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        assert response is not None  # a 429 has a response
        wait = _retry_after({name: values[0] for name, values in response.headers.items() if values})
        return wait is not None and wait <= self.max_wait_seconds


def web_client(token: str, base_url: str | None = None, *, retries: int = RATE_LIMIT_RETRIES) -> WebClient:
    """A WebClient that rides out short rate limits by itself.

    Only a 429 is retried in place: Slack did not act on it. After a 5xx or a dropped connection a post
    may have happened, so it is not repeated blindly; the outbox looks for it by its metadata key first.
    """
    return WebClient(
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=TIMEOUT_SECONDS,
        retry_handlers=[ShortRateLimitRetry(retries, MAX_WAIT_IN_PLACE_SECONDS)],
    )


class SlackNotifier:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def post(
        self,
        channel: str,
        message: Message,
        *,
        key: str,
        thread_ts: str | None = None,
        broadcast: bool = False,
    ) -> str:
        arguments: dict[str, Any] = {
            "channel": channel,
            "text": message.text,
            "blocks": message.blocks or None,
            "metadata": {"event_type": EVENT_TYPE, "event_payload": {"key": key}},
            "unfurl_links": False,
        }
        if thread_ts:
            arguments["thread_ts"] = thread_ts
            arguments["reply_broadcast"] = broadcast
        response = _posting(self._client.chat_postMessage, **arguments)
        return str(response["ts"])

    def find(
        self, channel: str, key: str, *, thread_ts: str | None = None, since: datetime | None = None
    ) -> str | None:
        """Page through the thread, or the channel's history since `since`, whatever its traffic."""
        if thread_ts:
            pages = _pages(
                self._client.conversations_replies,
                channel=channel,
                ts=thread_ts,
                include_all_metadata=True,
                limit=1000,
            )
        else:
            window = {"oldest": f"{since.timestamp():.6f}"} if since else {}
            pages = _pages(
                self._client.conversations_history,
                channel=channel,
                include_all_metadata=True,
                limit=HISTORY_PAGE,
                **window,
            )
        for page in pages:
            for message in page.get("messages") or []:
                metadata = message.get("metadata") or {}
                if (
                    metadata.get("event_type") == EVENT_TYPE
                    and (metadata.get("event_payload") or {}).get("key") == key
                ):
                    return str(message["ts"])
        return None

    def update(self, channel: str, ts: str, message: Message) -> None:
        _posting(
            self._client.chat_update, channel=channel, ts=ts, text=message.text, blocks=message.blocks or None
        )

    def upload(
        self, channel: str, thread_ts: str, *, filename: str, data: bytes, title: str, comment: Message
    ) -> str:
        """files.uploadV2: slack_sdk asks for an upload URL, sends the bytes there, then completes the
        upload into the thread. Without the files:write scope only pictures are refused, not the
        channel: that missing_scope is a refusal of this message (SlackRefused), not a block."""
        try:
            response = _posting(
                self._client.files_upload_v2,
                channel=channel,
                thread_ts=thread_ts,
                file=data,
                filename=filename,
                title=title,
                alt_txt=title,  # what a screen reader says for the image
                initial_comment=comment.text,
            )
        except SlackBlocked as error:
            if error.error == "missing_scope":
                raise SlackRefused(error.error) from error
            raise
        return str(response["file"]["id"])

    def find_file(self, channel: str, thread_ts: str, filename: str) -> str | None:
        """Slack adds no metadata to a file's message: an earlier upload is known by its file name."""
        pages = _pages(self._client.conversations_replies, channel=channel, ts=thread_ts, limit=1000)
        for page in pages:
            for message in page.get("messages") or []:
                for shared in message.get("files") or []:
                    if shared.get("name") == filename:
                        return str(shared["id"])
        return None


class SlackHomePublisher:
    """A user's Home tab through views.publish. Short rate limits are waited out by the client
    (views.publish is Tier 4, per workspace); anything else becomes a SlackError, counted."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def publish(self, user_id: str, view: dict[str, Any]) -> None:
        try:
            _call(self._client.views_publish, user_id=user_id, view=view)
        except SlackError as error:
            telemetry.count_error(telemetry.HOME_PUBLISH_FAILURES, error.error)
            raise


class SlackDirectory:
    """User group membership from usergroups.users.list, cached briefly (it changes rarely)."""

    def __init__(self, client: WebClient, *, ttl_seconds: float = 60.0) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, set[str]]] = {}

    def groups_of(self, user_id: str, candidates: set[str]) -> set[str]:
        return {group for group in candidates if user_id in self._members(group)}

    def _members(self, group: str) -> set[str]:
        cached = self._cache.get(group)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            response = _call(self._client.usergroups_users_list, usergroup=group)
            members = set(response.get("users") or [])
        except SlackRefused:
            members = set()  # a group that does not exist (or was disabled) has no members
        self._cache[group] = (time.monotonic(), members)
        return members


def _call(method: Any, **arguments: Any) -> Any:
    with _translated():
        return method(**arguments)


def _posting(method: Any, **arguments: Any) -> Any:
    """A post or an update: a failure is counted by Slack's error code (the outbox retries it)."""
    try:
        return _call(method, **arguments)
    except SlackError as error:
        telemetry.count_error(telemetry.SLACK_POST_FAILURES, error.error)
        raise


def _pages(method: Any, **arguments: Any) -> Iterator[Any]:
    """Every page of a cursor-paginated method (slack_sdk follows the cursor), up to a bound."""
    with _translated():
        for number, page in enumerate(method(**arguments), start=1):
            yield page
            if number >= MAX_HISTORY_PAGES:
                return


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except SlackApiError as error:
        code = str(error.response.get("error", "unknown_error"))
        retry_after = _retry_after(error.response.headers or {})
        if code in _TRANSIENT or error.response.status_code >= 500:
            raise SlackUnavailable(code, retry_after=retry_after) from error
        if code in BLOCKING:
            raise SlackBlocked(code) from error
        raise SlackRefused(code) from error
    except (SlackClientError, OSError) as error:
        raise SlackUnavailable(type(error).__name__) from error


def _retry_after(headers: Any) -> float | None:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return float(value[0] if isinstance(value, list) else value)
            except (TypeError, ValueError):
                return None
    return None
