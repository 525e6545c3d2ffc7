"""Posting to Slack with slack_sdk's WebClient; Slack's errors become the bot's own."""

from __future__ import annotations

import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.errors import SlackRefused, SlackUnavailable
from bot.services.ports import Message

EVENT_TYPE = "drs_chatops_message"
_TRANSIENT = {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}


def web_client(token: str, base_url: str | None = None, *, retries: int = 2) -> WebClient:
    """A WebClient that rides out short rate limits by itself.

    Only a 429 is retried in place: Slack did not act on it. After a 5xx or a dropped connection a post
    may have happened, so it is not repeated blindly; the outbox looks for it by its metadata key first.
    """
    return WebClient(
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=10,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=retries)],
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
        response = _call(self._client.chat_postMessage, **arguments)
        return str(response["ts"])

    def find(self, channel: str, key: str, *, thread_ts: str | None = None) -> str | None:
        if thread_ts:
            response = _call(
                self._client.conversations_replies,
                channel=channel,
                ts=thread_ts,
                include_all_metadata=True,
                limit=1000,
            )
        else:
            response = _call(
                self._client.conversations_history, channel=channel, include_all_metadata=True, limit=200
            )
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == EVENT_TYPE
                and (metadata.get("event_payload") or {}).get("key") == key
            ):
                return str(message["ts"])
        return None

    def update(self, channel: str, ts: str, message: Message) -> None:
        _call(
            self._client.chat_update, channel=channel, ts=ts, text=message.text, blocks=message.blocks or None
        )


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
    try:
        return method(**arguments)
    except SlackApiError as error:
        code = str(error.response.get("error", "unknown_error"))
        retry_after = error.response.headers.get("Retry-After") if error.response.headers else None
        if code in _TRANSIENT or error.response.status_code >= 500:
            raise SlackUnavailable(code, retry_after=float(retry_after) if retry_after else None) from error
        raise SlackRefused(code) from error
    except (SlackClientError, OSError) as error:
        raise SlackUnavailable(type(error).__name__) from error
