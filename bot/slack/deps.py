"""What the Slack listeners need, built on first use so that an ack creates no AWS client."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from bot.domain.policy import AccessPolicy
from bot.errors import ConfigurationError
from bot.services.controlling import Controlling
from bot.services.home import Home
from bot.services.outbox import Outbox
from bot.services.ports import CatalogStore, Clock
from bot.services.queries import Queries
from bot.services.report import Reports
from bot.services.requesting import Requesting
from bot.services.use_cases import UseCases
from bot.services.watch import WatchView


class SlackDeps:
    """What the listeners use, built on first use: acknowledging a command creates no AWS client."""

    def __init__(
        self,
        *,
        use_cases: Callable[[], UseCases],
        catalog: Callable[[], CatalogStore],
        clock: Clock,
        policy: AccessPolicy,
        reports: Callable[[], Reports | None] | None = None,
        watch: Callable[[], WatchView],
        home: Callable[[], Home] | None = None,
    ) -> None:
        self._home = home
        self._use_cases = use_cases
        self._reports = reports
        self._catalog = catalog
        self._watch = watch
        self.clock = clock
        self.policy = policy  # plain configuration: the ack may read it

    @cached_property
    def requesting(self) -> Requesting:
        return self._use_cases().requesting

    @cached_property
    def controlling(self) -> Controlling:
        return self._use_cases().controlling

    @cached_property
    def outbox(self) -> Outbox:
        return self._use_cases().outbox

    @cached_property
    def queries(self) -> Queries:
        return self._use_cases().queries

    @cached_property
    def watch(self) -> WatchView:
        """Each plan's readiness as the watch last saw it, and its drills."""
        return self._watch()

    @cached_property
    def home(self) -> Home:
        """What the App Home tab shows a user."""
        if self._home is None:
            raise ConfigurationError("the App Home tab is not wired")
        return self._home()

    @cached_property
    def catalog(self) -> CatalogStore:
        return self._catalog()

    @cached_property
    def reports(self) -> Reports | None:
        return self._reports() if self._reports else None
