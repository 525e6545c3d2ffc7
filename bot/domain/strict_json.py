"""JSON read strictly: the one way the bot parses JSON that a person wrote or may have edited.

Python's json module (and pydantic's model_validate_json) keep the last of two equal keys without a word:
`{"allowed_channels": ["C0DRILLS"], "allowed_channels": []}` would open the bot to every channel.
Here a repeated key is refused, named with its path. Standard library only: the Slack ack path reads
the access policy's allow-list through this module.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

MAX_DIGITS = 100


class DocumentError(ValueError):
    """A JSON or YAML document that must not be used; `path` says where inside it (empty: the whole)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)

    @property
    def problems(self) -> list[DocumentError]:
        return [self]

    def about(self, name: str) -> str:
        """The error as a sentence about `name` (a variable, a secret): "X is not valid JSON: ..."."""
        return f"{name} is invalid: {self}" if self.path else f"{name} is {self}"


class DocumentErrors(DocumentError):
    """Several problems found in one pass (every repeated key, not only the first)."""

    def __init__(self, problems: list[DocumentError]) -> None:
        super().__init__(problems[0].path, problems[0].message)
        self._problems = problems
        self.args = ("\n".join(str(problem) for problem in problems),)

    @property
    def problems(self) -> list[DocumentError]:
        return self._problems


def text_of(data: str | bytes, limit: int) -> str:
    """A file's content as text: UTF-8, at most `limit` bytes, with no byte-order mark.

    A BOM is invisible in editors; inside a file it makes two equal-looking keys differ."""
    if len(data) > limit:
        raise DocumentError("", f"larger than {limit // 1024} KiB, the most the bot reads")
    if isinstance(data, str):
        text = data
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DocumentError("", "UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DocumentError(
                position(data, error.start),
                f"byte 0x{data[error.start]:02x} is not UTF-8 text; save the file as UTF-8",
            ) from None
    mark = text.find("\ufeff")
    if mark >= 0:
        raise DocumentError(
            position(text, mark), "an invisible byte-order mark (U+FEFF); save the file as UTF-8 without BOM"
        )
    return text


def position(text: str | bytes, index: int) -> str:
    """ "line L, column C" of the character (or byte) at `index`, both counted from 1."""
    newline: Any = b"\n" if isinstance(text, bytes) else "\n"
    return f"line {text.count(newline, 0, index) + 1}, column {index - text.rfind(newline, 0, index)}"


class _Repeated(dict[str, Any]):
    """An object in which a key was written twice; found again after parsing to name its path."""

    repeated: str


class _Objects:
    """json's object hook for one document: remembers whether any object repeated a key."""

    def __init__(self) -> None:
        self.repeated = False

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        marked = _Repeated(result)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked.repeated = key
                break
            seen.add(key)
        self.repeated = True
        return marked


def _constant(name: str) -> Any:
    raise DocumentError("", f"not valid JSON: {name} is not a JSON number")


def _integer(digits: str) -> int:
    if len(digits) > MAX_DIGITS:
        raise DocumentError("", f"not valid JSON: a number of {len(digits):,} digits")
    return int(digits)


def load_json(text: str | bytes) -> Any:
    """Parse JSON; DocumentError for bad syntax, a repeated key, NaN/Infinity, or too deep nesting."""
    objects = _Objects()
    try:
        data = json.loads(text, object_pairs_hook=objects, parse_constant=_constant, parse_int=_integer)
    except json.JSONDecodeError as error:
        raise DocumentError("", f"not valid JSON: {error}") from None
    except RecursionError:
        raise DocumentError("", "not valid JSON: nested too deeply") from None
    except UnicodeDecodeError:
        raise DocumentError("", "not valid JSON: not UTF-8 text") from None
    if objects.repeated:
        _refuse_repeated(data)
    return data


def _refuse_repeated(data: Any) -> None:
    # Iterative: the document may be nested as deeply as json accepts.
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            if isinstance(value, _Repeated):
                where = f"{path}.{value.repeated}" if path else value.repeated
                raise DocumentError(where, "written twice; the second would silently replace the first")
            stack.extend((item, f"{path}.{key}" if path else key) for key, item in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]") for index, item in reversed(list(enumerate(value))))
