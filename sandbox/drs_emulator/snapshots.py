"""Point-in-time recovery snapshots, computed lazily from the retention policy.

DRS keeps a snapshot every 10 minutes for the last hour, one an hour for the last day and one a day
for the last week, only for time spent replicating (CONTINUOUS). Snapshots are derived from the clock
and the seed rather than stored, so they need no background work and are deterministic.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from .ids import det_hex, det_int
from .state import Snapshot, SourceServer

HOUR = 3600.0
DAY = 86400.0
RETENTION = 7 * DAY


def _ticks(now: datetime, interval: float) -> set[float]:
    epoch = now.timestamp()
    ticks: set[float] = set()
    for step, window in ((interval, HOUR), (HOUR, DAY), (DAY, RETENTION)):
        t = math.floor(epoch / step) * step
        while t > epoch - window:
            ticks.add(t)
            t -= step
    return ticks


def _replicating_at(server: SourceServer, at: datetime) -> bool:
    return any(
        start is not None and start <= at and (end is None or at < end) for start, end in server.continuous
    )


def list_snapshots(server: SourceServer, now: datetime, seed: int, interval: float) -> list[Snapshot]:
    """All snapshots visible at `now`, oldest first."""
    server.sync(now)
    out = []
    for tick in sorted(_ticks(now, interval)):
        expected = datetime.fromtimestamp(tick, UTC)
        if not _replicating_at(server, expected):
            continue
        taken = expected + timedelta(seconds=det_int(seed, 2, 9, "pit-taken", server.id, tick))
        if taken > now:
            continue
        snap_id = "pit-" + det_hex(seed, "pit", server.id, tick)
        ebs = ["snap-" + det_hex(seed, "ebs", snap_id)]
        out.append(Snapshot(snap_id, server.id, expected, taken, ebs))
    out.extend(s for s in server.on_demand if now - s.taken < timedelta(seconds=RETENTION))
    out.sort(key=lambda s: (s.taken, s.id))
    return out
