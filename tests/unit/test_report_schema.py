"""The report's published JSON Schema (docs/report.schema.json) is the model's, and reports validate."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from bot.domain import report
from tests.unit.builders import at, execution
from tests.unit.test_report import launched

SCHEMA = Path(__file__).parents[2] / "docs" / "report.schema.json"
REGENERATE = (
    '.venv/bin/python -c "import json; from bot.domain.report import report_schema; '
    "open('docs/report.schema.json', 'w').write(json.dumps(report_schema(), indent=2, ensure_ascii=False) + '\\n')\""
)


def published() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


def test_the_published_schema_is_the_models() -> None:
    assert published() == report.report_schema(), (
        f"docs/report.schema.json is stale; regenerate: {REGENERATE}"
    )


def test_a_report_validates_against_the_published_schema_and_a_broken_one_does_not() -> None:
    validator = Draft202012Validator(published(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    Draft202012Validator.check_schema(published())
    document = report.build(launched(execution(2, 1)), now=at(7200)).json_document()
    assert list(validator.iter_errors(document)) == []
    assert document["SchemaVersion"] == report.REPORT_SCHEMA
    broken = json.loads(json.dumps(document))
    broken["Judgement"]["Verdict"] = "MOSTLY FINE"
    del broken["Waves"][0]["Servers"][0]["RecoveryJobId"]
    errors = sorted(error.message for error in validator.iter_errors(broken))
    assert len(errors) == 2, errors
