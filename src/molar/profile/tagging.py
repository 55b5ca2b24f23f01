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


def _value_sql(tag: Tag, as_of: date) -> str:
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
    has_evidence = "evidence" in body
    evidence = "CAST(t.evidence AS VARCHAR)" if has_evidence else "NULL::VARCHAR"
    return (
        f"SELECT t.golden_id, '{tag.key}' AS tag_key, {text} AS value, {num} AS value_num, "
        f"{evidence} AS evidence FROM ({body}) t WHERE t.golden_id IS NOT NULL AND t.value IS NOT NULL"
    )


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
    counts: dict[str, int] = {}
    for tag in tags:
        if progress:
            progress(f"tag {tag.key}")
        try:
            engine.execute(f"INSERT INTO new_tag {_value_sql(tag, as_of)}")
        except Exception as exc:
            raise TagError(f"tag {tag.key} ({tag.defined_in}) failed: {exc}") from exc
        counts[tag.key] = int(engine.scalar("SELECT count(*) FROM new_tag WHERE tag_key = ?", [tag.key]))
        if tag.values:
            bad = engine.rows(
                "SELECT DISTINCT value FROM new_tag WHERE tag_key = ? AND value NOT IN "
                f"({', '.join('?' for _ in tag.values)}) LIMIT 5",
                [tag.key, *tag.values],
            )
            if bad:
                raise TagError(
                    f"tag {tag.key} ({tag.defined_in}) produced {', '.join(repr(b[0]) for b in bad)}, "
                    f"which is not among its values {', '.join(tag.values)}"
                )
    dupes = engine.rows("SELECT tag_key, golden_id FROM new_tag GROUP BY ALL HAVING count(*) > 1 LIMIT 3")
    if dupes:
        raise TagError(
            f"tag {dupes[0][0]} returned more than one row for patient {dupes[0][1]}; its SQL must "
            "return one row per golden_id"
        )
    return counts


def publish_tags(engine: Engine, run_id: str, run_at: datetime, keys: Sequence[str] | None = None) -> dict[str, int]:
    """Replace ``profile.tag_value`` with ``new_tag`` (for ``keys``, default all) and update history.

    Returns how many values changed, appeared and disappeared. Call inside a transaction.
    """
    scope = ""
    params: list = []
    if keys is not None:
        scope = f" AND tag_key IN ({', '.join('?' for _ in keys)})"
        params = list(keys)
    changed = engine.scalar(
        f"""SELECT count(*) FROM profile.tag_value o JOIN new_tag n USING (golden_id, tag_key)
            WHERE o.value IS DISTINCT FROM n.value{scope.replace('tag_key', 'o.tag_key')}""",
        params,
    )
    appeared = engine.scalar(
        f"""SELECT count(*) FROM new_tag n WHERE NOT EXISTS (
              SELECT 1 FROM profile.tag_value o WHERE o.golden_id = n.golden_id AND o.tag_key = n.tag_key){scope.replace('tag_key', 'n.tag_key')}""",
        params,
    )
    disappeared = engine.scalar(
        f"""SELECT count(*) FROM profile.tag_value o WHERE NOT EXISTS (
              SELECT 1 FROM new_tag n WHERE o.golden_id = n.golden_id AND o.tag_key = n.tag_key){scope.replace('tag_key', 'o.tag_key')}""",
        params,
    )
    # Close open history rows whose value changed or vanished.
    engine.execute(
        f"""UPDATE profile.tag_history h SET valid_to = ?
            WHERE h.valid_to IS NULL{scope.replace('tag_key', 'h.tag_key')} AND NOT EXISTS (
              SELECT 1 FROM new_tag n WHERE n.golden_id = h.golden_id AND n.tag_key = h.tag_key
                AND n.value IS NOT DISTINCT FROM h.value)""",
        [run_at, *params],
    )
    # Open rows for new or changed values.
    engine.execute(
        f"""INSERT INTO profile.tag_history (golden_id, tag_key, value, value_num, valid_from, valid_to, run_id)
            SELECT n.golden_id, n.tag_key, n.value, n.value_num, ?, NULL, ? FROM new_tag n
            WHERE NOT EXISTS (
              SELECT 1 FROM profile.tag_history h WHERE h.valid_to IS NULL AND h.golden_id = n.golden_id
                AND h.tag_key = n.tag_key AND h.value IS NOT DISTINCT FROM n.value){scope.replace('tag_key', 'n.tag_key')}""",
        [run_at, run_id, *params],
    )
    # Current values keep the date they took that value.
    engine.execute(
        f"""CREATE OR REPLACE TEMP TABLE tag_value_next AS
            SELECT n.golden_id, n.tag_key, n.value, n.value_num, n.evidence,
                   coalesce(h.valid_from, ?) AS valid_from, ? AS run_id
            FROM new_tag n LEFT JOIN profile.tag_history h
              ON h.golden_id = n.golden_id AND h.tag_key = n.tag_key AND h.valid_to IS NULL
            WHERE true{scope.replace('tag_key', 'n.tag_key')}""",
        [run_at, run_id, *params],
    )
    engine.execute(f"DELETE FROM profile.tag_value WHERE true{scope}", params)
    engine.execute("INSERT INTO profile.tag_value SELECT * FROM tag_value_next")
    engine.execute("DROP TABLE tag_value_next")
    return {"changed": int(changed), "appeared": int(appeared), "disappeared": int(disappeared)}
