"""Which channels earn the arrivals: first touch, last touch and the Markov removal effect.

A lead's path is its touches in order (std.lead_touch); a lead without touches is a path
of its own channel. A path converts when the lead arrived. The Markov model is a
first-order chain over (start) → channels → (conversion | null); a channel's removal
effect is the share of conversions lost when every step into it goes to null instead,
and its credit is its removal effect over the sum of all removal effects, times the
conversions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import numpy as np

from molar.warehouse.engine import Engine

MODELS = ("first", "last", "markov")
START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


class AttributionError(ValueError):
    """Bad attribution arguments; the message says what to write instead."""


def load_paths(engine: Engine, since: date | None = None,
               clinics: Iterable[str] | None = None) -> list[tuple[list[str], bool]]:
    """(channels in order, converted) per lead created on or after ``since``."""
    clinic_list = sorted(clinics) if clinics is not None else None
    rows = engine.rows(
        """WITH l AS (
               SELECT lead_id, channel, created_at, arrived_at IS NOT NULL AS converted FROM std.lead l
               WHERE (CAST(? AS DATE) IS NULL OR created_at >= CAST(? AS DATE))
                 AND (? IS NULL OR list_contains(?, clinic_id))
           ),
           touches AS (
               SELECT t.lead_id, t.channel, t.touch_no AS k FROM std.lead_touch t JOIN l USING (lead_id)
               UNION ALL
               SELECT lead_id, channel, 1 FROM l WHERE lead_id NOT IN (SELECT lead_id FROM std.lead_touch)
           )
           SELECT l.lead_id, list(t.channel ORDER BY t.k), any_value(l.converted)
           FROM l JOIN touches t USING (lead_id) GROUP BY l.lead_id ORDER BY l.lead_id""",
        [since, since, clinic_list, clinic_list],
    )
    return [(list(path), bool(conv)) for _, path, conv in rows]


def first_touch(paths: list[tuple[list[str], bool]]) -> dict[str, float]:
    credit: dict[str, float] = {}
    for path, conv in paths:
        if conv:
            credit[path[0]] = credit.get(path[0], 0.0) + 1.0
    return credit


def last_touch(paths: list[tuple[list[str], bool]]) -> dict[str, float]:
    credit: dict[str, float] = {}
    for path, conv in paths:
        if conv:
            credit[path[-1]] = credit.get(path[-1], 0.0) + 1.0
    return credit


def _conversion_probability(states: list[str], counts: np.ndarray, removed: str | None = None) -> float:
    """P(reach conversion from start) in the chain of transition ``counts`` [from, to]
    over ``states`` + (conversion, null); with ``removed``, steps into it go to null."""
    counts = counts.copy()
    n = len(states)
    if removed is not None:
        r = states.index(removed)
        counts[:, n + 1] += counts[:, r]
        counts[:, r] = 0
        counts[r, :] = 0
        counts[r, n + 1] = 1
    totals = counts.sum(axis=1, keepdims=True)
    prob = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    q, r_ = prob[:, :n], prob[:, n:]
    absorbed = np.linalg.solve(np.eye(n) - q, r_)
    return float(absorbed[0, 0])


def removal_effects(paths: list[tuple[list[str], bool]]) -> dict[str, float]:
    """Removal effect per channel: 1 - P(conversion without it) / P(conversion)."""
    channels = sorted({c for path, _ in paths for c in path})
    states = [START, *channels]
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    counts = np.zeros((n, n + 2))
    for path, conv in paths:
        steps = [START, *path]
        for a, b in zip(steps, steps[1:], strict=False):
            counts[index[a], index[b]] += 1
        counts[index[path[-1]], n if conv else n + 1] += 1
    base = _conversion_probability(states, counts)
    if base == 0:
        return dict.fromkeys(channels, 0.0)
    return {c: 1.0 - _conversion_probability(states, counts, c) / base for c in channels}


def markov(paths: list[tuple[list[str], bool]]) -> tuple[dict[str, float], dict[str, float]]:
    """(credited conversions, removal effect) per channel."""
    effects = removal_effects(paths)
    total_effect = sum(effects.values())
    conversions = sum(conv for _, conv in paths)
    credit = {c: (e / total_effect * conversions if total_effect else 0.0) for c, e in effects.items()}
    return credit, effects


def attribution(engine: Engine, model: str, since: date | None = None,
                clinics: Iterable[str] | None = None) -> dict:
    if model not in MODELS:
        raise AttributionError(f"--model {model!r}: write one of {', '.join(MODELS)}")
    paths = load_paths(engine, since, clinics)
    conversions = sum(conv for _, conv in paths)
    effects: dict[str, float] = {}
    if model == "first":
        credit = first_touch(paths)
    elif model == "last":
        credit = last_touch(paths)
    else:
        credit, effects = markov(paths) if paths else ({}, {})
    channels = sorted({c for path, _ in paths for c in path}, key=lambda c: (-credit.get(c, 0.0), c))
    rows = []
    for c in channels:
        row = {"channel": c, "conversions": round(credit.get(c, 0.0), 2),
               "share": round(credit.get(c, 0.0) / conversions, 4) if conversions else None}
        if model == "markov":
            row["removal_effect"] = round(effects.get(c, 0.0), 4)
        rows.append(row)
    return {"model": model, "since": since.isoformat() if since else None, "leads": len(paths),
            "conversions": conversions, "channels": rows}
