"""`drs-bot plans validate|apply` and protection groups in other accounts (#18): a group in an account
the bot has no role for is refused, naming the group, the account and how to add it; the accounts come
from --accounts, else DRS_BOT_TARGET_ACCOUNTS (what the stack's TargetAccounts parameter sets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.adapters.dynamodb import DynamoCatalogStore
from drs_cli.main import main
from tests.integration.test_plans_cli import apply_env, drs_bot

TARGET = "111122223333"
OTHER = "444455556666"
PLANS = f"""
protection_groups:
  - {{name: web-tier, region: us-east-1, source_servers: [s-1234567890abcdef0]}}
  - {{name: pay-tier, region: us-west-2, account: "{TARGET}", source_servers: [s-0123456789abcdef1]}}
plans:
  - name: plan-x
    waves:
      - {{name: Web, protection_group: web-tier}}
      - {{name: Payments, protection_group: pay-tier}}
"""


@pytest.fixture
def plans(tmp_path: Path) -> Path:
    path = tmp_path / "plans.yml"
    path.write_text(PLANS)
    return path


def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, env: str | None = None
) -> tuple[int, str, str]:
    if env is None:
        monkeypatch.delenv("DRS_BOT_TARGET_ACCOUNTS", raising=False)
    else:
        monkeypatch.setenv("DRS_BOT_TARGET_ACCOUNTS", env)
    code = main(["plans", "validate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_refuses_an_account_the_bot_has_no_role_for(
    plans: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, monkeypatch, str(plans), "--accounts", OTHER)
    assert code == 1 and out == ""
    assert (
        f"protection_groups[1].account: protection group pay-tier is in account {TARGET}, which the bot "
        "has no role for: deploy cfn/target-account.yaml there and add the account to the bot stack's "
        f"TargetAccounts parameter (known: {OTHER})"
    ) in err
    # Neither the option nor the variable: the bot's own account only.
    code, _, err = run(capsys, monkeypatch, str(plans))
    assert code == 1 and f"account {TARGET}, which the bot has no role for" in err and "(known: none)" in err


def test_validate_accepts_a_listed_account_from_the_option_or_the_environment(
    plans: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(capsys, monkeypatch, str(plans), "--accounts", f"{OTHER}, {TARGET}")
    assert (code, err) == (0, "") and out.startswith(f"{plans}: valid — 1 plan(s), 2 protection group(s)")
    code, out, err = run(capsys, monkeypatch, str(plans), env=TARGET)
    assert (code, err) == (0, "") and "valid" in out
    # The option wins over the environment: what the user typed is what is checked.
    code, _, err = run(capsys, monkeypatch, str(plans), "--accounts", OTHER, env=TARGET)
    assert code == 1 and "pay-tier" in err


def test_validate_refuses_an_account_list_that_is_not_accounts(
    plans: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(capsys, monkeypatch, str(plans), "--accounts", "1111-2222-3333")
    assert exited.value.code == 2
    assert "1111-2222-3333: not a 12-digit AWS account id" in capsys.readouterr().err
    code, out, err = run(capsys, monkeypatch, str(plans), env="12345")
    assert (code, out) == (2, "") and err == "DRS_BOT_TARGET_ACCOUNTS: 12345: not a 12-digit AWS account id\n"


def test_apply_refuses_an_account_outside_the_stacks_target_accounts(
    plans: Path, moto_url: str, dynamodb: Any, tables: dict[str, str]
) -> None:
    env = apply_env(moto_url, tables)
    store = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    before = store.load().plan_names()
    refused = drs_bot("plans", "apply", str(plans), env={**env, "DRS_BOT_TARGET_ACCOUNTS": OTHER})
    assert refused.returncode == 1
    assert (
        f"protection group pay-tier is in account {TARGET}, which the bot has no role for" in refused.stderr
    )
    assert "Nothing was written." in refused.stderr
    assert store.load().plan_names() == before

    applied = drs_bot("plans", "apply", str(plans), env={**env, "DRS_BOT_TARGET_ACCOUNTS": f"{TARGET}"})
    assert applied.returncode == 0, applied.stderr
    assert store.load().group("pay-tier").account == TARGET


def test_an_unquoted_account_id_is_refused_because_yaml_drops_its_leading_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "plans.yml"
    path.write_text(PLANS.replace(f'account: "{TARGET}"', "account: 011122223333"))
    code, out, err = run(capsys, monkeypatch, str(path), "--accounts", "011122223333")
    assert code == 1 and out == ""
    assert "protection_groups[1].account" in err
    # YAML 1.1 reads 011122223333 as octal: the message does not claim to know the digits meant.
    assert (
        "write the account id in quotes, as its 12 digits (YAML read an unquoted number: 1229530843;" in err
    )
