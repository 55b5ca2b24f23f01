"""One profile run: sentiment → inputs → tags → RFM-Health → tiers → lifecycle → publish.

Everything is computed into temporary tables first and published in one transaction, so
readers never see half a profile and a failed run changes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

from molar.profile.catalogue import Tag, load_catalogue
from molar.profile.inputs import build_inputs
from molar.profile.lifecycle import LifecycleConfig, compute_lifecycle, publish_lifecycle
from molar.profile.rfm import ValueWeights, compute_value_scores
from molar.profile.tagging import compute_tags, publish_tags
from molar.profile.tiers import compute_tiers
from molar.warehouse import Engine

Progress = Callable[[str], None]


def _run_id(as_of: date) -> str:
    return f"P{datetime.now():%Y%m%d%H%M%S%f}-{as_of:%Y%m%d}"


def score_sentiment(engine: Engine, progress: Progress | None = None) -> dict:
    """Classify consult and review texts not yet labelled by the current model."""
    from molar.profile.sentiment import score_texts

    if progress:
        progress("sentiment")
    return score_texts(engine)


def compute_profile(
    engine: Engine,
    as_of: date,
    *,
    tags: list[Tag] | None = None,
    tags_dir: Path | None = None,
    tier_method: str = "kmeans",
    lifecycle: LifecycleConfig | None = None,
    weights: ValueWeights | None = None,
    sentiment: bool = True,
    progress: Progress | None = None,
) -> dict:
    """Recompute every patient's profile as of ``as_of`` and publish it; returns a summary."""
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str) -> None:
        timings[name] = round(time.perf_counter() - started - sum(timings.values()), 3)

    catalogue = tags if tags is not None else load_catalogue(tags_dir)
    run_id = _run_id(as_of)
    run_at = datetime.combine(as_of, dtime())
    if sentiment:
        score_sentiment(engine, progress)
    step("sentiment")
    if progress:
        progress("inputs")
    inputs = build_inputs(engine, as_of)
    step("inputs")
    first = [t for t in catalogue if t.dimension != "value"]
    last = [t for t in catalogue if t.dimension == "value"]
    counts = compute_tags(engine, first, as_of, progress)
    step("tags")
    if progress:
        progress("RFM-Health")
    scored = compute_value_scores(engine, as_of, run_id, weights)
    step("value_score")
    if progress:
        progress("tiers")
    tiers = compute_tiers(engine, run_id, run_at, tier_method)
    step("tiers")
    if progress:
        progress("lifecycle")
    compute_lifecycle(engine, as_of, run_id, lifecycle)
    counts.update(compute_tags(engine, last, as_of, progress, append=True))
    step("lifecycle")
    if progress:
        progress("publish")
    with engine.transaction():
        changes = publish_tags(engine, run_id, run_at)
        engine.execute("DELETE FROM profile.value_score")
        engine.execute("INSERT INTO profile.value_score SELECT * FROM value_scores")
        tier_changes = _record_tier_changes(engine, as_of, run_id)
        engine.execute("DELETE FROM profile.tier")
        engine.execute("INSERT INTO profile.tier SELECT * FROM tiers")
        transitions = publish_lifecycle(engine, as_of, run_id)
        summary = {
            "run_id": run_id,
            "as_of": as_of.isoformat(),
            "patients": inputs["person"],
            "scored": scored,
            "tags": counts,
            "tag_changes": changes,
            "tiers": tiers.sizes,
            "tier_method": tiers.method,
            "tier_tree_accuracy": round(tiers.tree_accuracy, 4),
            "stages": {s: int(n) for s, n in engine.rows("SELECT stage, count(*) FROM profile.lifecycle GROUP BY 1")},
            "transitions": transitions,
            "tier_changes": tier_changes,
        }
        step("publish")
        summary["seconds"] = timings
        engine.execute(
            "INSERT INTO profile.run VALUES (?, ?, ?, ?, ?, ?)",
            [run_id, as_of, run_at, datetime.now(), inputs["person"], json.dumps(summary, ensure_ascii=False)],
        )
    return summary


def _record_tier_changes(engine: Engine, as_of: date, run_id: str) -> int:
    before = engine.count("profile.tier_event")
    engine.execute(
        f"""INSERT INTO profile.tier_event
            SELECT 'TC-' || replace(gen_random_uuid()::VARCHAR, '-', ''), n.golden_id, o.tier, n.tier,
                   DATE '{as_of.isoformat()}', '{run_id}'
            FROM tiers n JOIN profile.tier o USING (golden_id) WHERE o.tier <> n.tier"""
    )
    return engine.count("profile.tier_event") - before


def run_events(engine: Engine, run_id: str) -> list:
    """The run's lifecycle and tier changes as derived events for the automation engine."""
    from molar.model.events import Event

    events = []
    for event_id, golden_id, old, new, on in engine.rows(
        "SELECT event_id, golden_id, from_stage, to_stage, occurred_on FROM profile.lifecycle_event "
        "WHERE run_id = ? AND from_stage IS NOT NULL ORDER BY event_id", [run_id]
    ):
        events.append(Event(event_id, "lifecycle.changed", golden_id, datetime.combine(on, dtime()),
                            {"from_stage": old, "to_stage": new, "run_id": run_id}))
    for event_id, golden_id, old, new, on in engine.rows(
        "SELECT event_id, golden_id, from_tier, to_tier, occurred_on FROM profile.tier_event WHERE run_id = ? ORDER BY event_id",
        [run_id],
    ):
        events.append(Event(event_id, "tier.changed", golden_id, datetime.combine(on, dtime()),
                            {"from_tier": old, "to_tier": new, "run_id": run_id}))
    return events


def top_tag_values(engine: Engine, limit: int = 12) -> list[tuple[str, str, int, float]]:
    """The most common values of category/boolean tags: (tag, value, patients, share of tagged)."""
    return [
        (k, v, int(n), float(s))
        for k, v, n, s in engine.rows(
            f"""SELECT tag_key, value, n, share FROM (
                  SELECT tag_key, value, n, round(n / sum(n) OVER (PARTITION BY tag_key), 3) AS share FROM (
                    SELECT tag_key, value, count(*) AS n FROM profile.tag_value
                    WHERE value_num IS NULL OR value IN ('true', 'false') GROUP BY ALL))
                WHERE value NOT IN ('none', 'false', 'pay_per_visit', 'never', 'low', 'regular')
                  AND tag_key NOT IN ('district', 'sex', 'value_tier', 'lifecycle_stage')
                ORDER BY n DESC LIMIT {int(limit)}"""
        )
    ]
