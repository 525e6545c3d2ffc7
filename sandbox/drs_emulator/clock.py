"""Clocks and the time/duration formats DRS uses on the wire."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class ManualClock:
    """A clock that only moves when told to: makes lifecycles fully deterministic in tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, dt: datetime) -> datetime:
        if dt.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware datetime")
        with self._lock:
            dt = dt.astimezone(UTC)
            # Lifecycle steps already applied cannot be undone, so time only moves forward.
            if dt < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = dt
            return self._now


class ScaledClock:
    """Real elapsed time multiplied by time_scale, starting at the real time of creation."""

    def __init__(self, time_scale: float = 1.0, start: datetime | None = None) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.time_scale = time_scale
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._t0 = time.monotonic()
        self._moved = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            moved = self._moved
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.time_scale + moved)

    def advance(self, seconds: float) -> datetime:
        """Jump ahead (a rehearsal moving time); the clock keeps running at its scale from there."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._moved += seconds
        return self.now()


def fmt_time(dt: datetime) -> str:
    """DRS timestamps as real output has them: '2022-12-07T19:15:38.846723+00:00'."""
    return dt.astimezone(UTC).isoformat()


def fmt_event_time(dt: datetime) -> str:
    """EventBridge envelope time: '2022-12-07T19:15:38Z'."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Accepts both the model's '...Z' form and real output's '+00:00' form; naive means UTC."""
    dt = datetime.fromisoformat(text.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def fmt_duration(seconds: float) -> str:
    """ISO-8601 durations as DRS returns them: 'P0D', 'PT8M53.1S', 'P2DT1H32M12.136909S'."""
    micros = round(seconds * 1_000_000)
    if micros <= 0:
        return "P0D"
    days, micros = divmod(micros, 86_400_000_000)
    hours, micros = divmod(micros, 3_600_000_000)
    minutes, micros = divmod(micros, 60_000_000)
    out = "P" + (f"{days}D" if days else "")
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if micros:
        secs = f"{micros / 1_000_000:.6f}".rstrip("0").rstrip(".")
        clock += f"{secs}S"
    if clock:
        out += "T" + clock
    return out


_DURATION = re.compile(
    r"P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(value: str | float | int | timedelta) -> float:
    """Seconds from an ISO-8601 duration string, a number of seconds, or a timedelta."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.fullmatch(value.strip())
    if not match or value.strip() in ("P", "PT"):
        raise ValueError(f"not an ISO-8601 duration: {value!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
