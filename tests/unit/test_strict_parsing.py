"""JSON and YAML as the bot reads them: a key written twice, a hostile file or a foreign type is refused,
named with where it is, and never becomes a traceback."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.domain.strict_json import DocumentError, load_json
from bot.domain.strict_yaml import MAX_BYTES, MAX_DEPTH, MAX_VALUES, load_yaml
from bot.errors import ConfigurationError
from bot.settings import Settings

# The reviewer's policy: the second halves would open approval to everyone in every channel.
OPENED_UP = '{"allowed_channels":["C0DRILLS"],"approvers":["U0CTO"],"allowed_channels":[],"approvers":["*"]}'


def json_refusal(text: str | bytes) -> str:
    with pytest.raises(DocumentError) as caught:
        load_json(text)
    return str(caught.value)


def yaml_refusals(text: str | bytes) -> list[str]:
    with pytest.raises(DocumentError) as caught:
        load_yaml(text)
    return [str(problem) for problem in caught.value.problems]


# --- JSON -------------------------------------------------------------------------------------------


def test_the_standard_library_keeps_the_last_of_two_keys_and_we_refuse_it() -> None:
    assert json.loads(OPENED_UP)["allowed_channels"] == []  # why this module exists
    assert json_refusal(OPENED_UP) == (
        "allowed_channels: written twice; the second would silently replace the first"
    )


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"limits": {"servers_per_job": 100, "servers_per_job": 200}}', "limits.servers_per_job"),
        ('[{"a": 1}, {"b": {"c": [1, {"d": 1, "d": 1}]}}]', "[1].b.c[1].d"),
        ('{"a": 1, "a": 1}', "a"),  # the same value twice is still refused: the writer meant something
    ],
)
def test_a_repeated_json_key_is_named_with_its_path_at_any_depth(text: str, path: str) -> None:
    assert json_refusal(text).startswith(f"{path}: written twice")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON: Expecting property name"),
        ("NaN", "not valid JSON: NaN is not a JSON number"),
        ('{"limit": Infinity}', "not valid JSON: Infinity is not a JSON number"),
        ("9" * 5000, "not valid JSON: a number of 5,000 digits"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON: nested too deeply"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
def test_malformed_json_is_refused_in_one_line(text: str | bytes, expected: str) -> None:
    message = json_refusal(text)
    assert message.startswith(expected) and "\n" not in message


def test_json_without_repeated_keys_reads_as_json() -> None:
    text = '{"a": [1, 2.5, {"b": null, "c": true}], "d": "é"}'
    assert load_json(text) == json.loads(text)


def test_the_refusal_reads_as_a_sentence_about_the_setting() -> None:
    with pytest.raises(DocumentError) as caught:
        load_json(OPENED_UP)
    assert caught.value.about("DRS_BOT_ACCESS_POLICY") == (
        "DRS_BOT_ACCESS_POLICY is invalid: allowed_channels: written twice; "
        "the second would silently replace the first"
    )
    with pytest.raises(DocumentError) as caught:
        load_json("{")
    assert caught.value.about("DRS_BOT_LIMITS").startswith("DRS_BOT_LIMITS is not valid JSON: ")


@settings(max_examples=300)
@given(st.binary(max_size=200) | st.text(max_size=200))
@example(b'{"a": {"a": 1, "a": 2}}')
def test_any_input_is_json_or_a_document_error(data: bytes | str) -> None:
    with contextlib.suppress(DocumentError):
        load_json(data)


# --- YAML -------------------------------------------------------------------------------------------


def test_pyyaml_keeps_the_last_of_two_keys_and_we_refuse_it_naming_both_lines() -> None:
    text = "groups:\n  - name: web\n    source_servers: [s-1]\n    source_servers: [s-2]\n"
    assert yaml.safe_load(text)["groups"][0]["source_servers"] == ["s-2"]  # why this module exists
    assert yaml_refusals(text) == [
        "groups[0].source_servers: written twice (lines 3 and 4); the second would silently replace the first"
    ]


def test_every_repeated_key_is_named_not_only_the_first() -> None:
    text = "a: 1\nb: {c: 1, 'c': 2}\na: 3\n"
    assert yaml_refusals(text) == [
        "a: written twice (lines 1 and 3); the second would silently replace the first",
        "b.c: written twice (lines 2 and 2); the second would silently replace the first",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes: 1", "yes: line 1: the key 'yes' is read as true or false, not text; quote it"),
        ("x:\n  1: a", "x.1: line 2: the key '1' is read as a number, not text; quote it"),
        ("~: a", "~: line 1: the key '~' is read as null (nothing), not text; quote it"),
        ("? [a]\n: 1", "?: line 1: a key must be text, not a list"),
        ("? {a: 1}\n: 1", "?: line 1: a key must be text, not a mapping"),
    ],
)
def test_a_key_that_is_not_text_is_refused(text: str, expected: str) -> None:
    assert yaml_refusals(text) == [expected]


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("!!python/object/apply:os.system ['true']", "!!python/object/apply:os.system"),
        ("a: !!python/name:os.system", "!!python/name:os.system"),
        ("a: !Ref Bucket", "!Ref"),
        ("a: !!binary aGVsbG8=", "!!binary"),
        ("a: !!set {x, y}", "!!set"),
        ("a: !!timestamp 2024-05-01", "!!timestamp"),
    ],
)
def test_tags_that_build_other_types_are_refused(text: str, tag: str) -> None:
    (message,) = yaml_refusals(text)
    assert f"the tag {tag} is not allowed" in message


def test_dates_stay_text_and_merge_keys_work() -> None:
    text = "base: &base {region: us-east-1}\ngroup:\n  <<: *base\n  name: db\nwhen: 2024-05-01\n"
    assert load_yaml(text) == {
        "base": {"region": "us-east-1"},
        "group": {"region": "us-east-1", "name": "db"},
        "when": "2024-05-01",
    }


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        previous, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_at_once() -> None:
    assert len(billion_laughs()) < 1000  # 9**9 = 387,420,489 values once expanded
    started = time.perf_counter()
    (message,) = yaml_refusals(billion_laughs())
    assert time.perf_counter() - started < 2
    assert f"more than {MAX_VALUES:,} values once its aliases are expanded" in message


def test_an_alias_inside_itself_is_refused() -> None:
    assert yaml_refusals("a: &a [1, *a]") == ["a[1]: line 1: an alias refers to a value it is part of"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 999, 5000, 100_000])
def test_deep_nesting_is_refused(depth: int) -> None:
    (message,) = yaml_refusals("[" * depth + "]" * depth)
    assert "nested more than" in message or "maximum nesting depth" in message
    assert message.startswith("line 1")


def test_nesting_up_to_the_limit_is_read() -> None:
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a: caf\xe9\n", "line 1, column 7: byte 0xe9 is not UTF-8 text; save the file as UTF-8"),
        (b"a: 1\n\x80", "line 2, column 1: byte 0x80 is not UTF-8 text"),
        (b"\xef\xbb\xbfa: 1\n", "line 1, column 1: an invisible byte-order mark (U+FEFF)"),
        ("a: 1\nb\ufeff: 2\n", "line 2, column 2: an invisible byte-order mark (U+FEFF)"),
        (
            "a: 1\n".encode("utf-16"),
            "UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8",
        ),
        (b"a: \x00", "line 1, column 4: not valid YAML: control characters are not allowed"),
        (b"a: 1\n" + b"#" * MAX_BYTES, "larger than 1024 KiB, the most the bot reads"),
        (b"a: 1\n---\nb: 2\n", "line 2, column 1: not valid YAML: expected a single document"),
        (b"a: [1\n", "line 2, column 1: not valid YAML: while parsing a flow sequence"),
        (b"a: !!int abc", "not valid YAML: invalid literal for int()"),
    ],
)
def test_hostile_bytes_are_refused_with_where_and_why(data: str | bytes, expected: str) -> None:
    (message,) = yaml_refusals(data)
    assert message.startswith(expected) or expected in message


yaml_texts = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
).map(lambda value: yaml.safe_dump(value, allow_unicode=True))
yaml_fragments = st.lists(
    st.sampled_from(
        [
            "a:",
            " b:",
            "- ",
            "&x ",
            "*x",
            "<<: ",
            "!!python/object ",
            "!Ref ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "? ",
            "'",
            '"',
            "#",
            "\n",
            "  ",
            "---",
            "...",
            "%YAML 1.1",
            "yes",
            "~",
            "1",
            "\t",
            "\ufeff",
            "é",
            "|",
            ">",
        ]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=300)
@given(st.binary(max_size=300) | yaml_texts | yaml_fragments)
@example(b"a: &a [*a, *a]")
@example("a: 1\na: 2")
def test_any_input_is_plain_data_or_a_document_error(data: bytes | str) -> None:
    try:
        value = load_yaml(data)
    except DocumentError as error:
        assert error.problems and all(str(problem) for problem in error.problems)
        return
    plain = (type(None), bool, int, float, str, list, dict)
    stack = [value]
    while stack:
        item = stack.pop()
        assert isinstance(item, plain), type(item)
        if isinstance(item, dict):
            assert all(isinstance(key, str) for key in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


# --- the settings that take JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "DRS_BOT_LIMITS",
            '{"servers_per_job": 10, "servers_per_job": 100}',
            "DRS_BOT_LIMITS is invalid: servers_per_job: written twice",
        ),
        # A misspelt quota was ignored, leaving the default in force.
        (
            "DRS_BOT_LIMITS",
            '{"servers_per_jobs": 10}',
            "DRS_BOT_LIMITS is invalid: servers_per_jobs: Extra inputs",
        ),
        (
            "DRS_BOT_ACCESS_POLICY",
            '{"approvers": ["U0CTO"], "approvals_required": 2, "approvals_required": 1}',
            "DRS_BOT_ACCESS_POLICY is invalid: approvals_required: written twice",
        ),
        ("DRS_BOT_ACCESS_POLICY", '{"approvers": ["U0CTO"]', "DRS_BOT_ACCESS_POLICY is not valid JSON: "),
    ],
)
def test_a_json_setting_is_read_strictly(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({variable: value})
    assert str(refused.value).startswith(expected)
