"""The README's examples work as written: a reader at 3 a.m. copies them."""

from __future__ import annotations

import re
from pathlib import Path

from bot.domain.plans import parse_catalog

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_plans_example_is_a_valid_plans_file() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Plans as code") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    catalog = parse_catalog(example.group(1), "README.md")
    (plan,) = catalog.plans
    assert [wave.options.on_failure.value for wave in plan.waves] == ["stop", "continue"]
    assert plan.waves[0].options.timeout == 45 * 60 and plan.waves[1].options.wait_before == 5 * 60
    assert catalog.group("web-tier").by_tags


def test_the_hooks_example_is_a_valid_plans_file() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Hooks before and after a wave") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    (plan,) = parse_catalog(example.group(1), "README.md").plans
    options = plan.waves[0].options
    assert [hook.kind for hook in (*options.before, *options.after)] == ["automation", "lambda"]
    assert options.before[0].timeout_seconds == 20 * 60 and options.after[0].drill is False


def test_the_several_accounts_example_is_a_valid_plans_file() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Protection groups in other accounts") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    catalog = parse_catalog(example.group(1), "README.md")
    assert [group.account for group in catalog.protection_groups] == [None, "111122223333"]


def test_every_drs_bot_command_the_readme_shows_exists() -> None:
    from drs_cli.main import _parser

    commands = set(re.findall(r"drs-bot ([a-z]+(?: [a-z]+)?)", README.read_text(encoding="utf-8")))
    parser = _parser()
    for command in commands:
        words = command.split()
        try:
            parser.parse_args([*words, "--help"])
        except SystemExit as exit_:
            assert exit_.code == 0, command
