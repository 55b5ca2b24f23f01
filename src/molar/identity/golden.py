"""Stable golden IDs across runs, and the merge/split events between runs.

Each new cluster inherits the golden ID of the previous run's cluster it overlaps most
(counted in member records); each old golden ID goes to at most one new cluster.
The assignment is the greedy maximum-overlap matching: pairs (new cluster, old golden
ID) taken in order of overlap (ties: lower golden ID, then lower cluster), skipping any
whose cluster or golden ID is already taken. Mutual best pairs — nearly all of them on
a rerun — are assigned in SQL; only the rest go through Python.

Clusters that inherit nothing get new IDs (``G`` + 10 digits, never reused). Old IDs
that no cluster inherits are retired, pointing at the ID that took most of their
records. ``identity.merged`` records that a cluster holds records of several old IDs;
``identity.split`` that an old ID's records went to several clusters.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime

import pyarrow as pa

from molar.warehouse import Engine

ID_PREFIX = "G"
ID_DIGITS = 10
# (event type, golden IDs — survivor or kept ID first, detail)
Event = tuple[str, list[str], dict]


def format_golden_id(n: int) -> str:
    return f"{ID_PREFIX}{n:0{ID_DIGITS}d}"


def _next_number(engine: Engine) -> int:
    last = engine.scalar(
        f"SELECT max(CAST(substr(golden_id, {len(ID_PREFIX) + 1}) AS BIGINT)) FROM identity.golden"
    )
    return int(last or 0) + 1


def greedy_overlap(rows: list[tuple[int, str, int]]) -> dict[int, str]:
    """Greedy maximum-overlap matching of (cluster, golden_id, overlap) rows."""
    out: dict[int, str] = {}
    taken: set[str] = set()
    for label, golden, _n in sorted(rows, key=lambda r: (-r[2], r[1], r[0])):
        if label in out or golden in taken:
            continue
        out[label] = golden
        taken.add(golden)
    return out


def assign(engine: Engine, run_id: str, now: datetime, *, partial: str | None = None) -> dict[str, int]:
    """Give every cluster in ``_id_cluster_new(unique_id, source, source_patient_key,
    label)`` a golden ID.

    Writes ``identity.cluster`` (replacing the previous run's), ``identity.golden`` and
    ``identity.event``. Returns counts for the run summary (``golden_ids``: all active).

    ``partial`` (an incremental run) names a table of the ``unique_id``s whose golden IDs
    are reassigned: the new clusters hold every record of those golden IDs still linked
    (the others left ``identity.link_input``); every other golden ID stays as it is.
    """
    _inherit(engine, partial)
    events = _events(engine)
    retired = _retire(engine, partial)
    _write(engine, run_id, now, events)
    counts = defaultdict(int)
    for t, _, _ in events:
        counts[t] += 1
    e = engine
    new_ids = int(e.scalar("SELECT count(*) FROM identity.golden WHERE created_run = ?", [run_id]))
    inherited = int(e.scalar("SELECT count(*) FROM _id_assign")) - new_ids
    return {
        "golden_ids": int(e.scalar("SELECT count(*) FROM identity.golden WHERE status = 'active'")),
        "kept": inherited,
        "new": new_ids,
        "retired": retired,
        "merged_events": counts["identity.merged"],
        "split_events": counts["identity.split"],
    }


def _inherit(e: Engine, partial: str | None) -> None:
    """``_id_assign(label, golden_id)``: old IDs by greedy maximum overlap (mutual best
    pairs in SQL, the rest in Python), new IDs for the clusters that inherit none;
    ``_id_prev`` the previous assignment being replaced; ``_id_overlap`` and
    ``_id_members`` for the events and the golden table."""
    touched = ("" if not partial else
               " WHERE c.golden_id IN (SELECT golden_id FROM identity.cluster WHERE unique_id IN "
               f"(SELECT unique_id FROM {partial}))")
    e.execute("CREATE OR REPLACE TEMP TABLE _id_prev AS "
              f"SELECT c.unique_id, c.golden_id FROM identity.cluster c{touched}")
    e.execute(
        """CREATE OR REPLACE TEMP TABLE _id_overlap AS
           SELECT n.label, p.golden_id, count(*) AS n
           FROM _id_cluster_new n JOIN _id_prev p USING (unique_id)
           GROUP BY ALL"""
    )
    # mutual best pairs
    e.execute(
        """CREATE OR REPLACE TEMP TABLE _id_assign AS
           WITH by_label AS (
             SELECT label, golden_id, n,
                    row_number() OVER (PARTITION BY label ORDER BY n DESC, golden_id) AS r
             FROM _id_overlap),
           by_golden AS (
             SELECT label, golden_id,
                    row_number() OVER (PARTITION BY golden_id ORDER BY n DESC, label) AS r
             FROM _id_overlap)
           SELECT l.label, l.golden_id
           FROM by_label l JOIN by_golden g ON g.label = l.label AND g.golden_id = l.golden_id
           WHERE l.r = 1 AND g.r = 1"""
    )
    rest = e.rows(
        """SELECT o.label, o.golden_id, o.n FROM _id_overlap o
           LEFT JOIN _id_assign al ON al.label = o.label
           LEFT JOIN _id_assign ag ON ag.golden_id = o.golden_id
           WHERE al.label IS NULL AND ag.golden_id IS NULL"""
    )
    extra = greedy_overlap([(int(a), str(b), int(c)) for a, b, c in rest])
    if extra:
        e.append(
            "_id_assign",
            pa.table({"label": pa.array(list(extra), pa.int64()), "golden_id": pa.array(list(extra.values()))}),
        )
    # new IDs for clusters that inherit none
    first = _next_number(e)
    e.execute(
        f"""INSERT INTO _id_assign
            SELECT label, '{ID_PREFIX}' || lpad(CAST({first} - 1 + row_number() OVER (ORDER BY first_uid) AS VARCHAR), {ID_DIGITS}, '0')
            FROM (SELECT n.label, min(n.unique_id) AS first_uid FROM _id_cluster_new n
                  LEFT JOIN _id_assign a ON a.label = n.label
                  WHERE a.label IS NULL GROUP BY n.label)"""
    )
    e.execute(
        """CREATE OR REPLACE TEMP TABLE _id_members AS
           SELECT a.golden_id, count(*) AS members
           FROM _id_cluster_new n JOIN _id_assign a USING (label) GROUP BY ALL"""
    )


def _events(e: Engine) -> list[Event]:
    """Merges (a new cluster holding records of several old IDs) and splits (an old ID's
    records in several clusters)."""
    merges = e.rows(
        """SELECT a.golden_id, list(o.golden_id ORDER BY o.n DESC, o.golden_id), list(o.n ORDER BY o.n DESC, o.golden_id)
           FROM _id_overlap o JOIN _id_assign a USING (label)
           GROUP BY a.golden_id HAVING count(*) > 1"""
    )
    splits = e.rows(
        """SELECT o.golden_id, list(a.golden_id ORDER BY o.n DESC, a.golden_id), list(o.n ORDER BY o.n DESC, a.golden_id)
           FROM _id_overlap o JOIN _id_assign a USING (label)
           GROUP BY o.golden_id HAVING count(*) > 1"""
    )
    events = []
    for survivor, olds, ns in merges:
        others = [g for g in olds if g != survivor]
        events.append(("identity.merged", [survivor, *others],
                       {"records_from": dict(zip(olds, ns, strict=True))}))
    for old, news, ns in splits:
        ordered = ([old] if old in news else []) + [g for g in news if g != old]
        events.append(("identity.split", ordered, {"records_to": dict(zip(news, ns, strict=True))}))
    return events


def _retire(e: Engine, partial: str | None) -> int:
    """``_id_retired``: IDs active before that no cluster inherits now, pointing at the ID
    that took most of their records (NULL when their records are gone)."""
    among = " AND g.golden_id IN (SELECT golden_id FROM _id_prev)" if partial else ""
    e.execute(
        f"""CREATE OR REPLACE TEMP TABLE _id_retired AS
           WITH gone AS (
             SELECT g.golden_id FROM identity.golden g
             LEFT JOIN _id_assign a ON a.golden_id = g.golden_id
             WHERE g.status = 'active' AND a.golden_id IS NULL{among}),
           heirs AS (
             SELECT o.golden_id, a.golden_id AS heir,
                    row_number() OVER (PARTITION BY o.golden_id ORDER BY o.n DESC, a.golden_id) AS r
             FROM _id_overlap o JOIN _id_assign a USING (label))
           SELECT gone.golden_id, h.heir AS merged_into
           FROM gone LEFT JOIN heirs h ON h.golden_id = gone.golden_id AND h.r = 1"""
    )
    return int(e.scalar("SELECT count(*) FROM _id_retired"))


def _write(e: Engine, run_id: str, now: datetime, events: list[Event]) -> None:
    """One transaction: retire, update and add golden IDs, replace the cluster table,
    append the events."""
    with e.transaction():
        e.execute(
            """UPDATE identity.golden g SET status = 'retired', retired_at = ?, updated_at = ?,
                      merged_into = r.merged_into, members = 0
               FROM _id_retired r WHERE r.golden_id = g.golden_id""",
            [now, now],
        )
        e.execute(
            """UPDATE identity.golden g SET members = m.members, updated_at = ?, status = 'active',
                      retired_at = NULL, merged_into = NULL
               FROM _id_members m WHERE m.golden_id = g.golden_id AND g.members <> m.members""",
            [now],
        )
        e.execute(
            """INSERT INTO identity.golden
               SELECT m.golden_id, 'active', ?, ?, ?, NULL, NULL, m.members
               FROM _id_members m LEFT JOIN identity.golden g ON g.golden_id = m.golden_id
               WHERE g.golden_id IS NULL""",
            [now, run_id, now],
        )
        e.execute("DELETE FROM identity.cluster WHERE unique_id IN (SELECT unique_id FROM _id_prev)")
        e.execute(
            """INSERT INTO identity.cluster
               SELECT n.unique_id, n.source, n.source_patient_key, a.golden_id, ?
               FROM _id_cluster_new n JOIN _id_assign a USING (label)""",
            [run_id],
        )
        if events:
            e.append(
                "identity.event",
                pa.table({
                    "event_id": [f"{run_id}-{i:06d}" for i in range(len(events))],
                    "event_type": [t for t, _, _ in events],
                    "golden_ids": pa.array([g for _, g, _ in events], pa.list_(pa.string())),
                    "detail": [json.dumps(d, ensure_ascii=False) for _, _, d in events],
                    "run_id": [run_id] * len(events),
                    "occurred_at": pa.array([now] * len(events), pa.timestamp("us")),
                }),
            )
