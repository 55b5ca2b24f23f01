"""`molar clv fit` on the CDNOW sample reproduces the published parameters; bad files end in
one plain message (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from molar.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


def cdnow() -> Path:
    # ../shared/data beside the project (CI); a worktree one level deeper finds it too.
    for base in (ROOT.parent, ROOT.parent.parent):
        path = base / "shared" / "data" / "cdnow_sample.csv"
        if path.is_file():
            return path
    pytest.fail("../shared/data/cdnow_sample.csv not found beside the project")


def fit(path: Path, *extra: str):
    return runner.invoke(app, ["clv", "fit", str(path), "--customer", "customer_id", "--date", "date",
                               "--amount", "amount_usd", "--calibration-end", "1997-09-30", *extra])


def test_cdnow_reproduces_the_published_bgnbd_and_gamma_gamma():
    result = fit(cdnow(), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    # Fader, Hardie & Lee (2005); Fader & Hardie (2013): within 1 %.
    for key, published in {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259, "log_likelihood": -9582.43}.items():
        assert out["bgnbd"][key] == pytest.approx(published, rel=0.01), key
    for key, published in {"p": 6.25, "q": 3.74, "v": 15.44, "log_likelihood": -4055.92}.items():
        assert out["gamma_gamma"][key] == pytest.approx(published, rel=0.01), key
    assert out["customers"] == 2357
    assert out["repeat_customers"] == 946
    holdout = out["holdout"]
    assert holdout["holdout_length"] == 39.0  # 1997-10-01 … 1998-06-30 in weeks
    assert sum(b["customers"] for b in holdout["buckets"]) == 2357
    assert holdout["buckets"][0]["calibration_repeat_visits"] == "0"
    assert holdout["buckets"][0]["customers"] == 1411  # customers with no repeat purchase in the paper


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tx.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("customer_id,date,amount_usd\n", "has no transactions"),
        ("customer_id,day,amount_usd\n1,1997-01-01,3\n", "column(s) date not found"),
        ("customer_id,date,amount_usd\n1,1997-01-01,3\n2,someday,4\n", "cannot be read, first on data row 2"),
        ("customer_id,date,amount_usd\n1,1997-01-01,3\n2,1997-02-01,4\n", "single visit"),
        ("customer_id,date,amount_usd\n1,1998-01-01,3\n", "no transactions on or before"),
    ],
)
def test_bad_input_is_one_plain_message(tmp_path, content, message):
    result = fit(_csv(tmp_path, content))
    assert result.exit_code == 2
    output = " ".join(result.output.split())  # the console wraps long lines
    assert message in output
    assert "Traceback" not in output
