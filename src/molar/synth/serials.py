"""Running numbers that continue across chunks (record numbers, per-day sequences)."""

from __future__ import annotations

import numpy as np


class Serials:
    """Named counters, plus per-(group, day) sequences for IDs like MZ20250104 03 00017."""

    def __init__(self, first_day: int, last_day: int, groups: int) -> None:
        self.first_day = first_day
        self.days = last_day - first_day + 1
        self.groups = groups
        self._next: dict[str, int] = {}
        self._daily: dict[str, np.ndarray] = {}

    def take(self, name: str, k: int) -> np.ndarray:
        """``k`` consecutive numbers (1-based) of counter ``name``."""
        base = self._next.get(name, 0)
        self._next[name] = base + k
        return np.arange(base + 1, base + k + 1, dtype=np.int64)

    def daily(self, name: str, group: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Sequence numbers (1-based) within each (group, day), in the order given."""
        counts = self._daily.get(name)
        if counts is None:
            counts = np.zeros(self.groups * self.days, dtype=np.int64)
            self._daily[name] = counts
        di = np.clip(np.asarray(day, dtype=np.int64) - self.first_day, 0, self.days - 1)
        key = np.asarray(group, dtype=np.int64) * self.days + di
        if key.size == 0:
            return np.empty(0, dtype=np.int64)
        order = np.argsort(key, kind="stable")
        ks = key[order]
        first = np.ones(ks.size, dtype=bool)
        first[1:] = ks[1:] != ks[:-1]
        start_pos = np.flatnonzero(first)
        grp = np.cumsum(first) - 1
        rank = np.arange(ks.size) - start_pos[grp]
        seq = np.empty(key.size, dtype=np.int64)
        seq[order] = counts[ks] + rank + 1
        np.add.at(counts, ks[first], np.diff(np.append(start_pos, ks.size)))
        return seq
