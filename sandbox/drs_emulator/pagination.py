"""nextToken/maxResults paging.

Tokens are cursors (the sort key of the last item returned), not offsets, so items created between
two pages neither repeat nor go missing: the newest-first DescribeJobs list keeps growing at its head.
They are hex, not base64 JSON: botocore's paginators read a base64 JSON StartingToken as their own
token format, which would break resuming from a nextToken the service returned.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence
from typing import Any

from . import errors

# Page size when the caller gives no maxResults (a guess; callers should page anyway).
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode(operation: str, key: list[Any]) -> str:
    return json.dumps({"op": operation, "after": key}, separators=(",", ":")).encode().hex()


def decode(operation: str, token: str) -> list[Any]:
    try:
        data = json.loads(bytes.fromhex(token))
        if data["op"] != operation or not isinstance(data["after"], list):
            raise ValueError
        after: list[Any] = data["after"]
        return after
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.field_validation("nextToken", "Member must be a valid pagination token") from exc


def paginate[T](
    operation: str, items: Sequence[T], key: Callable[[T], list[Any]], params: dict[str, Any]
) -> tuple[list[T], dict[str, str]]:
    """`items` must be sorted ascending by `key`. Returns the page and {"nextToken": ...} if more remain."""
    start = 0
    token = params.get("nextToken")
    if token:
        after = decode(operation, token)
        keys = [key(item) for item in items]
        start = bisect.bisect_right(keys, after)
    size = min(int(params.get("maxResults") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    page = list(items[start : start + size])
    if start + size < len(items) and page:
        return page, {"nextToken": encode(operation, key(page[-1]))}
    return page, {}
