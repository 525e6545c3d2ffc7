"""Ids we give Slack and Slack hands back: the approval card's buttons and the reject-reason form."""

from __future__ import annotations

APPROVE_ACTION = "drs_approve"
REJECT_ACTION = "drs_reject"
# /drs retry and /drs skip as buttons on a wave's thread message; the value is "<execution id>:<wave index>".
RETRY_ACTION = "drs_retry"
SKIP_ACTION = "drs_skip"

REASON_VIEW = "drs_reject_reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"

# Steering (README "Steering a running execution"): the gate card's buttons carry "<execution>:<wave>",
# so a click on a gate already passed is told so; the anchor's carry the execution id.
CONTINUE_ACTION = "drs_continue"
STOP_ACTION = "drs_stop"
PAUSE_ACTION = "drs_pause"
RESUME_ACTION = "drs_resume"
