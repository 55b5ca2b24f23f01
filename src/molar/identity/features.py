"""Link input: one row per source person record, with the features the linker compares.

Built in SQL from ``std.patient`` with its personal columns opened (``features_sql``) so
the same statement runs on any engine; the only Python step is the pinyin of names,
computed once per distinct character (``name_parse_rows``, with what the name field
holds: real name, surname with a form of address, nickname) and cached in
``identity.name_parse`` (keyed by a blind index, the name parts sealed), so a rerun only
looks at new names.

The features with their personal values live in the TEMP table ``PLAIN_LINK_INPUT`` for
one run; ``identity.link_input`` keeps only ``STORED_COLUMNS`` — features that identify
no one and blind indexes of the compared values — and ``open_link_input`` rebuilds the
plaintext for readers after the run (explain, recluster).

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
``mobile_names``   people recorded with this mobile: distinct real given names (pinyin; a
                   name with a doubled or dropped character counts once),
                   plus forms of address that cannot be a named person (another surname
                   or sex, 先生/女士 on a child's phone); 1 = own phone, 2+ = a family
                   phone shared by parents, children and elders
``own_phone``      the mobile when it is one person's (one real name on it, forms of
                   address of that surname only, one sex, one birth date or two a typo
                   apart) and the record names that person (a real name or a form of
                   address): a deterministic link key
``id_number``      verified 18-character resident ID
``district``       home district (only values naming a 区/县)
``wechat_unionid`` WeChat unionid
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from datetime import date
from functools import cache

import pyarrow as pa

from molar.ingest.standardise import id_birth_date_sql, id_sex_sql
from molar.ingest.standardise.names import COMPOUND_SURNAMES, HONORIFIC, PARSER_VERSION, parse_name
from molar.ingest.standardise.pinyin import COMPOUND_SURNAMES as SPECIAL_COMPOUNDS
from molar.ingest.standardise.pinyin import SURNAMES as SPECIAL_SURNAMES
from molar.privacy import fields, keys
from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import FieldCipher
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
    """Plain rows (``NAMES`` shape) for distinct (text, nickname_field) pairs."""
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


_PARTS = ("name", "name_py", "surname_py", "given_py")


def _parse_keys(text_bi: pa.Array | pa.ChunkedArray, nickname_field: pa.Array | pa.ChunkedArray) -> list[str]:
    """Record keys of the sealed name parts (as SQL casts them: ``text_bi || ':' || nickname_field``)."""
    return [f"{b}:{str(n).lower()}" for b, n in zip(text_bi.to_pylist(), nickname_field.to_pylist(), strict=True)]


def _cache_key(indexer: BlindIndexer, texts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Blind index of the parser version and the text: names parsed by an older parser
    are not found, so they are parsed again."""
    versioned = pa.array([f"{PARSER_VERSION}:{t}" for t in texts.to_pylist()], pa.string())
    return pa.array(indexer.column("name", versioned), pa.string())


def open_name_parse(engine: Engine, source_table: str, keyring: keys.Keyring) -> int:
    """The parsed names of ``source_table`` (plaintext, shaped like std.patient) in the TEMP
    table :data:`NAMES`, with blind indexes of the name and pinyin; returns how many
    names were new. The cache ``identity.name_parse`` is keyed by a blind index of the
    text and holds the name parts sealed, so only new names are parsed."""
    texts = engine.arrow(
        f"""SELECT DISTINCT coalesce(name, nickname) AS text, name IS NULL AS nickname_field
            FROM {source_table} WHERE coalesce(name, nickname) IS NOT NULL""")
    indexer = BlindIndexer.from_keyring(keyring)
    texts = texts.append_column("text_bi", _cache_key(indexer, texts["text"]))
    engine.register("_id_names_wanted", texts)
    try:
        cached = engine.arrow(
            """SELECT w.text, w.nickname_field, c.kind, c.implied_sex, c.text_bi, c.parts
               FROM _id_names_wanted w JOIN identity.name_parse c USING (text_bi, nickname_field)""")
        missing = engine.rows(
            """SELECT w.text, w.nickname_field FROM _id_names_wanted w
               ANTI JOIN identity.name_parse c USING (text_bi, nickname_field)""")
    finally:
        engine.unregister("_id_names_wanted")
    cipher = FieldCipher(keyring)
    opened = [json.loads(p) for p in cipher.decrypt_column(cached["parts"], NAME_PARSE, "parts",
                                                           _parse_keys(cached["text_bi"], cached["nickname_field"]))]
    old = pa.table({
        "text": cached["text"], "nickname_field": cached["nickname_field"], "kind": cached["kind"],
        **{c: pa.array([p[i] for p in opened], pa.string()) for i, c in enumerate(_PARTS)},
        "implied_sex": cached["implied_sex"],
    })
    new = name_parse_rows(missing)
    if new.num_rows:
        new_bi = _cache_key(indexer, new["text"])
        parts = [json.dumps(list(p), ensure_ascii=False) for p in zip(*(new[c].to_pylist() for c in _PARTS), strict=True)]
        engine.append(NAME_PARSE, pa.table({
            "text_bi": new_bi, "nickname_field": new["nickname_field"], "kind": new["kind"],
            "implied_sex": new["implied_sex"],
            "parts": pa.array(cipher.encrypt_column(parts, NAME_PARSE, "parts",
                                                    _parse_keys(new_bi, new["nickname_field"])), pa.string()),
        }))
    names = pa.concat_tables([old, new.cast(old.schema)])
    for column, kind in (("name", "name"), ("name_py", "pinyin"), ("given_py", "pinyin")):
        names = names.append_column(f"{column}_bi", pa.array(indexer.column(kind, names[column]), pa.string()))
    engine.register("_id_names_open", names)
    try:
        engine.execute(f"CREATE OR REPLACE TEMP TABLE {NAMES} AS SELECT * FROM _id_names_open")
    finally:
        engine.unregister("_id_names_open")
    return new.num_rows


def birth_close_sql(a: str, b: str, days: int = 3) -> str:
    """SQL: dates ``a`` and ``b`` differ at most by a typo — a few days, day and month
    swapped, or a wrong year with the same month and nearly the same day."""
    return (
        f"(abs(date_diff('day', {a}, {b})) <= {days}"
        f" OR (month({a}) = month({b}) AND abs(day({a}) - day({b})) <= {days})"
        f" OR (year({a}) = year({b}) AND month({a}) = day({b}) AND day({a}) = month({b})))"
    )


def features_sql(source_table: str, as_of: date) -> str:
    """SELECT producing the link input (plaintext, with blind indexes) from a table shaped
    like ``std.patient`` with its personal columns opened; ages are taken at ``as_of``.

    Needs the TEMP table :data:`NAMES` for the table's names (``open_name_parse``).
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
    p.clinic_id,
    np.name_bi, np.name_py_bi, np.given_py_bi, p.mobile_bi,
    CASE WHEN p.id_ok THEN p.id_number_bi END AS id_number_bi,
    p.unionid_bi
  FROM checked p
  LEFT JOIN {NAMES} np
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
                   AND m.birth_date > DATE '{as_of.isoformat()}' - INTERVAL {ADULT_YEARS} YEAR)
  WHERE h.name_kind = 'honorific' AND h.mobile IS NOT NULL AND r.unique_id IS NULL
  GROUP BY h.mobile
),
real_names AS (
  SELECT DISTINCT mobile, name, surname_py, coalesce(given_py, name_py) AS given
  FROM base WHERE name_kind = 'real' AND mobile IS NOT NULL
),
given_names AS (
  -- A name that another name on the phone holds with one more character (金成荣 /
  -- 金成成荣, 高英 / 高英芳: a doubled or dropped character) is that name mistyped, not
  -- a second person; twins and siblings differ by a character (子涵 / 子轩), not by its
  -- absence.
  SELECT n.mobile, count(DISTINCT n.given) AS names
  FROM real_names n
  WHERE NOT EXISTS (
    SELECT 1 FROM real_names m
    WHERE m.mobile = n.mobile AND m.surname_py = n.surname_py AND length(m.name) = length(n.name) + 1
      -- one character of m left out gives n (characters, not bytes: edit distances
      -- count UTF-8 bytes)
      AND list_contains(list_transform(range(1, length(m.name) + 1),
                                       lambda i: substr(m.name, 1, i - 1) || substr(m.name, i + 1)), n.name))
  GROUP BY n.mobile
),
phones AS (
  -- People on a phone: distinct real given names (typed variants once), plus forms of
  -- address that name someone else; a nickname is not a person. An own phone holds one
  -- person with one sex and one birth date, or two dates a typo apart (a clerk's slip is
  -- no second person), and is not a shop's number (few records).
  SELECT b.mobile,
         coalesce(any_value(g.names), 0) + coalesce(any_value(a.others), 0) AS mobile_names,
         count(*) AS records, count(DISTINCT sex) AS sexes, count(DISTINCT birth_date) AS births,
         min(birth_date) AS first_birth, max(birth_date) AS last_birth
  FROM base b LEFT JOIN addressed a ON a.mobile = b.mobile LEFT JOIN given_names g ON g.mobile = b.mobile
  WHERE b.mobile IS NOT NULL GROUP BY b.mobile
),
phone_people AS (
  SELECT mobile, mobile_names,
         mobile_names = 1 AND sexes <= 1 AND records <= {OWN_PHONE_MAX_RECORDS}
           AND (births <= 1 OR (births = 2 AND {birth_close_sql("first_birth", "last_birth")})) AS own
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
  {OWN_PHONE_RECORD} THEN k.mobile END AS own_phone,
  k.id_number, k.district, k.wechat_unionid, k.registered_on, k.address, k.wechat_openid, k.clinic_id,
  k.name_bi, k.name_py_bi, k.given_py_bi, k.mobile_bi, k.id_number_bi, k.unionid_bi,
  {OWN_PHONE_RECORD} THEN k.mobile_bi END AS own_phone_bi
FROM base k JOIN ids ix ON ix.unique_id = k.unique_id LEFT JOIN phone_people ph ON ph.mobile = k.mobile
"""


# A record that names the one person on an own phone: a real name or form of address.
# Not a nickname, even with the owner's sex: a family member's WeChat is bound to the
# phone (measured: on Molar's 20K chain family-phone false merges rose from 1 to 47).
OWN_PHONE_RECORD = "CASE WHEN ph.own AND k.name_kind IN ('real', 'honorific')"

# More records than this on one phone is a shop or placeholder number, never an own
# phone (it also bounds the pairs the own-phone rule links).
OWN_PHONE_MAX_RECORDS = 30

# Forms of address (女士, 先生, 哥) are used for people of at least this age.
ADULT_YEARS = 18

NAME_PARSE = "identity.name_parse"
NAMES = "_id_names"                   # TEMP: parsed names of this run, plaintext
PLAIN_LINK_INPUT = "_id_link_input"   # TEMP: the link input with its personal values
# What identity.link_input keeps in the file: features that identify no one, blind indexes.
STORED_COLUMNS: tuple[str, ...] = (
    "idx", "unique_id", "source", "source_patient_key", "name_kind", "surname_py", "sex", "birth_date",
    "birth_y", "birth_m", "birth_d", "mobile_names", "district", "registered_on", "clinic_id",
    "name_bi", "name_py_bi", "given_py_bi", "mobile_bi", "id_number_bi", "unionid_bi", "own_phone_bi",
    "mobile_key_bi",
)

# Columns the linker sees besides its unique_id (``identity.link_input.idx``).
LINK_COLUMNS: tuple[str, ...] = (
    "source", "name", "name_py", "surname_py", "given_py", "sex", "birth_date", "birth_y", "birth_m",
    "birth_d", "mobile", "mobile_key", "mobile_names", "id_number", "district", "wechat_unionid", "own_phone",
)


def build_link_input(engine: Engine, as_of: date, seconds: dict[str, float] | None = None,
                     source_table: str = "std.patient", keyring: keys.Keyring | None = None) -> int:
    """The link input of ``source_table`` (personal columns opened): plaintext into the
    TEMP table :data:`PLAIN_LINK_INPUT` for this run, and its non-identifying columns
    and blind indexes into ``identity.link_input``. Returns the row count."""
    t = time.perf_counter()
    keyring = keyring or keys.open_keyring_from(None, engine)
    open_name_parse(engine, source_table, keyring)
    if seconds is not None:
        seconds["features_names"] = time.perf_counter() - t
    engine.execute(f"CREATE OR REPLACE TEMP TABLE {PLAIN_LINK_INPUT} AS {features_sql(source_table, as_of)}")
    engine.execute(f"DROP TABLE {NAMES}")
    store_link_input(engine, keyring=keyring)
    return engine.count(PLAIN_LINK_INPUT)


def store_link_input(engine: Engine, plain: str = PLAIN_LINK_INPUT, replace: str = "TRUE",
                     keyring: keys.Keyring | None = None) -> None:
    """Write the stored columns of ``plain`` to ``identity.link_input`` in place of the rows
    that meet ``replace`` (all of them by default), with a blind index of ``mobile_key``
    (a blocking key that incremental runs look up)."""
    indexer = BlindIndexer.from_keyring(keyring or keys.open_keyring_from(None, engine))
    mobile_keys = engine.arrow(f"SELECT DISTINCT mobile_key FROM {plain} WHERE mobile_key IS NOT NULL")
    mobile_keys = mobile_keys.append_column(
        "mobile_key_bi", pa.array(indexer.column("block_key", mobile_keys["mobile_key"]), pa.string()))
    stored = ", ".join(f"p.{c}" for c in STORED_COLUMNS if c != "mobile_key_bi")
    engine.register("_id_mobile_keys", mobile_keys)
    try:
        with engine.transaction():
            engine.execute(f"DELETE FROM identity.link_input WHERE {replace}")
            engine.execute(f"INSERT INTO identity.link_input BY NAME SELECT {stored}, k.mobile_key_bi "
                           f"FROM {plain} p LEFT JOIN _id_mobile_keys k USING (mobile_key)")
    finally:
        engine.unregister("_id_mobile_keys")


def open_link_input(engine: Engine, unique_ids: list[str] | None = None,
                    keyring: keys.Keyring | None = None) -> str:
    """Rebuild the TEMP table :data:`PLAIN_LINK_INPUT` (all records, or ``unique_ids``)
    from ``identity.link_input`` and the sealed ``std.patient``, as the last run saw it;
    returns its name. :func:`close_link_input` drops it."""
    keyring = keyring or keys.open_keyring_from(None, engine)
    where, params = "", None
    if unique_ids is not None:
        where = f"WHERE source || ':' || source_patient_key IN ({', '.join('?' * len(unique_ids))})"
        params = list(unique_ids) if unique_ids else None
        if not unique_ids:
            where = "WHERE FALSE"
    plain = fields.read_patients(
        engine, "source, source_patient_key, name, nickname, mobile, id_number, wechat_unionid, address, "
        "wechat_openid", where, params, keyring=keyring)
    engine.register("_id_plain_patient", plain)
    try:
        open_name_parse(engine, "_id_plain_patient", keyring)
        engine.execute(f"""
            CREATE OR REPLACE TEMP TABLE {PLAIN_LINK_INPUT} AS
            SELECT li.*, np.name, np.name_py, np.given_py, p.mobile,
                   array_to_string(list_sort(string_split(p.mobile, '')), '') AS mobile_key,
                   CASE WHEN li.id_number_bi IS NOT NULL THEN p.id_number END AS id_number,
                   p.wechat_unionid, p.address, p.wechat_openid,
                   CASE WHEN li.own_phone_bi IS NOT NULL THEN p.mobile END AS own_phone
            FROM identity.link_input li
            JOIN _id_plain_patient p ON p.source = li.source AND p.source_patient_key = li.source_patient_key
            LEFT JOIN {NAMES} np
              ON np.text = coalesce(p.name, p.nickname) AND np.nickname_field = (p.name IS NULL)""")
    finally:
        engine.unregister("_id_plain_patient")
        engine.execute(f"DROP TABLE IF EXISTS {NAMES}")
    return PLAIN_LINK_INPUT


def close_link_input(engine: Engine) -> None:
    engine.execute(f"DROP TABLE IF EXISTS {PLAIN_LINK_INPUT}")
