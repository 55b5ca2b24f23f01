"""Automation: rules and journeys (YAML catalogue), the contact policy every message
passes through, explanations (`why`) and replay (`simulate`). See docs/automation.md.

The real-time worker uses :class:`Automation` (``on_events`` / ``tick``); the API mounts
:func:`molar.automation.api.rules_router`. Names are imported on first use so that
`molar --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Automation": "runtime", "holdout_bucket": "runtime", "is_held_out": "runtime",
    "Catalogue": "catalogue", "Rule": "catalogue", "load_catalogue": "catalogue",
    "ManualClock": "clock", "local_now": "clock",
    "Sentence": "explain", "why": "explain",
    "StaticFacts": "facts", "WarehouseFacts": "facts", "patient_facts": "facts",
    "Policy": "guards", "load_policy": "guards",
    "CatalogueError": "yamlio",
    "simulate": "simulate",
    "rules_router": "api",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'molar.automation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"molar.automation.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
