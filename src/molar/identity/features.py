"""Link input: one row per source person record, with the features the linker compares.

Built in SQL from ``std.patient`` (``features_sql``) so the same statement runs on any
engine; the only Python step is the pinyin of names, computed once per distinct character
(``name_parse_rows``, with what the name field holds: real name, surname with a form
of address, nickname) and cached in ``identity.name_parse``, so a rerun only looks at new names.

Features (see docs/identity.md for why each exists):

``unique_id``      ``source || ':' || source_patient_key``
``name``           the real name (``parse_name``): a standardised name, or a WeChat nickname
                   that reads as one; NULL for a form of address (李女士) or a nickname
``name_kind``      what the name field held: real | honorific | nickname | empty
``name_py``        toneless pinyin without spaces (张伟, 张玮, "Zhang Wei" → zhangwei)
``surname_py``     pinyin of the surname (compound surnames 欧阳 … kept whole), also of the
                   surname in a form of address
``given_py``       pinyin of the given name
``sex``            from the ID number when there is one, else as stated, else implied by a
                   form of address (女士 F, 先生 M)
``birth_date``     from the ID number when there is one, else as stated; ``birth_y/m/d`` parts
                   (an ID number that contradicts the record's own birth date or sex is
                   dropped: it is someone else's, typically a parent's)
``mobile``         E.164; ``mobile_key`` its digits sorted (equal under a digit transposition)
``mobile_names``   people recorded with this mobile: distinct real given names (pinyin),
                   plus forms of address that cannot be a named person (another surname
                   or sex, 先生/女士 on a child's phone); 1 = own phone, 2+ = a family
                   phone shared by parents, children and elders
``own_phone``      the mobile when it is one person's (one real name on it, forms of
                   address of that surname only, one sex, one birth date) and the record
                   names that person (a real name or a form of address): a deterministic
                   link key
``id_number``      verified 18-character resident ID
``district``       home district (only values naming a 区/县)
``wechat_unionid`` WeChat unionid
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from functools import cache

import pyarrow as pa

from molar.ingest.standardise import id_birth_date_sql, id_sex_sql
from molar.ingest.standardise.names import COMPOUND_SURNAMES, HONORIFIC, parse_name
from molar.ingest.standardise.pinyin import COMPOUND_SURNAMES as SPECIAL_COMPOUNDS
from molar.ingest.standardise.pinyin import SURNAMES as SPECIAL_SURNAMES
from molar.warehouse import Engine

_HAN = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_LATIN_WORD = re.compile(r"[a-z]+")


@cache
def _char_pinyin(ch: str) -> str:
    from pypinyin import lazy_pinyin

    out = "".join(w for part in lazy_pinyin(ch) for w in _LATIN_WORD.findall(part.lower()))
    return out


def split_pinyin(name: str | None) -> tuple[str | None, str | None, str | None]:
    """(name_py, surname_py, given_py) for a standardised name; None parts when unknown.

    Chinese names: the surname is the first character, or the first two for a compound
    surname; surnames use their surname reading (曾 zeng, 单 shan). Romanised names
    ("Zhang Wei", "Wang Huijun"): the first word is the surname.
    """
    if not name:
        return None, None, None
    if _HAN.search(name):
        chars = [c for c in name if not c.isspace() and c not in "·'-"]
        if not chars:
            return None, None, None
        head = "".join(chars[:2])
        if head in COMPOUND_SURNAMES:
            k = 2
            sur = SPECIAL_COMPOUNDS.get(head, "").replace(" ", "") or "".join(_char_pinyin(c) for c in chars[:2])
        else:
            k = 1
            sur = SPECIAL_SURNAMES.get(chars[0]) or _char_pinyin(chars[0])
        given = "".join(_char_pinyin(c) if _HAN.match(c) else c.lower() for c in chars[k:])
        full = sur + given
        return (full or None), (sur or None), (given or None)
    words = _LATIN_WORD.findall(name.lower())
    if not words:
        return None, None, None
    return "".join(words), words[0], ("".join(words[1:]) or None)


def name_parse_rows(texts: Iterable[tuple[str, bool]]) -> pa.Table:
    """Arrow rows of ``identity.name_parse`` for distinct (text, nickname_field) pairs."""
    cols: dict[str, list] = {c: [] for c in ("text", "nickname_field", "kind", "name", "name_py", "surname_py",
                                             "given_py", "implied_sex")}
    for text, nickname_field in texts:
        parts = parse_name(text, nickname_field=nickname_field)
        if parts.kind == HONORIFIC:
            py = (None, split_pinyin(parts.surname + "某")[1], None)
        else:
            py = split_pinyin(parts.name)
        for c, v in zip(cols, (text, nickname_field, parts.kind, parts.name, *py, parts.sex), strict=True):
            cols[c].append(v)
    types = {"nickname_field": pa.bool_()}
    return pa.table({c: pa.array(v, types.get(c, pa.string())) for c, v in cols.items()})


def birth_close_sql(a: str, b: str, days: int = 3) -> str:
    """SQL: dates ``a`` and ``b`` differ at most by a typo — a few days, day and month
    swapped, or a wrong year with the same month and nearly the same day."""
    return (
        f"(abs(date_diff('day', {a}, {b})) <= {days}"
        f" OR (month({a}) = month({b}) AND abs(day({a}) - day({b})) <= {days})"
        f" OR (year({a}) = year({b}) AND month({a}) = day({b}) AND day({a}) = month({b})))"
    )


def refresh_name_parse(engine: Engine, source_table: str = "std.patient") -> int:
    """Parse names (and nicknames of records without a name) not yet in
    ``identity.name_parse``; returns how many were new."""
    missing = engine.rows(
        f"""SELECT DISTINCT coalesce(p.name, p.nickname), p.name IS NULL FROM {source_table} p
            LEFT JOIN identity.name_parse k
              ON k.text = coalesce(p.name, p.nickname) AND k.nickname_field = (p.name IS NULL)
            WHERE coalesce(p.name, p.nickname) IS NOT NULL AND k.text IS NULL"""
    )
    rows = name_parse_rows(missing)
    if rows.num_rows:
        engine.append("identity.name_parse", rows)
    return rows.num_rows


def features_sql(source_table: str = "std.patient") -> str:
    """SELECT producing the link input from a table shaped like ``std.patient``.

    Needs ``identity.name_parse`` filled for the table's names (``refresh_name_parse``).
    """
    id_dob = id_birth_date_sql("p.id_number", standardised=True)
    id_sex = id_sex_sql("p.id_number", standardised=True)
    return f"""
WITH src AS (
  SELECT p.*, {id_dob} AS id_dob, {id_sex} AS id_sex FROM {source_table} p
),
checked AS (
  -- An ID number is used only when it agrees with the record's own birth date and sex
  -- (a child registered with a parent's ID number must not link to the parent).
  SELECT *,
    id_number IS NOT NULL
      AND (birth_date IS NULL OR id_dob IS NULL OR {birth_close_sql("id_dob", "birth_date")})
      AND (sex IS NULL OR id_sex IS NULL OR id_sex = sex) AS id_ok
  FROM src
),
base AS (
  SELECT
    p.source || ':' || p.source_patient_key AS unique_id,
    p.source,
    p.source_patient_key,
    np.name,
    coalesce(np.kind, 'empty') AS name_kind,
    np.name_py, np.surname_py, np.given_py,
    -- the sex a form of address implies (李女士) when the record states none
    coalesce(CASE WHEN p.id_ok THEN coalesce(p.id_sex, p.sex) ELSE p.sex END, np.implied_sex) AS sex,
    CASE WHEN p.id_ok THEN coalesce(p.id_dob, p.birth_date) ELSE p.birth_date END AS birth_date,
    p.mobile,
    CASE WHEN p.id_ok THEN p.id_number END AS id_number,
    CASE WHEN p.district LIKE '%区' OR p.district LIKE '%县' THEN p.district END AS district,
    p.wechat_unionid,
    p.registered_on,
    p.address,
    p.wechat_openid,
    p.clinic_id
  FROM checked p
  LEFT JOIN identity.name_parse np
    ON np.text = coalesce(p.name, p.nickname) AND np.nickname_field = (p.name IS NULL)
),
ids AS (
  -- record numbers in unique_id order (a narrow sort: sorting the wide rows costs 3×)
  SELECT unique_id, CAST(row_number() OVER (ORDER BY unique_id) - 1 AS BIGINT) AS idx FROM base
),
addressed AS (
  -- forms of address (李女士) that cannot be a named person on their phone: no real name
  -- there with that surname, a compatible sex, and of an age to be addressed so (王先生
  -- on a 17-year-old's phone is a parent). Each distinct one is a person.
  SELECT h.mobile, count(DISTINCT h.surname_py || coalesce(h.sex, '?')) AS others
  FROM base h LEFT JOIN base r
    ON r.mobile = h.mobile AND r.name_kind = 'real' AND r.surname_py = h.surname_py
   AND (h.sex IS NULL OR r.sex IS NULL OR h.sex = r.sex)
   AND NOT EXISTS (SELECT 1 FROM base m WHERE m.mobile = r.mobile AND m.name_py = r.name_py
                   AND m.birth_date > current_date - INTERVAL {ADULT_YEARS} YEAR)
  WHERE h.name_kind = 'honorific' AND h.mobile IS NOT NULL AND r.unique_id IS NULL
  GROUP BY h.mobile
),
phones AS (
  -- People on a phone: distinct real given names, plus forms of address that name
  -- someone else; a nickname is not a person. An own phone holds one person with one
  -- sex and one birth date (and is not a shop's number: few records).
  SELECT b.mobile,
         count(DISTINCT coalesce(given_py, name_py)) FILTER (WHERE name_kind = 'real')
           + coalesce(any_value(a.others), 0) AS mobile_names,
         count(*) AS records, count(DISTINCT sex) AS sexes, count(DISTINCT birth_date) AS births
  FROM base b LEFT JOIN addressed a ON a.mobile = b.mobile
  WHERE b.mobile IS NOT NULL GROUP BY b.mobile
),
phone_people AS (
  SELECT mobile, mobile_names,
         mobile_names = 1 AND sexes <= 1 AND births <= 1 AND records <= {OWN_PHONE_MAX_RECORDS} AS own
  FROM phones
)
SELECT
  ix.idx, k.unique_id, k.source, k.source_patient_key, k.name, k.name_py, k.surname_py, k.given_py,
  k.sex, k.birth_date,
  CAST(year(k.birth_date) AS INTEGER) AS birth_y,
  CAST(month(k.birth_date) AS INTEGER) AS birth_m,
  CAST(day(k.birth_date) AS INTEGER) AS birth_d,
  k.mobile,
  array_to_string(list_sort(string_split(k.mobile, '')), '') AS mobile_key,
  CAST(coalesce(ph.mobile_names, 0) AS INTEGER) AS mobile_names,
  k.name_kind,
  -- a nickname says nothing of who holds the phone (a spouse's WeChat is bound to it)
  CASE WHEN ph.own AND k.name_kind IN ('real', 'honorific') THEN k.mobile END AS own_phone,
  k.id_number, k.district, k.wechat_unionid, k.registered_on, k.address, k.wechat_openid, k.clinic_id
FROM base k JOIN ids ix ON ix.unique_id = k.unique_id LEFT JOIN phone_people ph ON ph.mobile = k.mobile
"""


# More records than this on one phone is a shop or placeholder number, never an own
# phone (it also bounds the pairs the own-phone rule links).
OWN_PHONE_MAX_RECORDS = 30

# Forms of address (女士, 先生, 哥) are used for people of at least this age.
ADULT_YEARS = 18

# Columns the linker sees besides its unique_id (``identity.link_input.idx``).
LINK_COLUMNS: tuple[str, ...] = (
    "source", "name", "name_py", "surname_py", "given_py", "sex", "birth_date", "birth_y", "birth_m",
    "birth_d", "mobile", "mobile_key", "mobile_names", "id_number", "district", "wechat_unionid", "own_phone",
)


def build_link_input(engine: Engine, seconds: dict[str, float] | None = None,
                     source_table: str = "std.patient") -> int:
    """Rebuild ``identity.link_input`` from ``source_table``; returns its row count."""
    t = time.perf_counter()
    refresh_name_parse(engine, source_table)
    if seconds is not None:
        seconds["features_names"] = time.perf_counter() - t
    with engine.transaction():
        engine.execute("DELETE FROM identity.link_input")
        engine.execute(
            f"INSERT INTO identity.link_input BY NAME {features_sql(source_table)}"
        )
    return engine.count("identity.link_input")
