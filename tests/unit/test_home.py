"""The App Home tab: who sees the plans, and a view Slack accepts however many plans there are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.domain.events import CancelRequested, CleanupScheduled, ExecutionStarted
from bot.domain.execution import ExecutionType
from bot.domain.plans import Catalog
from bot.domain.policy import AccessPolicy
from bot.errors import SlackRefused
from bot.services.access import Access
from bot.services.home import Home, HomeFacts, shown
from bot.services.ports import RefreshResult
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


class Viewers:
    """The HomeViewers port in memory: who opened the tab, and when."""

    def __init__(self) -> None:
        self.opened: dict[str, datetime] = {}
        self.catalog: str | None = None

    def remember(self, user_id: str, now: datetime) -> None:
        self.opened[user_id] = now

    def viewers(self, now: datetime) -> list[str]:
        return sorted(self.opened)

    def catalog_shown(self) -> str | None:
        return self.catalog

    def showing_catalog(self, digest: str) -> None:
        self.catalog = digest


class Publisher:
    """The HomePublisher port: keeps each user's last view; refuses the users in `refusing`."""

    def __init__(self, refusing: set[str] | None = None) -> None:
        self.views: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.refusing = refusing or set()

    def publish(self, user_id: str, view: dict[str, Any]) -> None:
        self.calls.append(user_id)
        if user_id in self.refusing:
            raise SlackRefused("invalid_arguments")
        self.views[user_id] = view


def test_a_refresh_republishes_each_viewer_their_own_view_and_a_refusal_stops_no_one() -> None:
    clock = FakeClock()
    store = InMemoryExecutionStore()
    policy = AccessPolicy(drill_runners=["U0OPS", "U0OPS2"], recovery_requesters=[], approvers=[])
    viewers, publisher = Viewers(), Publisher(refusing={"U0OPS"})
    service = Home(
        catalog=InMemoryCatalogStore(catalog(3)),
        watch=WatchView(store=NoWatch(), executions=store, clock=clock),  # type: ignore[arg-type]
        store=store,
        access=Access(policy, FakeDirectory()),
        clock=clock,
        viewers=viewers,
        publisher=publisher,
        render=home.view,
    )
    assert service.refresh() == RefreshResult()  # nobody has the tab: nothing read, nothing published
    for user in ("U0GUEST", "U0OPS", "U0OPS2"):
        service.opened(user)

    result = service.refresh()

    assert result == RefreshResult(published=2, failed=1)
    assert publisher.calls == ["U0GUEST", "U0OPS", "U0OPS2"]  # the refusal did not stop the next one
    assert "plan-000" in str(publisher.views["U0OPS2"])
    guest = publisher.views["U0GUEST"]
    assert "plan-000" not in str(guest) and "You have no access" in str(guest)
    for view in publisher.views.values():
        assert problems_in_blocks(view["blocks"], max_blocks=100) == []
    # The watch's check after `plans apply`: the same catalog publishes nothing more.
    assert service.refresh_if_catalog_changed() == RefreshResult()
    assert len(publisher.calls) == 3


def test_starts_and_ends_change_the_tab_progress_does_not() -> None:
    started = ExecutionStarted(
        seq=1,
        at=NOW,
        execution_id="e",
        plan_name="p",
        execution_type=ExecutionType.DRILL,
        initiated_by="U0",
        wave_count=1,
        server_count=1,
    )
    assert shown([started])
    assert not shown([]) and not shown([CleanupScheduled(seq=2, at=NOW, execution_id="e", due_at=NOW)])
    # A cancel ends a recovery still awaiting approval at once, with no other event.
    assert shown([CancelRequested(seq=3, at=NOW, execution_id="e", requested_by="U0", jobs_running=0)])
