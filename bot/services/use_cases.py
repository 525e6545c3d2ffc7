"""The use cases, built together (bot/wiring.py) so that they share one store, clock and DRS gateway.

A bundle, not a facade: callers take the one use case they need (`use_cases.ticking.tick(…)`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.services.controlling import Controlling
from bot.services.outbox import Outbox
from bot.services.queries import Queries
from bot.services.requesting import Requesting
from bot.services.ticking import Ticking


@dataclass(frozen=True)
class UseCases:
    requesting: Requesting  # a drill, a recovery, a failback; /drs check
    controlling: Controlling  # approve, reject, cancel, clean up
    ticking: Ticking  # the executor's tick, early ticks on DRS events, the active executions
    queries: Queries  # find, latest, history, plan names
    outbox: Outbox  # the threads' messages; /drs report posts a report there again
