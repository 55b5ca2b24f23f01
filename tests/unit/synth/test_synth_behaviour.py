"""Behavioural signal that later stages learn from is present in the sources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthlib import parse_date


@pytest.fixture(scope="module")
def visits(chain) -> pd.DataFrame:
    inv = chain.invalid
    bad = set(inv.loc[inv.file == "sources/his/visits.csv", "record_key"])
    v = chain.his("visits")
    v = v[~v["就诊号"].isin(bad)].drop_duplicates()
    day = pd.to_datetime(v["就诊日期"].map(parse_date))
    person = v["病历号"].map(chain.person_of("his", "patients"))
    return v.assign(day=day, person=person, weekend=day.dt.day_of_week >= 5, month=day.dt.month)


def test_orthodontics_is_heavy_on_weekends(visits):
    share = visits.groupby("科室").weekend.mean()
    assert share["正畸科"] > 0.45
    assert share["正畸科"] > share["综合科"] + 0.15


def test_orthodontic_weekend_slots_are_mornings(chain):
    ap = chain.appointments()
    slot = pd.to_datetime(ap["预约时间"])
    weekend = slot.dt.day_of_week >= 5
    ortho = ap["科室"] == "正畸科"
    morning = slot.dt.hour < 12
    assert morning[ortho & weekend].mean() > 0.6
    assert morning[ortho & weekend].mean() > morning[~ortho & ~weekend].mean() + 0.2


def test_childrens_visits_peak_in_school_holidays(visits):
    kids = visits[visits["科室"] == "儿童口腔科"]
    holiday = kids.month.isin([1, 2, 7, 8]).mean()
    assert len(kids) > 200
    assert holiday > 0.45, "4 of 12 months would be 0.33 without seasonality"


def test_orthodontic_courses_are_monthly(visits):
    o = visits[visits["科室"] == "正畸科"].sort_values(["person", "day"])
    gaps = o.groupby("person").day.diff().dt.days.dropna()
    assert len(gaps) > 100
    assert 24 <= gaps.median() <= 38


def test_cleaning_recalls_stretch_before_churn(chain, visits):
    p = chain.persons.set_index("person_id")
    cl = visits[visits["科室"] == "牙周科"].sort_values(["person", "day"])
    gaps = cl.assign(gap=cl.groupby("person").day.diff().dt.days).dropna(subset=["gap"])
    gaps = gaps[gaps.gap > 90]  # recall intervals, not treatment series
    last = gaps.groupby("person").gap.last()
    churned = p.churned.reindex(last.index)
    assert last[churned].median() > last[~churned].median()


def test_churn_reasons_have_their_tells(chain):
    p = chain.persons
    start = pd.Timestamp(chain.start)
    lab = chain.truth("consult_labels")
    c = chain.csv("consult/consults.csv", "utf-8").merge(lab, left_on="咨询ID", right_on="consult_id")
    c["t"] = pd.to_datetime(c["时间"])
    c = c.merge(p[["person_id", "churn_date", "churn_reason"]], on="person_id")
    before = c[c.churn_date.isna() | (c.t < pd.to_datetime(c.churn_date))]
    in_window = p[p.churned & (pd.to_datetime(p.churn_date) > start + pd.Timedelta(days=30))]

    def share(reason, topic_prefix):
        who = in_window[in_window.churn_reason == reason].person_id
        hits = before[before.topic.str.startswith(topic_prefix)].person_id
        return who.isin(hits).mean()

    loyal = p[~p.churned & p.in_his].person_id
    base = loyal.isin(before[before.sentiment == "complaint"].person_id).mean()
    assert share("complaint", "complaint") > 0.6 > 5 * base
    assert share("price", "complaint_price") + share("price", "worry") > 0.3
    assert share("distance", "moving_away") > 0.15
    # complaints come before the churn date, never after it
    ch = c[c.churn_date.notna() & (c.sentiment == "complaint") & (c.churn_reason == "complaint")]
    assert (ch.t.dt.date < ch.churn_date).mean() > 0.95
    # and the lowest ratings come from complaint-driven churners
    r = chain.csv("reviews/reviews.csv", "utf-8")
    r["person"] = r["评价ID"].map(chain.person_of("reviews", "reviews"))
    reason = r.person.map(p.set_index("person_id").churn_reason)
    stars = r["星级"].astype(int)
    assert stars[reason == "complaint"].mean() < 2.5 < stars[reason == "none"].mean()


def test_referrals_precede_the_referred_first_visit(chain, visits):
    ev = chain.jsonl("wechat/events.jsonl")
    ref = ev[ev.event == "referral"].drop_duplicates("event_id")
    assert len(ref) >= 10
    p = chain.persons
    by_union = p.dropna(subset=["unionid"]).set_index("unionid").person_id
    referred = ref.unionid.map(by_union)
    referrer = ref.referrer_unionid.map(by_union)
    truth = p.set_index("person_id").referred_by
    assert (referred.map(truth) == referrer).all(), "referrer_unionid names the true referrer"
    first = visits.groupby("person").day.min()
    fv = referred.map(first)
    assert (fv > pd.to_datetime(ref.ts)).mean() > 0.97
    assert ((fv - pd.to_datetime(ref.ts)).dt.days <= 30).mean() > 0.9


def test_toothbrush_owners_and_plaque(chain):
    tb = chain.jsonl("telemetry/brushing.jsonl")
    p = chain.persons
    owners = tb.unionid.unique()
    assert 0.03 < len(owners) / len(p) < 0.08
    risk = p.dropna(subset=["unionid"]).set_index("unionid").periodontal_risk
    mean_plaque = tb.groupby("unionid").plaque_index.mean().dropna()  # a new device may not have brushed yet
    corr = np.corrcoef(mean_plaque.to_numpy(), risk.reindex(mean_plaque.index).to_numpy())[0, 1]
    assert corr > 0.5
    assert (mean_plaque > 2.0).sum() >= 3, "some owners have sustained high plaque"
    assert (tb.sessions == 0).any() and tb.loc[tb.sessions == 0, "plaque_index"].isna().all()


def test_no_shows_and_cancellations_rise_before_churn(chain):
    ap = chain.appointments().drop_duplicates("预约单号")
    ap = ap[ap["状态"] != "已预约"]
    ap["person"] = ap["客户ID"].astype(str).map(chain.person_of("booking", "customers"))
    p = chain.persons.set_index("person_id")
    churned = ap.person.map(p.churned)
    missed = ap["状态"].isin(["爽约", "已取消"])
    assert missed[churned].mean() > missed[~churned].mean() + 0.05
    assert 0.08 < missed.mean() < 0.35


def test_common_names_collide(chain):
    names = chain.persons.name.value_counts()
    assert names.iloc[0] >= 4
    p = chain.persons
    same = p.groupby(["name", "district"]).size()
    assert (same > 1).sum() >= 5, "common names in the same district"
    bday = p.groupby("birth_date").size()
    assert (bday > 1).sum() > 100
