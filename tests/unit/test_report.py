"""The report model: a verdict against the plan's targets, who decided, RTO, RPO, per-server facts and
a drill's cleanup proof, projected from plain executions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain import report
from bot.domain.execution import (
    Approval,
    CleanupRun,
    CleanupStatus,
    Execution,
    ExecutionStatus,
    ExecutionType,
    ReadinessNote,
    Rejection,
    ServerStatus,
    WaveStatus,
)
from bot.domain.plans import PlanOptions
from bot.domain.report import Verdict
from tests.unit.builders import T0, at, execution

TARGETS = PlanOptions(rto_target=3600, rpo_target=900)


def launched(
    ex: Execution,
    *,
    status: ExecutionStatus = ExecutionStatus.COMPLETED,
    options: PlanOptions = TARGETS,
    failed: dict[str, str] | None = None,
    wave_minutes: int = 12,
) -> Execution:
    """Every wave launched in turn, wave_minutes each, from 2 minutes after the request; servers named
    in `failed` failed with that text."""
    failed = failed or {}
    waves = []
    for wave in ex.waves:
        start = at(120 + wave.index * wave_minutes * 60)
        end = start + timedelta(minutes=wave_minutes)
        chunks = []
        for chunk in wave.chunks:
            job_id = f"drsjob-{wave.index:02d}{chunk.index:015d}"
            servers = tuple(
                s.model_copy(
                    update={"status": ServerStatus.FAILED, "error": failed[s.source_server_id]}
                    | {"recovery_job_id": job_id}
                )
                if s.source_server_id in failed
                else s.model_copy(
                    update={
                        "status": ServerStatus.LAUNCHED,
                        "recovery_job_id": job_id,
                        "instance_id": f"i-{s.source_server_id[2:]}",
                        "launch_time": end - timedelta(seconds=30 * (n + 1)),
                    }
                )
                for n, s in enumerate(chunk.servers)
            )
            chunks.append(chunk.model_copy(update={"servers": servers, "job_id": job_id}))
        some_failed = any(s.status is ServerStatus.FAILED for c in chunks for s in c.servers)
        waves.append(
            wave.model_copy(
                update={
                    "chunks": tuple(chunks),
                    "start_time": start,
                    "end_time": end,
                    "status": WaveStatus.PARTIAL if some_failed else WaveStatus.COMPLETED,
                }
            )
        )
    return ex.model_copy(
        update={
            "waves": tuple(waves),
            "status": status,
            "start_time": ex.start_time or T0,
            "end_time": waves[-1].end_time,
            "plan_options": options,
            "readiness": ReadinessNote(level="READY", checked_at=T0),
        }
    )


def test_a_drill_within_its_targets_and_cleaned_up_passes() -> None:
    ex = launched(execution(2, 3))
    end = ex.end_time
    assert end is not None
    instances = tuple(s.instance_id for s in ex.servers() if s.instance_id)
    ex = ex.model_copy(
        update={
            "cleanup": CleanupRun(
                status=CleanupStatus.DONE,
                requested_by="U2",
                started_at=end + timedelta(hours=1),
                ended_at=end + timedelta(hours=2),
                instance_ids=instances,
                job_ids=("drsjob-aaaaaaaaaaaaaaaaa",),
            )
        }
    )
    got = report.build(ex, now=end + timedelta(hours=5))
    assert got.judgement.verdict is Verdict.PASSED
    assert got.judgement.failures == () and got.judgement.findings == ()
    # Request at T0, last launch 30 s before the second wave's end (2 + 2 x 12 minutes).
    assert got.rto.requested_at == T0 and got.rto.approved_at is None
    assert got.rto.seconds == (26 * 60) - 30 and got.rto.met is True
    assert [w.seconds for w in got.waves] == [12 * 60 - 30, 12 * 60 - 30]
    assert [w.since_request_seconds for w in got.waves] == [14 * 60 - 30, 26 * 60 - 30]
    server = got.waves[0].servers[0]
    assert server.recovery_job_id == "drsjob-00000000000000000" and server.instance_id is not None
    assert server.rpo.basis == "LATEST" and server.rpo.seconds is None
    assert got.cleanup is not None and got.cleanup.status == "DONE" and got.cleanup.requested_by == "U2"
    assert {i.instance_id for i in got.cleanup.instances} == set(instances)
    # Each instance ran from its launch to the end of the cleanup, not until `now`.
    first = got.cleanup.instances[0]
    assert first.launch_time is not None
    assert first.running_hours == round(
        (end + timedelta(hours=2) - first.launch_time).total_seconds() / 3600, 2
    )
    assert got.cleanup.running_hours == pytest.approx(
        sum(i.running_hours or 0 for i in got.cleanup.instances)
    )


def test_a_drill_not_cleaned_up_passes_with_a_finding_and_bills_until_now() -> None:
    ex = launched(execution(1))
    assert ex.end_time is not None
    got = report.build(ex, now=ex.end_time + timedelta(hours=3))
    assert got.judgement.verdict is Verdict.PASSED_WITH_FINDINGS
    (finding,) = got.judgement.findings
    assert finding.startswith("the drill's instances are still running (3.0") and finding.endswith(
        " instance-hours so far)"
    )
    assert got.cleanup is not None and got.cleanup.status == "NONE"


def test_a_scheduled_cleanup_is_a_finding_until_it_is_done() -> None:
    ex = launched(execution(1))
    end = ex.end_time
    assert end is not None
    due = end + timedelta(hours=4)
    ex = ex.model_copy(update={"cleanup": CleanupRun(status=CleanupStatus.SCHEDULED, due_at=due)})
    got = report.build(ex, now=end)
    assert got.judgement.findings == (
        f"the drill's cleanup is scheduled, due {due:%Y-%m-%d %H:%M} UTC: its instances still run",
    )
    assert got.cleanup is not None and got.cleanup.requested_by == "cleanup_after"


def test_an_rto_over_the_target_fails_with_the_figures() -> None:
    ex = launched(execution(1, 1), options=PlanOptions(rto_target=1200, rpo_target=900), wave_minutes=20)
    ex = ex.model_copy(update={"execution_type": ExecutionType.RECOVERY})
    got = report.build(ex, now=at(7200))
    assert got.judgement.verdict is Verdict.FAILED
    assert got.judgement.failures == ("RTO 41m 30s is over the rto_target of 20m 00s",)
    assert got.rto.met is False and got.cleanup is None


def test_a_partial_drill_fails_and_keeps_drs_error_text_per_server() -> None:
    ex = execution(2)
    bad = next(ex.servers()).source_server_id
    error = "Failed to launch: ec2:RunInstances is not authorized"
    ex = launched(ex, status=ExecutionStatus.PARTIAL, failed={bad: error})
    got = report.build(ex, now=at(3600))
    assert got.judgement.verdict is Verdict.FAILED
    assert "1 of 2 server(s) did not launch (PARTIAL)" in got.judgement.failures
    (failed,) = [s for s in got.waves[0].servers if s.status is ServerStatus.FAILED]
    assert failed.source_server_id == bad and failed.error == error and failed.instance_id is None
    assert got.rto.seconds is None and got.rto.met is None  # not every server came up
    assert got.waves[0].launched == 1 and got.waves[0].failed == 1


def test_a_recovery_names_its_approvers_and_measures_from_request_through_approval() -> None:
    ex = launched(execution(1, kind=ExecutionType.RECOVERY))
    ex = ex.model_copy(
        update={
            "approvals": (Approval(user_id="U7", at=at(60)), Approval(user_id="U8", at=at(90))),
            "approvals_required": 2,
        }
    )
    got = report.build(ex, now=at(3600))
    assert [(d.action, d.user_id, d.at) for d in got.decisions] == [
        ("approved", "U7", at(60)),
        ("approved", "U8", at(90)),
    ]
    assert got.rto.approved_at == at(90)
    assert got.rto.first_launch_at is not None and got.rto.approved_at < got.rto.first_launch_at
    assert got.judgement.verdict is Verdict.PASSED


def test_a_rejected_recovery_fails_with_who_and_why() -> None:
    ex = execution(1, kind=ExecutionType.RECOVERY).model_copy(
        update={
            "status": ExecutionStatus.REJECTED,
            "rejection": Rejection(user_id="U9", at=at(30), reason="wrong region"),
            "plan_options": TARGETS,
        }
    )
    got = report.build(ex, now=at(60))
    assert got.judgement.failures == ("rejected by U9: wrong region",)
    assert [(d.action, d.reason) for d in got.decisions] == [("rejected", "wrong region")]


def test_a_point_in_time_launch_reports_each_servers_data_age_against_the_rpo_target() -> None:
    ex = execution(2)
    old, fresh = (s.source_server_id for s in ex.servers())
    chunk = ex.waves[0].chunks[0]
    servers = (
        chunk.servers[0].model_copy(
            update={"snapshot_id": "pit-aaaaaaaaaaaaaaaaa", "snapshot_time": at(-3600)}
        ),
        chunk.servers[1].model_copy(
            update={"snapshot_id": "pit-bbbbbbbbbbbbbbbbb", "snapshot_time": at(-600)}
        ),
    )
    wave = ex.waves[0].model_copy(update={"chunks": (chunk.model_copy(update={"servers": servers}),)})
    ex = launched(ex.replace_wave(wave).model_copy(update={"point_in_time": at(-60)}))
    got = report.build(ex, now=at(3600))
    rpo = {s.source_server_id: s.rpo for s in got.waves[0].servers}
    assert rpo[old].basis == "POINT_IN_TIME" and rpo[old].seconds == 3600 and rpo[old].met is False
    assert rpo[fresh].snapshot_id == "pit-bbbbbbbbbbbbbbbbb" and rpo[fresh].met is True
    assert "1 server(s) launched from data older than the rpo_target of 15m 00s" in got.judgement.failures


def test_no_targets_and_a_forced_readiness_are_findings() -> None:
    ex = launched(execution(1, kind=ExecutionType.RECOVERY), options=PlanOptions())
    note = ReadinessNote(
        level="BLOCKED", lines=("BLOCKED: replication is STALLED — 1 server(s)",), checked_at=T0
    )
    ex = ex.model_copy(update={"readiness": note.model_copy(update={"forced": True})})
    got = report.build(ex, now=at(3600))
    assert got.judgement.verdict is Verdict.PASSED_WITH_FINDINGS
    assert got.judgement.findings == (
        "the plan has no rto_target: the RTO is measured, not judged",
        "the plan has no rpo_target: the data's age is not judged",
        "readiness was BLOCKED at the start (started with --force): BLOCKED: replication is STALLED — 1 server(s)",
    )
    assert got.readiness is not None and got.readiness.forced


def test_a_running_execution_has_no_report_yet() -> None:
    with pytest.raises(report.NotEnded, match="IN_PROGRESS"):
        report.build(execution(1), now=at(60))


def test_the_json_carries_its_schema_version_and_the_historys_names() -> None:
    ex = launched(execution(1))
    document = report.build(ex, now=at(3600)).json_document()
    assert document["SchemaVersion"] == report.REPORT_SCHEMA
    assert document["Judgement"]["Verdict"] == "PASSED WITH FINDINGS"
    server = document["Waves"][0]["Servers"][0]
    assert set(server) >= {"SourceServerId", "RecoveryJobId", "InstanceId", "LaunchTime", "Error", "Status"}
    assert document["ExecutionId"] == "ex-0001" and document["PlanId"] == "plan-x"
    assert report.Report.model_validate(document) == report.build(ex, now=at(3600))


def test_an_expired_or_cancelled_execution_fails_and_says_why() -> None:
    expired = execution(1, kind=ExecutionType.RECOVERY).model_copy(
        update={"status": ExecutionStatus.EXPIRED, "plan_options": TARGETS}
    )
    assert report.build(expired, now=at(60)).judgement.failures == (
        "the approval expired before enough approvers decided",
    )
    cancelled = launched(execution(1, 1), status=ExecutionStatus.CANCELLED)
    second = cancelled.waves[1].model_copy(
        update={
            "status": WaveStatus.SKIPPED,
            "start_time": None,
            "chunks": execution(1, 1).waves[1].chunks,
        }
    )
    cancelled = cancelled.replace_wave(second).model_copy(
        update={"cancel_requested_by": "U5", "cancel_requested_at": at(300)}
    )
    got = report.build(cancelled, now=at(3600))
    assert got.judgement.verdict is Verdict.FAILED
    assert got.judgement.failures[:2] == ("cancelled by U5", "1 of 2 server(s) did not launch (CANCELLED)")
    assert [(d.action, d.user_id) for d in got.decisions] == [("cancelled", "U5")]


def test_a_cleanup_that_could_not_terminate_everything_is_a_finding() -> None:
    ex = launched(execution(2))
    end = ex.end_time
    assert end is not None
    instances = tuple(s.instance_id for s in ex.servers() if s.instance_id)
    ex = ex.model_copy(
        update={
            "cleanup": CleanupRun(
                status=CleanupStatus.DONE,
                ended_at=end + timedelta(hours=1),
                instance_ids=instances[:1],
                failures=(f"{instances[1]}: AccessDeniedException",),
            )
        }
    )
    got = report.build(ex, now=end + timedelta(hours=2))
    assert got.judgement.findings == ("the cleanup could not terminate 1 instance(s)",)
    assert got.cleanup is not None and got.cleanup.requested_by == "cleanup_after"
    # The one not terminated bills until now: 2 hours after the end, beside the one terminated at 1 hour.
    assert got.cleanup.running_hours == pytest.approx(
        sum(
            ((end + timedelta(hours=h)) - s.launch_time).total_seconds() / 3600
            for h, s in zip((1, 2), ex.servers(), strict=True)
            if s.launch_time
        ),
        abs=0.02,
    )


def test_a_failback_that_left_servers_unprotected_is_a_finding() -> None:
    from bot.domain.execution import FailbackPhase, FailbackRun, FailbackServer

    ex = launched(execution(1, kind=ExecutionType.FAILBACK))
    server = FailbackServer(
        wave=0,
        source_server_id="s-00000000000000000",
        recovery_region="us-west-2",
        recovery_instance_id="i-0123456789abcdef0",
        reprotect_error="ConflictException: already replicating",
    )
    ex = ex.model_copy(
        update={
            "failback": FailbackRun(
                phase=FailbackPhase.DONE,
                recovery_execution_id="ex-0000",
                sync_timeout_seconds=3600,
                servers=(server,),
            )
        }
    )
    got = report.build(ex, now=at(3600))
    assert got.judgement.findings == ("1 failed-back server(s) are not re-protected",)
    assert got.judgement.verdict is Verdict.PASSED_WITH_FINDINGS
