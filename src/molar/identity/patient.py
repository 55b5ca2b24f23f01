"""The golden record: one row per person in ``identity.patient``, by survivorship rules.

Built from the run's link input (the standardised records as the linker saw them: sex
and birth date already taken from a verified ID number where one agrees with the record).
The personal columns are stored sealed (``privacy.fields.seal_golden``: AES-GCM bound to
the golden ID, blind indexes ``mobile_bi``, ``id_number_bi``, ``unionid_bi`` for lookups);
read them with ``privacy.fields.read_golden``.
Each attribute comes from the member record that ranks first by its rule; ties go to the
most recently registered record, then the lower unique ID, so reruns agree:

``name``        records with a verified ID number first, then Chinese-character names
                over romanised ones, then the name most members share, then the longest
``sex``         records with a verified ID number first, then the most recent
``birth_date``  records with a verified ID number first (the ID's date), then the date
                most members state
``mobile``      most recently registered phone from a source that verifies phones by
                SMS (booking, member, wechat), else the most recent one; reachable numbers
                only (an unallocated prefix links records but is no address)
``id_number``   the verified ID number of the most recent record carrying one
``district``, ``address``  from the most recent record that has an address
``wechat_*``    from the most recent WeChat record
``home_clinic_id``  clinic of the most recent HIS record (else any record's clinic)
"""

from __future__ import annotations

from datetime import datetime

from molar.ingest.standardise.mobile import allocated_sql
from molar.privacy import fields, keys
from molar.warehouse import Engine

# Sources whose mobile numbers were confirmed by an SMS code or a WeChat binding.
VERIFIED_PHONE_SOURCES: tuple[str, ...] = ("booking", "member", "wechat")
# Tie-break between sources for the name (lower first).
SOURCE_RANK = {"his": 0, "member": 1, "booking": 2, "wechat": 3}


def _source_rank_sql(col: str) -> str:
    whens = " ".join(f"WHEN '{s}' THEN {r}" for s, r in SOURCE_RANK.items())
    return f"(CASE {col} {whens} ELSE 9 END)"


def build_sql(link_input: str) -> str:
    verified = ", ".join(f"'{s}'" for s in VERIFIED_PHONE_SOURCES)
    not_han = "(NOT regexp_matches(name, '[\\x{4E00}-\\x{9FFF}]'))"
    order_name = (
        f"(name IS NULL), (id_number IS NULL), {not_han}, name_votes DESC, length(name) DESC, "
        f"{_source_rank_sql('source')}, reg DESC, unique_id"
    )
    pinyin = "CASE WHEN surname_py IS NOT NULL THEN surname_py || coalesce(' ' || given_py, '') END"
    address_district = "CASE WHEN address IS NOT NULL OR district IS NOT NULL THEN district END"
    # Most golden IDs hold one record: those rows are copied; only the others aggregate.
    return f"""
WITH m AS (
  SELECT c.golden_id, li.* REPLACE (CASE WHEN {allocated_sql("li.mobile")} THEN li.mobile END AS mobile),
         coalesce(li.registered_on, DATE '1900-01-01') AS reg,
         count(*) OVER (PARTITION BY c.golden_id) AS members
  FROM identity.cluster c JOIN {link_input} li USING (unique_id)
),
single AS (
  SELECT golden_id, name, {pinyin} AS name_pinyin, sex, birth_date, mobile, id_number,
         {address_district} AS district, address, wechat_unionid, wechat_openid,
         clinic_id AS home_clinic_id, registered_on AS first_registered_on,
         registered_on AS last_registered_on, 1 AS member_count, [source] AS sources
  FROM m WHERE members = 1
),
mm AS (SELECT * FROM m WHERE members > 1),
name_votes AS (SELECT golden_id, name, count(*) AS name_votes FROM mm GROUP BY ALL),
dob_votes AS (SELECT golden_id, birth_date, count(*) AS dob_votes FROM mm GROUP BY ALL),
multi AS (
  SELECT mm.*, nv.name_votes, dv.dob_votes FROM mm
  LEFT JOIN name_votes nv ON nv.golden_id = mm.golden_id AND nv.name IS NOT DISTINCT FROM mm.name
  LEFT JOIN dob_votes dv ON dv.golden_id = mm.golden_id AND dv.birth_date IS NOT DISTINCT FROM mm.birth_date
),
grouped AS (
  SELECT
    golden_id,
    first(name ORDER BY {order_name}) AS name,
    first({pinyin} ORDER BY {order_name}) AS name_pinyin,
    first(sex ORDER BY (sex IS NULL), (id_number IS NULL), reg DESC, unique_id) AS sex,
    first(birth_date ORDER BY (birth_date IS NULL), (id_number IS NULL), dob_votes DESC, reg DESC, unique_id)
      AS birth_date,
    first(mobile ORDER BY (mobile IS NULL), (source NOT IN ({verified})), reg DESC, unique_id) AS mobile,
    first(id_number ORDER BY (id_number IS NULL), reg DESC, unique_id) AS id_number,
    first({address_district} ORDER BY (address IS NULL), (district IS NULL), reg DESC, unique_id) AS district,
    first(address ORDER BY (address IS NULL), reg DESC, unique_id) AS address,
    first(wechat_unionid ORDER BY (wechat_unionid IS NULL), reg DESC, unique_id) AS wechat_unionid,
    first(wechat_openid ORDER BY (wechat_openid IS NULL), reg DESC, unique_id) AS wechat_openid,
    first(clinic_id ORDER BY (clinic_id IS NULL), (source <> 'his'), reg DESC, unique_id) AS home_clinic_id,
    min(registered_on) AS first_registered_on,
    max(registered_on) AS last_registered_on,
    count(*) AS member_count,
    list_sort(list(DISTINCT source)) AS sources
  FROM multi
  GROUP BY golden_id
)
SELECT * FROM single
UNION ALL BY NAME
SELECT * FROM grouped
"""


def build(engine: Engine, now: datetime, link_input: str, replace: str | None = None) -> int:
    """Rebuild ``identity.patient`` from ``identity.cluster`` and ``link_input`` (the TEMP
    table holding the link input's personal values, ``features.PLAIN_LINK_INPUT``).

    ``replace`` (an incremental run): a query of the golden IDs to rebuild, whose member
    records are all in ``link_input``; the other golden records stay as they are.
    """
    plain = engine.arrow(f"SELECT *, CAST(? AS TIMESTAMP) AS updated_at FROM ({build_sql(link_input)})", [now])
    sealed = fields.seal_golden(plain, keys.open_keyring_from(None, engine))
    with engine.transaction():
        engine.execute("DELETE FROM identity.patient" + (f" WHERE golden_id IN ({replace})" if replace else ""))
        engine.append("identity.patient", sealed)
    return engine.count("identity.patient")
