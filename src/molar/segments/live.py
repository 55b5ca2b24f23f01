"""Pipeline stage of `molar serve`: after the profile's per-event refresh, recompute the
segments of the patients whose events just arrived and hand their entries and exits to the
automation engine in the same second (the nightly job recomputes everyone).

Facts that live events change right away are tags (the profile's per-event tags and tags set
by journeys), lifecycle stage and churn risk; visit facts read ``std.visit``, which a live
visit reaches with the next export, so they follow at the nightly refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from molar.model.events import Event
from molar.segments.catalogue import load_catalogue, load_files
from molar.segments.members import refresh_patients
from molar.warehouse import Engine

OWN = ("segment.entered", "segment.exited")


class LiveSegments:
    """``LiveSegments()(engine, events) -> segment.entered / segment.exited events``."""

    def __init__(self, today: Callable[[], date] | None = None) -> None:
        self._today = today
        self._files = load_files()   # the shipped files, read once; saved versions per batch

    def __call__(self, engine: Engine, events: list[Event]) -> list[Event]:
        ids = sorted({e.golden_id for e in events if not e.provisional and e.type not in OWN})
        if not ids:
            return []
        at = max(e.occurred_at for e in events)
        today = self._today() if self._today else at.date()
        return refresh_patients(engine, load_catalogue(engine, files=self._files).values(), today, at, ids)
