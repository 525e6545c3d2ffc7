"""The contributor docs name what the code has: files, links, code names and the numbers they quote.

docs/architecture.md and CONTRIBUTING.md are written from the code; a rename or a changed constant
that leaves them behind fails here instead of misleading the next reader.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/architecture.md", "CONTRIBUTING.md")
LINKED = (*DOCS, "README.md")
CODE = ("bot", "handlers", "drs_cli", "sandbox", "tests", "cfn", "scripts", "benchmarks")
CODE_FILES = ("manifest.yml", "Makefile", "pyproject.toml")

_SPAN = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PATH = re.compile(r"^[\w.-]+(/[\w.<>-]*)+$|^[\w.-]+\.(md|yml|yaml|py|toml)$")
_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(\(\))?$")
_CONSTANT = re.compile(r"^([A-Z][A-Z0-9_]+) = (\d+)$")


def _text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _spans(name: str) -> list[str]:
    # Fenced blocks (the diagram) are drawn, not quoted: only inline code spans are checked.
    text = re.sub(r"```.*?```", "", _text(name), flags=re.S)
    return _SPAN.findall(text)


@cache
def _code_words() -> frozenset[str]:
    words: set[str] = set()
    files = [ROOT / name for name in CODE_FILES]
    for folder in CODE:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".yaml", ".yml"}]
    for path in files:
        words.update(re.findall(r"[A-Za-z_]\w*", path.read_text(encoding="utf-8")))
    return frozenset(words)


def _files_named(base: str) -> list[Path]:
    return [path for folder in CODE for path in (ROOT / folder).rglob(base)]


@pytest.mark.parametrize("name", LINKED)
def test_relative_links_lead_to_files_of_the_project(name: str) -> None:
    base = (ROOT / name).parent
    broken = []
    for target in _LINK.findall(_text(name)):
        if target.startswith(("http://", "https://", "#", "mailto:")):
            continue
        linked = (base / target.split("#")[0]).resolve()
        # A clone holds only this repository: a link that leaves it is broken for every user.
        if not linked.is_relative_to(ROOT) or not linked.exists():
            broken.append(target)
    assert not broken, f"{name} links to what a clone of the project does not have: {broken}"


@pytest.mark.parametrize("name", DOCS)
def test_every_path_named_exists(name: str) -> None:
    missing = []
    for span in _spans(name):
        if not _PATH.match(span) or "<" in span:  # `PLAN#<name>` and the like are item keys
            continue
        if "#" in span or span.startswith(".venv/"):
            continue
        # A bare file name stands in its table row or sentence for the file of that layer.
        found = (ROOT / span).exists() or ("/" not in span and any(_files_named(span)))
        if not found:
            missing.append(span)
    assert not missing, f"{name} names files that do not exist: {missing}"


@pytest.mark.parametrize("name", DOCS)
def test_every_code_name_quoted_is_in_the_code(name: str) -> None:
    words = _code_words()
    unknown = []
    for span in _spans(name):
        if not _NAME.match(span) or _PATH.match(span):
            continue
        parts = span.removesuffix("()").split(".")
        if len(parts) == 1 and "_" not in span and not any(c.isupper() for c in span[1:]):
            continue  # a plain word (`stop`, `help`): English as much as code
        unknown += [part for part in parts if part not in words and part not in {"py", "md", "yml"}]
    assert not unknown, f"{name} quotes names the code does not have: {sorted(set(unknown))}"


def test_every_constant_quoted_has_its_value() -> None:
    name = "docs/architecture.md"
    quoted = [match.groups() for span in _spans(name) if (match := _CONSTANT.match(span))]
    wrong = []
    for constant, value in quoted:
        assignment = re.compile(rf"^{constant}(: [\w\[\], ]+)? = {value}\b", re.M)
        if not any(
            assignment.search(path.read_text(encoding="utf-8")) for path in (ROOT / "bot").rglob("*.py")
        ):
            wrong.append(f"{constant} = {value}")
    assert quoted, f"{name}: the check found no constants to compare"
    assert not wrong, f"{name} quotes values the code does not set: {wrong}"
