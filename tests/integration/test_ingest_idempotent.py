"""Loads are idempotent: same file skipped, overlapping re-exports never duplicate rows."""

import pytest

from molar.ingest.loader import load_file
from molar.ingest.mapping import load_mappings
from molar.privacy import fields
from support import PATIENT_HEADER, load


def rows(*keys_and_phones):
    return PATIENT_HEADER + "".join(
        f"{k},张伟,女,1985-03-15,{m},,锦江区,红星路8号,2024-01-05,锦江口腔门诊部\r\n" for k, m in keys_and_phones
    )


def test_same_file_twice_is_skipped(reference, write):
    path = write("patients.csv", rows(("P1", "13812345678"), ("P2", "13912345678")))
    [first] = load(reference, path)
    [second] = load(reference, path)
    assert first.status == "complete" and second.status == "skipped"
    assert second.load_id == first.load_id
    assert reference.count("std.patient") == 2


def test_overlapping_reexport_replaces_instead_of_duplicating(reference, write):
    load(reference, write("patients.csv", rows(("P1", "13812345678"), ("P2", "13912345678"))))
    [second] = load(reference, write("patients_2.csv", rows(("P2", "13700000000"), ("P3", "13600000000"))))
    target = second.targets[0]
    assert (target.rows_inserted, target.rows_replaced) == (1, 1)
    stored = fields.read_patients(reference, "source_patient_key, mobile", "ORDER BY 1").to_pylist()
    assert [(r["source_patient_key"], r["mobile"]) for r in stored] == [
        ("P1", "+8613812345678"), ("P2", "+8613700000000"), ("P3", "+8613600000000"),
    ]


def test_force_reloads_without_duplicates(reference, write):
    path = write("patients.csv", rows(("P1", "13812345678")))
    load(reference, path)
    file_map = load_mappings()["his"].files[2]
    assert file_map.entry == "patients"
    again = load_file(reference, path, file_map, today=__import__("support").TODAY, force=True)
    assert again.status == "complete" and again.targets[0].rows_replaced == 1
    assert reference.count("std.patient") == 1


def test_failed_load_leaves_nothing_behind(reference, write, monkeypatch):
    import molar.ingest.loader as loader

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(loader, "_record_load", explode)
    path = write("patients.csv", rows(("P1", "13812345678")))
    with pytest.raises(RuntimeError, match="disk full"):
        load(reference, path)
    monkeypatch.undo()
    assert reference.count("std.patient") == 0
    assert not reference.table_exists("raw.his__patients")  # even the raw table was rolled back
    [result] = load(reference, path)
    assert result.status == "complete" and reference.count("std.patient") == 1
