"""The numbers stated in docs/synthetic-chain.md are the numbers the code uses."""

from __future__ import annotations

import re
from pathlib import Path

from molar.synth import NoiseRates
from molar.synth.booking import CHANNEL_ZH, STATUS_ZH
from molar.synth.world import DEPT_ZH

DOC = Path(__file__).resolve().parents[3] / "docs" / "synthetic-chain.md"


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start:end if end > 0 else None]


def test_noise_rate_table_matches_the_defaults():
    rows = re.findall(r"^\| (\w+) \| ([0-9.]+) \|", _section("Noise rates"), flags=re.M)
    documented = {name: float(value) for name, value in rows}
    assert documented == NoiseRates().as_dict()


def test_code_mapping_tables_match_the_generator():
    text = _section("Code mappings")
    depts = dict(re.findall(r"^\| (\w+) \| (\S+) \|$", text, flags=re.M))
    depts.pop("canonical", None)
    assert depts == DEPT_ZH
    for code, zh in {**CHANNEL_ZH, **STATUS_ZH}.items():
        assert f"{code} {zh}" in text


def test_default_invalid_share_in_his(chain):
    realised = chain.manifest["invalid_rows"]["realised"]
    bad = total = 0
    for name in ("patients", "visits", "treatments", "charges"):
        rel = f"sources/his/{name}.csv"
        n_bad = sum(v["rows"] for v in realised[rel].values())
        n = chain.manifest["files"][rel]["rows"]
        assert 0.005 <= n_bad / n <= 0.03, name
        bad += n_bad
        total += n
    assert 0.015 <= bad / total <= 0.025
