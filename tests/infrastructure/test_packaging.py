"""The Lambda artifact: pinned, reproducible, and built for the runtime the template declares.

Only the offline parts of scripts/lambda_artifact.py run here (zip writing, the lock, the commands it would
run); `make package` itself downloads wheels and is not called by the tests.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement

from tests.infrastructure import model


def _load_script() -> ModuleType:
    path = model.ROOT / "scripts" / "lambda_artifact.py"
    spec = importlib.util.spec_from_file_location("lambda_artifact", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


artifact = _load_script()


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from the lock file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = artifact.LOCK.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement, *options = line.split()
        name, version = requirement.split("==")
        entries[name] = (version, [o.removeprefix("--hash=sha256:") for o in options])
    return entries


def _tree(root: Path, files: dict[str, bytes], mtime: int) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (mtime, mtime))
    return root


def test_the_zip_depends_only_on_paths_and_contents(tmp_path: Path) -> None:
    files = {"b/z.py": b"z = 1\n", "a.py": b"a = 1\n", "b/__init__.py": b"", "c/d/e.txt": b"e"}
    first = _tree(tmp_path / "one", files, mtime=1_000_000_000)
    second = _tree(tmp_path / "two", dict(reversed(files.items())), mtime=1_700_000_000)
    artifact.write_zip(first, tmp_path / "one.zip")
    artifact.write_zip(second, tmp_path / "two.zip")
    one, two = (tmp_path / "one.zip").read_bytes(), (tmp_path / "two.zip").read_bytes()
    assert hashlib.sha256(one).digest() == hashlib.sha256(two).digest()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        names = archive.namelist()
        assert names == sorted(names) == ["a.py", "b/__init__.py", "b/z.py", "c/d/e.txt"]
        assert {info.date_time for info in archive.infolist()} == {artifact.ZIP_DATE}
        assert {info.external_attr >> 16 for info in archive.infolist()} == {0o100644}
        assert archive.read("b/z.py") == b"z = 1\n"


def test_only_the_bots_code_is_copied(tmp_path: Path) -> None:
    source = _tree(
        tmp_path / "src",
        {
            "bot/a.py": b"",
            "bot/__pycache__/a.cpython-311.pyc": b"",
            "handlers/h.py": b"",
            "sandbox/s.py": b"",
        },
        mtime=0,
    )
    target = tmp_path / "target"
    artifact.copy_sources(target, root=source)
    copied = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert copied == ["bot/a.py", "handlers/h.py"]


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    pins = locked()
    for line in artifact.runtime_requirements():
        requirement = Requirement(line)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in the lock: run make lock"
        assert requirement.specifier.contains(pins[name][0]), f"{name}=={pins[name][0]} vs {requirement}"
    for name, (_, hashes) in pins.items():
        assert hashes and all(len(h) == 64 for h in hashes), name
    # The runtime's bundled boto3 may lack newer DRS APIs: ship our own.
    assert {"boto3", "botocore"} <= set(pins)


def test_the_install_takes_exactly_the_locked_wheels_for_the_lambda_platform(tmp_path: Path) -> None:
    command = artifact.install_command(artifact.LOCK, tmp_path)
    for option in ("--require-hashes", "--no-deps", "--only-binary=:all:", "--no-compile"):
        assert option in command
    assert command[command.index("--platform") + 1] == artifact.PLATFORM


@pytest.mark.parametrize("function_id", sorted(model.resources("AWS::Lambda::Function")))
def test_the_artifact_fits_the_functions(function_id: str) -> None:
    props = model.properties(function_id)
    assert props["Runtime"] == f"python{artifact.PYTHON_VERSION}"
    assert props["Architectures"] == ["arm64"] and artifact.PLATFORM.endswith("_aarch64")
    code = (model.TEMPLATE_PATH.parent / props["Code"]).resolve()
    assert code == artifact.ARTIFACT.resolve(), "Code must be the zip that make package writes"
