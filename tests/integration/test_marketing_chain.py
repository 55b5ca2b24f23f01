"""On a synthetic chain, the funnel and CAC/CVR per channel, read from the ingested CRM
exports, equal the same numbers computed with pandas from the ground truth."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from molar.ingest.run import ingest_paths
from molar.marketing.funnel import funnel
from molar.marketing.plans import follow_up
from molar.synth import SynthConfig, generate
from molar.warehouse import open_warehouse

pytestmark = pytest.mark.timeout(600)
END = date(2026, 10, 31)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """2,000 people in three chunks; MOLAR_MARKETING_CHAIN=/tmp/mkt_chain checks a chain generated
    before (the 20K demo chain of docs/marketing.md, exported on 2026-10-31) instead."""
    given = os.environ.get("MOLAR_MARKETING_CHAIN")
    if given:
        out = Path(given)
    else:
        out = tmp_path_factory.mktemp("mkt_chain")
        generate(SynthConfig(out_dir=out, patients=2000, clinics=3, seed=23, end_date=END, chunk_size=800))
    engine = open_warehouse(path=tmp_path_factory.mktemp("mkt_warehouse") / "molar.duckdb")
    src = out / "sources"
    results = ingest_paths(engine, [src / "his/clinics.csv", src / "his/doctors.csv"], today=END)
    results += ingest_paths(engine, [src / "crm"], today=END)
    assert all(r.status == "complete" and r.rows_quarantined == 0 for r in results)
    yield engine, out / "truth"
    engine.close()


def truth_funnel(truth, since: date | None) -> dict[str, dict]:
    leads = pd.read_parquet(truth / "leads.parquet")
    spend = pd.read_parquet(truth / "marketing_spend.parquet")
    if since is not None:
        leads = leads[leads.created_at >= pd.Timestamp(since)]
        spend = spend[pd.to_datetime(spend.month) >= pd.Timestamp(since.replace(day=1))]
    spent = spend.groupby("channel").spend_yuan.sum()
    out = {}
    for channel, g in leads.groupby("channel"):
        n, arrived = len(g), int(g.arrived_at.notna().sum())

        def days(a, b, g=g):
            d = ((g[a] - g[b]).dt.total_seconds() / 86400).dropna()
            return None if d.empty else float(d.median())

        s = round(float(spent[channel]), 2) if channel in spent.index else None
        out[channel] = {
            "leads": n, "consulted": int(g.consulted_at.notna().sum()), "booked": int(g.booked_at.notna().sum()),
            "arrived": arrived, "cvr": round(arrived / n, 4), "spend": s,
            "cac": None if s is None or not arrived else round(s / arrived, 2),
            "lead_to_consult": days("consulted_at", "created_at"), "booking_to_arrival": days("arrived_at", "booked_at"),
        }
    return out


@pytest.mark.parametrize("since", [None, date(2026, 1, 15)])
def test_funnel_per_channel_equals_the_truth(chain, since):
    engine, truth = chain
    expected = truth_funnel(truth, since)
    got = {r["channel"]: r for r in funnel(engine, "channel", since)}
    assert set(got) == set(expected) == {"meituan", "dianping", "douyin", "xiaohongshu", "referral", "walk_in"}
    for channel, e in expected.items():
        g = got[channel]
        assert {k: g[k] for k in ("leads", "consulted", "booked", "arrived", "cvr")} == \
            {k: e[k] for k in ("leads", "consulted", "booked", "arrived", "cvr")}, channel
        assert g["spend"] == pytest.approx(e["spend"], abs=0.005) if e["spend"] is not None else g["spend"] is None
        assert g["cac"] == pytest.approx(e["cac"], abs=0.01) if e["cac"] is not None else g["cac"] is None
        for stage in ("lead_to_consult", "booking_to_arrival"):
            assert g["median_days"][stage] == pytest.approx(e[stage], abs=0.006), (channel, stage)
    # paid channels lose leads on the way; a walk-in is an arrival
    assert got["walk_in"]["cvr"] == 1.0
    assert all(got[c]["cvr"] < 0.5 and got[c]["cac"] > 0 for c in ("meituan", "dianping", "douyin", "xiaohongshu"))


def test_arrived_leads_are_new_patients_of_the_window(chain):
    _, truth = chain
    leads = pd.read_parquet(truth / "leads.parquet")
    persons = pd.read_parquet(truth / "persons.parquet").set_index("person_id")
    arrived = leads[leads.arrived_at.notna()]
    assert arrived.person_id.is_unique and arrived.patient_key.notna().all() and arrived.visit_id.notna().all()
    assert persons.loc[arrived.person_id, "new_in_window"].all()
    assert leads[leads.arrived_at.isna()].person_id.isna().all()
    stamps = leads[["created_at", "consulted_at", "booked_at", "arrived_at"]]
    for a, b in zip(stamps.columns, stamps.columns[1:], strict=False):
        both = stamps[[a, b]].dropna()
        assert (both[b] >= both[a]).all(), (a, b)


def test_plan_worklist_equals_the_truth(chain):
    engine, truth = chain
    plans = pd.read_parquet(truth / "plans.parquet")
    cutoff = END - timedelta(days=14)
    expected = plans[(plans.status == "proposed") & (pd.to_datetime(plans.proposed_on) <= pd.Timestamp(cutoff))]
    got = follow_up(engine, END, timedelta(days=14), ["proposed"])
    assert sorted(r["plan_id"] for r in got) == sorted(expected.plan_id)
    assert len(got) > 10


def test_each_stage_loses_leads_at_the_configured_rates(chain):
    """Realised lead → consult → booking → arrival rates per channel lie within four binomial
    standard deviations of the generator's configured ones."""
    from molar.synth.marketing import CHANNELS, P_ARRIVE, P_BOOK, P_CONSULT

    engine, _ = chain
    got = {r["channel"]: r for r in funnel(engine, "channel")}
    for i, channel in enumerate(CHANNELS[:4]):
        g = got[channel]
        for rate, n, p in (("consult_rate", g["leads"], P_CONSULT[i]), ("booking_rate", g["consulted"], P_BOOK[i]),
                           ("arrival_rate", g["booked"], P_ARRIVE[i])):
            assert abs(g[rate] - p) <= 4 * (p * (1 - p) / n) ** 0.5 + 1e-4, (channel, rate, g[rate], p, n)
