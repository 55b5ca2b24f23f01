"""Clinic-local time. Logic never reads the wall clock itself: it takes ``now`` or a clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone, tzinfo

Clock = Callable[[], datetime]


def _zone(name: str) -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # no tz database: China has had no DST since 1991
        return timezone(timedelta(hours=8), name)


def local_now(zone: str = "Asia/Shanghai") -> datetime:
    """Now as a naive clinic-local timestamp (the warehouse convention)."""
    return datetime.now(_zone(zone)).replace(tzinfo=None, microsecond=0)


def system_clock(zone: str = "Asia/Shanghai") -> Clock:
    return lambda: local_now(zone)


class ManualClock:
    """A clock that only moves when told to (tests, simulate)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now
