"""Republishing the Home tab with the real adapters: viewers and catalog in DynamoDB (moto), views through
slack_sdk's WebClient to the fake Slack (which checks them as Slack does), user groups from
usergroups.users.list. Each viewer's view is built for them: the policy decides who sees the plans.

The e2e package's policy lets everyone run drills; this is where a policy that does not is shown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.adapters.dynamodb import DynamoCatalogStore, DynamoExecutionStore
from bot.adapters.home_store import DynamoHomeViewers
from bot.adapters.slack_notifier import SlackDirectory, SlackHomePublisher, web_client
from bot.adapters.watch_store import DynamoWatchStore
from bot.domain.plans import Catalog
from bot.domain.policy import AccessPolicy
from bot.services.access import Access
from bot.services.home import Home
from bot.services.ports import RefreshResult
from bot.services.watch import WatchView
from bot.slack import home as home_tab
from sandbox.slack_fake import FakeSlack
from tests.unit.builders import T0

LEADS = "S0HOMELEADS"
CATALOG = Catalog.model_validate(
    {
        "protection_groups": [
            {"name": "g", "region": "us-east-1", "source_servers": ["s-00000000000000001"]}
        ],
        "plans": [{"name": "plan-ledger", "waves": [{"name": "W", "protection_group": "g"}]}],
    }
)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(usergroups={LEADS: ["U0LEAD"]}) as fake:
        yield fake


@pytest.fixture
def home(dynamodb: Any, tables: dict[str, str], slack: FakeSlack) -> Home:
    executions = tables["ExecutionsTable"]
    catalog = DynamoCatalogStore(dynamodb, tables["CatalogTable"])
    catalog.replace(CATALOG, applied_by="test", now=T0)
    store = DynamoExecutionStore(dynamodb, executions)
    client = web_client(slack.bot_token, slack.api_url)
    return Home(
        catalog=catalog,
        watch=WatchView(store=DynamoWatchStore(dynamodb, executions), executions=store, clock=lambda: T0),
        store=store,
        access=Access(
            AccessPolicy(drill_runners=["U0OPS"], recovery_requesters=[], approvers=[LEADS]),
            SlackDirectory(client),
        ),
        clock=lambda: T0,
        viewers=DynamoHomeViewers(dynamodb, executions),
        publisher=SlackHomePublisher(client),
        render=home_tab.view,
    )


def test_each_viewer_gets_the_view_the_policy_allows_them(home: Home, slack: FakeSlack) -> None:
    for user in ("U0OPS", "U0LEAD", "U0GUEST"):
        home.opened(user)
    assert home.refresh() == RefreshResult(published=3, failed=0)

    for allowed in ("U0OPS", "U0LEAD"):  # a drill runner; an approver through the user group
        view = slack.home_view(allowed)
        assert view is not None and "*plan-ledger*" in str(view["blocks"])
    guest = slack.home_view("U0GUEST")
    assert guest is not None
    assert "plan-ledger" not in str(guest["blocks"]) and "You have no access" in str(guest["blocks"])


def test_a_view_slack_refuses_is_counted_as_failed_and_the_others_still_go_out(
    home: Home, slack: FakeSlack
) -> None:
    for user in ("U0OPS", "U0LEAD"):
        home.opened(user)
    slack.inject_fault("views.publish", "ratelimited", count=1, retry_after=30)  # too long to wait in place
    assert home.refresh() == RefreshResult(published=1, failed=1)
    # Viewers go in user id order: the first met the limit, the next was published.
    assert slack.home_view("U0LEAD") is None and slack.home_view("U0OPS") is not None
