"""Why true pairs that share an identifier are not linked, on the independent generator.

Links the file with ``link-file`` into a warehouse kept on disk, then takes every true
pair that shares a mobile, ID number or unionid (the oracle's pairs) whose two records
did not end up with one golden ID, and says why, from what the linker saw
(``identity.link_input``, ``identity.pair``):

- ``never compared``: no blocking rule proposed the pair (its identifiers differ after
  standardising, e.g. an ID number dropped because it contradicts the birth date);
- ``scored below −2``: proposed, but weighed under the review band (not stored);
- ``below threshold``: stored, weight under the threshold, no veto;
- ``veto: …``: the model's name veto held it (which part, from the pair's features);
- ``linked, split``: linked directly, but clustering put the records apart (a conflict).

Then, for the two kinds of record most missed pairs hold, how often the phone alone would
name the right person (a form of address fitting exactly one named adult on a family
phone; a nickname or empty record on an own phone).

Each missed pair is counted by source pair, what each name field held (real / honorific /
nickname / empty) and whose name it is (``own``: the person's; ``other``: a form of
address whose surname or sex is not the person's — the booker's, as when a parent books
for a child; ``none``: a nickname or nothing), the phone class the linker saw (own = one person on it, family,
none), whether both records carry a birth date, and the weight band.

    uv run python benchmarks/identity/missed.py --people 20000 --seed 0
    uv run python benchmarks/identity/missed.py --records /tmp/f20k --warehouse /tmp/f20k/wh.duckdb
    uv run python benchmarks/identity/missed.py --records /tmp/f20k --warehouse /tmp/f20k/wh.duckdb --reuse

The truth is read only to choose the pairs; the linker never sees it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from foreign.identity import generate, shared_identifier_pairs  # noqa: E402
from molar.identity.link_file import link_file  # noqa: E402
from molar.identity.model import DEFAULT_THRESHOLD_WEIGHT  # noqa: E402

MISSED_SQL = f"""
WITH li AS (
  SELECT l.*, t.person_id FROM w.identity.link_input l
  JOIN truth t ON l.unique_id = t.source || ':' || t.record_id
),
person AS (   -- what the person's own records say (truth used to group them only)
  SELECT person_id, list(DISTINCT surname_py) FILTER (WHERE name_kind = 'real') AS surnames,
         mode(sex) FILTER (WHERE name_kind = 'real') AS sex
  FROM li GROUP BY person_id
),
fields AS (   -- whose name a record's name field holds
  SELECT li.unique_id,
         CASE WHEN li.name_kind IN ('nickname', 'empty') THEN 'none'
              WHEN li.name_kind = 'honorific'
                   AND (NOT list_contains(p.surnames, li.surname_py) OR li.sex <> p.sex) THEN 'other'
              ELSE 'own' END AS field
  FROM li JOIN person p USING (person_id)
),
o AS (
  SELECT source_l || ':' || record_id_l AS a, source_r || ':' || record_id_r AS b,
         list_sort([source_l, source_r]) AS s
  FROM oracle WHERE shared
),
j AS (
  SELECT o.s[1] || '–' || o.s[2] AS sources, x.*, y.*,
         ca.golden_id = cb.golden_id AS together, list_sort([fa.field, fb.field])::VARCHAR AS fields,
         p.match_weight AS w, p.veto, p.linked, p.rule
  FROM o
  JOIN w.identity.link_input x ON x.unique_id = o.a
  JOIN w.identity.link_input y ON y.unique_id = o.b
  JOIN fields fa ON fa.unique_id = o.a
  JOIN fields fb ON fb.unique_id = o.b
  JOIN w.identity.cluster ca ON ca.unique_id = o.a
  JOIN w.identity.cluster cb ON cb.unique_id = o.b
  LEFT JOIN w.identity.pair p ON p.idx_l = least(x.idx, y.idx) AND p.idx_r = greatest(x.idx, y.idx)
)
SELECT sources,
  list_sort([name_kind, name_kind_1])::VARCHAR AS names, fields,
  CASE WHEN mobile_bi IS NULL OR mobile_bi_1 IS NULL OR mobile_bi <> mobile_bi_1 THEN 'none'
       WHEN mobile_names <= 1 THEN 'own' ELSE 'family' END AS phone,
  birth_date IS NOT NULL AND birth_date_1 IS NOT NULL AS births,
  CASE
    WHEN linked THEN 'linked, split'
    WHEN veto AND (name_kind IN ('nickname', 'empty') OR name_kind_1 IN ('nickname', 'empty'))
      THEN 'veto: nameless, birth dates not equal'
    WHEN veto AND (name_kind = 'honorific' OR name_kind_1 = 'honorific') AND mobile_names >= 2
      THEN 'veto: form of address, family phone'
    WHEN veto AND name_kind = 'real' AND name_kind_1 = 'real' AND mobile_names >= 2
      THEN 'veto: real names differ, family phone'
    WHEN veto THEN 'veto: names differ'
    WHEN w IS NOT NULL THEN 'below threshold'
    WHEN mobile_bi = mobile_bi_1 OR id_number_bi = id_number_bi_1 OR unionid_bi = unionid_bi_1
      OR (name_py_bi = name_py_bi_1 AND birth_date = birth_date_1) THEN 'scored below −2'
    ELSE 'never compared'
  END AS why,
  CASE WHEN w IS NULL THEN '—' WHEN w < 0 THEN '[−2, 0)' WHEN w < 2 THEN '[0, 2)'
       WHEN w < {DEFAULT_THRESHOLD_WEIGHT} THEN '[2, 4)' ELSE '≥ 4' END AS band,
  count(*) AS pairs
FROM j WHERE NOT together
GROUP BY ALL ORDER BY pairs DESC
"""


# How often the phone alone would be right for the records the linker leaves apart: a
# form of address whose surname and sex fit exactly one named adult on a family phone
# (linked to that adult), and a nickname or empty record on an own phone (linked to its
# one named person). Precision per record: the share that are that person.
RULES_SQL = """
WITH li AS (
  SELECT l.*, t.person_id FROM w.identity.link_input l
  JOIN truth t ON l.unique_id = t.source || ':' || t.record_id
),
ages AS (
  SELECT mobile_bi, bool_or(birth_date > DATE '{as_of}' - INTERVAL 18 YEAR) AS minor,
         bool_or(birth_date < DATE '{as_of}' - INTERVAL 60 YEAR) AS elder
  FROM li WHERE mobile_bi IS NOT NULL GROUP BY 1
),
adults AS (   -- named adults on each phone
  SELECT DISTINCT r.mobile_bi, r.name_py_bi, r.surname_py, r.sex, r.person_id FROM li r
  WHERE r.name_kind = 'real' AND r.mobile_bi IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM li m WHERE m.mobile_bi = r.mobile_bi AND m.name_py_bi = r.name_py_bi
      AND m.birth_date > DATE '{as_of}' - INTERVAL 18 YEAR)
),
addressed AS (
  SELECT h.unique_id, any_value(h.source) AS source, any_value(h.sex IS NOT NULL) AS sexed,
         count(DISTINCT a.name_py_bi) AS fitting, bool_or(a.person_id = h.person_id) AS right_one
  FROM li h JOIN adults a ON a.mobile_bi = h.mobile_bi AND a.surname_py = h.surname_py
   AND (h.sex IS NULL OR a.sex IS NULL OR h.sex = a.sex)
  WHERE h.name_kind = 'honorific' AND h.mobile_names > 1
  GROUP BY h.unique_id
),
owners AS (
  SELECT mobile_bi, any_value(person_id) AS owner FROM li
  WHERE own_phone_bi IS NOT NULL AND name_kind = 'real' GROUP BY 1
)
SELECT 'form of address, one fitting adult, family phone' AS rule,
       CASE WHEN g.minor THEN 'a minor on the phone' WHEN g.elder THEN 'an elder on the phone'
            ELSE 'adults only' END AS "case",
       count(*) AS records, avg(right_one::INT) AS precision
FROM addressed a JOIN li h USING (unique_id) JOIN ages g ON g.mobile_bi = h.mobile_bi
WHERE fitting = 1 GROUP BY ALL
UNION ALL
SELECT 'nameless record, own phone', l.source || ' ' || l.name_kind, count(*), avg((l.person_id = o.owner)::INT)
FROM li l JOIN owners o USING (mobile_bi) WHERE l.name_kind IN ('nickname', 'empty') GROUP BY ALL
ORDER BY 1, 2
"""


def missed(records_csv: Path, truth: pd.DataFrame, records: pd.DataFrame, warehouse: Path,
           reuse: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not (reuse and warehouse.exists()):
        warehouse.unlink(missing_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            link_file(records_csv, Path(tmp) / "links.csv", warehouse=warehouse)
    con = duckdb.connect()
    con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
    con.register("oracle", shared_identifier_pairs(records, truth))
    con.register("truth", truth)
    as_of = date.today().isoformat()   # link_file judges ages at today's date too
    return con.execute(MISSED_SQL).fetch_df(), con.execute(RULES_SQL.format(as_of=as_of)).fetch_df()


def _margin(frame: pd.DataFrame, by: list[str], total: int) -> str:
    t = frame.groupby(by, as_index=False)["pairs"].sum().sort_values("pairs", ascending=False)
    t["share"] = (t["pairs"] / total).map(lambda v: f"{v:.1%}")
    return t.to_string(index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--records", type=Path, default=None, help="folder with records.csv and truth.csv")
    ap.add_argument("--warehouse", type=Path, default=None, help="keep the link-file warehouse here")
    ap.add_argument("--reuse", action="store_true", help="read an existing --warehouse instead of linking again")
    ap.add_argument("--top", type=int, default=40, help="rows of the full table to print")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.records
        if folder is None:
            folder = Path(tmp)
            records, truth = generate(args.people, seed=args.seed)
            records.to_csv(folder / "records.csv", index=False, encoding="utf-8")
        else:
            read = dict(dtype=str, keep_default_na=False)
            records = pd.read_csv(folder / "records.csv", **read)
            truth = pd.read_csv(folder / "truth.csv", **read)
        warehouse = args.warehouse or Path(tmp) / "link.duckdb"
        table, rules = missed(folder / "records.csv", truth, records, warehouse, args.reuse)
    oracle_pairs = int(shared_identifier_pairs(records, truth)["shared"].sum())
    total = int(table["pairs"].sum())
    print(f"true pairs sharing an identifier: {oracle_pairs:,}; not put together: {total:,} "
          f"({total / oracle_pairs:.1%})\n")
    for by in (["why"], ["why", "band"], ["sources"], ["names"], ["fields"], ["phone", "births"],
               ["names", "phone", "why"], ["fields", "phone", "why"]):
        print(_margin(table, by, total), "\n")
    if args.top:
        print(table.head(args.top).to_string(index=False), "\n")
    print("if the phone alone decided (precision per record):")
    print(rules.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
