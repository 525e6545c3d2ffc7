"""`make demo`: one drill of the example plan, through every real part, shown as the channel sees it."""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path

from bot.domain.history import to_history
from sandbox.config import SandboxConfig
from sandbox.stack import SandboxStack, signed_command
from sandbox.transcript import render_channel

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
USER = "U0DRILLER"


def run(plans: Path, plan_name: str, config: SandboxConfig, timeout: float = 120) -> int:
    with SandboxStack(plans, config) as stack:
        print(f"Sandbox up: Slack requests go to {stack.slack_request_url}\n", flush=True)
        channel = config.channel_id
        text = f"execute {plan_name} drill"
        body, headers = signed_command(
            text,
            signing_secret=config.signing_secret,
            response_url=stack.slack.new_response_url(channel, USER),
            user_id=USER,
            channel_id=channel,
            timestamp=int(time.time()),
        )
        request = urllib.request.Request(stack.slack_request_url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            ack = json.loads(response.read() or b"{}")
        print(f"@{USER.lower()}: /drs {text}")
        print(f"  (only visible to you) {ack.get('text', '')}\n", flush=True)

        execution = stack.wait_for_end(channel, timeout)
        print(render_channel(stack.slack.messages(), channel))
        if execution is None:
            print(f"The drill did not finish within {timeout:.0f} s.", file=sys.stderr)
            return 1
        print("\nStored execution history:")
        print(json.dumps(to_history(execution), indent=2))
        return 0


def main() -> int:
    return run(EXAMPLES / "plans.yml", "plan-x", SandboxConfig.load(EXAMPLES / "sandbox.yml"))


if __name__ == "__main__":
    raise SystemExit(main())
