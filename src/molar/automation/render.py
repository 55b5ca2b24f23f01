"""Message templates: ``{variable}`` placeholders filled from facts, the trigger event,
the journey (coupon, reply) and the send step's own ``vars``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from molar.automation.catalogue import Template
from molar.automation.conditions import MISSING, resolve

_VARIABLE = re.compile(r"\{([A-Za-z_][\w.]*)\}")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "、".join(_show(v) for v in value)
    return str(value)


def render(template: Template, lang: str, values: Mapping[str, Any],
           fallbacks: Mapping[str, Mapping[str, str]] | None = None) -> tuple[str, list[str]]:
    """The text in ``lang`` and the variables that had no value (left empty or fallback)."""
    missing: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name, MISSING) if name in values else resolve(values, name)
        if value is MISSING or value is None:
            missing.append(name)
            fallback = (fallbacks or {}).get(name)
            return fallback.get(lang, "") if fallback else ""
        return _show(value)

    return _VARIABLE.sub(fill, template.text(lang)), missing
