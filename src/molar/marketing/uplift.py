"""What a rule changes: conversion of the patients it treated against its holdout group.

Every journey a rule started is treated; every trigger that fell into the rule's holdout
group (a fixed hash of rule and patient, drawn after the rule's conditions and cooldown, so
both groups passed the same filters) is the control. Treated journeys count whether or not
their messages got through consent and caps (intention to treat), so the effect is the
effect of switching the rule on. A journey converts when the patient visited on a later day
within the window after the trigger (`std.visit`), or booked within it (`std.appointment`).
Only journeys whose window has ended by the as-of date count.

The effect is the difference of the two conversion rates with a 95 % interval by Newcombe's
hybrid score method (method 10 of Newcombe 1998, *Statistics in Medicine* 17:873–890), built
from the Wilson score interval of each rate: it keeps its coverage for small groups and rates
near 0 or 1, where the Wald interval does not, and costs nothing next to a bootstrap.
"""

from __future__ import annotations

import math
from datetime import date

from scipy.stats import binomtest

from molar.warehouse.engine import Engine

TREATED = ("running", "waiting", "completed", "stopped")


class UpliftError(ValueError):
    """Bad arguments, with the fix in the message."""


def wilson(converted: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion; (0, 1) for an empty group."""
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(converted, n).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def difference(x1: int, n1: int, x0: int, n0: int) -> tuple[float | None, tuple[float, float] | None]:
    """Effect p1 − p0 and its 95 % Newcombe hybrid score interval; (None, None) if a group is empty."""
    if n1 == 0 or n0 == 0:
        return None, None
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson(x1, n1)
    l0, u0 = wilson(x0, n0)
    d = p1 - p0
    return d, (d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))


def _arm(n: int, x: int) -> dict:
    return {"journeys": n, "converted": x, "rate": None if n == 0 else round(x / n, 6)}


def _effect(n1: int, x1: int, n0: int, x0: int) -> dict:
    d, ci = difference(x1, n1, x0, n0)
    return {"treated": _arm(n1, x1), "holdout": _arm(n0, x0), "effect": None if d is None else round(d, 6),
            "ci95": None if ci is None else [round(ci[0], 6), round(ci[1], 6)],
            # conversions the rule added among the treated: effect × treated journeys
            "incremental": None if d is None else round(d * n1, 2),
            "incremental_ci95": None if ci is None else [round(ci[0] * n1, 2), round(ci[1] * n1, 2)]}


def uplift(engine: Engine, as_of: date, window_days: int = 30, rule: str | None = None) -> list[dict]:
    """Per rule with a holdout journey or a treated one: treated, holdout, effect, ci95, and the
    same per channel of the treated journey's first message (``none``: nothing went out), each
    channel against the rule's whole holdout group."""
    if window_days < 1:
        raise UpliftError(f"window of {window_days} days: write at least 1d, e.g. --window 30d")
    rows = engine.rows(
        """WITH cl AS (SELECT source, source_patient_key, min(golden_id) AS golden_id FROM identity.cluster GROUP BY ALL),
        j AS (SELECT rule_key, golden_id, occurrence, trigger_at, status = 'held_out' AS held_out FROM ops.journey
              WHERE (status = 'held_out' OR list_contains(?, status))
                AND CAST(trigger_at AS DATE) + CAST(? AS INTEGER) <= CAST(? AS DATE) AND (? IS NULL OR rule_key = ?)),
        ch AS (SELECT rule_key, golden_id, occurrence, arg_min(channel, created_at) AS channel FROM ops.outbox
               WHERE status <> 'suppressed' GROUP BY ALL),
        visit AS (SELECT cl.golden_id, v.visit_date FROM std.visit v JOIN cl USING (source, source_patient_key)),
        booking AS (SELECT cl.golden_id, a.booked_at FROM std.appointment a JOIN cl USING (source, source_patient_key)
                    WHERE a.booked_at IS NOT NULL),
        hit AS (SELECT DISTINCT j.rule_key, j.golden_id, j.occurrence FROM j JOIN visit v USING (golden_id)
                WHERE v.visit_date > CAST(j.trigger_at AS DATE)
                  AND v.visit_date <= CAST(j.trigger_at AS DATE) + CAST(? AS INTEGER)
                UNION
                SELECT j.rule_key, j.golden_id, j.occurrence FROM j JOIN booking b USING (golden_id)
                WHERE b.booked_at > j.trigger_at AND b.booked_at <= j.trigger_at + to_days(CAST(? AS INTEGER)))
        SELECT j.rule_key, j.held_out, coalesce(ch.channel, 'none') AS channel, count(*) AS n,
               count(hit.rule_key) AS x
        FROM j LEFT JOIN ch USING (rule_key, golden_id, occurrence) LEFT JOIN hit USING (rule_key, golden_id, occurrence)
        GROUP BY ALL ORDER BY ALL""",
        [list(TREATED), window_days, as_of, rule, rule, window_days, window_days])
    out: dict[str, dict] = {}
    for rule_key, held_out, channel, n, x in rows:
        r = out.setdefault(rule_key, {"n1": 0, "x1": 0, "n0": 0, "x0": 0, "channels": {}})
        if held_out:
            r["n0"] += n
            r["x0"] += x
        else:
            r["n1"] += n
            r["x1"] += x
            r["channels"][channel] = (n, x)
    return [{"rule": key, "window_days": window_days, **_effect(r["n1"], r["x1"], r["n0"], r["x0"]),
             "channels": [{"channel": c, **_effect(n, x, r["n0"], r["x0"])} for c, (n, x) in sorted(r["channels"].items())]}
            for key, r in sorted(out.items())]
