"""YAML read strictly: the one way the bot parses YAML (plans files, the sandbox's config).

PyYAML's safe loader accepts what a file that decides which servers get launched must not hold: a key
written twice (the last silently wins, so servers drop out of a protection group), keys that are not
text (`yes:` is a boolean, `1:` a number), tags that build other types, and aliases that expand a few
lines into billions of values ("billion laughs"). The document is composed into nodes, checked here,
and only then turned into Python values.
"""

from __future__ import annotations

from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.domain.strict_json import DocumentError, DocumentErrors, position, text_of

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
# Values once aliases are expanded: a plan of 4,000 servers has about 4,100; this stops "billion laughs".
MAX_VALUES = 200_000

_YAML = "tag:yaml.org,2002:"
_SCALARS = {f"{_YAML}{name}" for name in ("str", "int", "float", "bool", "null")}
_MERGE = f"{_YAML}merge"
_KINDS = {f"{_YAML}int": "a number", f"{_YAML}float": "a number", f"{_YAML}bool": "true or false"}
# libyaml parses a 4,000-server plans file in a tenth of the time; its parser also stops at 1,000 levels
# of nesting where PyYAML's own composer recurses until Python's recursion limit.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictLoader(_SafeLoader):  # type: ignore[misc]
    """PyYAML's safe loader, with dates left as text (`2024-05-01` is a string, as the fields that hold
    such words expect); load_yaml checks what it composed before building values."""

    # Tags the document may use besides YAML's plain data types: none here (sandbox/tables.py allows
    # CloudFormation's `!Ref`, `!Sub`, ...).
    local_tags: ClassVar[bool] = False

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != f"{_YAML}timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    @classmethod
    def allows(cls, tag: str) -> bool:
        return cls.local_tags and tag.startswith("!")


def load_yaml(data: str | bytes, *, loader: type[StrictLoader] = StrictLoader) -> Any:
    """Parse one YAML document; DocumentError names the line or the path, and what is wrong."""
    text = text_of(data, MAX_BYTES)
    parser = loader(text)
    try:
        try:
            node = parser.get_single_node()
        except yaml.MarkedYAMLError as error:
            raise DocumentError(_line(error.problem_mark), f"not valid YAML: {_reason(error)}") from None
        except yaml.reader.ReaderError as error:  # a control character
            raise DocumentError(position(text, error.position), f"not valid YAML: {error.reason}") from None
        except RecursionError:  # PyYAML without libyaml
            raise DocumentError("", f"nested more than {MAX_DEPTH} levels deep") from None
        if node is None:
            return None
        _check(node, loader)
        try:
            return parser.construct_document(node)
        except yaml.MarkedYAMLError as error:
            raise DocumentError(_line(error.problem_mark), f"not valid YAML: {_reason(error)}") from None
        except (ValueError, KeyError, TypeError) as error:  # e.g. `!!int abc`
            raise DocumentError(_line(node.start_mark), f"not valid YAML: {error}") from None
    finally:
        parser.dispose()


def _line(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _reason(error: yaml.MarkedYAMLError) -> str:
    # PyYAML's own wording reads as one sentence: "while parsing a flow sequence did not find expected ','".
    return " ".join(part for part in (error.context, error.problem) if part)


def _check(root: Node, loader: type[StrictLoader]) -> None:
    """Refuse repeated keys, keys that are not text, foreign tags and alias bombs, naming the path.

    Visits each node once (an aliased node: at its first path), without recursion, and counts the
    values each node stands for once its aliases are expanded, as pydantic would then walk them."""
    problems: list[DocumentError] = []
    sizes: dict[int, int] = {}  # node -> values it expands to, once all of it has been visited
    visiting: set[int] = set()
    stack: list[tuple[Node, str, int, list[Node] | None]] = [(root, "", 0, None)]
    while stack:
        node, path, depth, children = stack.pop()
        if children is not None:  # all of the node's children are done
            visiting.discard(id(node))
            size = 1 + sum(sizes[id(child)] for child in children)
            if size > MAX_VALUES:
                raise DocumentError(
                    path, f"more than {MAX_VALUES:,} values once its aliases are expanded (a YAML bomb?)"
                )
            sizes[id(node)] = size
            continue
        if id(node) in sizes:
            continue
        if id(node) in visiting:
            raise DocumentError(
                path, f"line {node.start_mark.line + 1}: an alias refers to a value it is part of"
            )
        if depth >= MAX_DEPTH and isinstance(node, MappingNode | SequenceNode):
            raise DocumentError(
                f"line {node.start_mark.line + 1}", f"nested more than {MAX_DEPTH} levels deep"
            )
        problem = _tag_problem(node, loader)
        if problem:
            problems.append(DocumentError(path, problem))
        nested = _children(node, path, problems)
        visiting.add(id(node))
        stack.append((node, path, depth, [child for child, _ in nested]))
        stack.extend((child, child_path, depth + 1, None) for child, child_path in reversed(nested))
    if problems:
        raise DocumentErrors(problems)


def _children(node: Node, path: str, problems: list[DocumentError]) -> list[tuple[Node, str]]:
    """A node's values with their paths; a mapping's keys are checked on the way."""
    if isinstance(node, SequenceNode):
        return [(item, f"{path}[{index}]") for index, item in enumerate(node.value)]
    if not isinstance(node, MappingNode):
        return []
    children: list[tuple[Node, str]] = []
    lines: dict[str, int] = {}
    for key, value in node.value:
        if isinstance(key, ScalarNode) and key.tag == _MERGE:
            children.append((value, path))  # `<<: *defaults`: its keys join this mapping
            continue
        name = _key_name(key)
        where = f"{path}.{name}" if path else name
        line = key.start_mark.line + 1
        if not (isinstance(key, ScalarNode) and key.tag == f"{_YAML}str"):
            problems.append(DocumentError(where, _key_problem(key)))
        elif name in lines:
            problems.append(
                DocumentError(
                    where,
                    f"written twice (lines {lines[name]} and {line}); the second would silently replace the first",
                )
            )
        else:
            lines[name] = line
        children.append((value, where))
    return children


def _key_name(key: Node) -> str:
    return str(key.value) if isinstance(key, ScalarNode) else "?"


def _key_problem(key: Node) -> str:
    if not isinstance(key, ScalarNode):
        return f"line {key.start_mark.line + 1}: a key must be text, not a {'list' if isinstance(key, SequenceNode) else 'mapping'}"
    kind = _KINDS.get(key.tag, "null (nothing)" if key.tag == f"{_YAML}null" else f"tagged {_shown(key.tag)}")
    return f"line {key.start_mark.line + 1}: the key {key.value!r} is read as {kind}, not text; quote it"


def _tag_problem(node: Node, loader: type[StrictLoader]) -> str | None:
    allowed = {
        ScalarNode: _SCALARS,
        SequenceNode: {f"{_YAML}seq"},
        MappingNode: {f"{_YAML}map"},
    }[type(node)]
    if node.tag in allowed or loader.allows(node.tag):
        return None
    return (
        f"line {node.start_mark.line + 1}: the tag {_shown(node.tag)} is not allowed; "
        "only plain YAML values (text, numbers, true/false, lists, mappings)"
    )


def _shown(tag: str) -> str:
    """A tag as it was written: `tag:yaml.org,2002:binary` is `!!binary`."""
    return tag.replace(_YAML, "!!")
