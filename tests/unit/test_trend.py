"""`/drs history <plan>`: each execution's RTO (request → last launch) and whether they get faster."""

from __future__ import annotations

from bot.domain.execution import ExecutionStatus, ExecutionSummary, ExecutionType, summarize
from bot.domain.trend import rto_seconds, trends
from bot.slack.replies import history_text
from tests.unit.builders import at, execution
from tests.unit.test_timeline import finish, step


def summary(n: int, rto: float | None, kind: ExecutionType = ExecutionType.DRILL) -> ExecutionSummary:
    return ExecutionSummary(
        execution_id=f"ex-{n:04d}",
        plan_name="plan-x",
        execution_type=kind,
        status=ExecutionStatus.COMPLETED if rto is not None else ExecutionStatus.FAILED,
        initiated_by="U1",
        created_at=at(n * 86400),
        start_time=at(n * 86400),
        end_time=at(n * 86400 + 3000),
        total=2,
        launched=2 if rto is not None else 0,
        last_launch_time=at(n * 86400 + rto) if rto is not None else None,
    )


def test_a_summary_keeps_the_last_launch_so_its_rto_runs_from_request_to_last_launch() -> None:
    ex = step(execution(1, 2), 0)
    ex = finish(ex, 0, 540)
    ex = finish(ex, 1, 1260)
    s = summarize(ex)
    assert s.last_launch_time == at(1260) and rto_seconds(s) == 1260
    assert rto_seconds(summarize(step(execution(1), 0))) is None  # nothing launched yet


def test_trends_are_per_kind_oldest_first_and_need_two_rtos() -> None:
    newest_first = [summary(4, 1200), summary(3, None), summary(2, 1500), summary(1, 1800)]
    (drills,) = trends([*newest_first, summary(5, 900, ExecutionType.RECOVERY)])
    assert drills.execution_type is ExecutionType.DRILL
    assert drills.rtos == (1800, 1500, 1200) and drills.change_seconds == -600
    assert trends([summary(1, 600)]) == []


def test_history_of_a_plan_shows_each_rto_and_the_trend() -> None:
    text = history_text([summary(3, 1200), summary(2, None), summary(1, 1800)], "plan-x", at(10**6))
    lines = text.splitlines()
    assert "`ex-0003`" in lines[1] and "· RTO 20m 00s ·" in lines[1]
    assert "`ex-0002`" in lines[2] and "RTO" not in lines[2]  # nothing launched: no RTO to show
    assert lines[-1] == (
        ":chart_with_downwards_trend: *RTO of drills* (request → last launch, oldest → newest): "
        "30m 00s → 20m 00s · newest 10m 00s faster than the oldest"
    )
    slower = history_text([summary(2, 1800), summary(1, 1200)], "plan-x", at(10**6)).splitlines()[-1]
    assert slower.startswith(":chart_with_upwards_trend:") and slower.endswith(
        "newest 10m 00s slower than the oldest"
    )


def test_a_summary_stored_before_last_launches_were_kept_shows_its_rto_as_unknown_not_zero() -> None:
    old = summary(1, 1800).model_copy(update={"last_launch_time": None})  # launched 2, no last launch kept
    (_, line) = history_text([old], "plan-x", at(10**6)).splitlines()
    assert "2/2 launched · RTO — ·" in line and "0s" not in line.split("RTO")[1].split("·")[0]
    assert (
        len(history_text([old, summary(2, 1200)], "plan-x", at(10**6)).splitlines()) == 3
    )  # no trend of one


def test_each_kind_has_its_own_trend_line() -> None:
    mixed = [
        summary(4, 900, ExecutionType.RECOVERY),
        summary(3, 1200),
        summary(2, 1500, ExecutionType.RECOVERY),
    ]
    lines = history_text([*mixed, summary(1, 1800)], "plan-x", at(10**6)).splitlines()
    assert "*RTO of drills*" in lines[-2] and "30m 00s → 20m 00s" in lines[-2]
    assert "*RTO of recoveries*" in lines[-1] and "25m 00s → 15m 00s" in lines[-1]


def test_the_channel_history_mixes_plans_so_it_shows_no_trend() -> None:
    text = history_text([summary(2, 1200), summary(1, 1800)], None, at(10**6))
    assert "RTO of drills" not in text and "RTO 20m 00s" in text
