"""examples/access-policy.json is a valid DRS_BOT_ACCESS_POLICY, and means what the README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.domain.policy import AccessPolicy
from bot.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "access-policy.json"


def test_the_example_is_a_valid_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRS_BOT_ACCESS_POLICY", EXAMPLE.read_text(encoding="utf-8"))
    policy = Settings.from_env().access_policy
    assert policy == AccessPolicy.model_validate(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    assert policy.approvals_required == 2
    assert policy.groups() == {"S0DRTEAM", "S0DRLEADS"}
    assert policy.may_approve("U0CTO0001", set())
    assert policy.may_approve("U0ANYONE", {"S0DRLEADS"})
    assert not policy.may_run_drill("U0ANYONE", set())
    assert not policy.channel_allowed("C0RANDOM")


def test_the_default_lets_anyone_drill_anywhere_and_nobody_recover() -> None:
    default = AccessPolicy()
    assert default.may_run_drill("U0ANYONE", set()) and default.channel_allowed("C0ANY")
    assert not default.may_request_recovery("U0ANYONE", set())
    assert not default.approvers
    assert (default.approvals_required, default.approval_timeout_minutes) == (1, 30)


def test_a_misspelt_key_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="approver_groups"):
        AccessPolicy.model_validate({"approvers": ["U0123ABCD"], "approver_groups": ["S0123ABCD"]})
