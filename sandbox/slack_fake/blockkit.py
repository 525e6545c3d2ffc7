"""Block Kit limits the fake enforces, so a message Slack would refuse is refused here too.

Only the limits a bot like ours can plausibly hit are checked (sizes, counts, required
fields, text-object types, unique ids). Each problem is reported the way Slack does:
a short sentence plus a JSON pointer to the offending field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MAX_BLOCKS = 50
MAX_MESSAGE_TEXT = 40_000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELD = 2000
MAX_SECTION_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_MARKDOWN_BLOCK_TEXT = 12_000

BLOCK_TYPES = frozenset(
    {
        "section",
        "header",
        "divider",
        "context",
        "actions",
        "image",
        "input",
        "rich_text",
        "markdown",
        "file",
        "video",
        "table",
        "context_actions",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})


def problems_in_blocks(blocks: object, *, max_blocks: int = MAX_BLOCKS) -> list[str]:
    """All the reasons Slack would answer `invalid_blocks`; empty when the blocks are fine.
    A message holds 50 blocks, a view (modal or Home tab) 100."""
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        return ["blocks must be an array of objects [json-pointer:/blocks]"]
    found: list[str] = []
    if len(blocks) > max_blocks:
        found.append(f"no more than {max_blocks} items allowed [json-pointer:/blocks]")
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"/blocks/{index}"
        found.extend(_check_block_id(block, where, seen_block_ids))
        found.extend(_check_block(block, where))
    return found


def _check_block_id(block: dict[str, Any], where: str, seen: set[str]) -> Iterator[str]:
    block_id = block.get("block_id")
    if block_id is None:
        return
    if not isinstance(block_id, str) or not 1 <= len(block_id) <= MAX_ID:
        yield f"block_id must be a string of 1-{MAX_ID} characters [json-pointer:{where}/block_id]"
    elif block_id in seen:
        yield f"duplicate block_id '{block_id}' [json-pointer:{where}/block_id]"
    else:
        seen.add(block_id)


def _check_block(block: dict[str, Any], where: str) -> Iterator[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        yield f"unsupported block type {kind!r} [json-pointer:{where}/type]"
        return
    checker = _BLOCK_CHECKERS.get(str(kind))
    if checker is not None:
        yield from checker(block, where)


def _check_section(block: dict[str, Any], where: str) -> Iterator[str]:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        yield f"section needs text or fields [json-pointer:{where}]"
    if text is not None:
        yield from check_text_object(text, f"{where}/text", max_len=MAX_SECTION_TEXT)
    if fields is not None:
        if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_SECTION_FIELDS:
            yield f"fields must hold 1-{MAX_SECTION_FIELDS} items [json-pointer:{where}/fields]"
        else:
            for i, field in enumerate(fields):
                yield from check_text_object(field, f"{where}/fields/{i}", max_len=MAX_SECTION_FIELD)
    accessory = block.get("accessory")
    if accessory is not None:
        yield from check_element(accessory, f"{where}/accessory")


def _check_header(block: dict[str, Any], where: str) -> Iterator[str]:
    yield from check_text_object(block.get("text"), f"{where}/text", max_len=MAX_HEADER_TEXT, plain_only=True)


def _check_context(block: dict[str, Any], where: str) -> Iterator[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
        yield f"elements must hold 1-{MAX_CONTEXT_ELEMENTS} items [json-pointer:{where}/elements]"
        return
    for i, element in enumerate(elements):
        path = f"{where}/elements/{i}"
        if isinstance(element, dict) and element.get("type") == "image":
            yield from _check_image_element(element, path)
        else:
            yield from check_text_object(element, path, max_len=MAX_SECTION_TEXT)


def _check_actions(block: dict[str, Any], where: str) -> Iterator[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
        yield f"elements must hold 1-{MAX_ACTIONS_ELEMENTS} items [json-pointer:{where}/elements]"
        return
    action_ids: set[str] = set()
    for i, element in enumerate(elements):
        path = f"{where}/elements/{i}"
        yield from check_element(element, path)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str):
            # Slack refuses two elements with one action_id in the same block.
            if action_id in action_ids:
                yield f"duplicate action_id '{action_id}' [json-pointer:{path}/action_id]"
            action_ids.add(action_id)


def _check_image_block(block: dict[str, Any], where: str) -> Iterator[str]:
    yield from _check_image_element(block, where)


def _check_markdown(block: dict[str, Any], where: str) -> Iterator[str]:
    text = block.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= MAX_MARKDOWN_BLOCK_TEXT:
        yield f"text must be 1-{MAX_MARKDOWN_BLOCK_TEXT} characters [json-pointer:{where}/text]"


_BLOCK_CHECKERS = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "image": _check_image_block,
    "markdown": _check_markdown,
}


def check_text_object(obj: object, where: str, *, max_len: int, plain_only: bool = False) -> Iterator[str]:
    """A composition text object: {type: plain_text|mrkdwn, text: 1..max_len chars}."""
    if not isinstance(obj, dict):
        yield f"must be a text object [json-pointer:{where}]"
        return
    kind = obj.get("type")
    allowed = {"plain_text"} if plain_only else TEXT_TYPES
    if kind not in allowed:
        yield f"type must be one of {sorted(allowed)} [json-pointer:{where}/type]"
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        yield f"text must be a non-empty string [json-pointer:{where}/text]"
    elif len(text) > max_len:
        yield f"must be less than {max_len + 1} characters [json-pointer:{where}/text]"


def check_element(element: object, where: str) -> Iterator[str]:
    """An interactive element; buttons are checked field by field, others for their ids."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        yield f"element must be an object with a type [json-pointer:{where}]"
        return
    yield from _check_action_id(element, where)
    kind = element["type"]
    if kind == "button":
        yield from _check_button(element, where)
    elif kind == "image":
        yield from _check_image_element(element, where)
    if "confirm" in element:
        yield from _check_confirm(element["confirm"], f"{where}/confirm")
    if isinstance(element.get("options"), list):
        for i, option in enumerate(element["options"]):
            yield from _check_option(option, f"{where}/options/{i}")


def _check_action_id(element: dict[str, Any], where: str) -> Iterator[str]:
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or not 1 <= len(action_id) <= MAX_ID):
        yield f"action_id must be 1-{MAX_ID} characters [json-pointer:{where}/action_id]"


def _check_button(button: dict[str, Any], where: str) -> Iterator[str]:
    yield from check_text_object(
        button.get("text"), f"{where}/text", max_len=MAX_BUTTON_TEXT, plain_only=True
    )
    value = button.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
        yield f"value must be a string of at most {MAX_BUTTON_VALUE} characters [json-pointer:{where}/value]"
    url = button.get("url")
    if url is not None and (not isinstance(url, str) or len(url) > MAX_URL):
        yield f"url must be a string of at most {MAX_URL} characters [json-pointer:{where}/url]"
    style = button.get("style")
    if style is not None and style not in ("primary", "danger"):
        yield f"style must be primary or danger [json-pointer:{where}/style]"


def _check_confirm(confirm: object, where: str) -> Iterator[str]:
    if not isinstance(confirm, dict):
        yield f"confirm must be an object [json-pointer:{where}]"
        return
    yield from check_text_object(confirm.get("title"), f"{where}/title", max_len=100, plain_only=True)
    yield from check_text_object(confirm.get("text"), f"{where}/text", max_len=300)
    yield from check_text_object(confirm.get("confirm"), f"{where}/confirm", max_len=30, plain_only=True)
    yield from check_text_object(confirm.get("deny"), f"{where}/deny", max_len=30, plain_only=True)


def _check_option(option: object, where: str) -> Iterator[str]:
    if not isinstance(option, dict):
        yield f"option must be an object [json-pointer:{where}]"
        return
    yield from check_text_object(option.get("text"), f"{where}/text", max_len=75)
    value = option.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > 150):
        yield f"value must be a string of at most 150 characters [json-pointer:{where}/value]"


def _check_image_element(image: dict[str, Any], where: str) -> Iterator[str]:
    alt = image.get("alt_text")
    if not isinstance(alt, str) or not 1 <= len(alt) <= 2000:
        yield f"alt_text must be 1-2000 characters [json-pointer:{where}/alt_text]"
    if "image_url" not in image and "slack_file" not in image:
        yield f"image_url or slack_file is required [json-pointer:{where}]"
