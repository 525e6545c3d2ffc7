"""Plans files: a bad file is refused with the file, the path inside it, and what is wrong."""

from __future__ import annotations

import pytest

from bot.domain.plans import InvalidCatalog, parse_catalog

GOOD = """
protection_groups:
  - name: web-tier
    region: us-east-1
    source_servers: [s-1234567890abcdef0, s-0123456789abcdef1]
  - name: db-tier
    region: us-east-1
    source_servers: [s-aaaaaaaaaaaaaaaa0]
plans:
  - name: plan-x
    description: Payments stack
    waves:
      - name: Databases
        protection_group: db-tier
      - name: Web
        protection_group: web-tier
"""


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidCatalog) as caught:
        parse_catalog(text, "plans.yml")
    assert caught.value.source == "plans.yml"
    assert str(caught.value).startswith("plans.yml:")
    return [str(problem) for problem in caught.value.problems]


def test_a_good_file_gives_plans_in_wave_order() -> None:
    catalog = parse_catalog(GOOD, "plans.yml")
    plan = catalog.plan("plan-x")
    assert plan is not None and [w.name for w in plan.waves] == ["Databases", "Web"]
    assert catalog.group("web-tier").source_servers[0] == "s-1234567890abcdef0"


def test_a_wave_naming_an_unknown_group_names_the_path() -> None:
    found = problems(GOOD.replace("protection_group: web-tier", "protection_group: web-teir"))
    assert found == [
        "plans[0].waves[1].protection_group: unknown protection group 'web-teir' (known: db-tier, web-tier)"
    ]


def test_a_malformed_server_id_is_an_error() -> None:
    found = problems(GOOD.replace("s-0123456789abcdef1", "s-123"))
    assert found == [
        "protection_groups[0].source_servers[1]: "
        "'s-123' is not a DRS source server id (s- followed by 17 letters/digits)"
    ]


def test_unknown_keys_are_errors_not_ignored() -> None:
    found = problems(GOOD.replace("description: Payments stack", "descripton: Payments stack"))
    assert found == ["plans[0].descripton: unknown key (check the spelling; unknown keys are not ignored)"]


def test_an_empty_plan_is_an_error() -> None:
    text = GOOD + "  - name: plan-y\n    waves: []\n"
    assert problems(text) == ["plans[1].waves: a plan needs at least one wave"]


def test_names_must_be_unique() -> None:
    text = GOOD + "  - name: plan-x\n    waves: [{name: W, protection_group: db-tier}]\n"
    assert problems(text) == ["plans[1].name: 'plan-x' is used twice; names must be unique"]


def test_a_server_listed_twice_in_a_group_is_an_error() -> None:
    found = problems(GOOD.replace("s-0123456789abcdef1", "s-1234567890abcdef0"))
    assert found == ["protection_groups[0].source_servers[1]: s-1234567890abcdef0 is listed twice"]


def test_broken_yaml_names_the_line() -> None:
    (found,) = problems("plans: [\n")
    assert found.startswith("line 2, column 1: not valid YAML")


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    assert problems("- just\n- a list\n") == ["expected a mapping with protection_groups and plans"]


def test_plan_names_cannot_contain_spaces_since_they_are_typed_in_commands() -> None:
    (found,) = problems(GOOD.replace("name: plan-x", "name: plan x"))
    assert found.startswith("plans[0].name: 'plan x' is not a valid name")
