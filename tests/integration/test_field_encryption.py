"""std.patient's personal columns are written encrypted at ingest, with blind indexes,
and read back only through molar.privacy.fields."""

from __future__ import annotations

from molar.privacy import crypto, fields, keys
from support import PATIENT_HEADER, id_number, load

# Planted values: searched for as plaintext below, so none may come from the code under test.
NAME, MOBILE, ADDRESS = "欧阳明华", "13812345678", "红星路88号"
IDN = id_number("51010719850315001")


def _patients(write):
    return write("patients.csv", PATIENT_HEADER
                 + f"P1,{NAME},女,1985-03-15,{MOBILE},{IDN},锦江区,{ADDRESS},2024-01-05,锦江口腔门诊部\r\n"
                 + "P2,李四,男,1990-01-01,138 1234 5678,,锦江区,,2024-01-05,锦江口腔门诊部\r\n"
                 + "P3,王五,男,1991-01-01,13912345678,,锦江区,,2024-01-05,锦江口腔门诊部\r\n")


def _plaintext_hits(engine, schema: str, needles: list[str]) -> list[str]:
    columns = engine.rows("SELECT table_name, column_name FROM information_schema.columns "
                          "WHERE table_schema = ? AND data_type = 'VARCHAR'", [schema])
    return [f"{schema}.{t}.{c}" for t, c in columns for needle in needles
            if engine.scalar(f'SELECT count(*) FROM {schema}."{t}" WHERE contains("{c}", ?)', [needle])]


def test_no_plaintext_personal_value_in_std(reference, write):
    [result] = load(reference, _patients(write))
    assert result.status == "complete"
    assert _plaintext_hits(reference, "std", [NAME, MOBILE, IDN, ADDRESS, "明华"]) == []


def test_encrypted_columns_read_back_and_blind_indexes_match_equal_numbers(reference, write):
    load(reference, _patients(write))
    plain = fields.read_patients(reference, "name, mobile, id_number, address", "ORDER BY source_patient_key")
    assert plain.to_pylist()[0] == {"name": NAME, "mobile": "+86" + MOBILE, "id_number": IDN, "address": ADDRESS}
    bi = dict(reference.rows("SELECT source_patient_key, mobile_bi FROM std.patient"))
    assert bi["P1"] == bi["P2"] != bi["P3"] and bi["P1"] is not None   # same number, two spellings
    assert reference.rows("SELECT id_number_bi IS NOT NULL FROM std.patient ORDER BY 1") == [(False,), (False,), (True,)]


def test_reencrypt_moves_patient_tokens_to_a_new_data_key(reference, write, master_key):
    load(reference, _patients(write))
    master = keys.parse_master_key(master_key)
    before = reference.rows("SELECT mobile FROM std.patient ORDER BY source_patient_key")
    with reference.transaction():
        reference.execute("UPDATE privacy.data_key SET retired_at = now() WHERE kind = 'data'")
        new_key = keys.add_data_key(reference, master)
    moved = crypto.reencrypt(reference, crypto.FieldCipher(keys.open_keyring(reference, master)))
    assert moved["std.patient.mobile"] == 3 and moved["std.patient.name"] == 3
    after = reference.rows("SELECT mobile FROM std.patient ORDER BY source_patient_key")
    assert all(t.startswith(f"v1.{new_key}.") for (t,) in after) and after != before
    plain = fields.read_patients(reference, "name, mobile", "ORDER BY source_patient_key").to_pylist()
    assert plain[0] == {"name": NAME, "mobile": "+86" + MOBILE}
