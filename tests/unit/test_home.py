"""The App Home tab: who sees the plans, and a view Slack accepts however many plans there are."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.plans import Catalog
from bot.domain.policy import AccessPolicy
from bot.services.access import Access
from bot.services.home import Home, HomeFacts
from bot.services.watch import WatchView
from bot.slack import home
from sandbox.slack_fake.blockkit import problems_in_blocks
from tests.fakes.clock import FakeClock
from tests.fakes.slack import FakeDirectory
from tests.fakes.store import InMemoryCatalogStore, InMemoryExecutionStore

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def catalog(plans: int, *, schedule: str | None = None) -> Catalog:
    options = (
        {
            "schedule": {"expression": schedule, "timezone": "Europe/Paris"},
            "cleanup_after": "2h",
            "channel": "C0HOMETAB",
        }
        if schedule
        else {}
    )
    return Catalog.model_validate(
        {
            "protection_groups": [
                {"name": "g", "region": "us-east-1", "source_servers": ["s-00000000000000001"]}
            ],
            "plans": [
                {"name": f"plan-{n:03d}", "waves": [{"name": "W", "protection_group": "g"}], **options}
                for n in range(plans)
            ],
        }
    )


class NoWatch:
    def states(self) -> dict[str, object]:
        return {}

    def last_successful_drill(self, plan_name: str) -> None:
        return None


def test_many_plans_fit_the_view_s_100_blocks_and_the_rest_are_counted() -> None:
    view = home.view(HomeFacts(may_see=True, catalog=catalog(150), now=NOW))
    assert view["type"] == "home"
    assert problems_in_blocks(view["blocks"], max_blocks=100) == []
    assert len(view["blocks"]) == 100
    shown = [b for b in view["blocks"] if b.get("text", {}).get("text", "").startswith("*plan-")]
    assert (
        view["blocks"][-1]["elements"][0]["text"]
        == f"…and {150 - len(shown)} more plans (`/drs plans` lists them all)"
    )


def test_a_scheduled_plan_shows_its_expression_and_time_zone() -> None:
    view = home.view(HomeFacts(may_see=True, catalog=catalog(1, schedule="cron(0 9 ? * MON#1 *)"), now=NOW))
    (plan,) = [
        b["text"]["text"] for b in view["blocks"] if b.get("text", {}).get("text", "").startswith("*plan-")
    ]
    assert "Readiness: not watched yet · Last drill: no drill yet" in plan
    # The first Monday of December 2026, 9:00 in Paris.
    assert "Next scheduled drill: 2026-12-07 08:00 UTC (`cron(0 9 ? * MON#1 *)` in Europe/Paris)" in plan


def test_someone_the_policy_lets_do_nothing_sees_no_plans() -> None:
    clock = FakeClock()
    store = InMemoryExecutionStore()
    policy = AccessPolicy(drill_runners=["U0OPS"], recovery_requesters=[], approvers=["U0BOSS"])
    service = Home(
        catalog=InMemoryCatalogStore(catalog(3)),
        watch=WatchView(store=NoWatch(), executions=store, clock=clock),  # type: ignore[arg-type]
        store=store,
        access=Access(policy, FakeDirectory()),
        clock=clock,
    )
    outsider = service.facts("U0GUEST")
    assert not outsider.may_see and outsider.catalog is None
    view = home.view(outsider)
    assert "You have no access to the recovery plans" in view["blocks"][-1]["text"]["text"]
    assert "plan-000" not in str(view)
    for user in ("U0OPS", "U0BOSS"):
        facts = service.facts(user)
        assert facts.may_see and facts.catalog is not None and len(facts.plans) == 3


def test_a_rate_schedule_is_shown_as_written() -> None:
    view = home.view(HomeFacts(may_see=True, catalog=catalog(1, schedule="rate(30 days)"), now=NOW))
    assert "Scheduled drills: `rate(30 days)` (Europe/Paris)" in str(view)
