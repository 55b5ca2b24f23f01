"""Manual corrections: merge people the linker kept apart, split records it put together.

An override names source records (unique IDs ``source:key``), not golden IDs, so it
keeps meaning the same thing on every later run; ``resolve`` re-applies all overrides,
oldest first, after clustering. Adding one also re-clusters at once from the stored
pairs (no retraining), so the change shows immediately, with stable IDs and events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from molar.identity import golden, patient
from molar.warehouse import Engine


class OverrideError(ValueError):
    """An override names something that does not exist; the message says what."""


def _records_of(engine: Engine, refs: Sequence[str]) -> list[str]:
    """Unique IDs for a mix of golden IDs (all their records) and unique IDs."""
    out: list[str] = []
    for ref in refs:
        if ":" in ref:
            if not engine.scalar("SELECT count(*) FROM identity.cluster WHERE unique_id = ?", [ref]):
                raise OverrideError(f"no record {ref!r}; records are named source:key, e.g. his:BL00001234")
            out.append(ref)
        else:
            members = [r[0] for r in engine.rows(
                "SELECT unique_id FROM identity.cluster WHERE golden_id = ? ORDER BY unique_id", [ref])]
            if not members:
                raise OverrideError(f"no active golden ID {ref!r}; see `molar identity explain`")
            out.extend(members)
    return sorted(set(out))


def add_override(engine: Engine, kind: str, refs: Sequence[str], *, reason: str | None = None,
                 created_by: str | None = None, now: datetime | None = None,
                 apply: bool = True) -> dict[str, Any]:
    """Record a ``merge`` or ``split`` override and (by default) apply it now."""
    if kind not in ("merge", "split"):
        raise OverrideError(f"override kind must be 'merge' or 'split', not {kind!r}")
    ids = _records_of(engine, refs)
    if kind == "merge" and len(ids) < 2:
        raise OverrideError("a merge needs at least two records or golden IDs")
    if kind == "split":
        placeholders = ", ".join("?" * len(ids))
        for g, named, size in engine.rows(
            f"""SELECT c.golden_id, count(*) FILTER (WHERE c.unique_id IN ({placeholders})), count(*)
                FROM identity.cluster c
                WHERE c.golden_id IN (SELECT golden_id FROM identity.cluster WHERE unique_id IN ({placeholders}))
                GROUP BY c.golden_id""",
            [*ids, *ids],
        ):
            if named == size:
                raise OverrideError(
                    f"those are all the records of {g}; name only the records to take out of it"
                )
    before = golden_ids_of(engine, ids)
    now = now or datetime.now()
    override_id = f"O{now:%Y%m%d%H%M%S%f}-{uuid.uuid4().hex[:6]}"
    engine.execute(
        "INSERT INTO identity.override VALUES (?, ?, ?, ?, ?, ?)",
        [override_id, kind, ids, reason, created_by, now],
    )
    result: dict[str, Any] = {"override_id": override_id, "kind": kind, "records": ids,
                              "golden_ids_before": before}
    if apply:
        result["ids"] = recluster(engine, now=now)
    return result


def golden_ids_of(engine: Engine, unique_ids: Sequence[str]) -> list[str]:
    """The golden IDs that hold these records now."""
    if not unique_ids:
        return []
    return [g for (g,) in engine.rows(
        f"SELECT DISTINCT golden_id FROM identity.cluster WHERE unique_id IN ({', '.join('?' * len(unique_ids))}) "
        "ORDER BY 1", list(unique_ids))]


def recluster(engine: Engine, *, now: datetime | None = None) -> dict[str, Any]:
    """Cluster again from the stored pairs and overrides (no retraining), keep golden IDs
    stable and rebuild the golden records."""
    from molar.identity.features import close_link_input, open_link_input
    from molar.identity.resolve import cluster_records, new_run_id

    now = now or datetime.now()
    run_id = new_run_id(now)
    if not engine.count("identity.link_input"):
        raise OverrideError("nothing resolved yet; run `molar identity resolve` first")
    engine.execute(
        "INSERT INTO identity.run (run_id, started_at, records, summary_json) "
        "VALUES (?, ?, ?, '{\"kind\": \"recluster\"}')",
        [run_id, now, engine.count("identity.link_input")],
    )
    clustering = cluster_records(engine)
    ids = golden.assign(engine, run_id, now)
    try:
        patient.build(engine, now, open_link_input(engine))
    finally:
        close_link_input(engine)
    engine.execute(
        "UPDATE identity.run SET finished_at = ?, clusters = ? WHERE run_id = ?",
        [datetime.now(), ids["golden_ids"], run_id],
    )
    return {**ids, "clustering": clustering, "run_id": run_id}


def list_overrides(engine: Engine) -> list[dict[str, Any]]:
    rows = engine.rows(
        "SELECT override_id, kind, unique_ids, reason, created_by, created_at FROM identity.override "
        "ORDER BY created_at, override_id"
    )
    keys = ("override_id", "kind", "unique_ids", "reason", "created_by", "created_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]
