"""Ground truth is consistent with the source exports."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from synthlib import parse_date

from molar.synth.identifiers import id_number_valid

PERSON_TABLES = {
    ("his", "patients"): ("his/patients.csv", "病历号", "gbk"),
    ("member", "members"): ("member/members.csv", "会员卡号", "utf-8-sig"),
}


def _valid_rows(chain, rel: str, df: pd.DataFrame, key: str) -> pd.DataFrame:
    """Drop rows the generator made invalid on purpose (and exact duplicates)."""
    bad = set(chain.invalid.loc[chain.invalid.file == f"sources/{rel}", "record_key"])
    return df[~df[key].isin(bad)].drop_duplicates()


def test_every_source_person_record_maps_to_exactly_one_person(chain):
    rec = chain.records
    persons = set(chain.persons.person_id)
    assert chain.persons.person_id.is_unique
    assert not rec.duplicated(["source", "table", "record_key"]).any()
    assert set(rec.person_id) <= persons
    keys = {
        ("his", "patients"): set(chain.his("patients")["病历号"]),
        ("member", "members"): set(chain.csv("member/members.csv", "utf-8-sig")["会员卡号"]),
        ("booking", "customers"): set(chain.customers()["客户ID"].astype(str)),
        ("wechat", "users"): set(chain.jsonl("wechat/users.jsonl")["unionid"]),
        ("consult", "consults"): set(chain.csv("consult/consults.csv", "utf-8")["咨询ID"]),
        ("reviews", "reviews"): set(chain.csv("reviews/reviews.csv", "utf-8")["评价ID"]),
    }
    for (source, table), found in keys.items():
        truth = set(rec.loc[(rec.source == source) & (rec.table == table), "record_key"])
        assert found == truth, f"{source}/{table}: {len(found ^ truth)} keys differ"
        assert len(found) > 0
    # everybody is known to at least one system
    person_records = rec[rec.table.isin(["patients", "customers", "members", "users"])]
    assert set(person_records.person_id) == persons


def test_truth_ids_and_phones_are_valid_and_consistent(chain):
    p = chain.persons
    assert id_number_valid(p.id_number.to_numpy()).all()
    assert p.id_number.is_unique
    born = pd.to_datetime(p.birth_date).dt.strftime("%Y%m%d")
    assert (p.id_number.str[6:14] == born).all(), "birth date embedded in the ID"
    male_digit = p.id_number.str[16].astype(int) % 2 == 1
    assert (male_digit == (p.sex == "M")).all(), "sex digit parity"
    own = p.mobile.dropna()
    assert own.is_unique
    assert own.str.match(r"^1[35789]\d{9}$").all()
    # minors mostly give a parent's phone; some households share one number
    minors = p[(pd.to_datetime(chain.end) - pd.to_datetime(p.birth_date)).dt.days < 16 * 365]
    assert (minors.contact_mobile != minors.mobile).mean() > 0.8
    shared = p.groupby("contact_mobile").person_id.count()
    assert (shared > 1).sum() > 50


def test_source_ids_in_his_are_valid_unless_marked_invalid(chain):
    pat = chain.his("patients")
    ids = pat.loc[pat["身份证号"] != "", ["病历号", "身份证号"]]
    ok = id_number_valid(ids["身份证号"].to_numpy())
    bad_keys = set(ids.loc[~ok, "病历号"])
    marked = set(chain.invalid.loc[(chain.invalid.file == "sources/his/patients.csv")
                                   & (chain.invalid.defect == "invalid_id_checksum"), "record_key"])
    assert bad_keys == marked
    # and an ID in a source is the person's true ID
    truth = chain.persons.set_index("person_id").id_number
    who = chain.person_of("his", "patients")
    good = ids[ok]
    assert (good["身份证号"].to_numpy() == truth.loc[good["病历号"].map(who)].to_numpy()).all()


def _visits(chain) -> pd.DataFrame:
    v = _valid_rows(chain, "his/visits.csv", chain.his("visits"), "就诊号")
    v = v.assign(day=v["就诊日期"].map(parse_date), person=v["病历号"].map(chain.person_of("his", "patients")))
    assert v.day.notna().all()
    assert v.person.notna().all()
    ids = chain.clinic_ids()
    return v.assign(clinic=v["诊所"].map(ids))


def test_arrived_appointments_are_his_visits(chain):
    v = _visits(chain)
    ap = chain.appointments().drop(columns="_file").drop_duplicates()
    arrived = ap[ap["状态"] == "已到诊"].copy()
    arrived["person"] = arrived["客户ID"].astype(str).map(chain.person_of("booking", "customers"))
    arrived["day"] = arrived["预约时间"].map(lambda t: t.date())
    arrived["clinic"] = arrived["门店"].map(chain.clinic_ids())
    assert arrived.person.notna().all() and arrived.clinic.notna().all()
    # the truth link says which visit; skip the few whose visit row was corrupted on purpose
    link = chain.truth("appointment_visits")
    arrived = arrived.merge(link, left_on="预约单号", right_on="appointment_id", how="left")
    assert arrived.visit_id.notna().all()
    arrived = arrived[arrived.visit_id.isin(set(v["就诊号"]))]
    assert len(arrived) > 1000
    m = arrived.merge(v, left_on="visit_id", right_on="就诊号", suffixes=("", "_v"))
    assert len(m) == len(arrived)
    for col in ("person", "day", "clinic", "科室"):
        assert (m[col] == m[col + "_v"]).all(), col
    # and independently of the link: (person, day, clinic, department) exists among visits
    keys = set(zip(v.person, v.day, v.clinic, v["科室"], strict=True))
    assert all(k in keys for k in zip(arrived.person, arrived.day, arrived.clinic, arrived["科室"], strict=True))


def test_booked_status_only_in_the_future(chain):
    ap = chain.appointments()
    slot = ap["预约时间"].map(lambda t: t.date())
    assert (slot[ap["状态"] == "已预约"] > chain.end).all()
    assert (slot[ap["状态"] != "已预约"] <= chain.end).all()
    assert (ap["下单时间"].map(lambda t: t.date()) <= chain.end).all()


def test_churned_people_stop_visiting(chain):
    v = _visits(chain)
    p = chain.persons.set_index("person_id")
    churn = pd.to_datetime(p.churn_date).dt.date
    vv = v.assign(churn=v.person.map(churn))
    after = vv[vv.churn.notna() & (vv.day >= vv.churn)]
    assert len(after) == 0
    assert p.churned.sum() > 100 and (p.churned == p.churn_date.notna()).all()
    assert set(p.loc[p.churned, "churn_reason"]) == {"price", "complaint", "distance"}
    assert set(p.loc[~p.churned, "churn_reason"]) == {"none"}
    # and no visit lies in the future or before the window
    assert v.day.max() <= chain.end and v.day.min() >= chain.start


def test_consult_labels_cover_every_consult(chain):
    c = chain.csv("consult/consults.csv", "utf-8")
    lab = chain.truth("consult_labels")
    assert set(lab.consult_id) == set(c["咨询ID"])
    assert set(lab.sentiment) == {"satisfied", "doubt", "complaint", "neutral"}
    # the consult's customer number belongs to the labelled person
    who = {}
    for src, table in (("his", "patients"), ("booking", "customers"), ("member", "members"), ("wechat", "users")):
        for k, pid in chain.person_of(src, table).items():
            who[(src, k)] = pid
    cc = c.merge(lab, left_on="咨询ID", right_on="consult_id")
    mapped = [who.get((s, k)) for s, k in zip(cc["客户来源"], cc["客户编号"], strict=True)]
    assert mapped == list(cc.person_id)


def test_reviews_mask_the_persons_phone(chain):
    r = chain.csv("reviews/reviews.csv", "utf-8")
    who = chain.person_of("reviews", "reviews")
    p = chain.persons.set_index("person_id")
    phones = r["评价ID"].map(who).map(p.contact_mobile)
    old = r["评价ID"].map(who).map(p.old_mobile).fillna("")
    masked = r["用户手机"]

    def match(m, ph):
        return isinstance(ph, str) and len(ph) == 11 and m == ph[:3] + "****" + ph[7:]

    ok = [match(m, a) or match(m, b) for m, a, b in zip(masked, phones, old, strict=True)]
    assert np.mean(ok) > 0.95


def test_household_roles_and_ages(chain):
    p = chain.persons
    assert set(p.household_role) == {"head", "spouse", "child", "elder"}
    age = (pd.to_datetime(chain.end) - pd.to_datetime(p.birth_date)).dt.days / 365.25
    assert (age < 13).mean() > 0.05 and (age >= 65).mean() > 0.05
    assert p.twin.sum() >= 2
    h = p[p.household_role.isin(["head", "child"])]
    fam = h.groupby("household_id").address.nunique()
    assert (fam == 1).all(), "a household shares one address"
    assert re.match(r"^P\d{8}$", p.person_id.iloc[0])
