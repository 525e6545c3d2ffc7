"""`drs-bot plans validate|apply`: a bad file is refused whole, naming the file and the path inside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.adapters.dynamodb import DynamoCatalogStore
from drs_cli.main import main

GOOD = """
protection_groups:
  - name: web-tier
    region: us-east-1
    source_servers: [s-1234567890abcdef0, s-0123456789abcdef1]
plans:
  - name: plan-x
    description: Payments stack
    waves:
      - name: Wave 1
        protection_group: web-tier
"""
BAD = (
    GOOD
    + """  - name: plan-y
    waves:
      - name: Wave 1
        protection_group: db-tier
"""
)


def drs_bot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "drs_cli.main", *args], capture_output=True, text=True, env=env, timeout=60
    )


def apply_env(moto_url: str, tables: dict[str, str]) -> dict[str, str]:
    """What `plans apply` needs: the catalog table, on moto."""
    return {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL_DYNAMODB": moto_url,
        "DRS_BOT_REGION": "us-east-1",
        "DRS_BOT_CATALOG_TABLE": tables["CatalogTable"],
        "DRS_BOT_EXECUTIONS_TABLE": tables["ExecutionsTable"],
    }


def test_validate_accepts_a_good_file(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yml"
    plans.write_text(GOOD)
    result = drs_bot("plans", "validate", str(plans))
    assert result.returncode == 0, result.stderr
    assert "valid — 1 plan(s), 1 protection group(s), 2 source server(s)" in result.stdout


def test_validate_names_the_file_the_path_and_the_problem(tmp_path: Path) -> None:
    plans = tmp_path / "plans.yml"
    plans.write_text(BAD)
    result = drs_bot("plans", "validate", str(plans))
    assert result.returncode == 1
    assert f"{plans}: 1 problem(s)" in result.stderr
    assert (
        "plans[1].waves[0].protection_group: unknown protection group 'db-tier' (known: web-tier)"
        in result.stderr
    )


def test_apply_writes_a_good_file_and_nothing_of_a_bad_one(
    tmp_path: Path, moto_url: str, dynamodb: Any, tables: dict[str, str]
) -> None:
    env = apply_env(moto_url, tables)
    store = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    good, bad = tmp_path / "good.yml", tmp_path / "bad.yml"
    good.write_text(GOOD)
    bad.write_text(BAD.replace("plan-x", "plan-z"))
    applied = drs_bot("plans", "apply", str(good), env=env)
    assert applied.returncode == 0, applied.stderr
    assert "applied — plans: plan-x" in applied.stdout
    assert store.load().plan_names() == ["plan-x"]

    refused = drs_bot("plans", "apply", str(bad), env=env)
    assert refused.returncode == 1
    assert "Nothing was written." in refused.stderr
    assert store.load().plan_names() == ["plan-x"]  # the catalog is what it was


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    result = drs_bot("plans", "validate", str(tmp_path / "nope.yml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.yml'}: 1 problem(s)" in result.stderr and "cannot read" in result.stderr


# --- hostile files: refused with the file's name and a reason, never a traceback --------------------

TWICE = GOOD.replace(
    "    source_servers: [s-1234567890abcdef0, s-0123456789abcdef1]\n",
    "    source_servers: [s-1234567890abcdef0, s-0123456789abcdef1]\n    source_servers: [s-1234567890abcdef0]\n",
)
LAUGHS = "lol: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{n}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]\n" for n in range(8)
)
HOSTILE: dict[str, tuple[bytes, str]] = {
    # The reviewer's: without the check the second list silently wins and a server drops out of the plan.
    "a key written twice": (
        TWICE.encode(),
        "protection_groups[0].source_servers: written twice (lines 5 and 6); "
        "the second would silently replace the first",
    ),
    "non-UTF-8 bytes": (
        GOOD.replace("Payments stack", "Paiements caf\xe9").encode("latin-1"),
        "line 8, column 31: byte 0xe9 is not UTF-8 text; save the file as UTF-8",
    ),
    "a byte-order mark": (b"\xef\xbb\xbf" + GOOD.encode(), "line 1, column 1: an invisible byte-order mark"),
    "UTF-16": (
        GOOD.encode("utf-16"),
        "UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8",
    ),
    "deep nesting": (b"plans: " + b"[" * 50_000, "not valid YAML"),
    "nesting past the limit": (b"plans: " + b"[" * 70 + b"]" * 70, "nested more than 64 levels deep"),
    "a billion laughs": (LAUGHS.encode(), "more than 200,000 values once its aliases are expanded"),
    "a huge file": (GOOD.encode() + b"# padding\n" * 120_000, "larger than 1024 KiB, the most the bot reads"),
    "a python tag": (
        b"plans: !!python/object/apply:os.system ['touch /tmp/owned']\n",
        "plans: line 1: the tag !!python/object/apply:os.system is not allowed",
    ),
    "a key that is not text": (
        GOOD.replace("description: Payments stack", "yes: Payments stack").encode(),
        "plans[0].yes: line 8: the key 'yes' is read as true or false, not text; quote it",
    ),
    "a scalar where a mapping belongs": (
        b"plans: [5]\n",
        "plans[0]: expected a mapping (key: value lines), not the number 5",
    ),
    "a scalar for the whole file": (b"plans\n", "expected a mapping with protection_groups and plans"),
    "two documents": (GOOD.encode() + b"---\n" + GOOD.encode(), "not valid YAML: expected a single document"),
    "a control character": (GOOD.replace("Payments", "Pay\x07ments").encode(), "control characters"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_validate_refuses_a_hostile_file_with_its_name_and_a_reason(tmp_path: Path, case: str) -> None:
    content, reason = HOSTILE[case]
    plans = tmp_path / "plans.yml"
    plans.write_bytes(content)
    result = drs_bot("plans", "validate", str(plans))
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith(f"{plans}: "), result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", ["a key written twice", "non-UTF-8 bytes", "a billion laughs"])
def test_apply_of_a_hostile_file_writes_nothing(
    tmp_path: Path, moto_url: str, dynamodb: Any, tables: dict[str, str], case: str
) -> None:
    env = apply_env(moto_url, tables)
    store = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    good, hostile = tmp_path / "good.yml", tmp_path / "plans.yml"
    good.write_text(GOOD)
    assert drs_bot("plans", "apply", str(good), env=env).returncode == 0
    before = store.load()
    hostile.write_bytes(HOSTILE[case][0])
    refused = drs_bot("plans", "apply", str(hostile), env=env)
    assert refused.returncode == 1
    assert HOSTILE[case][1] in refused.stderr and "Nothing was written." in refused.stderr
    assert "Traceback" not in refused.stderr
    assert store.load() == before


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    content=st.one_of(
        st.binary(max_size=400),
        st.text(max_size=400).map(str.encode),
        # GOOD with random bytes spliced in: mostly a plans file, a little broken.
        st.tuples(st.integers(0, len(GOOD)), st.binary(min_size=1, max_size=12)).map(
            lambda cut: GOOD[: cut[0]].encode() + cut[1] + GOOD[cut[0] :].encode()
        ),
        st.lists(
            st.sampled_from(
                [
                    "plans:",
                    "protection_groups:",
                    "  - name: a",
                    "    waves:",
                    "    region: us-east-1",
                    "    source_servers: [s-1234567890abcdef0]",
                    "&x ",
                    "*x",
                    "<<: *x",
                    "!!python/object:x",
                    "? [a]",
                    ": b",
                    "yes: no",
                    "{",
                    "[",
                    "'",
                    "- ",
                    "  ",
                    "\t",
                    "\ufeff",
                    "~",
                ]
            ),
            max_size=20,
        ).map(lambda parts: "\n".join(parts).encode()),
    )
)
@example(content=TWICE.encode())
@example(content=b"\x80")
def test_validate_answers_any_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    """In-process, as `drs-bot plans validate` runs: an exception here would be the user's traceback."""
    plans = tmp_path / "plans.yml"
    plans.write_bytes(content)
    code = main(["plans", "validate", str(plans)])
    out, err = capsys.readouterr()
    if code == 0:
        assert out.startswith(f"{plans}: valid — ") and err == ""
    else:
        assert code == 1 and err.startswith(f"{plans}: ") and "problem(s)" in err.splitlines()[0]
