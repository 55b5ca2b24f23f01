"""Durations as rule files write them: ``30m``, ``1h``, ``7d``, ``2w``, ``1d12h``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_WORDS = {"w": ("week", "周"), "d": ("day", "天"), "h": ("hour", "小时"), "m": ("minute", "分钟"),
          "s": ("second", "秒")}


class DurationError(ValueError):
    pass


def parse_duration(text: object) -> timedelta:
    """``"7d"`` → 7 days. Raises DurationError with the accepted forms."""
    raw = str(text).strip().lower().replace(" ", "")
    if not raw or _PART.sub("", raw):
        raise DurationError(
            f"{text!r} is not a duration; write a number and a unit: 30m, 1h, 7d, 2w (or 1d12h)"
        )
    total = timedelta()
    for amount, unit in _PART.findall(raw):
        total += timedelta(**{_UNITS[unit]: int(amount)})
    if total <= timedelta(0):
        raise DurationError(f"{text!r}: a duration must be longer than zero")
    return total


def format_duration(value: timedelta, lang: str = "en") -> str:
    """7 days → "7 days" / "7天"; 90 minutes → "1 hour 30 minutes"."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            en, zh = _WORDS[unit]
            parts.append(f"{n}{zh}" if lang == "zh" else f"{n} {en}{'s' if n != 1 else ''}")
    return ("" if lang == "zh" else " ").join(parts) or ("0秒" if lang == "zh" else "0 seconds")
