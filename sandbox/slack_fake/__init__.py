"""A fake Slack Web API (plus response_urls) for tests and the demo; see server.py for routes."""

from sandbox.slack_fake.blockkit import problems_in_blocks
from sandbox.slack_fake.faults import FAULT_KINDS, Fault
from sandbox.slack_fake.server import FakeSlack

__all__ = ["FAULT_KINDS", "FakeSlack", "Fault", "problems_in_blocks"]
