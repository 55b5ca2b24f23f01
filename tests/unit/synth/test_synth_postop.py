"""The post-op follow-up export: every other file unchanged, the planted risk where the docs say,
and the export agreeing with its truth."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from molar.synth import SynthConfig, generate

POSTOP_FILES = {"sources/followup/postop_cases.csv", "sources/followup/postop_checks.csv", "truth/postop.parquet"}


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_postop_export_leaves_every_other_file_byte_identical(tmp_path, monkeypatch):
    from molar.synth import generator

    config = dict(patients=900, clinics=3, seed=7, end_date=date(2025, 12, 31), chunk_size=400, sheet_row_limit=300)
    generate(SynthConfig(out_dir=tmp_path / "with", **config))
    monkeypatch.setattr(generator, "postop_chunk", lambda *args, **kwargs: None)
    generate(SynthConfig(out_dir=tmp_path / "without", **config))
    with_, without = _digests(tmp_path / "with"), _digests(tmp_path / "without")
    assert set(with_) >= POSTOP_FILES
    assert (tmp_path / "with/sources/followup/postop_cases.csv").stat().st_size > 200
    others = {k: v for k, v in with_.items() if k not in POSTOP_FILES | {"manifest.json"}}
    assert others == {k: v for k, v in without.items() if k not in POSTOP_FILES | {"manifest.json"}}
    manifests = [json.loads((tmp_path / run / "manifest.json").read_text(encoding="utf-8")) for run in ("with", "without")]
    for manifest in manifests:
        for rel in POSTOP_FILES:
            manifest["files"].pop(rel)
            manifest["invalid_rows"]["realised"].pop(rel, None)
    assert manifests[0] == manifests[1]


def _truth(chain) -> pd.DataFrame:
    return pd.read_parquet(chain.out / "truth/postop.parquet")


def test_smokers_carry_the_planted_higher_risk_within_each_procedure(chain):
    t = _truth(chain)
    assert 0.12 < t["smoker"].mean() < 0.35
    by = t.groupby(["procedure", "smoker"])["p_surgery"].mean().unstack()
    # the planted log-odds effect is +1.0: about 2.5x the risk at these base rates
    assert (by[True] / by[False] > 1.8).all(), by


def test_planted_rates_are_those_of_real_practice(chain):
    t = _truth(chain)
    expected = t.groupby("procedure")["p_surgery"].mean()
    assert 0.02 < expected["extraction"] < 0.08
    assert 0.03 < expected["implant"] < 0.10
    # dry socket about 2-5 % of all extractions, implant early failure about 2-3 % of implants
    ext = t[t["procedure"].isin(["extraction", "wisdom_extraction"])]
    dry = (ext["p_surgery"] * 0.65).mean()
    assert 0.02 < dry < 0.06
    assert 0.015 < (t.loc[t["procedure"] == "implant", "p_surgery"] * 0.45).mean() < 0.035


def test_the_export_agrees_with_the_truth(chain):
    t = _truth(chain).set_index("case_id")
    cases = chain.csv("followup/postop_cases.csv", "utf-8").set_index("随访编号")
    assert len(cases) == len(t) > 100
    assert ((cases["并发症"] != "") == t["complication"].notna()).all()
    late = cases[cases["并发症"] != ""]
    days = (pd.to_datetime(late["并发症日期"]) - pd.to_datetime(late["手术日期"])).dt.days
    assert days.between(0, 30).all()
    assert (days == t.loc[late.index, "complication_day"]).all()
    assert ((cases["吸烟"] == "是") == t["smoker"]).all()


def test_checks_follow_the_surgery_and_stop_at_the_export_date(chain):
    cases = chain.csv("followup/postop_cases.csv", "utf-8")
    checks = chain.csv("followup/postop_checks.csv", "utf-8").merge(cases[["随访编号", "手术日期"]], on="随访编号")
    gap = (pd.to_datetime(checks["随访日期"]) - pd.to_datetime(checks["手术日期"])).dt.days
    day = checks["随访日"].astype(int)
    assert set(day) == {1, 3, 7}
    assert ((gap == day) | (gap == day + 1)).all()  # a call can be a day late
    assert pd.to_datetime(checks["随访日期"]).max() <= pd.Timestamp(chain.config.end_date)
    assert checks["疼痛评分"].astype(int).between(0, 10).all()


def test_rising_pain_by_day_three_marks_a_higher_planted_risk(chain):
    t = _truth(chain)
    checks = chain.csv("followup/postop_checks.csv", "utf-8")
    pain = checks.pivot_table(index="随访编号", columns="随访日", values="疼痛评分", aggfunc="first").astype(float)
    rise = (pain["3"] - pain["1"]).reindex(t["case_id"]).to_numpy()
    seen = ~np.isnan(rise)
    ratio = t["p_day3"].to_numpy() / t["p_surgery"].to_numpy()
    assert ratio[seen & (rise > 1)].mean() > 1.3 > ratio[seen & (rise < 0)].mean()
