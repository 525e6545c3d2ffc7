"""Why a server's launch failed, read from DRS's job log events (botocore's model is the reference)."""

from __future__ import annotations

from botocore.loaders import create_loader

from bot.domain.drs import LAUNCH_FAILURES, launch_failure_reason

JOB_LOG_EVENTS = create_loader().load_service_model("drs", "service-2")["shapes"]["JobLogEvent"]["enum"]


def test_every_failure_event_of_the_model_that_ends_a_launch_is_understood() -> None:
    failures = {e for e in JOB_LOG_EVENTS if e.endswith(("_FAIL", "_FAILED")) or e == "SERVER_SKIPPED"}
    # CLEANUP_FAIL ends a TERMINATE job's part, never a launch.
    assert set(LAUNCH_FAILURES) == failures - {"CLEANUP_FAIL"}


def test_the_reason_names_the_step_and_keeps_drs_text() -> None:
    assert launch_failure_reason("CONVERSION_FAIL", "unsupported boot mode") == (
        "conversion failed: unsupported boot mode"
    )
    assert launch_failure_reason("NETWORK_RECOVERY_FAIL", None) == (
        "network recovery failed (NETWORK_RECOVERY_FAIL; DRS gave no detail)"
    )


def test_other_events_explain_nothing_and_unknown_names_are_tolerated() -> None:
    for event in ("JOB_START", "LAUNCH_START", "CLEANUP_FAIL", "LAUNCH_END", "LAUNCH_TEMPLATE_FAILED", ""):
        assert launch_failure_reason(event, "some text") is None
