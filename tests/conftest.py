"""How `make test` shares the suite between its processes (pytest-xdist, --dist loadgroup).

A file goes whole to one process, as its module fixtures expect. The e2e package goes whole to one process
too: its sandbox (tests/e2e/conftest.py) is built once per package run, and moto keeps its tables in the
process, so a second sandbox in a process that ran e2e files before would find the first one's tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups off the items
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = "e2e" if item.path.is_relative_to(E2E) else str(item.path)
        item.add_marker(pytest.mark.xdist_group(group))
