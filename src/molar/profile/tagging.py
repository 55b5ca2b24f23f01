"""Compute the tag catalogue into ``profile.tag_value`` and keep ``profile.tag_history``.

Each tag's SQL runs over the input tables (profile.inputs). Values are stored as text plus
a numeric form; a patient without a value for a tag simply has no row. History rows are
closed (``valid_to``) when a value changes or disappears and a new row opens, so every
change is visible and can trigger automation rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from molar.profile.catalogue import Tag
from molar.warehouse import Engine


class TagError(RuntimeError):
    """A tag's definition failed on the warehouse; the message names the tag and its file."""


def _value_sql(tag: Tag, as_of: date, columns: list[str]) -> str:
    body = tag.render_sql(as_of.isoformat())
    if tag.value_type == "boolean":
        text = "CASE WHEN t.value::BOOLEAN THEN 'true' ELSE 'false' END"
        num = "CASE WHEN t.value::BOOLEAN THEN 1.0 ELSE 0.0 END"
    elif tag.value_type == "number":
        text = "CAST(t.value AS VARCHAR)"
        num = "TRY_CAST(t.value AS DOUBLE)"
    else:
        text = "CAST(t.value AS VARCHAR)"
        num = "NULL::DOUBLE"
    has_evidence = "evidence" in columns
    evidence = "CAST(t.evidence AS VARCHAR)" if has_evidence else "NULL::VARCHAR"
    return (
        f"SELECT t.golden_id, '{tag.key}' AS tag_key, {text} AS value, {num} AS value_num, "
        f"{evidence} AS evidence FROM ({body}) t WHERE t.golden_id IS NOT NULL AND t.value IS NOT NULL"
    )


_COLUMNS: dict[str, list[str]] = {}   # tag SQL -> its result columns (the input tables' shape is fixed)


def _columns(engine: Engine, tag: Tag, as_of: date) -> list[str]:
    """The columns ``tag``'s SQL returns; checked once per definition, not per live batch."""
    if tag.sql not in _COLUMNS:
        columns = [r[0] for r in engine.rows(f"DESCRIBE SELECT * FROM ({tag.render_sql(as_of.isoformat())}) LIMIT 0")]
        missing = {"golden_id", "value"} - set(columns)
        if missing:
            raise TagError(f"tag {tag.key} ({tag.defined_in}): its SQL returns {', '.join(columns)}; "
                           f"it must return golden_id and value (missing {', '.join(sorted(missing))})")
        _COLUMNS[tag.sql] = columns
    return _COLUMNS[tag.sql]


def compute_tags(
    engine: Engine,
    tags: Sequence[Tag],
    as_of: date,
    progress: Callable[[str], None] | None = None,
    append: bool = False,
) -> dict[str, int]:
    """Evaluate every tag into the temp table ``new_tag``; returns patients per tag."""
    if not append:
        engine.execute(
            "CREATE OR REPLACE TEMP TABLE new_tag (golden_id VARCHAR, tag_key VARCHAR, value VARCHAR, "
            "value_num DOUBLE, evidence VARCHAR)"
        )
    for tag in tags:
        if progress:
            progress(f"tag {tag.key}")
        try:
            columns = _columns(engine, tag, as_of)
            engine.execute(f"INSERT INTO new_tag {_value_sql(tag, as_of, columns)}")
        except TagError:
            raise
        except Exception as exc:
            raise TagError(f"tag {tag.key} ({tag.defined_in}) failed: {exc}") from exc
    # One query for every tag's count and one for the categories (the live refresh runs this per batch).
    keys = [t.key for t in tags]
    counts = dict.fromkeys(keys, 0)
    if keys:
        counts.update({k: int(n) for k, n in engine.rows(
            f"SELECT tag_key, count(*) FROM new_tag WHERE tag_key IN ({', '.join('?' for _ in keys)}) GROUP BY 1", keys)})
    allowed = [(t.key, v) for t in tags if t.values for v in t.values]
    if allowed:
        bad = engine.rows(
            f"""SELECT DISTINCT n.tag_key, n.value FROM new_tag n
                WHERE n.tag_key IN ({', '.join('?' for _ in {k for k, _ in allowed})})
                  AND NOT EXISTS (SELECT 1 FROM (VALUES {', '.join('(?, ?)' for _ in allowed)}) a(k, v)
                                  WHERE a.k = n.tag_key AND a.v = n.value)
                ORDER BY 1, 2 LIMIT 5""",
            [*dict.fromkeys(k for k, _ in allowed), *(x for pair in allowed for x in pair)],
        )
        if bad:
            tag = next(t for t in tags if t.key == bad[0][0])
            raise TagError(
                f"tag {tag.key} ({tag.defined_in}) produced {', '.join(repr(v) for k, v in bad if k == tag.key)}, "
                f"which is not among its values {', '.join(tag.values or ())}"
            )
    dupes = engine.rows("SELECT tag_key, golden_id FROM new_tag GROUP BY ALL HAVING count(*) > 1 LIMIT 3")
    if dupes:
        raise TagError(
            f"tag {dupes[0][0]} returned more than one row for patient {dupes[0][1]}; its SQL must "
            "return one row per golden_id"
        )
    return counts


def publish_tags(
    engine: Engine, run_id: str, run_at: datetime, keys: Sequence[str] | None = None, scoped: bool = False
) -> dict[str, int]:
    """Replace ``profile.tag_value`` with ``new_tag`` (for ``keys``, default all; only the
    patients in temp table ``scope_ids`` when ``scoped``) and update history.

    Returns how many values changed, appeared and disappeared; the per-value differences stay
    in temp table ``tag_diff``. Call inside a transaction.
    """
    conditions, params = [], []
    if keys is not None:
        conditions.append(f"tag_key IN ({', '.join('?' for _ in keys)})")
        params = list(keys)
    if scoped:
        conditions.append("golden_id IN (SELECT golden_id FROM scope_ids)")
    scope = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    # One full outer join classifies every (patient, tag): same, changed, appeared, disappeared.
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE tag_diff AS
            SELECT coalesce(n.golden_id, o.golden_id) AS golden_id, coalesce(n.tag_key, o.tag_key) AS tag_key,
                   n.value, n.value_num, n.evidence, o.value AS old_value, o.valid_from AS old_from,
                   CASE WHEN o.golden_id IS NULL THEN 'appeared' WHEN n.golden_id IS NULL THEN 'disappeared'
                        WHEN o.value IS DISTINCT FROM n.value THEN 'changed' ELSE 'same' END AS status
            FROM (SELECT * FROM new_tag{scope}) n
            FULL JOIN (SELECT golden_id, tag_key, value, valid_from FROM profile.tag_value{scope}) o
              ON o.golden_id = n.golden_id AND o.tag_key = n.tag_key""",
        params + params,
    )
    counts = dict.fromkeys(("changed", "appeared", "disappeared"), 0)
    counts.update({k: int(v) for k, v in engine.rows("SELECT status, count(*) FROM tag_diff WHERE status <> 'same' GROUP BY 1")})
    engine.execute(
        """UPDATE profile.tag_history h SET valid_to = ? FROM tag_diff d
           WHERE h.valid_to IS NULL AND d.status IN ('changed', 'disappeared')
             AND h.golden_id = d.golden_id AND h.tag_key = d.tag_key""",
        [run_at],
    )
    engine.execute(
        """INSERT INTO profile.tag_history (golden_id, tag_key, value, value_num, valid_from, valid_to, run_id)
           SELECT golden_id, tag_key, value, value_num, ?, NULL, ? FROM tag_diff WHERE status IN ('appeared', 'changed')""",
        [run_at, run_id],
    )
    # Current values keep the date they took that value (= the open history row's valid_from).
    current = """SELECT golden_id, tag_key, value, value_num, evidence,
                         CASE WHEN status = 'same' THEN old_from ELSE ?::TIMESTAMP END AS valid_from, ? AS run_id
                  FROM tag_diff WHERE status <> 'disappeared'"""
    if keys is None and not scoped:
        # Rewriting the table is much cheaper than deleting and re-inserting millions of rows.
        engine.execute(
            "CREATE OR REPLACE TABLE profile.tag_value (golden_id VARCHAR NOT NULL, tag_key VARCHAR NOT NULL, "
            "value VARCHAR, value_num DOUBLE, evidence VARCHAR, valid_from TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL)"
        )
        engine.execute(f"INSERT INTO profile.tag_value {current}", [run_at, run_id])
    else:
        engine.execute(f"DELETE FROM profile.tag_value{scope}", params)
        engine.execute(f"INSERT INTO profile.tag_value {current}", [run_at, run_id])
    return counts
