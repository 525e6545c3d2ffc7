"""The report's verdict and link in the thread when an execution ends, and when the bucket refuses."""

from __future__ import annotations

from bot.services.report import Reports
from tests.fakes.reports import FakeReportStore
from tests.unit.services.conftest import CHANNEL, World


def test_the_end_post_carries_the_verdict_and_a_link_to_the_report_written_before_it() -> None:
    bucket = FakeReportStore()
    world = World()
    world.reports = Reports(bucket, world.clock)
    outcome = world.request()
    assert outcome.execution is not None
    final = world.run(outcome.execution.execution_id)

    (end,) = [m for m in world.notifier.messages if m.key.startswith("file:timeline-")]
    assert "Verdict: PASSED WITH FINDINGS" in end.text
    assert (
        f"<https://reports.example/plan-x/{final.execution_id}.html?X-Amz-Expires=3600&amp;n=1|Open the report>"
        in end.text
    )
    assert bucket.versions[final.execution_id] == final.version  # the link leads to the current report


def test_a_bucket_that_refuses_does_not_hold_the_thread_back_and_the_report_follows() -> None:
    bucket = FakeReportStore()
    bucket.refusing = "AccessDenied"
    world = World()
    world.reports = Reports(bucket, world.clock)
    outcome = world.request()
    assert outcome.execution is not None
    execution_id = outcome.execution.execution_id
    ticking = world.use_cases().ticking
    for _ in range(200):
        result = ticking.tick(execution_id)
        if world.stored(execution_id).status.is_terminal and not world.store.pending_events(execution_id):
            break
        world.clock.advance(result.wait_seconds)
    # Every message is in the thread, the end post with its verdict and why it has no link.
    (end,) = [m for m in world.notifier.messages if m.key.startswith("file:timeline-")]
    assert "Verdict: PASSED WITH FINDINGS" in end.text and "Open the report" not in end.text
    assert (
        f"The report could not be stored just now (AccessDenied); it is written on a later tick, and /drs report {execution_id} links it."
        in end.text
    )
    assert not result.finished and execution_id in world.store.active_ids()  # ticked until written
    bucket.refusing = None
    world.clock.advance(result.wait_seconds)
    assert ticking.tick(execution_id).finished
    assert bucket.versions[execution_id] == world.stored(execution_id).version
    assert (
        len([m for m in world.notifier.messages if m.channel == CHANNEL and m.key.startswith("file:")]) == 1
    )
