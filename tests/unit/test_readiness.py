"""Readiness verdicts from plain facts."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain import snapshot_ages
from bot.domain.accounts import AccountRegion, home
from bot.domain.engine import RegionLoad
from bot.domain.execution import Limits
from bot.domain.readiness import Level, ServerFacts, Verdict, assess, chosen_snapshot_findings
from tests.unit.builders import at, server_ids

NOW = at(0)


def healthy(sid: str, **changes: object) -> ServerFacts:
    return ServerFacts(
        source_server_id=sid, where=home("us-east-1"), replication_state="CONTINUOUS", lag_seconds=5
    ).model_copy(update=changes)


def verdict(
    facts: dict[str, ServerFacts],
    *,
    waves: list[list[str]] | None = None,
    rpo: int | None = None,
    load: dict[AccountRegion, RegionLoad] | None = None,
    at: datetime | None = None,
) -> Verdict:
    waves = waves if waves is not None else [list(facts)]
    return assess(
        plan_name="plan-x",
        waves=[(f"Wave {i + 1}", home("us-east-1"), servers) for i, servers in enumerate(waves)],
        facts=facts,
        load=load or {},
        limits=Limits(),
        rpo_target_seconds=rpo,
        now=NOW,
        at=at,
    )


def test_healthy_servers_are_ready() -> None:
    ids = server_ids("a", 3)
    result = verdict({sid: healthy(sid) for sid in ids})
    assert result.level is Level.READY and result.findings == () and result.servers_checked == 3


def test_a_stalled_server_blocks() -> None:
    ids = server_ids("a", 2)
    facts = {
        ids[0]: healthy(ids[0]),
        ids[1]: healthy(ids[1], replication_state="STALLED", replication_error="AGENT_NOT_SEEN"),
    }
    result = verdict(facts)
    assert result.level is Level.BLOCKED
    (line,) = result.summary_lines()
    assert line == f"BLOCKED: replication is STALLED: AGENT_NOT_SEEN — 1 server(s): {ids[1]}"


def test_catching_up_and_lag_warn_against_the_rpo_target() -> None:
    ids = server_ids("a", 3)
    facts = {
        ids[0]: healthy(ids[0], replication_state="BACKLOG"),
        ids[1]: healthy(ids[1], lag_seconds=1200),
        ids[2]: healthy(ids[2], lag_seconds=600),
    }
    result = verdict(facts, rpo=900)
    assert result.level is Level.WARN
    reasons = {f.reason: f.servers for f in result.findings}
    assert reasons == {
        "replication is BACKLOG (catching up; it would launch from older data)": (ids[0],),
        "replication lag is over the plan's rpo_target of 15 min": (ids[1],),
    }


def test_with_at_the_chosen_snapshots_age_is_the_rpo_not_the_lag() -> None:
    ids = server_ids("a", 3)
    facts = {sid: healthy(sid, lag_seconds=1200) for sid in ids}
    moment = NOW - timedelta(minutes=5)
    result = verdict(facts, rpo=900, at=moment)
    assert result.level is Level.READY  # the lag does not matter: the launch is from the past
    chosen = {ids[0]: NOW - timedelta(minutes=10), ids[1]: NOW - timedelta(minutes=20), ids[2]: NOW}
    warned = result.with_findings(chosen_snapshot_findings(chosen, 900, NOW))
    assert warned.level is Level.WARN
    assert warned.summary_lines() == [
        "WARN: the recovery snapshot chosen for --at is older than the plan's rpo_target of 15 min"
        f" — 1 server(s): {ids[1]}"
    ]
    assert chosen_snapshot_findings(chosen, None, NOW) == ()


def test_snapshot_ages_are_counted_as_they_arrive() -> None:
    ids = server_ids("a", 12)
    ages = snapshot_ages.start(900, NOW, total=12)
    assert not ages.done and ages.lines() == [
        "recovery snapshot ages (rpo_target 15 min): 0 of 12 servers checked so far"
    ]
    first = [(sid, NOW - timedelta(hours=1)) for sid in ids[:7]]
    ages = snapshot_ages.record(
        ages, first, unavailable="DRS did not answer (ThrottlingException: Rate exceeded)"
    )
    assert ages.checked == 7 and ages.level == "WARN"
    assert ages.lines() == [
        f"WARN: newest recovery snapshot is older than 15 min — 7 server(s): {', '.join(ids[:5])} and 2 more",
        "recovery snapshot ages (rpo_target 15 min): 7 of 12 servers checked so far; "
        "DRS did not answer (ThrottlingException: Rate exceeded)",
    ]
    rest: list[snapshot_ages.Lookup] = [
        (ids[7], None),
        (ids[8], "ResourceNotFoundException: no such server"),
        (ids[9], NOW - timedelta(minutes=14)),
        (ids[10], NOW - timedelta(minutes=15)),
        (ids[11], NOW - timedelta(minutes=16)),
    ]
    ages = snapshot_ages.record(ages, rest)
    assert ages.done and ages.checked == 12
    assert ages.lines() == [
        f"WARN: newest recovery snapshot is older than 15 min — 8 server(s): {', '.join(ids[:5])} and 3 more",
        f"WARN: no recovery snapshot yet — 1 server(s): {ids[7]}",
        f"WARN: its recovery snapshots could not be read: ResourceNotFoundException: no such server — 1 server(s): {ids[8]}",
    ]
    fine = snapshot_ages.record(snapshot_ages.start(900, NOW, total=1), [(ids[0], NOW)])
    assert fine.level == "READY" and fine.lines() == [
        "recovery snapshot ages: all 1 servers have one newer than 15 min"
    ]


def test_missing_busy_and_still_running_drill_servers() -> None:
    ids = server_ids("a", 3)
    facts = {
        ids[0]: ServerFacts(source_server_id=ids[0], where=home("us-east-1"), found=False),
        ids[1]: healthy(ids[1], active_job_id="drsjob-00000000000000001"),
        ids[2]: healthy(
            ids[2], running_drill_instances=("i-0123456789abcdef0",), last_launch_result="FAILED"
        ),
    }
    result = verdict(facts)
    assert result.level is Level.BLOCKED
    levels = {f.reason: f.level for f in result.findings}
    assert levels["not found in DRS in its protection group's region"] is Level.BLOCKED
    assert levels["already in a DRS job that has not ended (a new launch would conflict)"] is Level.BLOCKED
    assert levels["drill instances from an earlier drill still run (and bill): clean them up"] is Level.WARN
    assert levels["its last launch FAILED (see that job's log)"] is Level.WARN


def test_a_group_that_resolves_to_nothing_blocks() -> None:
    result = verdict({}, waves=[[]])
    assert result.level is Level.BLOCKED
    assert result.summary_lines() == [
        "BLOCKED: wave Wave 1: its protection group resolves to no source server"
    ]


def test_quota_headroom_is_reported() -> None:
    ids = server_ids("a", 450)
    busy = {home("us-east-1"): RegionLoad(jobs=3, servers=200)}
    result = verdict({sid: healthy(sid) for sid in ids}, load=busy)
    assert result.level is Level.WARN
    (line,) = result.summary_lines()
    assert "does not fit the free quota (300 servers, 17 jobs); it will start in parts" in line


def test_a_4000_server_verdict_stays_compact() -> None:
    ids = server_ids("a", 4000)
    facts = {
        sid: healthy(sid, replication_state="STALLED" if n % 2 else "CONTINUOUS") for n, sid in enumerate(ids)
    }
    lines = verdict(facts).summary_lines()
    assert len(lines) == 2  # stalled servers, and a wave larger than the quota (it starts in parts)
    assert lines[0].startswith("BLOCKED: replication is STALLED — 2000 server(s): ")
    assert lines[0].endswith("and 1995 more") and len(lines[0]) < 300
    assert lines[1].startswith("WARN: us-east-1: wave Wave 1 (4000 servers, 40 jobs) does not fit")


TARGET = AccountRegion("111122223333", "us-east-1")
STAGING = "444455556666"


def test_an_account_drs_could_not_be_asked_in_blocks_its_waves_and_only_those() -> None:
    own, theirs = server_ids("a", 2), server_ids("b", 2)
    facts = {sid: healthy(sid) for sid in own}  # nothing is known of the other account's servers
    result = assess(
        plan_name="plan-x",
        waves=[("Web", home("us-east-1"), own), ("Payments", TARGET, theirs), ("Batch", TARGET, [])],
        facts=facts,
        load={},
        limits=Limits(),
        rpo_target_seconds=None,
        now=NOW,
        unreachable={TARGET: "DRS refused: AccessDenied: cannot assume arn:aws:iam::111122223333:role/r"},
    )
    assert result.level is Level.BLOCKED
    assert result.summary_lines() == [
        "BLOCKED: account 111122223333 (us-east-1): DRS refused: AccessDenied: cannot assume "
        "arn:aws:iam::111122223333:role/r; not checked: wave Payments, Batch"
    ]
    assert result.servers_checked == 2  # the own account's servers were judged


def test_quotas_and_their_text_are_per_account_and_region() -> None:
    own, theirs = server_ids("a", 150), server_ids("b", 150)
    limits = Limits.model_validate({"accounts": {"111122223333": {"servers_in_active_jobs": 100}}})
    result = assess(
        plan_name="plan-x",
        waves=[("Web", home("us-east-1"), own), ("Payments", TARGET, theirs)],
        facts={sid: healthy(sid) for sid in (*own, *theirs)},
        load={home("us-east-1"): RegionLoad(jobs=20, servers=400)},
        limits=limits,
        rpo_target_seconds=None,
        now=NOW,
    )
    assert result.summary_lines() == [
        "WARN: us-east-1: all 20 concurrent DRS jobs are in use now; wave Web will wait for capacity",
        "WARN: 111122223333/us-east-1: wave Payments (150 servers, 2 jobs) does not fit the free quota "
        "(100 servers, 20 jobs); it will start in parts",
    ]


def test_an_extended_server_names_its_staging_account_and_an_extension_in_error_blocks_it() -> None:
    extended, broken = server_ids("c", 2)
    facts = {
        extended: healthy(extended, staging_account=STAGING, staging_status="EXTENDED"),
        broken: healthy(
            broken, staging_account=STAGING, staging_status="EXTENSION_ERROR", staging_error="<gone> & lost"
        ),
    }
    result = verdict(facts)
    assert result.level is Level.BLOCKED
    assert result.summary_lines() == [
        f"BLOCKED: its extension from staging account {STAGING} is in error: <gone> & lost — 1 server(s): "
        f"{broken}",
        f"replicating from staging account {STAGING} — 1 server(s): {extended}",
    ]
    assert verdict({extended: facts[extended]}).level is Level.READY  # a note holds nothing back
