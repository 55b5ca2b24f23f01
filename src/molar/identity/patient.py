"""The golden record: one row per person in ``identity.patient``, by survivorship rules.

Each attribute is taken from the member record that ranks first by its rule (ties: the
most recently registered record, then the unique ID, so reruns agree):

``name``        records with a verified ID number first, then Chinese-character names
                over romanised ones, then the name most members share, then the longest
``sex``         encoded in a verified ID number if any member has one, else the sex
                most members state
``birth_date``  encoded in a verified ID number if any, else the date most members state
``mobile``      most recently registered phone from a source that verifies phones by
                SMS (booking, member, wechat), else the most recent one
``id_number``   the verified ID number most members carry
``district``, ``address``  from the most recent record that has an address
``wechat_*``    from the most recent WeChat record
``home_clinic_id``  clinic of the most recent HIS record (else any record's clinic)
"""

from __future__ import annotations

from datetime import datetime

from molar.ingest.standardise import id_birth_date_sql, id_sex_sql
from molar.warehouse import Engine

# Sources whose mobile numbers were confirmed by an SMS code or a WeChat binding.
VERIFIED_PHONE_SOURCES: tuple[str, ...] = ("booking", "member", "wechat")
# Tie-break between sources for the name (lower first).
SOURCE_RANK = {"his": 0, "member": 1, "booking": 2, "wechat": 3}


def _source_rank_sql(col: str) -> str:
    whens = " ".join(f"WHEN '{s}' THEN {r}" for s, r in SOURCE_RANK.items())
    return f"(CASE {col} {whens} ELSE 9 END)"


def build(engine: Engine, now: datetime) -> int:
    """Rebuild ``identity.patient`` from ``identity.cluster`` and ``std.patient``."""
    id_dob = id_birth_date_sql("p.id_number", standardised=True)
    id_sex = id_sex_sql("p.id_number", standardised=True)
    verified = ", ".join(f"'{s}'" for s in VERIFIED_PHONE_SOURCES)
    han = "regexp_matches(p.name, '[\\x{4E00}-\\x{9FFF}]')"
    sql = f"""
WITH m AS (
  SELECT c.golden_id, c.unique_id, p.source, p.name, p.sex, p.birth_date, p.mobile, p.id_number,
         p.district, p.address, p.wechat_unionid, p.wechat_openid, p.clinic_id, p.registered_on,
         {id_dob} AS id_dob, {id_sex} AS id_sex,
         k.surname_py, k.given_py,
         count(*) OVER (PARTITION BY c.golden_id, p.name) AS name_votes,
         count(*) OVER (PARTITION BY c.golden_id, p.sex) AS sex_votes,
         count(*) OVER (PARTITION BY c.golden_id, p.birth_date) AS dob_votes,
         count(*) OVER (PARTITION BY c.golden_id, p.id_number) AS id_votes,
         coalesce(p.registered_on, DATE '1900-01-01') AS reg
  FROM identity.cluster c
  JOIN std.patient p ON p.source = c.source AND p.source_patient_key = c.source_patient_key
  LEFT JOIN identity.name_key k ON k.name = p.name
)
SELECT
  golden_id,
  first(name ORDER BY (name IS NULL), (id_number IS NULL), (NOT {han.replace("p.name", "name")}),
        name_votes DESC, length(name) DESC, {_source_rank_sql("source")}, reg DESC, unique_id) AS name,
  first(CASE WHEN surname_py IS NOT NULL THEN surname_py || coalesce(' ' || given_py, '') END
        ORDER BY (name IS NULL), (id_number IS NULL), (NOT {han.replace("p.name", "name")}),
        name_votes DESC, length(name) DESC, {_source_rank_sql("source")}, reg DESC, unique_id) AS name_pinyin,
  coalesce(
    first(id_sex ORDER BY (id_sex IS NULL), id_votes DESC, reg DESC, unique_id),
    first(sex ORDER BY (sex IS NULL), sex_votes DESC, reg DESC, unique_id)) AS sex,
  coalesce(
    first(id_dob ORDER BY (id_dob IS NULL), id_votes DESC, reg DESC, unique_id),
    first(birth_date ORDER BY (birth_date IS NULL), dob_votes DESC, reg DESC, unique_id)) AS birth_date,
  first(mobile ORDER BY (mobile IS NULL), (source NOT IN ({verified})), reg DESC, unique_id) AS mobile,
  first(id_number ORDER BY (id_number IS NULL), id_votes DESC, reg DESC, unique_id) AS id_number,
  first(district ORDER BY (address IS NULL), (district IS NULL), reg DESC, unique_id) AS district,
  first(address ORDER BY (address IS NULL), reg DESC, unique_id) AS address,
  first(wechat_unionid ORDER BY (wechat_unionid IS NULL), reg DESC, unique_id) AS wechat_unionid,
  first(wechat_openid ORDER BY (wechat_openid IS NULL), reg DESC, unique_id) AS wechat_openid,
  first(clinic_id ORDER BY (clinic_id IS NULL), (source <> 'his'), reg DESC, unique_id) AS home_clinic_id,
  min(registered_on) AS first_registered_on,
  max(registered_on) AS last_registered_on,
  CAST(count(*) AS INTEGER) AS member_count,
  list(DISTINCT source ORDER BY source) AS sources,
  CAST(? AS TIMESTAMP) AS updated_at
FROM m
GROUP BY golden_id
"""
    with engine.transaction():
        engine.execute("DELETE FROM identity.patient")
        engine.execute(f"INSERT INTO identity.patient BY NAME {sql}", [now])
    return engine.count("identity.patient")
