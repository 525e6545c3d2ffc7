"""`drs-bot history export`: executions as stored (by this release and by release a349e01), read back
through the CLI from DynamoDB on moto, in the history's shape, filtered and refused as documented."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.dynamodb import DynamoExecutionStore
from bot.domain.execution import Execution, ExecutionStatus
from bot.domain.history import to_history
from drs_cli.main import main
from tests.integration.test_plans_cli import apply_env, drs_bot
from tests.integration.test_stored_history import FIXTURE, load_release_a349e01
from tests.unit.builders import at, execution
from tests.unit.test_timeline import finish, step

DECEMBER = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
OLD_IDS = [  # release a349e01's executions, oldest first (two share a CreatedAt: then by id)
    "97a227759a5858f2",
    "56684c775c2d55c0",
    "5f9b12d9bb97554c",
    "19fafa3782c25101",
    "2d8c8701884954f3",
]


def stored_now(store: DynamoExecutionStore, execution_id: str, plan: str, created: datetime) -> Execution:
    """A drill of 2 + 1 servers run by the engine, one server failed, saved as the bot saves it."""
    fresh = execution(2, 1).model_copy(
        update={"execution_id": execution_id, "plan_name": plan, "created_at": created, "start_time": created}
    )
    created_item = store.create(fresh, [])
    ran = step(fresh, 0)
    ran = finish(ran, 0, 540, **{ran.waves[0].chunks[0].servers[1].source_server_id: "FAILED"})
    ran = finish(ran, 1, 1100)
    assert ran.status is ExecutionStatus.PARTIAL
    return store.save(ran.model_copy(update={"version": created_item.version}), created_item, [])


@pytest.fixture
def env(
    moto_url: str, tables: dict[str, str], dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    load_release_a349e01(dynamodb, tables)
    store = DynamoExecutionStore(dynamodb, tables["ExecutionsTable"])
    stored_now(store, "dec0000000000001", "plan-x", DECEMBER)
    stored_now(store, "dec0000000000002", "plan-y", DECEMBER.replace(hour=9))
    variables = apply_env(moto_url, tables)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return variables


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["history", "export", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_jsonl_is_every_execution_whole_in_the_historys_shape_oldest_first(
    env: dict[str, str], dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = export(capsys)
    assert code == 0 and err.strip() == "7 execution(s) exported"
    lines = [json.loads(line) for line in out.splitlines()]
    assert [h["ExecutionId"] for h in lines] == [*OLD_IDS, "dec0000000000001", "dec0000000000002"]
    store = DynamoExecutionStore(dynamodb, env["DRS_BOT_EXECUTIONS_TABLE"])
    for history in lines:
        loaded = store.get(history["ExecutionId"])
        assert loaded is not None and history == json.loads(json.dumps(to_history(loaded)))
    # What release a349e01 stored reads as its history always did.
    for history in lines[:5]:
        expected = FIXTURE["executions"][history["ExecutionId"]]["history"]
        assert {k: history[k] for k in ("PlanId", "Status", "StartTime", "EndTime")} == {
            k: expected[k] for k in ("PlanId", "Status", "StartTime", "EndTime")
        }


def test_csv_has_a_row_per_server_and_plan_and_since_filter(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = export(capsys, "--plan", "plan-x", "--since", "2026-12-01", "--format", "csv")
    assert code == 0 and err.strip() == "1 execution(s) exported"
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["ExecutionId"], r["WaveName"], r["ServerStatus"]) for r in rows] == [
        ("dec0000000000001", "Wave 1", "LAUNCHED"),
        ("dec0000000000001", "Wave 1", "FAILED"),
        ("dec0000000000001", "Wave 2", "LAUNCHED"),
    ]
    assert rows[0]["Status"] == "PARTIAL" and rows[0]["PlanId"] == "plan-x"
    assert rows[1]["Error"] == "DRS: the launch template is invalid" and rows[1]["InstanceId"] == ""
    assert rows[0]["LaunchTime"] == str(int(at(540).timestamp()))  # the engine ran on the builders clock
    # A time with an offset is read in UTC: 09:30+01:00 is 08:30 UTC, after plan-x's and before plan-y's.
    code, out, _ = export(capsys, "--since", "2026-12-01T09:30:00+01:00")
    assert [json.loads(line)["ExecutionId"] for line in out.splitlines()] == ["dec0000000000002"]
    code, out, err = export(capsys, "--plan", "plan-nothing")
    assert (code, out, err.strip()) == (0, "", "0 execution(s) exported")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--since", "2026-13-01"], "not an ISO-8601 date or time: '2026-13-01'"),
        (["--since", "yesterday"], "not an ISO-8601 date or time"),
        (["--format", "xml"], "invalid choice: 'xml'"),
        (["--plan", " plan-x"], "not a plan name"),
        (["--plan"], "expected one argument"),
        (["--planx", "plan-x"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_are_refused_saying_what_is_wrong(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["history", "export", *args])
    assert exited.value.code == 2
    _, err = capsys.readouterr()
    assert said in err


def test_without_the_table_it_says_which_variables_to_set(env: dict[str, str]) -> None:
    result = drs_bot(
        "history", "export", env={k: v for k, v in env.items() if k != "DRS_BOT_EXECUTIONS_TABLE"}
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "set DRS_BOT_EXECUTIONS_TABLE" in result.stderr
    listed = drs_bot("history", "export", "--format", "csv", env=env)  # the installed command, end to end
    assert listed.returncode == 0 and listed.stdout.count("\n") == 1 + 3 + 3 + sum(
        len(w["Servers"]) for h in FIXTURE["executions"].values() for w in h["history"]["Waves"]
    )
