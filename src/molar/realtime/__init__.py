"""Real time: the event log, collector, identity lookup on arrival, the worker and the
``molar serve`` API. See docs/realtime.md.

Public entry points (imported lazily, so ``molar.realtime.wal`` stays light)::

    from molar.realtime import create_app, IntervalJob, EventLog, reconcile_provisional
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "api_key": "molar.realtime.app",
    "create_app": "molar.realtime.app",
    "EventLog": "molar.realtime.wal",
    "LogError": "molar.realtime.wal",
    "IdentityIndex": "molar.realtime.identity_index",
    "reconcile_provisional": "molar.realtime.identity_index",
    "IntervalJob": "molar.realtime.pipeline",
    "Pipeline": "molar.realtime.pipeline",
    "Stage": "molar.realtime.pipeline",
    "TickHook": "molar.realtime.pipeline",
    "Runtime": "molar.realtime.runtime",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'molar.realtime' has no attribute {name!r}")
