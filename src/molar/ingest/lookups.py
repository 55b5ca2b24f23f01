"""SQL that resolves clinic and doctor names in a staged load to their canonical IDs."""

from __future__ import annotations

from dataclasses import dataclass, field

from molar.ingest.mapping import TableMap

# Clinic names differ between systems ("摩乐口腔玉林诊所", "玉林店", "摩乐口腔(玉林店)"):
# compare them without brackets and generic words; a short form matches the clinic
# whose name ends with it, when exactly one does.
_CLINIC_NOISE = "[()（）\\s]|口腔|诊所|门诊部|分店|店|医院"


def _clinic_key(expr: str) -> str:
    return f"regexp_replace({expr}, '{_CLINIC_NOISE}', '', 'g')"


CLINIC_LOOKUP = f"""
CREATE OR REPLACE TEMP TABLE _lk_clinic AS
WITH wanted AS (SELECT DISTINCT clinic_id AS k FROM _stage WHERE clinic_id IS NOT NULL),
clinics AS (SELECT clinic_id AS v, name, {_clinic_key('name')} AS ck FROM std.clinic),
exact AS (
    SELECT w.k, min(c.v) AS v FROM wanted w JOIN clinics c ON w.k = c.name OR w.k = c.v GROUP BY w.k
),
fuzzy AS (
    SELECT w.k, CASE WHEN count(DISTINCT c.v) = 1 THEN min(c.v) END AS v
    FROM wanted w JOIN clinics c
      ON length({_clinic_key('w.k')}) >= 2 AND ends_with(c.ck, {_clinic_key('w.k')})
    GROUP BY w.k
)
SELECT w.k, coalesce(exact.v, fuzzy.v) AS v
FROM wanted w LEFT JOIN exact USING (k) LEFT JOIN fuzzy USING (k)
"""


@dataclass
class LookupSQL:
    statements: list[str] = field(default_factory=list)  # run after the stage table exists
    joins: list[str] = field(default_factory=list)
    replace: dict[str, str] = field(default_factory=dict)  # column → resolved expression
    problems: list[str] = field(default_factory=list)  # `CASE … END AS _p_lookup_<column>`
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (label, raw column, problem column)


def lookup_sql(table_map: TableMap) -> LookupSQL:
    out = LookupSQL()
    clinic = table_map.column("clinic_id")
    clinic_looked_up = bool(clinic and clinic.lookup == "clinic")
    if clinic and clinic_looked_up:
        out.statements.append(CLINIC_LOOKUP)
        out.joins.append("LEFT JOIN _lk_clinic lk_clinic ON lk_clinic.k = s.clinic_id")
        out.replace["clinic_id"] = "lk_clinic.v"
        out.problems.append(
            "CASE WHEN s.clinic_id IS NOT NULL AND lk_clinic.v IS NULL THEN 'clinic_unknown' END AS _p_lookup_clinic_id"
        )
        out.fields.append((clinic.header or "clinic_id", "_raw_clinic_id", "_p_lookup_clinic_id"))
    doctor = table_map.column("doctor_id")
    if doctor and doctor.lookup == "doctor":
        clinic_expr = "lk_clinic.v" if clinic_looked_up else "s.clinic_id"
        if clinic:
            out.joins.append(
                "LEFT JOIN (SELECT name AS k, clinic_id AS c, min(doctor_id) AS v FROM std.doctor GROUP BY ALL) "
                f"lk_doctor ON lk_doctor.k = s.doctor_id AND lk_doctor.c = {clinic_expr}"
            )
        else:
            out.joins.append(
                "LEFT JOIN (SELECT name AS k, CASE WHEN count(*) = 1 THEN min(doctor_id) END AS v "
                "FROM std.doctor GROUP BY name) lk_doctor ON lk_doctor.k = s.doctor_id"
            )
        out.replace["doctor_id"] = "lk_doctor.v"
        out.problems.append(
            "CASE WHEN s.doctor_id IS NOT NULL AND lk_doctor.v IS NULL THEN 'doctor_unknown' END AS _p_lookup_doctor_id"
        )
        out.fields.append((doctor.header or "doctor_id", "_raw_doctor_id", "_p_lookup_doctor_id"))
    patient = table_map.column("source_patient_key")
    if patient and patient.lookup == "patient" and table_map.contract.name != "patient":
        out.joins.append(
            "LEFT JOIN (SELECT DISTINCT source, source_patient_key AS k FROM std.patient) lk_patient "
            "ON lk_patient.source = s.source AND lk_patient.k = s.source_patient_key"
        )
        out.problems.append(
            "CASE WHEN s.source_patient_key IS NOT NULL AND lk_patient.k IS NULL THEN 'patient_unknown' END "
            "AS _p_lookup_source_patient_key"
        )
        out.fields.append((patient.header or "source_patient_key", "_raw_source_patient_key", "_p_lookup_source_patient_key"))
    return out
