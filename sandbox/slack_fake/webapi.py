"""Web API methods and the response_url endpoint, on top of the workspace state.

Each method takes the request's parameters (already merged from query, form or JSON body)
and returns the success body without `ok`, or raises ApiError. The server holds the
workspace lock around each call, so a method's checks and its write are one atomic step.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from sandbox.slack_fake.blockkit import MAX_MESSAGE_TEXT, problems_in_blocks
from sandbox.slack_fake.workspace import (
    RESPONSE_URL_MAX_USES,
    ApiError,
    Content,
    Message,
    ResponseUrl,
    Upload,
    Workspace,
    check_content,
)

Params = dict[str, Any]
Method = Callable[[Workspace, Params], dict[str, Any]]


# -- parameter decoding: form bodies carry JSON fields as strings and booleans as "1"/"0" --
def flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _json_field(params: Params, key: str, error: str) -> Any:
    value = params.get(key)
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ApiError(error) from exc


def _content(params: Params, *, base: Content | None = None) -> Content:
    """Read a message body; with `base` (chat.update), absent fields keep their old value."""
    old = base or Content()
    blocks = _json_field(params, "blocks", "invalid_blocks_format") if "blocks" in params else old.blocks
    if blocks is not None and not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    attachments = (
        _json_field(params, "attachments", "invalid_attachments")
        if "attachments" in params
        else old.attachments
    )
    metadata = (
        _json_field(params, "metadata", "invalid_metadata_format") if "metadata" in params else old.metadata
    )
    text = params.get("text", old.text)
    return Content(
        text="" if text is None else str(text), blocks=blocks, attachments=attachments, metadata=metadata
    )


def _thread_ts(params: Params) -> str | None:
    value = params.get("thread_ts")
    # str() of a float thread_ts loses trailing zeros, so it will not match: like Slack, that
    # reply never lands in the intended thread (here it fails loudly instead).
    return None if value in (None, "") else str(value)


def _limit(params: Params, default: int) -> int:
    try:
        return max(1, min(int(params.get("limit", default)), 1000))
    except (TypeError, ValueError) as exc:
        raise ApiError("invalid_limit") from exc


def _page(items: list[Any], params: Params, default_limit: int) -> tuple[list[Any], str]:
    """Cursor pagination with opaque base64 cursors, like Slack's."""
    start = 0
    cursor = params.get("cursor")
    if cursor:
        try:
            start = int(base64.b64decode(str(cursor)).decode().removeprefix("offset:"))
        except ValueError as exc:
            raise ApiError("invalid_cursor") from exc
    end = start + _limit(params, default_limit)
    next_cursor = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor


def bot_id(ws: Workspace) -> str:
    return "B" + ws.bot_user_id[1:]


def message_json(ws: Workspace, m: Message, *, with_metadata: bool) -> dict[str, Any]:
    """A message as Slack's read methods show it."""
    out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.content.text, "team": ws.team_id}
    out["user"] = m.author
    if m.author == ws.bot_user_id:
        out.update(bot_id=bot_id(ws), app_id="A0SANDBOX")
    if m.content.blocks is not None:
        out["blocks"] = m.content.blocks
    if m.content.attachments:
        out["attachments"] = m.content.attachments
    if m.thread_ts is not None:
        out["thread_ts"] = m.thread_ts
        if m.reply_broadcast:
            out["subtype"] = "thread_broadcast"
    elif not m.ephemeral:
        _add_thread_summary(ws, m, out)
    if m.updates:
        out["edited"] = {"user": m.author, "ts": m.updates[-1]["ts"]}
    if m.files:
        out["files"] = [dict(f) for f in m.files]
        out["upload"] = True
    if with_metadata and m.content.metadata is not None:
        out["metadata"] = m.content.metadata
    return out


def _add_thread_summary(ws: Workspace, parent: Message, out: dict[str, Any]) -> None:
    replies = ws.replies(parent)
    if replies:
        out.update(
            thread_ts=parent.ts,
            reply_count=len(replies),
            latest_reply=replies[-1].ts,
            reply_users=sorted({r.author for r in replies}),
        )


# -- methods ------------------------------------------------------------------------------
def auth_test(ws: Workspace, params: Params) -> dict[str, Any]:
    return {
        "url": "https://sandbox.slack.com/",
        "team": "Sandbox",
        "user": "drs-bot",
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": bot_id(ws),
        "is_enterprise_install": False,
    }


def chat_post_message(ws: Workspace, params: Params) -> dict[str, Any]:
    channel = ws.writable_channel(params.get("channel"))
    content = _content(params)
    check_content(content)
    thread_ts = _thread_ts(params)
    if thread_ts is not None:
        ws.thread_parent(channel.id, thread_ts)
    message = ws.post(
        Message(
            channel=channel.id,
            ts=ws.next_ts(),
            content=content,
            author=ws.bot_user_id,
            via="chat.postMessage",
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and flag(params.get("reply_broadcast")),
            unfurl_links=_optional_flag(params, "unfurl_links"),
            unfurl_media=_optional_flag(params, "unfurl_media"),
        )
    )
    return {"channel": channel.id, "ts": message.ts, "message": message_json(ws, message, with_metadata=True)}


def _optional_flag(params: Params, key: str) -> bool | None:
    return flag(params[key]) if key in params else None


def chat_post_ephemeral(ws: Workspace, params: Params) -> dict[str, Any]:
    channel = ws.writable_channel(params.get("channel"))
    user = ws.user(params.get("user"))
    content = _content(params)
    check_content(content)
    thread_ts = _thread_ts(params)
    if thread_ts is not None:
        ws.thread_parent(channel.id, thread_ts)
    message = ws.post(
        Message(
            channel=channel.id,
            ts=ws.next_ts(),
            content=content,
            author=ws.bot_user_id,
            via="chat.postEphemeral",
            thread_ts=thread_ts,
            ephemeral=True,
            user=user.id,
        )
    )
    return {"message_ts": message.ts}


def _own_message(ws: Workspace, params: Params, refusal: str) -> Message:
    """The bot's own visible message named by channel+ts; ephemeral ones cannot be found."""
    channel = ws.channel(params.get("channel"))
    message = ws.find(channel.id, params.get("ts"))
    if message is None or message.ephemeral:
        raise ApiError("message_not_found")
    if message.author != ws.bot_user_id:
        raise ApiError(refusal)
    return message


def chat_update(ws: Workspace, params: Params) -> dict[str, Any]:
    message = _own_message(ws, params, "cant_update_message")
    if not any(key in params for key in ("text", "blocks", "attachments")):
        raise ApiError("no_text")
    content = _content(params, base=message.content)
    check_content(content)
    ws.update(message, content, via="chat.update")
    return {
        "channel": message.channel,
        "ts": message.ts,
        "text": content.text,
        "message": message_json(ws, message, with_metadata=True),
    }


def chat_delete(ws: Workspace, params: Params) -> dict[str, Any]:
    message = _own_message(ws, params, "cant_delete_message")
    message.deleted = True
    return {"channel": message.channel, "ts": message.ts}


def conversations_replies(ws: Workspace, params: Params) -> dict[str, Any]:
    channel = ws.readable_channel(params.get("channel"))
    found = ws.find(channel.id, params.get("ts"))
    if found is None or found.ephemeral:
        raise ApiError("thread_not_found")
    # A reply's ts names its whole thread, as in Slack.
    parent = found if found.thread_ts is None else ws.find(channel.id, found.thread_ts)
    if parent is None:
        raise ApiError("thread_not_found")
    with_metadata = flag(params.get("include_all_metadata"))
    thread = [parent, *ws.replies(parent)]
    page, next_cursor = _page(thread, params, default_limit=1000)
    return {
        "messages": [message_json(ws, m, with_metadata=with_metadata) for m in page],
        "has_more": bool(next_cursor),
        "response_metadata": {"next_cursor": next_cursor},
    }


def conversations_history(ws: Workspace, params: Params) -> dict[str, Any]:
    channel = ws.readable_channel(params.get("channel"))
    inclusive = flag(params.get("inclusive"))
    try:
        oldest, latest = float(params.get("oldest") or 0), float(params.get("latest") or "inf")
    except ValueError as exc:
        raise ApiError("invalid_ts_oldest") from exc

    def in_window(ts: float) -> bool:
        if inclusive:
            return oldest <= ts <= latest
        return oldest < ts < latest

    newest_first = [m for m in reversed(ws.visible_history(channel.id)) if in_window(float(m.ts))]
    page, next_cursor = _page(newest_first, params, default_limit=100)
    with_metadata = flag(params.get("include_all_metadata"))
    return {
        "messages": [message_json(ws, m, with_metadata=with_metadata) for m in page],
        "has_more": bool(next_cursor),
        "pin_count": 0,
        "response_metadata": {"next_cursor": next_cursor},
    }


def conversations_info(ws: Workspace, params: Params) -> dict[str, Any]:
    channel = ws.channel(params.get("channel"))
    if channel.is_private and not channel.is_member:
        raise ApiError("channel_not_found")
    return {
        "channel": {
            "id": channel.id,
            "name": channel.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_private": channel.is_private,
            "is_member": channel.is_member,
            "is_archived": channel.is_archived,
            "context_team_id": ws.team_id,
        }
    }


def users_info(ws: Workspace, params: Params) -> dict[str, Any]:
    user = ws.user(params.get("user"))
    return {
        "user": {
            "id": user.id,
            "team_id": ws.team_id,
            "name": user.name,
            "real_name": user.real_name,
            "deleted": user.deleted,
            "is_bot": user.is_bot,
            "tz": "Etc/UTC",
            "profile": {"real_name": user.real_name, "display_name": user.name},
        }
    }


def usergroups_users_list(ws: Workspace, params: Params) -> dict[str, Any]:
    return {"users": ws.usergroup_users(params.get("usergroup"))}


def usergroups_list(ws: Workspace, params: Params) -> dict[str, Any]:
    include_users = flag(params.get("include_users"))
    groups = []
    for group_id, members in ws.usergroups.items():
        group: dict[str, Any] = {
            "id": group_id,
            "team_id": ws.team_id,
            "handle": group_id.lower(),
            "name": group_id,
            "user_count": len(members),
        }
        if include_users:
            group["users"] = list(members)
        groups.append(group)
    return {"usergroups": groups}


VIEW_TITLE_MAX = 24  # Slack's limit for a modal's title, submit and close texts
VIEW_BLOCKS_MAX = 100


def views_open(ws: Workspace, params: Params) -> dict[str, Any]:
    """A modal opened from a click: needs the click's trigger_id and a well-formed modal."""
    if not params.get("trigger_id"):
        raise ApiError("invalid_trigger_id")
    view = _json_field(params, "view", "invalid_arguments")
    if not isinstance(view, dict) or view.get("type") != "modal":
        raise ApiError("invalid_arguments")
    for key in ("title", "submit", "close"):
        part = view.get(key)
        text = part.get("text", "") if isinstance(part, dict) else ""
        if (key == "title" and not text) or len(text) > VIEW_TITLE_MAX:
            raise ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] bad {key}"]})
    if len(view.get("blocks") or []) > VIEW_BLOCKS_MAX:
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] too many blocks"]})
    opened = {**view, "id": f"V{len(ws.views) + 1:08d}", "trigger_id": params["trigger_id"]}
    ws.views.append(opened)
    return {"view": opened}


def views_publish(ws: Workspace, params: Params) -> dict[str, Any]:
    """A user's Home tab: a view of type "home" whose blocks pass Slack's checks, kept per user."""
    user = ws.user(params.get("user_id"))
    view = _json_field(params, "view", "invalid_arguments")
    if not isinstance(view, dict) or view.get("type") != "home":
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] bad view type"]})
    problems = problems_in_blocks(view.get("blocks"), max_blocks=VIEW_BLOCKS_MAX)
    if problems:
        raise ApiError(
            "invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]}
        )
    with ws.lock:
        published = {**view, "id": f"V{len(ws.views) + len(ws.home_views) + 1:08d}"}
        ws.home_views[user.id] = published
    return {"view": published}


# Slack's limit for one file (slack_sdk checks it too, before asking for a URL).
MAX_FILE_BYTES = 1024 * 1024 * 1024


def files_get_upload_url_external(ws: Workspace, params: Params) -> dict[str, Any]:
    """Step 1 of files.uploadV2: a URL to send the bytes to, and the file's id."""
    filename = params.get("filename")
    if not isinstance(filename, str) or not filename.strip():
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing filename"]})
    try:
        length = int(params.get("length", ""))
    except (TypeError, ValueError) as exc:
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] bad length"]}) from exc
    if not 0 < length <= MAX_FILE_BYTES:
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] bad length"]})
    file_id = f"F{len(ws.uploads) + 1:010d}"
    alt = params.get("alt_txt")
    ws.uploads[file_id] = Upload(id=file_id, filename=filename, length=length, alt_txt=alt if alt else None)
    return {"upload_url": f"{ws.files_url}{file_id}", "file_id": file_id}


def receive_upload(ws: Workspace, file_id: str, data: bytes) -> str:
    """Step 2: the bytes POSTed to the upload URL. Slack answers 200 with a short text body."""
    upload = ws.uploads.get(file_id)
    if upload is None or upload.completed:
        raise ApiError("invalid_upload_url", status=404)
    if len(data) != upload.length:
        # Slack truncates or refuses a body that is not the declared length; the fake refuses.
        raise ApiError("upload_length_mismatch", status=400)
    upload.data = data
    return f"OK - {len(data)}"


def files_complete_upload_external(ws: Workspace, params: Params) -> dict[str, Any]:
    """Step 3: share the uploaded files in a channel (and thread), `initial_comment` as the message."""
    files = _json_field(params, "files", "invalid_arguments")
    if not isinstance(files, list) or not files or not all(isinstance(f, dict) for f in files):
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] files is required"]})
    uploads = []
    for item in files:
        upload = ws.uploads.get(str(item.get("id")))
        if upload is None or upload.data is None or upload.completed:
            raise ApiError("file_not_found")
        uploads.append((upload, item.get("title")))
    channel_ref = params.get("channel_id") or params.get("channels")
    thread_ts = _thread_ts(params)
    channel = ws.writable_channel(channel_ref) if channel_ref else None
    if channel is not None and thread_ts is not None:
        ws.thread_parent(channel.id, thread_ts)
    infos = [upload.info(title) for upload, title in uploads]
    for upload, _ in uploads:
        upload.completed = True
    if channel is not None:
        comment = params.get("initial_comment")
        text = str(comment) if comment else ""
        if len(text) > MAX_MESSAGE_TEXT:
            raise ApiError("msg_too_long")
        ws.post(
            Message(
                channel=channel.id,
                ts=ws.next_ts(),
                content=Content(text=text),
                author=ws.bot_user_id,
                via="files.completeUploadExternal",
                thread_ts=thread_ts,
                files=infos,
            )
        )
    return {"files": infos}


METHODS: dict[str, Method] = {
    "files.getUploadURLExternal": files_get_upload_url_external,
    "files.completeUploadExternal": files_complete_upload_external,
    "views.open": views_open,
    "views.publish": views_publish,
    "auth.test": auth_test,
    "chat.postMessage": chat_post_message,
    "chat.postEphemeral": chat_post_ephemeral,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "conversations.replies": conversations_replies,
    "conversations.history": conversations_history,
    "conversations.info": conversations_info,
    "users.info": users_info,
    "usergroups.users.list": usergroups_users_list,
    "usergroups.list": usergroups_list,
}


# -- response_url ---------------------------------------------------------------------------
def respond(ws: Workspace, entry: ResponseUrl | None, payload: Params) -> dict[str, Any]:
    """One POST to a response_url: a new message, or replace/delete the original."""
    try:
        _respond(ws, entry, payload)
    except ApiError as exc:
        if exc.status == 200:
            # response_urls answer refusals with an HTTP error, not 200 + ok:false.
            raise ApiError(exc.code, status=400, **exc.extra) from exc
        raise
    return {}


def _respond(ws: Workspace, entry: ResponseUrl | None, payload: Params) -> None:
    if entry is None:
        raise ApiError("invalid_url", status=404)
    if time.monotonic() - entry.issued_at > entry.ttl_seconds:
        raise ApiError("expired_url", status=404)
    if entry.uses >= RESPONSE_URL_MAX_USES:
        raise ApiError("used_url", status=404)
    original_ts = entry.message_ts or entry.last_ts
    original = ws.find(entry.channel, original_ts) if original_ts else None
    if flag(payload.get("delete_original")):
        if original is None:
            raise ApiError("message_not_found", status=404)
        original.deleted = True
    elif flag(payload.get("replace_original")) and original is not None:
        content = _content(payload)
        check_content(content)
        ws.update(original, content, via="response_url")
    else:
        entry.last_ts = _respond_new(ws, entry, payload).ts
    entry.uses += 1


def _respond_new(ws: Workspace, entry: ResponseUrl, payload: Params) -> Message:
    content = _content(payload)
    check_content(content)
    in_channel = payload.get("response_type") == "in_channel"
    thread_ts = _thread_ts(payload)
    if thread_ts is not None:
        ws.thread_parent(entry.channel, thread_ts)
    return ws.post(
        Message(
            channel=entry.channel,
            ts=ws.next_ts(),
            content=content,
            author=ws.bot_user_id,
            via="response_url",
            thread_ts=thread_ts,
            ephemeral=not in_channel,
            user=None if in_channel else entry.user,
        )
    )
