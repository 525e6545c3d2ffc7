"""Recovery snapshot ages against a plan's rpo_target, recorded as they arrive.

Pure. DRS answers DescribeRecoverySnapshots one server at a time, so at 4,000 servers the ages take
thousands of calls: they are read after the checks that may hold a launch back, and never delay one.
That is sound because, without `--at`, DRS launches from the latest replicated data: the RPO of that
launch is the replication lag, which readiness checks before launching (DescribeSourceServers, batched).
The newest snapshot is what DRS falls back to when it cannot take a fresh one at launch
(USING_PREVIOUS_SNAPSHOT), and the newest point a later `--at` could pick: worth a warning, never a
reason to stop. With `--at` the chosen snapshots are looked up before launching (see readiness.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain.frozen import Frozen

EXAMPLES_LISTED = 5  # per reason; the rest are counted, so a 4,000-server plan stays readable
# What a lookup found: the newest snapshot's time, None (no snapshot), or why it could not be read.
Lookup = tuple[str, datetime | str | None]


class AgeFinding(Frozen):
    reason: str
    count: int
    servers: tuple[str, ...]  # the first EXAMPLES_LISTED of them


class SnapshotAges(Frozen):
    """The servers' ages, read in the execution's server order: `checked` is how far it got."""

    rpo_target_seconds: int
    # The request's time: a snapshot after it (such as the one a launch takes) says nothing about
    # the data the launch started from.
    taken_by: datetime
    total: int
    checked: int = 0
    findings: tuple[AgeFinding, ...] = ()
    unavailable: str | None = None  # why the last attempt stopped short (the next one goes on)

    @property
    def done(self) -> bool:
        return self.checked >= self.total

    @property
    def level(self) -> str:
        return "WARN" if self.findings else "READY"

    def lines(self) -> list[str]:
        """What the card, the status and the history say about the ages, one line per reason."""
        target = minutes(self.rpo_target_seconds)
        out = [f"WARN: {f.reason}" + servers_text(f.count, f.servers) for f in self.findings]
        if not self.done:
            note = f"; {self.unavailable}" if self.unavailable else ""
            out.append(
                f"recovery snapshot ages (rpo_target {target}): {self.checked:,} of {self.total:,} servers "
                f"checked so far{note}"
            )
        elif not self.findings:
            out.append(f"recovery snapshot ages: all {self.total:,} servers have one newer than {target}")
        return out


def start(rpo_target_seconds: int, taken_by: datetime, total: int) -> SnapshotAges:
    return SnapshotAges(rpo_target_seconds=rpo_target_seconds, taken_by=taken_by, total=total)


def record(ages: SnapshotAges, found: Sequence[Lookup], unavailable: str | None = None) -> SnapshotAges:
    """The next servers' lookups, in order, added to what is known."""
    findings = {f.reason: f for f in ages.findings}
    for server_id, newest in found:
        reason = _reason(newest, ages)
        if reason is None:
            continue
        known = findings.get(reason)
        if known is None:
            findings[reason] = AgeFinding(reason=reason, count=1, servers=(server_id,))
        else:
            examples = known.servers if len(known.servers) >= EXAMPLES_LISTED else (*known.servers, server_id)
            findings[reason] = AgeFinding(reason=reason, count=known.count + 1, servers=examples)
    return ages.model_copy(
        update={
            "checked": min(ages.total, ages.checked + len(found)),
            "findings": tuple(findings.values()),
            "unavailable": unavailable,
        }
    )


def _reason(newest: datetime | str | None, ages: SnapshotAges) -> str | None:
    if isinstance(newest, str):
        return f"its recovery snapshots could not be read: {newest}"
    if newest is None:
        return "no recovery snapshot yet"
    if (ages.taken_by - newest).total_seconds() > ages.rpo_target_seconds:
        return f"newest recovery snapshot is older than {minutes(ages.rpo_target_seconds)}"
    return None


def servers_text(count: int, servers: Sequence[str], examples: int = EXAMPLES_LISTED) -> str:
    if not count:
        return ""
    shown = ", ".join(servers[:examples])
    more = count - min(examples, len(servers))
    return f" — {count} server(s): {shown}" + (f" and {more} more" if more > 0 else "")


def minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 and seconds >= 60 else f"{seconds} s"
