"""Ids we give Slack and Slack hands back: the approval card's buttons and the reject-reason form."""

from __future__ import annotations

APPROVE_ACTION = "drs_approve"
REJECT_ACTION = "drs_reject"

REASON_VIEW = "drs_reject_reason"
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"
