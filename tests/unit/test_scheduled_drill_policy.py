"""Scheduled drills start as the identity `scheduler`, which the access policy must name: a policy's
"*" means every person, not the robot."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.domain.policy import SCHEDULER, AccessPolicy


def test_the_scheduler_runs_drills_only_where_the_policy_names_it() -> None:
    assert not AccessPolicy().may_run_drill(SCHEDULER, set())  # drill_runners ["*"] by default
    assert AccessPolicy(drill_runners=["*"]).may_run_drill("U0ALICE", set())
    named = AccessPolicy(drill_runners=["S0DRLEADS", "scheduler"])
    assert named.may_run_drill(SCHEDULER, set())
    assert not named.may_run_drill("U0ALICE", set())
    assert not named.may_request_recovery(SCHEDULER, set()) and not named.may_approve(SCHEDULER, set())


def test_other_words_are_still_refused_as_principals() -> None:
    with pytest.raises(ValidationError):
        AccessPolicy(drill_runners=["cron"])
