"""Same configuration, same bytes; another seed, other data."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date
from pathlib import Path

import pytest

from molar.synth import SynthConfig, generate


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def _config(out: Path, seed: int) -> SynthConfig:
    # several chunks and split sheets, so chunk seeding and sheet rollover are covered too
    return SynthConfig(out_dir=out, patients=900, clinics=3, seed=seed, end_date=date(2025, 12, 31),
                       chunk_size=400, sheet_row_limit=300)


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = generate(_config(tmp_path / "a", 21))
    b = generate(_config(tmp_path / "b", 21))
    da, db = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert set(da) == set(db)
    assert any(k.endswith(".xlsx") for k in da) and any(k.endswith(".parquet") for k in da)
    assert not any("xlsx_tmp" in k for k in da), "temporary files are cleaned up"
    differing = [k for k in da if da[k] != db[k]]
    assert differing == []
    assert a.manifest == b.manifest


def test_one_or_two_processes_give_the_same_bytes(tmp_path, monkeypatch):
    from molar.synth import generator

    monkeypatch.setattr(generator, "WORKER_MIN_PEOPLE", 0)  # use the worker process even for 900 people
    two = dataclasses.replace(_config(tmp_path / "two", 21), workers=2)
    one = dataclasses.replace(_config(tmp_path / "one", 21), workers=1)
    a, b = generate(two), generate(one)
    assert _digests(tmp_path / "two") == _digests(tmp_path / "one")
    assert a.manifest == b.manifest
    assert not (tmp_path / "two" / ".part_b").exists()


def test_a_failing_worker_is_reported(tmp_path, monkeypatch):
    from molar.synth import generator

    monkeypatch.setattr(generator, "WORKER_MIN_PEOPLE", 0)
    monkeypatch.setattr(generator, "WORKER_ARGS", ("-c", "import sys; sys.stdin.read(); raise SystemExit('boom')"))
    with pytest.raises(RuntimeError, match="boom"):
        generate(dataclasses.replace(_config(tmp_path / "x", 21), workers=2))


def test_rerun_into_the_same_folder_replaces_everything(tmp_path):
    generate(_config(tmp_path / "a", 21))
    first = _digests(tmp_path / "a")
    (tmp_path / "a" / "sources" / "stale.csv").write_text("old")
    generate(_config(tmp_path / "a", 21))
    assert _digests(tmp_path / "a") == first


def test_different_seed_gives_different_data(tmp_path):
    generate(_config(tmp_path / "a", 21))
    generate(_config(tmp_path / "b", 22))
    da, db = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    for rel in ("sources/his/patients.csv", "sources/his/visits.csv", "sources/booking/customers.xlsx",
                "sources/wechat/events.jsonl", "truth/persons.parquet"):
        assert da[rel] != db[rel], rel
    # the static world is seeded too
    assert da["sources/his/doctors.csv"] != db["sources/his/doctors.csv"]


def test_progress_reports_every_chunk(tmp_path):
    seen = []
    generate(_config(tmp_path / "p", 21), progress=lambda stage, done, total: seen.append((stage, done, total)))
    people = [d for s, d, t in seen if s == "people"]
    assert people == [0, 400, 800, 900]
    assert [d for s, d, t in seen if s == "booking+wechat"] == [0, 400, 800, 900]
    assert all(t == 900 for _, _, t in seen)
