"""Every Slack listener, registered in one place."""

from __future__ import annotations

from slack_bolt import App

from bot.slack import approvals, slash_command
from bot.slack.blocks import APPROVE_ACTION, REJECT_ACTION
from bot.slack.deps import SlackDeps


def register(app: App, deps: SlackDeps) -> None:
    # Commands the ack answers fully (help, a typo) skip the lazy re-invocation altogether.
    acknowledge = slash_command.acknowledger(deps)
    app.command("/drs", matchers=[slash_command.needs_follow_up(deps)])(
        ack=acknowledge, lazy=[slash_command.follow_up(deps)]
    )
    app.command("/drs")(acknowledge)
    app.action(APPROVE_ACTION)(ack=approvals.acknowledge_click, lazy=[approvals.approve(deps)])
    app.action(REJECT_ACTION)(approvals.ask_reason)
    app.view(approvals.REASON_VIEW)(ack=approvals.acknowledge_reason, lazy=[approvals.reject(deps)])
