"""A fresh Python process that handles signed Slack requests with handlers/slack_http.py, as a new
Lambda environment would: for tests of what a cold start imports, calls and answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sandbox.stack import http_api_event, signed_command

ROOT = Path(__file__).resolve().parents[1]
NOWHERE = "http://127.0.0.1:9"  # the discard port: a call that was not expected fails

# Code for the child: `context`, the Lambda context the runtime would pass (imported after the handler,
# so it is not counted among what the handler imports).
CONTEXT = """
from sandbox.lambda_fake import make_context
context = make_context("drs-chatops-slack", memory_limit_in_mb=1024, aws_request_id="cold-start-test")
"""


def command_event(text: str, *, secret: str, channel: str = "C0DRILLS") -> dict[str, Any]:
    body, headers = signed_command(
        text,
        signing_secret=secret,
        response_url=f"{NOWHERE}/response",
        user_id="U0ALICE",
        channel_id=channel,
        timestamp=int(time.time()),
    )
    return http_api_event("/slack/events", headers, body)


def run(code: str, events: list[dict[str, Any]], env: dict[str, str]) -> dict[str, Any]:
    """Run `code` with the events as JSON on stdin; it prints one JSON line last, which is returned.
    The environment is this one's without DRS_BOT_*, AWS_* and POWERTOOLS_* variables, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DRS_BOT_", "AWS_", "POWERTOOLS_"))}
    done = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=clean | {"AWS_ENDPOINT_URL": NOWHERE, "AWS_DEFAULT_REGION": "us-east-1"} | env,
        timeout=60,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
