"""What the Slack listeners need, built on first use so that an ack creates no AWS client."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from bot.domain.policy import AccessPolicy
from bot.services.executions import Executions
from bot.services.ports import CatalogStore, Clock
from bot.services.watch import WatchView


class SlackDeps:
    """What the listeners use, built on first use: acknowledging a command creates no AWS client."""

    def __init__(
        self,
        *,
        executions: Callable[[], Executions],
        catalog: Callable[[], CatalogStore],
        clock: Clock,
        policy: AccessPolicy,
        watch: Callable[[], WatchView],
    ) -> None:
        self._executions = executions
        self._catalog = catalog
        self._watch = watch
        self.clock = clock
        self.policy = policy  # plain configuration: the ack may read it

    @cached_property
    def executions(self) -> Executions:
        return self._executions()

    @cached_property
    def watch(self) -> WatchView:
        """Each plan's readiness as the watch last saw it, and its drills."""
        return self._watch()

    @cached_property
    def catalog(self) -> CatalogStore:
        return self._catalog()
