"""Noise is really in the files, at the configured rates, and the manifest tells the truth about it."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest
import zhconv
from synthlib import Chain, parse_date

from molar.synth import NoiseRates, SynthConfig, generate
from molar.synth.identifiers import id_number_valid


def _within(observed: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    """observed/n is within ``sigmas`` binomial standard deviations of p."""
    sd = math.sqrt(max(p * (1 - p), 1e-9) / max(n, 1))
    return abs(observed / n - p) <= sigmas * sd + 1e-9


def _realised(chain, table: str) -> dict:
    return chain.manifest["noise"]["realised"][table]


def _invalid(chain, rel: str, defect: str) -> dict:
    return chain.manifest["invalid_rows"]["realised"][f"sources/{rel}"][defect]


def _bad_length(s: str) -> bool:
    return s.isdigit() and len(s) in (10, 12)


def test_identity_noise_in_his_patients_matches_manifest_and_rates(noisy_chain):
    ch = noisy_chain
    rates = ch.config.noise
    pat = ch.his("patients")
    dups = len(pat) - len(pat.drop_duplicates())
    pat = pat.drop_duplicates()
    real = _realised(ch, "his/patients")
    n = real["records"]
    assert len(pat) == n
    measured = {
        "name_whitespace": int(pat["患者姓名"].str.contains(" ").sum()),
        "sex_letter_code": int(pat["性别"].isin(["M", "F"]).sum()),
        "id_missing": int((pat["身份证号"] == "").sum()),
        "mobile_missing": int((pat["手机号"] == "").sum()),
        "mobile_formatted": int(pat["手机号"].map(lambda s: s != "" and not s.isdigit()).sum()
                                + pat["手机号"].map(lambda s: s.isdigit() and len(s) == 13).sum()),
    }
    for kind, count in measured.items():
        assert count == real[kind], kind
    assert _within(measured["name_whitespace"], n, rates.name_whitespace)
    assert _within(measured["sex_letter_code"], n, rates.sex_letter_code)
    assert _within(measured["mobile_missing"], n, rates.mobile_missing)
    assert _within(measured["mobile_formatted"], n - measured["mobile_missing"], rates.mobile_formatted)
    second = real["second_record"]
    p_id = (rates.id_missing * (n - second) + min(1.0, rates.id_missing * 1.8) * second) / n
    assert _within(measured["id_missing"], n, p_id)
    assert dups == _invalid(ch, "his/patients.csv", "duplicate_row")["rows"]
    # re-registrations: people with two HIS records
    who = ch.records[ch.records.table == "patients"].person_id
    assert int((who.value_counts() == 2).sum()) == second > 0


def test_name_typos_are_homophones_or_traditional(noisy_chain):
    ch = noisy_chain
    rates = ch.config.noise
    pat = ch.his("patients").drop_duplicates()
    truth = ch.persons.set_index("person_id").name
    names = pat["患者姓名"].str.replace(" ", "", regex=False)
    true = pat["病历号"].map(ch.person_of("his", "patients")).map(truth)
    differs = names != true
    simplified = names.map(lambda s: zhconv.convert(s, "zh-hans"))
    traditional = differs & (simplified == true)
    homophone = differs & (simplified != true)
    real = _realised(ch, "his/patients")
    n = real["records"]
    assert abs(int(traditional.sum()) - real["name_traditional"]) <= 0.15 * real["name_traditional"] + 3
    assert abs(int(homophone.sum()) - real["name_homophone"]) <= 0.15 * real["name_homophone"] + 3
    # not every name has a homophone / traditional form, so realised <= configured
    assert 0.5 * rates.name_homophone * n < real["name_homophone"] <= (rates.name_homophone + 0.03) * n
    assert 0.2 * rates.name_traditional * n < real["name_traditional"] <= (rates.name_traditional + 0.03) * n
    # homophone typos keep the length and change exactly one character (after undoing traditional)
    h = pd.DataFrame({"a": simplified[homophone], "b": true[homophone]})
    assert (h.a.str.len() == h.b.str.len()).all()
    assert all(sum(x != y for x, y in zip(a, b, strict=True)) == 1 for a, b in zip(h.a, h.b, strict=True))


def test_booking_names_in_pinyin(noisy_chain):
    cust = noisy_chain.customers().drop_duplicates()
    pinyin = cust["姓名"].map(lambda s: s.replace(" ", "").isascii() and s.replace(" ", "").isalpha())
    real = _realised(noisy_chain, "booking/customers")
    assert int(pinyin.sum()) == real["name_pinyin"]
    assert _within(int(pinyin.sum()), len(cust), noisy_chain.config.noise.name_pinyin)


def test_invalid_rows_are_real_logged_and_at_rate(noisy_chain):
    ch = noisy_chain
    rates = ch.config.noise
    end = ch.end
    checks = []
    pat = ch.his("patients")
    checks += [
        ("his/patients.csv", "invalid_date", pat["出生日期"].map(parse_date).isna(), rates.invalid_date),
        ("his/patients.csv", "invalid_phone_length", pat["手机号"].map(_bad_length), rates.invalid_phone_length),
        ("his/patients.csv", "invalid_id_checksum",
         (pat["身份证号"] != "") & ~pd.Series(id_number_valid(pat["身份证号"].to_numpy()), index=pat.index),
         rates.invalid_id_checksum),
    ]
    vis = ch.his("visits")
    day = vis["就诊日期"].map(parse_date)
    checks += [
        ("his/visits.csv", "invalid_date", day.isna(), rates.invalid_date),
        ("his/visits.csv", "future_visit_date", day.map(lambda d: d is not None and d > end), rates.future_visit_date),
    ]
    chg = ch.his("charges")
    checks += [
        ("his/charges.csv", "negative_amount", chg["金额"].str.startswith("-"), rates.negative_amount),
        ("his/charges.csv", "invalid_date", chg["收费日期"].map(parse_date).isna(), rates.invalid_date),
    ]
    mem = ch.csv("member/members.csv", "utf-8-sig")
    checks += [
        ("member/members.csv", "invalid_phone_length", mem["手机号码"].map(_bad_length), rates.invalid_phone_length),
        ("member/members.csv", "invalid_date", mem["生日"].map(parse_date).isna(), rates.invalid_date),
    ]
    cust = ch.customers()
    checks.append(("booking/customers.xlsx", "invalid_phone_length", cust["手机"].map(_bad_length),
                   rates.invalid_phone_length))
    users = ch.jsonl("wechat/users.jsonl")
    checks.append(("wechat/users.jsonl", "invalid_phone_length", users["mobile"].map(
        lambda s: isinstance(s, str) and _bad_length(s)), rates.invalid_phone_length))
    for rel, defect, mask, rate in checks:
        info = _invalid(ch, rel, defect)
        assert int(mask.sum()) == info["rows"], (rel, defect)
        assert info["rows"] > 0, (rel, defect)
        assert _within(info["rows"], info["eligible_rows"], rate), (rel, defect, info)
    # exact duplicates
    for rel, df in (("his/visits.csv", vis), ("his/charges.csv", chg), ("his/treatments.csv", ch.his("treatments")),
                    ("member/members.csv", mem), ("booking/customers.xlsx", cust)):
        info = _invalid(ch, rel, "duplicate_row")
        assert len(df) - len(df.drop_duplicates()) == info["rows"] > 0, rel
        assert _within(info["rows"], info["eligible_rows"], rates.duplicate_row), rel
    ev = (ch.src / "wechat/events.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(ev) - len(set(ev)) == _invalid(ch, "wechat/events.jsonl", "duplicate_row")["rows"] > 0
    # invalid rows are "a few percent" of the HIS rows
    share = sum(ch.manifest["invalid_rows"]["realised"]["sources/his/patients.csv"][d]["rows"]
                for d in ("invalid_date", "invalid_phone_length", "invalid_id_checksum", "duplicate_row")) / len(pat)
    assert 0.05 < share < 0.2


def test_invalid_row_log_points_at_the_right_rows(noisy_chain):
    ch = noisy_chain
    pat = ch.his("patients")
    log = ch.invalid[ch.invalid.file == "sources/his/patients.csv"]
    assert len(log) > 0
    for _, r in log.iterrows():
        row = pat.iloc[r.row_number - 1]
        assert row["病历号"] == r.record_key
        if r.defect == "invalid_id_checksum":
            assert not id_number_valid([row["身份证号"]])[0]
        elif r.defect == "invalid_date":
            assert parse_date(row["出生日期"]) is None
        elif r.defect == "invalid_phone_length":
            assert _bad_length(row["手机号"])
        elif r.defect == "duplicate_row":
            assert (pat.iloc[r.row_number - 2] == row).all()


def test_wechat_users_mostly_nicknames_and_unbound(noisy_chain):
    users = noisy_chain.jsonl("wechat/users.jsonl")
    real = _realised(noisy_chain, "wechat/users")
    n = real["records"]
    rates = noisy_chain.config.noise
    assert _within(real["nickname_not_name"], n, 1 - rates.wechat_real_name)
    assert int(users["mobile"].isna().sum()) == real["mobile_missing"]
    assert _within(real["mobile_missing"], n, 1 - rates.wechat_mobile_bound)


def test_zero_noise_gives_clean_sources(tmp_path):
    zero = NoiseRates(**{f.name: 0.0 for f in dataclasses.fields(NoiseRates)})
    config = SynthConfig(out_dir=tmp_path, patients=500, clinics=3, seed=3, noise=zero)
    ch = Chain(tmp_path, config, generate(config).manifest)
    assert len(ch.invalid) == 0
    pat = ch.his("patients")
    assert not pat.duplicated().any()
    who = pat["病历号"].map(ch.person_of("his", "patients"))
    p = ch.persons.set_index("person_id")
    assert (pat["患者姓名"] == who.map(p.name)).all()
    assert (pat["身份证号"] == who.map(p.id_number)).all()
    assert (pat["手机号"] == who.map(p.contact_mobile)).all()
    assert set(pat["性别"]) == {"男", "女"}
    assert who.is_unique
    assert all(parse_date(s) is not None for s in pat["出生日期"])
    assert (pat["出生日期"].map(parse_date) == who.map(pd.to_datetime(p.birth_date).dt.date)).all()


def test_noise_rates_validate():
    with pytest.raises(ValueError, match="name_homophone"):
        NoiseRates(name_homophone=1.5)
    with pytest.raises(ValueError, match="patients"):
        SynthConfig(out_dir="x", patients=0)
    with pytest.raises(ValueError, match="C01..C99"):
        SynthConfig(out_dir="x", clinics=150)
    with pytest.raises(ValueError, match="sheet_row_limit"):
        SynthConfig(out_dir="x", sheet_row_limit=2_000_000)
