"""Render recorded Slack messages as the plain text a person in the channel would read.

Input is the message list FakeSlack records (`fake.messages()` or GET /_fake/messages).
Each top-level message is shown with its current (post-update) content, Block Kit turned
into text, then its thread replies indented beneath it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable
from typing import Any

Record = dict[str, Any]
Block = dict[str, Any]

EPHEMERAL_MARK = "(only visible to you)"
BROADCAST_MARK = "(also sent to the channel)"
REPLY_PREFIX = "    ↳ "
REPLY_CONTINUATION = "      "
DELETED_PARENT = "(message deleted)"

_ANGLE = re.compile(r"<([^<>]+)>")


def render_channel(messages: list[Record], channel: str, *, viewer: str | None = None) -> str:
    """The channel's transcript. With `viewer`, only that user's ephemeral messages appear."""
    mine = [m for m in messages if m.get("channel") == channel and _visible(m, viewer)]
    mine.sort(key=lambda m: _ts_key(m["ts"]))
    parents = [m for m in mine if not _is_reply(m)]
    replies: dict[str, list[Record]] = {}
    for m in mine:
        if _is_reply(m):
            replies.setdefault(m["thread_ts"], []).append(m)
    parent_ts = {p["ts"] for p in parents}
    orphans = [ts for ts in replies if ts not in parent_ts]  # their parent was deleted
    entries = [(p["ts"], _render_message(p)) for p in parents]
    entries += [(ts, [DELETED_PARENT]) for ts in orphans]
    entries.sort(key=lambda entry: _ts_key(entry[0]))
    chunks = ["\n".join(lines + _render_replies(replies.get(ts, []))) for ts, lines in entries]
    return f"#{channel}\n\n" + "\n\n".join(chunks) + ("\n" if chunks else "")


def _is_reply(message: Record) -> bool:
    # Slack's own read methods give a thread's parent thread_ts == ts; it is still top-level.
    return bool(message.get("thread_ts")) and message["thread_ts"] != message.get("ts")


def _visible(message: Record, viewer: str | None) -> bool:
    if message.get("deleted"):
        return False
    return not (viewer and message.get("ephemeral") and message.get("user") != viewer)


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds or 0), int(fraction.ljust(6, "0")[:6] or 0)


def _render_replies(replies: Iterable[Record]) -> list[str]:
    lines: list[str] = []
    for reply in replies:
        body = _render_message(reply)
        if reply.get("reply_broadcast"):
            body[0] = f"{BROADCAST_MARK} {body[0]}".rstrip()
        lines.append(REPLY_PREFIX + body[0])
        lines += [(REPLY_CONTINUATION + line).rstrip() for line in body[1:]]
    return lines


def render_message(message: Record) -> str:
    """One message's current content as text, without its thread."""
    return "\n".join(_render_message(message))


def _render_message(message: Record) -> list[str]:
    lines = render_blocks(message.get("blocks") or [])
    if not lines:
        lines = clean_mrkdwn(str(message.get("text") or "")).splitlines()
    for attachment in message.get("attachments") or []:
        lines += _render_attachment(attachment)
    lines += [_file_line(shared) for shared in message.get("files") or []]
    lines = lines or [""]
    author = message.get("author")
    if message.get("via") == "user" and author:
        lines[0] = f"@{author}: {lines[0]}"
    if message.get("ephemeral"):
        lines.insert(0, EPHEMERAL_MARK)
    return lines


def _file_line(shared: Record) -> str:
    """A shared file as Slack shows it under its message: the name, and an image's size."""
    size = f", {shared['original_w']}x{shared['original_h']} px" if "original_w" in shared else ""
    return f"[file: {shared.get('name', '')} ({shared.get('filetype', 'file')}{size})]"


def _render_attachment(attachment: Record) -> list[str]:
    lines = render_blocks(attachment.get("blocks") or [])
    text = attachment.get("text") or attachment.get("fallback") or ""
    lines += clean_mrkdwn(str(text)).splitlines()
    return ["| " + line for line in lines]


def render_blocks(blocks: list[Block]) -> list[str]:
    """Block Kit as lines of text; unknown block types show as "[type]"."""
    lines: list[str] = []
    for block in blocks:
        render = _BLOCK_RENDERERS.get(str(block.get("type")))
        lines += render(block) if render else [f"[{block.get('type')}]"]
    return lines


def _text(obj: object) -> str:
    if isinstance(obj, dict):
        return clean_mrkdwn(str(obj.get("text", "")))
    return clean_mrkdwn(str(obj)) if isinstance(obj, str) else ""


def _header(block: Block) -> list[str]:
    return [f"== {_text(block.get('text'))} =="]


def _section(block: Block) -> list[str]:
    lines = _text(block.get("text")).splitlines() if block.get("text") else []
    for field in block.get("fields") or []:
        lines.append(" ".join(_text(field).split("\n")))  # "*Waves*\n3" reads as "*Waves* 3"
    accessory = block.get("accessory")
    if isinstance(accessory, dict):
        lines.append(_element(accessory))
    return lines


def _context(block: Block) -> list[str]:
    parts = [
        f"[image: {e.get('alt_text', '')}]" if e.get("type") == "image" else _text(e)
        for e in block.get("elements") or []
        if isinstance(e, dict)
    ]
    return [" · ".join(parts)]


def _actions(block: Block) -> list[str]:
    return [" ".join(_element(e) for e in block.get("elements") or [] if isinstance(e, dict))]


def _element(element: Block) -> str:
    """Interactive elements the way they look: buttons as [Label], menus as [Label ▾]."""
    kind = element.get("type")
    if kind == "button":
        return f"[{_text(element.get('text'))}]"
    if kind == "overflow":
        return "[…]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    label = _text(element.get("placeholder")) or str(kind)
    return f"[{label} ▾]"


def _divider(block: Block) -> list[str]:
    return ["-" * 40]


def _image(block: Block) -> list[str]:
    return [f"[image: {block.get('alt_text', '')}]"]


def _markdown(block: Block) -> list[str]:
    return clean_mrkdwn(str(block.get("text", ""))).splitlines()


def _rich_text(block: Block) -> list[str]:
    return "".join(_rich_pieces(block.get("elements") or [])).splitlines()


def _rich_pieces(elements: list[Any]) -> list[str]:
    pieces: list[str] = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        kind = element.get("type")
        if kind == "text":
            pieces.append(str(element.get("text", "")))
        elif kind == "link":
            pieces.append(str(element.get("text") or element.get("url", "")))
        elif kind == "user":
            pieces.append(f"@{element.get('user_id', '')}")
        elif kind == "channel":
            pieces.append(f"#{element.get('channel_id', '')}")
        elif kind == "emoji":
            pieces.append(f":{element.get('name', '')}:")
        else:  # sections, lists, quotes, preformatted: containers of the above
            pieces += _rich_pieces(element.get("elements") or [])
            if kind in ("rich_text_section", "rich_text_preformatted", "rich_text_quote"):
                pieces.append("\n")
    return pieces


def _input(block: Block) -> list[str]:
    return [f"{_text(block.get('label'))}: [input]"]


_BLOCK_RENDERERS: dict[str, Callable[[Block], list[str]]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "actions": _actions,
    "divider": _divider,
    "image": _image,
    "markdown": _markdown,
    "rich_text": _rich_text,
    "input": _input,
}


def clean_mrkdwn(text: str) -> str:
    """Slack's angle-bracket syntax to what Slack displays; *bold* and _italic_ stay as typed."""
    return html.unescape(_ANGLE.sub(_replace_angle, text))


def _replace_angle(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    if target.startswith("@"):  # <@U123> or <@U123|name>
        return f"@{label or target[1:]}"
    if target.startswith("#"):  # <#C123|name>
        return f"#{label or target[1:]}"
    if target.startswith("!"):  # <!here>, <!subteam^S123|@oncall>, <!date^...|fallback>
        if label:
            return label
        keyword = target[1:].split("^")
        return f"@{keyword[-1] if keyword[0] == 'subteam' else keyword[0]}"
    return label or target  # <https://x|label> or <https://x>
