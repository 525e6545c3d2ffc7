"""The development environment's lock (requirements-dev.lock, `make lock-dev`), which `make` installs from.

It must hold what pyproject.toml asks for, each pin with its hashes, and the same versions as the Lambda
artifact's lock for the packages both carry: tests run against what ships.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.infrastructure import model

DEV_LOCK = model.ROOT / "requirements-dev.lock"
LAMBDA_LOCK = model.ROOT / "scripts" / "lambda-requirements.lock"


def pins(path: Path) -> dict[str, tuple[Version, list[str]]]:
    """name -> (version, sha256 hashes) from a pip requirements file of `name==version` pins."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        requirement = Requirement(line.split(" --hash")[0].strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        hashes = [part.removeprefix("--hash=sha256:") for part in line.split() if part.startswith("--hash=")]
        entries[canonicalize_name(requirement.name)] = (Version(specifier.version), hashes)
    return entries


def wanted() -> list[Requirement]:
    with (model.ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    return [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_the_dev_lock_satisfies_every_requirement_of_pyproject() -> None:
    """Changing pyproject.toml without `make lock-dev` fails here, not on a fresh machine."""
    locked = pins(DEV_LOCK)
    for requirement in wanted():
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in requirements-dev.lock: run make lock-dev"
        version, _ = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements-dev.lock has {name}=={version}, pyproject.toml wants {requirement}: run make lock-dev"
        )


def test_every_dev_pin_carries_hashes() -> None:
    """pip's --require-hashes checks each download against them."""
    locked = pins(DEV_LOCK)
    assert len(locked) > 50
    assert all(hashes for _, hashes in locked.values())


def test_packages_the_lambda_ships_have_the_same_version_in_development() -> None:
    lambda_pins = pins(LAMBDA_LOCK)
    dev_pins = pins(DEV_LOCK)
    assert "boto3" in lambda_pins and "pydantic" in lambda_pins
    differing = {
        name: (str(version), str(dev_pins[name][0]))
        for name, (version, _) in lambda_pins.items()
        if name in dev_pins and dev_pins[name][0] != version
    }
    assert differing == {}, f"(Lambda, development) versions differ: {differing}; run make lock-dev"
    assert set(lambda_pins) <= set(dev_pins), "the tests would run without some of what ships"
