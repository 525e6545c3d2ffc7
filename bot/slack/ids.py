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
