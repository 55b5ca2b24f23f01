"""Who is on a phone: typed variants of one name, a birth-date typo and nicknames in a
name field are no second person, so a form of address there still names the owner.

Each case goes through ``link_file`` (standardisers, name parsing, features, the
own-phone rule, the default model) on a real DuckDB warehouse kept on disk, so the link
input can be read back. Expected groups are worked out by hand in the comments.
"""

from __future__ import annotations

import csv
from datetime import date

import duckdb

from molar.identity.link_file import link_file

HEADER = ("record_id", "source", "name", "sex", "birth_date", "mobile", "wechat_unionid")


def link(tmp_path, rows) -> tuple[dict[str, str], dict[str, tuple[int, bool]]]:
    """Golden ID per record_id, and (mobile_names, on an own phone) per record_id."""
    src, out, warehouse = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "w.duckdb"
    with src.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER, *rows])
    link_file(src, out, today=date(2026, 10, 31), warehouse=warehouse)
    with out.open(encoding="utf-8") as f:
        golden = {r["record_id"]: r["golden_id"] for r in csv.DictReader(f)}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        phone = {k: (n, own) for k, n, own in con.execute(
            "SELECT source_patient_key, mobile_names, own_phone_bi IS NOT NULL FROM identity.link_input").fetchall()}
    finally:
        con.close()
    return golden, phone


def test_a_doubled_or_dropped_character_is_the_same_name(tmp_path):
    golden, phone = link(tmp_path, [
        # 金成荣 typed 金成成荣 on his member card: one man, so 金先生 on his phone is him
        ("H1", "his", "金成荣", "男", "1980-01-01", "13811110001", ""),
        ("M1", "member", "金成成荣", "男", "1980-01-01", "13811110001", ""),
        ("B1", "booking", "金先生", "", "", "13811110001", ""),
        # 高英芳 with a dropped character on a booking: one woman
        ("H2", "his", "高英芳", "女", "1985-03-03", "13811110002", ""),
        ("B2", "booking", "高英", "", "", "13811110002", ""),
        ("B3", "booking", "高女士", "", "", "13811110002", ""),
        # twins 陈子涵 / 陈子轩 differ by a character, not by its absence: two people on
        # their mother's phone; 陈女士 (an adult, so neither of the 10-year-olds) is a
        # third person there
        ("H4", "his", "陈子涵", "女", "2016-06-01", "13811110004", ""),
        ("H5", "his", "陈子轩", "女", "2016-06-01", "13811110004", ""),
        ("B4", "booking", "陈女士", "", "", "13811110004", ""),
    ])
    assert phone["H1"] == phone["M1"] == phone["B1"] == (1, True)
    assert golden["H1"] == golden["M1"] == golden["B1"]
    assert phone["B2"] == (1, True)
    assert golden["H2"] == golden["B2"] == golden["B3"]
    assert phone["H4"] == (3, False)
    assert len({golden["H4"], golden["H5"], golden["B4"]}) == 3


def test_a_birth_date_typo_keeps_a_phone_its_owners(tmp_path):
    golden, phone = link(tmp_path, [
        # 李雨曦 with her birthday one day off on the member card: still her own phone,
        # so 李老师 (no sex implied; the model alone keeps it below the threshold) is her
        ("H1", "his", "李雨曦", "女", "1990-05-05", "13922220001", ""),
        ("M1", "member", "李雨曦", "女", "1990-05-06", "13922220001", ""),
        ("B1", "booking", "李老师", "", "", "13922220001", ""),
        # two birth dates 28 years apart under one name are two people (a mother and the
        # daughter named after her): not an own phone, so the own-phone rule links nothing
        ("H2", "his", "李雨曦", "女", "1990-05-05", "13922220002", ""),
        ("M2", "member", "李雨曦", "女", "1962-11-20", "13922220002", ""),
        ("B2", "booking", "李老师", "", "", "13922220002", ""),
    ])
    assert phone["B1"] == (1, True)
    assert golden["H1"] == golden["M1"] == golden["B1"]
    assert phone["H2"] == phone["M2"] == phone["B2"] == (1, False)
    assert golden["H2"] != golden["M2"]


def test_nicknames_never_make_a_phone_a_family_phone(tmp_path):
    golden, phone = link(tmp_path, [
        # a chat typed 夏天的风 (a nickname, though 夏 is a surname) and a WeChat account
        # 快乐小鱼 on 夏雨's phone: she is still its only person, so 夏女士 is her
        ("H1", "his", "夏雨", "女", "1991-02-03", "13733330001", ""),
        ("K1", "consult", "夏天的风", "", "", "13733330001", ""),
        ("W1", "wechat", "快乐小鱼", "女", "", "13733330001", "oW1"),
        ("B1", "booking", "夏女士", "", "", "13733330001", ""),
        # 史姨 is a form of address (auntie 史), not a second name on 史秀英's phone
        ("H2", "his", "史秀英", "女", "1962-04-04", "13733330002", ""),
        ("B2", "booking", "史姨", "", "", "13733330002", ""),
    ])
    assert phone["H1"] == (1, True) and phone["K1"] == (1, False)  # on her phone, but not named
    assert golden["H1"] == golden["B1"]
    assert golden["K1"] != golden["H1"] and golden["W1"] != golden["H1"]  # no evidence who they are
    assert phone["B2"] == (1, True)
    assert golden["H2"] == golden["B2"]


def test_a_form_of_address_on_a_phone_of_two_women_of_that_surname_names_neither(tmp_path):
    golden, phone = link(tmp_path, [
        # 李雨曦 and her aunt 李梅 share a phone: 李女士 could be either, so neither link
        # is made; 李老师 (no sex implied) could be either too
        ("H1", "his", "李雨曦", "女", "1990-05-05", "13644440001", ""),
        ("H2", "his", "李梅", "女", "1965-08-08", "13644440001", ""),
        ("B1", "booking", "李女士", "", "", "13644440001", ""),
        ("B2", "booking", "李老师", "", "", "13644440001", ""),
    ])
    assert phone["B1"] == (2, False)
    assert len({golden["H1"], golden["H2"], golden["B1"]}) == 3
    assert golden["B2"] not in {golden["H1"], golden["H2"]}
