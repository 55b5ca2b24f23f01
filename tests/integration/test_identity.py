"""Identity resolution end to end on crafted records in a real DuckDB warehouse.

Small inputs use the default (pre-trained, unsupervised) parameters; the statistical
quality on realistic volumes is measured by benchmarks/identity (docs/identity.md).
"""

from __future__ import annotations

import csv
import json
import re
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from molar.identity import add_override, explain, link_file, resolve
from molar.identity.cli import register
from molar.identity.explain import render
from molar.privacy import fields, keys
from molar.privacy.blind_index import BlindIndexer
from molar.realtime.identity_index import IdentityError, IdentityIndex
from molar.warehouse import open_warehouse

# id_number helper from tests/support (checksum-valid resident IDs)
from support import golden_rows, id_number

COLUMNS = ("source", "source_patient_key", "name", "sex", "birth_date", "mobile", "id_number",
           "district", "address", "wechat_unionid", "nickname", "registered_on", "clinic_id")


def rec(source, key, name, sex=None, birth=None, mobile=None, idn=None, district=None,
        unionid=None, registered=None, nickname=None):
    return {
        "source": source, "source_patient_key": key, "name": name, "sex": sex,
        "birth_date": date.fromisoformat(birth) if birth else None, "mobile": mobile, "id_number": idn,
        "district": district, "address": None, "wechat_unionid": unionid, "nickname": nickname,
        "registered_on": date.fromisoformat(registered) if registered else date(2025, 1, 1),
        "clinic_id": "C01" if source == "his" else None,
    }


def load(engine, rows):
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        (c, pa.date32() if c in ("birth_date", "registered_on") else pa.string()) for c in COLUMNS
    ]))
    engine.append("std.patient", fields.seal_patients(table, keys.open_keyring_from(None, engine)))   # as ingest writes it


ZHANG = id_number("51010719850312001")
WANG = id_number("51010519790211002")

BASE = [
    # 张伟: HIS with ID, booking with a homophone name and two digits transposed
    rec("his", "H1", "张伟", "M", "1985-03-12", "+8613812345678", ZHANG, "锦江区"),
    rec("booking", "B1", "张玮", "M", "1985-03-12", "+8613812345687"),
    rec("member", "M1", "张伟", "M", "1985-03-12", "+8613812345678", ZHANG),
    # 陈静 typed in traditional characters by one clinic (ingest keeps them simplified;
    # 陳靜 here stands for a name that still differs in characters but not in pinyin)
    rec("his", "H2", "陈静", "F", "1990-01-01", "+8615011112222", None, "武侯区"),
    rec("booking", "B2", "陈晶", "F", None, "+8615011112222"),
    # a family on one phone: parents and two children (twins: same birth date)
    rec("his", "H3", "王芳", "F", "1979-02-11", "+8613900001111", WANG, "武侯区"),
    rec("member", "M3", "王芳", "F", "1979-02-11", "+8613900001111"),
    rec("his", "H4", "李强", "M", "1978-05-20", "+8613900001111", None, "武侯区"),
    rec("his", "H5", "李思涵", "F", "2015-06-01", "+8613900001111", None, "武侯区"),
    rec("booking", "B5", "李思涵", "F", "2015-06-01", "+8613900001111"),
    rec("his", "H6", "李思雨", "F", "2015-06-01", "+8613900001111", None, "武侯区"),
    # the son registered with his mother's ID number: it contradicts his own birth date
    # and sex, so it is not his and must not link him to her
    rec("his", "H7", "李浩", "M", "2012-10-10", "+8613900001111", WANG, "武侯区"),
    # unrelated people
    rec("his", "H8", "刘洋", "M", "1992-07-07", "+8618600000001", None, "成华区"),
    rec("his", "H9", "赵敏", "F", "1988-08-08", "+8618600000002", None, "金牛区"),
    # a WeChat follower whose nickname is her real name, with a bound mobile
    rec("wechat", "oUNION1", None, "F", None, "+8618600000002", unionid="oUNION1", nickname="赵敏"),
    # and one known by a nickname only: nothing to link, a person of her own
    rec("wechat", "oUNION2", None, "F", None, None, unionid="oUNION2", nickname="岁月静好🌸"),
]


@pytest.fixture
def engine(tmp_path):
    e = open_warehouse(path=tmp_path / "molar.duckdb")
    yield e
    e.close()


def golden_of(engine) -> dict[str, str]:
    return dict(engine.rows("SELECT unique_id, golden_id FROM identity.cluster"))


def people(engine) -> list[set[str]]:
    groups: dict[str, set[str]] = {}
    for uid, g in golden_of(engine).items():
        groups.setdefault(g, set()).add(uid)
    return sorted(groups.values(), key=lambda s: sorted(s))


def test_resolve_links_variants_and_keeps_a_family_apart(engine):
    load(engine, BASE)
    summary = resolve(engine)
    assert summary["records"] == len(BASE)
    g = golden_of(engine)
    # homophone name + transposed digits + shared ID number → one person
    assert g["his:H1"] == g["booking:B1"] == g["member:M1"]
    # homophone given name (陈静/陈晶) on the same own phone → one person
    assert g["his:H2"] == g["booking:B2"]
    # the family phone does not make the family one person
    family = {g[u] for u in ("his:H3", "his:H4", "his:H5", "his:H6", "his:H7")}
    assert len(family) == 5
    assert g["his:H3"] == g["member:M3"] and g["his:H5"] == g["booking:B5"]
    # twins (same phone, surname and birth date) stay two people
    assert g["his:H5"] != g["his:H6"]
    assert g["his:H9"] == g["wechat:oUNION1"]
    assert g["his:H8"] not in {g[u] for u in g if u != "his:H8"}
    assert g["wechat:oUNION2"] not in {g[u] for u in g if u != "wechat:oUNION2"}
    assert summary["records_linked"] == len(BASE) - 1  # the nickname-only follower is not compared
    golden = golden_rows(engine, "name, sex, birth_date, id_number, member_count, sources",
                         "WHERE golden_id = ?", [g["his:H1"]])[0]
    assert golden == ("张伟", "M", date(1985, 3, 12), ZHANG, 3, ["booking", "his", "member"])


def test_twins_with_similar_given_names_on_a_family_phone_stay_apart(engine):
    # 思涵/艺涵: same surname, given names alike in pinyin (Jaro–Winkler ≥ 0.85) but not in
    # sound; same phone, birth date, sex and district. Only the family-phone clause of
    # the name veto keeps them apart; the booking of 思涵 must still join her HIS record.
    phone = "+8613700002222"
    load(engine, [
        rec("his", "T0", "王芳", "F", "1983-04-04", phone, None, "成华区"),
        rec("his", "T1", "李思涵", "F", "2016-09-09", phone, None, "成华区"),
        rec("his", "T2", "李艺涵", "F", "2016-09-09", phone, None, "成华区"),
        rec("booking", "T3", "李思涵", "F", "2016-09-09", phone),
    ])
    resolve(engine)
    g = golden_of(engine)
    assert g["his:T1"] == g["booking:T3"]
    assert len({g["his:T0"], g["his:T1"], g["his:T2"]}) == 3


def test_forms_of_address_and_nicknames_link_on_an_own_phone(engine):
    own, family = "+8613711112222", "+8613733334444"
    load(engine, [
        rec("his", "O1", "李雨曦", "F", "1990-05-05", own, None, "锦江区"),
        rec("booking", "O2", "李女士", None, None, own),
        rec("consult", "O3", None, None, None, own, nickname="快乐小鱼"),  # no evidence of who it is
        rec("wechat", "O4", None, "F", None, own, unionid="oU4", nickname="李姐"),
        # a family phone: a form of address is not a third person, and 王 is not 李
        rec("his", "F1", "王芳", "F", "1983-04-04", family, None, "成华区"),
        rec("his", "F2", "李强", "M", "1981-02-02", family, None, "成华区"),
        rec("booking", "F3", "王女士", None, None, family),
    ])
    resolve(engine)
    g = golden_of(engine)
    assert g["his:O1"] == g["booking:O2"] == g["wechat:O4"]
    bi = BlindIndexer.from_keyring(keys.open_keyring_from(None, engine))
    own_keys = dict(engine.rows("SELECT unique_id, own_phone_bi FROM identity.link_input WHERE mobile_bi = ?",
                                [bi.mobile(own)]))
    assert own_keys == {"his:O1": bi.mobile(own), "booking:O2": bi.mobile(own), "wechat:O4": bi.mobile(own),
                        "consult:O3": None}
    li = engine.rows("SELECT name_kind, sex, surname_py, own_phone_bi FROM identity.link_input "
                     "WHERE unique_id = 'booking:O2'")[0]
    assert li == ("honorific", "F", "li", bi.mobile(own))
    phones = dict(engine.rows("SELECT unique_id, mobile_names FROM identity.link_input WHERE mobile_bi = ?",
                              [bi.mobile(family)]))
    assert set(phones.values()) == {2}  # 王女士 is not counted as a third name
    assert g["booking:F3"] != g["his:F2"]  # 王女士 is never 李强
    # nor, on a phone she shares with her daughter, surely 王芳: parents book for children
    shared = "+8613788889999"
    load(engine, [rec("his", "D1", "王芳", "F", "1983-04-04", shared, None, "成华区"),
                  rec("his", "D2", "王小雨", "F", "2015-08-08", shared, None, "成华区"),
                  rec("booking", "D3", "王女士", None, None, shared),
                  rec("consult", "D4", None, None, None, shared)])  # a chat with the phone only
    resolve(engine)
    g = golden_of(engine)
    assert g["booking:D3"] not in {g["his:D1"], g["his:D2"]}
    assert g["consult:D4"] not in {g["his:D1"], g["his:D2"]}
    # a parent's WeChat (税哥) on the phone of a child whose only real name is on it
    child = "+8613755556666"
    load(engine, [rec("his", "C1", "税杰先", "M", "2014-10-22", child),
                  rec("wechat", "C2", None, "M", None, child, unionid="oC2", nickname="税哥")])
    resolve(engine)
    assert engine.rows("SELECT count(own_phone_bi) FROM identity.link_input WHERE mobile_bi = ?",
                       [bi.mobile(child)]) == [(0,)]


def test_a_full_name_with_a_title_is_that_person_and_no_extra_name_on_the_phone(engine):
    # staff wrote 刘翔嘉先生 / 周敏女士 when booking for the parents of a family phone
    family = "+8613722223333"
    load(engine, [
        rec("his", "N1", "刘翔嘉", "M", "1981-02-02", family, None, "成华区"),
        rec("his", "N2", "周敏", "F", "1983-04-04", family, None, "成华区"),
        rec("his", "N3", "刘小雨", "F", "2015-08-08", family, None, "成华区"),
        rec("booking", "N4", "刘翔嘉先生", None, None, family),
        rec("booking", "N5", "周敏女士", None, None, family),
    ])
    resolve(engine)
    g = golden_of(engine)
    assert g["booking:N4"] == g["his:N1"] and g["booking:N5"] == g["his:N2"]
    assert len({g["his:N1"], g["his:N2"], g["his:N3"]}) == 3
    rows = engine.rows("SELECT unique_id, name_kind, sex, mobile_names FROM identity.link_input "
                       "WHERE source = 'booking' ORDER BY unique_id")
    assert rows == [("booking:N4", "real", "M", 3), ("booking:N5", "real", "F", 3)]


def test_names_cached_by_an_older_parser_are_parsed_again(engine, monkeypatch):
    from molar.identity import features
    from molar.ingest.standardise.names import REAL, NameParts

    phone = "+8613744445555"
    load(engine, [rec("his", "V1", "刘翔嘉", "M", "1981-02-02", phone, None, "成华区"),
                  rec("his", "V2", "周敏", "F", "1983-04-04", phone, None, "成华区"),
                  rec("booking", "V3", "刘翔嘉先生", None, None, phone)])
    with monkeypatch.context() as old:   # a parser that read 刘翔嘉先生 as a name of its own
        old.setattr(features, "PARSER_VERSION", 1)
        old.setattr(features, "parse_name", lambda text, nickname_field=False: NameParts(REAL, name=text))
        resolve(engine)
    assert golden_of(engine)["booking:V3"] != golden_of(engine)["his:V1"]
    resolve(engine)
    assert golden_of(engine)["booking:V3"] == golden_of(engine)["his:V1"]


def test_who_is_under_18_is_judged_at_the_runs_as_of_date(engine):
    # 税杰先 was 15 on 2020-01-01 and is an adult now: on that date 税哥 (a form of address
    # for an adult) on his phone is someone else — a parent — and the phone not his own.
    child = "+8613755557777"
    load(engine, [rec("his", "C1", "税杰先", "M", "2004-06-01", child),
                  rec("wechat", "C2", None, "M", None, child, unionid="oC2", nickname="税哥")])
    resolve(engine, as_of=date(2020, 1, 1))
    assert engine.rows("SELECT DISTINCT mobile_names, own_phone_bi FROM identity.link_input") == [(2, None)]
    resolve(engine, as_of=date(2026, 10, 31))   # 22 then: 税哥 may be him
    assert engine.rows("SELECT DISTINCT mobile_names, own_phone_bi IS NOT NULL FROM identity.link_input") == [(1, True)]


# digit runs of exactly that length (not the decimals of a model parameter)
# A number inside a hex blind index or key (letters or digits on both sides) is not a
# plaintext value: 9e7302a17786499871bff064 holds "17786499871" by chance.
MOBILE_RE = re.compile(r"(?<![0-9A-Za-z.])1[3-9]\d{9}(?![0-9A-Za-z.])")
ID_NUMBER_RE = re.compile(r"(?<![0-9A-Za-z.])\d{17}[\dXx](?![0-9A-Za-z.])")


def test_identity_keeps_no_plaintext_personal_values_and_still_finds_people_by_them(engine):
    load(engine, BASE)
    resolve(engine)
    g = golden_of(engine)
    explain(engine, g["his:H1"])   # readers must not write plaintext back either
    add_override(engine, "split", ["booking:B2"], reason="desk", created_by="test")   # reclusters
    names = {r["name"] or r["nickname"] for r in BASE}
    leaks = []
    for table, column in engine.rows(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'identity' AND data_type = 'VARCHAR'"):
        for (value,) in engine.rows(f'SELECT DISTINCT "{column}" FROM identity."{table}" WHERE "{column}" IS NOT NULL'):
            if MOBILE_RE.search(value) or ID_NUMBER_RE.search(value) or any(n in value for n in names):
                leaks.append((table, column, value))
    assert leaks == []
    # what the golden record holds still opens, and the mobile still finds the person
    assert golden_rows(engine, "name, mobile, id_number", "WHERE golden_id = ?", [g["his:H1"]]) == [
        ("张伟", "+8613812345687", ZHANG)]   # booking's number: verified by SMS
    index = IdentityIndex.load(engine)
    assert index.resolve(mobile="+8613812345678").golden_id == g["his:H1"]
    assert index.resolve(unionid="oUNION1").golden_id == g["his:H9"]
    with pytest.raises(IdentityError):   # a family phone says no one
        index.resolve(mobile="+8613900001111")


def test_an_unallocated_prefix_links_records_but_is_no_address(tmp_path):
    src, out = tmp_path / "people.csv", tmp_path / "links.csv"
    src.write_text("record_id,source,name,mobile\n1,his,周婷,154 1234 5678\n2,booking,周女士,15412345678\n"
                   "3,his,吴昊,15412340000\n", encoding="utf-8")
    link_file(src, out)
    with out.open(encoding="utf-8") as f:
        g = {r["record_id"]: r["golden_id"] for r in csv.DictReader(f)}
    assert g["1"] == g["2"] != g["3"]
    engine = open_warehouse(path=tmp_path / "w.duckdb")
    load(engine, [rec("his", "U1", "周婷", "F", "1990-01-01", "+8615412345678")])
    resolve(engine)
    assert golden_rows(engine, "mobile") == [(None,)]
    engine.close()


def test_the_self_estimate_names_what_it_cannot_see(engine):
    load(engine, [
        rec("his", "S1", "周婷", "F", "1990-01-01", "+8613700009999", None, "锦江区"),
        rec("member", "S2", "周婷", "F", "1990-01-01", "+8613700009999"),
        rec("consult", "S3", None, None, None, None, nickname="追风少年"),
    ])
    blind = resolve(engine)["model"]["blind_spot"]
    assert blind["sources_without_links"] == ["consult"]
    assert blind["records_in_no_scored_pair"] == 1
    assert blind["by_source"]["his"] == {"records": 1, "in_a_scored_pair": 1, "linked": 1}


def test_golden_ids_are_stable_across_reruns(engine):
    load(engine, BASE)
    resolve(engine)
    before = golden_of(engine)
    resolve(engine)
    assert golden_of(engine) == before
    load(engine, [
        rec("booking", "B8", "刘洋", "M", "1992-07-07", "+8618600000001"),  # known person, new record
        rec("his", "H10", "孙丽", "F", "1970-01-20", "+8618600000003", None, "青羊区"),  # new person
    ])
    resolve(engine)
    after = golden_of(engine)
    assert {u: after[u] for u in before} == before
    assert after["booking:B8"] == before["his:H8"]
    assert after["his:H10"] not in set(before.values())
    assert engine.scalar("SELECT count(*) FROM identity.event") == 0


def test_overrides_survive_reruns_and_record_events(engine):
    load(engine, BASE)
    resolve(engine)
    g = golden_of(engine)
    liu, zhao = g["his:H8"], g["his:H9"]
    result = add_override(engine, "merge", [liu, zhao], reason="same patient, confirmed at desk")
    assert result["ids"]["merged_events"] == 1
    g = golden_of(engine)
    assert g["his:H8"] == g["his:H9"] == g["wechat:oUNION1"]
    survivor = g["his:H8"]
    retired = ({liu, zhao} - {survivor}).pop()
    assert engine.rows("SELECT status, merged_into FROM identity.golden WHERE golden_id = ?", [retired]) == [
        ("retired", survivor)
    ]
    add_override(engine, "split", ["booking:B1"], reason="different person, same name")
    resolve(engine)  # full rerun: both overrides still hold
    g = golden_of(engine)
    assert g["his:H8"] == g["his:H9"] == survivor
    assert g["booking:B1"] != g["his:H1"] and g["his:H1"] == g["member:M1"]
    kinds = [r[0] for r in engine.rows("SELECT event_type FROM identity.event ORDER BY occurred_at, event_id")]
    assert kinds == ["identity.merged", "identity.split"]


def test_explain_gives_weights_per_comparison(engine):
    load(engine, BASE)
    resolve(engine)
    golden_id = golden_of(engine)["his:H1"]
    data = explain(engine, golden_id)
    members = {m["unique_id"]: (m["name"], m["mobile"], m["id_number"]) for m in data["members"]}
    assert members == {"his:H1": ("张伟", "+8613812345678", ZHANG), "booking:B1": ("张玮", "+8613812345687", None),
                       "member:M1": ("张伟", "+8613812345678", ZHANG)}
    assert len(data["pairs"]) == 3
    pair = next(p for p in data["pairs"] if {p["unique_id_l"], p["unique_id_r"]} == {"booking:B1", "his:H1"})
    by_comparison = {c["comparison"]: c for c in pair["comparisons"]}
    assert set(by_comparison) == {"name", "mobile", "id_number", "birth_date", "sex", "district", "wechat_unionid"}
    assert by_comparison["name"]["level"].startswith("same pinyin")
    assert by_comparison["mobile"]["level"] == "one digit transposed or mistyped"
    assert by_comparison["mobile"]["weight"] > 5 and by_comparison["birth_date"]["weight"] > 5
    total = pair["prior_weight"] + sum(c["weight"] + c["tf_adjustment"] for c in pair["comparisons"])
    assert total == pytest.approx(pair["match_weight"], abs=1e-6)
    assert pair["linked"] and pair["rule"] == "model"
    text = render(data)
    assert "one digit transposed or mistyped" in text and "prior" in text


def test_link_file_round_trip(tmp_path):
    src = tmp_path / "people.csv"
    rows = [
        ("1", "his", "张伟", "男", "1985-03-12", "13812345678", ZHANG, "锦江区", "", ""),
        ("2", "booking", " 張瑋 ", "M", "1985/3/12", "+86 138 1234 5687", "", "", "", ""),
        ("3", "member", "张伟", "1", "19850312", "138-1234-5678", ZHANG.lower(), "", "", ""),
        ("4", "his", "李思涵", "女", "2015-06-01", "13900001111", "", "武侯区", "", ""),
        ("5", "his", "李思雨", "女", "2015-06-01", "13900001111", "", "武侯区", "", ""),
        ("6", "", "刘洋", "", "", "18600000001", "", "", "", ""),
    ]
    with src.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["record_id", "source", "name", "sex", "birth_date", "mobile", "id_number", "district",
                    "address", "wechat_unionid"])
        w.writerows(rows)
    out = tmp_path / "links.csv"
    result = link_file(src, out)
    with out.open(encoding="utf-8") as f:
        links = list(csv.DictReader(f))
    assert [r["record_id"] for r in links] == ["1", "2", "3", "4", "5", "6"]
    g = {r["record_id"]: r["golden_id"] for r in links}
    assert g["1"] == g["2"] == g["3"]
    assert len({g["1"], g["4"], g["5"], g["6"]}) == 4
    assert result == {**result, "records": 6, "golden_ids": 4}


def _link_csv(tmp_path, rows) -> dict[str, str]:
    src, out = tmp_path / "people.csv", tmp_path / "links.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["record_id", "source", "name", "sex", "mobile", "wechat_unionid"])
        w.writerows(rows)
    link_file(src, out)
    with out.open(encoding="utf-8") as f:
        return {f"{r['record_id']}": r["golden_id"] for r in csv.DictReader(f)}


def test_link_file_reads_a_wechat_name_as_a_nickname(tmp_path):
    # 晚风 (a WeChat nickname) read as a rare-surname name would be a second person on
    # 李雨曦's phone, and 李女士 could no longer be hers
    g = _link_csv(tmp_path, [("1", "his", "李雨曦", "女", "13711112222", ""),
                             ("2", "booking", "李女士", "", "13711112222", ""),
                             ("3", "wechat", "晚风", "", "13711112222", "oU3")])
    assert g["1"] == g["2"]


# ------------------------------------------------------------------ CLI

runner = CliRunner()


def app() -> typer.Typer:
    a = typer.Typer()

    @a.callback()
    def _main() -> None:  # a group, so `identity` is a subcommand
        pass

    register(a)
    return a


def invoke(*args: str):
    result = runner.invoke(app(), list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_identity_commands(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = open_warehouse(path=db)
    load(engine, BASE)
    engine.close()

    summary = json.loads(invoke("identity", "resolve", "-w", str(db), "--json"))
    assert summary["records"] == len(BASE)
    engine = open_warehouse(path=db)
    g = dict(engine.rows("SELECT unique_id, golden_id FROM identity.cluster"))
    engine.close()

    text = invoke("identity", "explain", g["his:H1"], "-w", str(db))
    assert "booking#" in text and "prior" in text and "same pinyin" in text   # admin: source keys masked

    merged = json.loads(invoke("identity", "merge", g["his:H8"], g["his:H9"], "--reason", "desk check",
                               "-w", str(db), "--json"))
    assert len(merged["golden_ids_now"]) == 1
    split = json.loads(invoke("identity", "split", "his:H9", "-w", str(db), "--json"))
    assert split["kind"] == "split"
    overrides = json.loads(invoke("identity", "overrides", "-w", str(db), "--json"))
    assert [o["kind"] for o in overrides] == ["merge", "split"]

    # ground truth for the crafted records: one person per group asserted in test_identity
    person = {u: u for u in g}
    for group in (("his:H1", "booking:B1", "member:M1"), ("his:H2", "booking:B2"), ("his:H3", "member:M3"),
                  ("his:H5", "booking:B5"), ("his:H9", "wechat:oUNION1")):
        for u in group:
            person[u] = group[0]
    truth = tmp_path / "truth"
    truth.mkdir()
    pq.write_table(pa.table({
        "source": [u.split(":")[0] for u in person], "table": ["patients"] * len(person),
        "record_key": [u.split(":", 1)[1] for u in person], "person_id": list(person.values()),
    }), truth / "records.parquet")
    invoke("identity", "resolve", "-w", str(db))
    scores = json.loads(invoke("identity", "evaluate", "--truth", str(truth), "-w", str(db), "--json"))
    # the overrides (merge H8+H9 with H9's WeChat record, then split H9 out) leave exactly
    # one wrong pair (H8 with H9's WeChat record) and one missed pair (H9 with it)
    pw = scores["pairwise"]
    assert pw["predicted_pairs"] - pw["true_positive_pairs"] == 1
    assert pw["true_pairs"] - pw["true_positive_pairs"] == 1
    assert "pairwise" in invoke("identity", "evaluate", "--truth", str(truth), "-w", str(db))

    people = tmp_path / "people.csv"
    people.write_text("record_id,name,mobile\n1,张伟,13812345678\n2,张玮,13812345687\n3,李强,13900001111\n",
                      encoding="utf-8")
    out = tmp_path / "links.csv"
    invoke("identity", "link-file", str(people), "--out", str(out))
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "record_id,golden_id" and len(rows) == 4
