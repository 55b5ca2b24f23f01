"""Who is in a segment now, and refreshing the stored membership.

``members`` evaluates a segment's condition for every patient with the rules' own
``evaluate`` (one meaning for a condition everywhere). ``refresh`` stores each segment's
members in ``profile.segment_member`` and every entry and exit in ``profile.segment_change``,
and returns them as ``segment.entered`` / ``segment.exited`` events for the automation
engine. A segment's first refresh stores its members without events (otherwise a new
segment would start a journey for all of them at once), the same rule as the first churn
score; a refresh that finds nobody new and nobody gone emits nothing, so running it twice
is harmless.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from molar.automation.conditions import checks_of, evaluate, resolve
from molar.model.events import Event
from molar.segments import facts
from molar.segments.catalogue import Segment
from molar.warehouse import Engine


def members(engine: Engine, segment: Segment, today: date) -> list[str]:
    """Golden IDs in the segment today, in order."""
    return members_of(engine, [segment], today)[segment.key]


def members_of(engine: Engine, segments: Sequence[Segment], today: date,
               golden_ids: Sequence[str] | None = None) -> dict[str, list[str]]:
    """The members of each segment (among ``golden_ids`` when given), the facts read once for
    all of them. A patient nothing is known about is in a segment when a patient with empty
    facts is (``not`` …)."""
    known = facts.load(engine, [s.condition for s in segments], today, golden_ids)
    out = {}
    for segment in segments:
        holds = _evaluator(segment)
        nobody = holds(facts.empty())
        out[segment.key] = [g for g in known.golden_ids
                            if (holds(f) if (f := known.facts.get(g)) is not None else nobody)]
    return out


def _evaluator(segment: Segment) -> Callable[[dict[str, Any]], bool]:
    """``evaluate(segment.condition, facts).ok``, computed once per distinct combination of the
    values at the condition's fact paths (the only thing the outcome depends on): most
    patients share a tier, a stage, a tag value."""
    paths = list(dict.fromkeys(c.fact for c in checks_of(segment.condition)))
    seen: dict[tuple[Any, ...], bool] = {}

    def holds(data: dict[str, Any]) -> bool:
        key = tuple(_hashable(resolve(data, p)) for p in paths)
        if key not in seen:
            seen[key] = evaluate(segment.condition, data).ok
        return seen[key]

    return holds


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list | tuple) else value


@dataclass(frozen=True)
class Refreshed:
    key: str
    version: int
    members: int
    entered: int
    exited: int
    first: bool


def refresh(engine: Engine, segments: Iterable[Segment], today: date, now: datetime) -> tuple[list[Event], list[Refreshed]]:
    """Recompute and store the members of ``segments``; returns the entry and exit events
    (oldest segment key first) and a summary per segment. Runs in one transaction."""
    segments = list(segments)
    found = members_of(engine, segments, today)
    events: list[Event] = []
    summary: list[Refreshed] = []
    with engine.transaction():
        for segment in segments:
            now_in = set(found[segment.key])
            before = {g for (g,) in engine.rows("SELECT golden_id FROM profile.segment_member WHERE segment_key = ?",
                                                [segment.key])}
            first = not engine.scalar("SELECT count(*) FROM profile.segment_size WHERE segment_key = ?", [segment.key])
            entered, exited = sorted(now_in - before), sorted(before - now_in)
            changes = _store(engine, segment, entered, exited, now, emit=not first)
            engine.execute("INSERT INTO profile.segment_size VALUES (?, ?, ?, ?, ?, ?)",
                           [segment.key, segment.version, now, len(now_in), 0 if first else len(entered),
                            0 if first else len(exited)])
            events += [change_event(segment, *c) for c in changes]
            summary.append(Refreshed(segment.key, segment.version, len(now_in), 0 if first else len(entered),
                                     0 if first else len(exited), first))
    return events, summary


def refresh_patients(engine: Engine, segments: Iterable[Segment], today: date, now: datetime,
                     golden_ids: Sequence[str]) -> list[Event]:
    """Recompute the membership of ``golden_ids`` only (the patients of a batch of live
    events) in the segments refreshed before, store the changes and return their events.
    The size history stays with the full refreshes."""
    refreshed = {k for (k,) in engine.rows("SELECT DISTINCT segment_key FROM profile.segment_size")}
    segments = [s for s in segments if s.key in refreshed]
    if not segments or not golden_ids:
        return []
    found = members_of(engine, segments, today, golden_ids)
    events: list[Event] = []
    with engine.transaction():
        for segment in segments:
            now_in = set(found[segment.key])
            before = {g for (g,) in engine.rows("SELECT golden_id FROM profile.segment_member WHERE segment_key = ? "
                                                "AND list_contains(?, golden_id)", [segment.key, sorted(golden_ids)])}
            changes = _store(engine, segment, sorted(now_in - before), sorted(before - now_in), now, emit=True)
            events += [change_event(segment, *c) for c in changes]
    return events


def _store(engine: Engine, segment: Segment, entered: list[str], exited: list[str], now: datetime,
           emit: bool) -> list[tuple[Any, ...]]:
    """Apply the entries and exits to the stored members; with ``emit``, log them as changes."""
    if exited:
        engine.execute("DELETE FROM profile.segment_member WHERE segment_key = ? AND list_contains(?, golden_id)",
                       [segment.key, exited])
    engine.insert_rows("profile.segment_member", [(segment.key, g, now) for g in entered])
    changes = [(f"SG-{uuid.uuid4().hex}", segment.key, segment.version, g, kind, now)
               for kind, ids in (("entered", entered), ("exited", exited)) for g in ids] if emit else []
    engine.insert_rows("profile.segment_change", changes)
    return changes


def change_event(segment: Segment, change_id: str, key: str, version: int, golden_id: str, kind: str,
                 at: datetime) -> Event:
    return Event(f"seg-{change_id}", "segment.entered" if kind == "entered" else "segment.exited", golden_id, at,
                 {"segment": key, "version": version, "segment_zh": segment.name_zh, "segment_en": segment.name_en})


def stored(engine: Engine, key: str) -> list[str]:
    """The members stored by the last refresh."""
    return [g for (g,) in engine.rows("SELECT golden_id FROM profile.segment_member WHERE segment_key = ? ORDER BY 1",
                                      [key])]


def size_history(engine: Engine, key: str, limit: int = 30) -> list[tuple[datetime, int, int, int, int]]:
    """(measured at, version, members, entered, exited) of the latest refreshes, oldest first."""
    return engine.rows("SELECT measured_at, version, members, entered, exited FROM (SELECT * FROM profile.segment_size "
                       "WHERE segment_key = ? ORDER BY measured_at DESC LIMIT ?) ORDER BY measured_at", [key, limit])
