"""Source files are readable with their declared encodings, headers and value vocabularies."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow.parquet as pq
from synthlib import date_style, digits, parse_date

from molar.model import codes
from molar.synth.booking import CHANNEL_ZH, STATUS_ZH
from molar.synth.his import PAY_ZH
from molar.synth.world import DEPT_ZH

HIS_HEADERS = {
    "clinics": "诊所编号,诊所名称,区县,地址,纬度,经度,开业日期,牙椅数",
    "doctors": "医生编号,姓名,诊所编号,科室,职称",
    "patients": "病历号,患者姓名,性别,出生日期,手机号,身份证号,区县,住址,建档日期,首诊诊所",
    "visits": "就诊号,病历号,就诊日期,诊所,科室,医生,诊断",
    "treatments": "就诊号,序号,项目编码,诊疗项目,牙位,数量",
    "charges": "收费单号,就诊号,病历号,收费日期,金额,实收,支付方式,优惠券",
}


def test_his_files_are_gbk_with_exact_headers_and_crlf(chain):
    for name, header in HIS_HEADERS.items():
        raw = (chain.src / f"his/{name}.csv").read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), name
        text = raw.decode("gbk")  # raises if not GBK
        assert text.split("\r\n", 1)[0] == header, name
        assert "\n" not in text.replace("\r\n", ""), f"{name}: bare LF line ending"
        # GBK bytes really are GBK, not UTF-8 in disguise
        if name in ("patients", "visits"):
            try:
                raw.decode("utf-8")
                raise AssertionError(f"{name}.csv decodes as UTF-8; expected GBK")
            except UnicodeDecodeError:
                pass


def test_member_csv_has_bom_and_other_csvs_are_utf8(chain):
    raw = (chain.src / "member/members.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines()[0] == (
        "会员卡号,姓名,手机号码,生日,性别,身份证,开卡日期,会员等级,余额,积分,套餐,开卡门店"
    )
    consult = (chain.src / "consult/consults.csv").read_bytes().decode("utf-8")
    assert consult.splitlines()[0] == "咨询ID,渠道,时间,客户来源,客户编号,内容"
    reviews = (chain.src / "reviews/reviews.csv").read_bytes().decode("utf-8")
    assert reviews.splitlines()[0] == "评价ID,平台,用户手机,门店,医生,日期,星级,评价内容"


def test_departments_map_one_to_one(chain):
    assert set(DEPT_ZH) == set(codes.DEPARTMENTS)
    assert len(set(DEPT_ZH.values())) == len(DEPT_ZH)
    doctors = chain.his("doctors")
    assert set(doctors["科室"]) == set(DEPT_ZH.values())
    assert set(chain.his("visits")["科室"]) <= set(DEPT_ZH.values())
    assert set(chain.appointments()["科室"]) <= set(DEPT_ZH.values())


def test_his_value_vocabularies_and_formats(chain):
    pat = chain.his("patients")
    assert set(pat["性别"]) <= {"男", "女", "M", "F"}
    assert {"男", "女"} <= set(pat["性别"])
    styles = {date_style(s) for s in chain.his("visits")["就诊日期"]}
    assert {0, 1, 2, 3} <= styles, "all four HIS date formats appear"
    charges = chain.his("charges")
    amounts = charges["金额"]
    assert amounts.str.contains(",").any() and amounts.str.startswith("￥").any() and amounts.str.endswith("元").any()
    assert set(charges["支付方式"]) <= set(PAY_ZH.values())
    phones = pat["手机号"][pat["手机号"] != ""]
    assert phones.str.startswith("+86 ").any() and phones.str.contains("-").any()
    assert phones.map(lambda s: len(digits(s)) == 13 and digits(s).startswith("86")).any()
    tr = chain.his("treatments")
    assert set(tr["项目编码"]) <= set(codes.TREATMENT_CODES)
    assert (tr["数量"].astype(int) >= 1).all()
    visits = chain.his("visits")
    clinic_names = set(chain.his("clinics")["诊所名称"])
    assert set(visits["诊所"]) <= clinic_names, "visits carry clinic names, not IDs"
    assert set(visits["医生"]) <= set(chain.his("doctors")["姓名"])
    clinics = chain.his("clinics")
    assert list(clinics["诊所编号"]) == [f"C{i:02d}" for i in range(1, chain.config.clinics + 1)]


def test_booking_workbooks(chain):
    cust = chain.xlsx("booking/customers.xlsx")
    assert list(cust)[0] == "客户"
    for df in cust.values():
        assert list(df.columns) == ["客户ID", "姓名", "手机", "性别", "生日", "注册时间"]
    reg = chain.customers()["注册时间"]
    assert reg.map(lambda v: isinstance(v, datetime)).all(), "注册时间 is a real Excel datetime"
    ap = chain.appointments()
    assert list(ap.columns[:9]) == ["预约单号", "客户ID", "门店", "科室", "医生", "下单时间", "预约时间", "渠道", "状态"]
    assert ap["下单时间"].map(lambda v: isinstance(v, datetime)).all()
    assert ap["预约时间"].map(lambda v: isinstance(v, datetime)).all()
    assert set(ap["渠道"]) == set(CHANNEL_ZH.values())
    assert set(CHANNEL_ZH) <= set(codes.APPOINTMENT_CHANNELS)   # the platforms (美团 …) come from other systems
    assert set(ap["状态"]) == set(STATUS_ZH.values())
    assert set(STATUS_ZH) == set(codes.APPOINTMENT_STATUSES)
    # one workbook per calendar year of the slot
    for f, g in ap.groupby("_file"):
        year = int(f.removeprefix("appointments_").removesuffix(".xlsx"))
        assert (g["预约时间"].map(lambda v: v.year) == year).all()
    assert (ap["下单时间"] <= ap["预约时间"]).all()


def test_wechat_and_telemetry_jsonl(chain):
    users = chain.jsonl("wechat/users.jsonl")
    assert list(users.columns) == ["openid", "unionid", "nickname", "sex", "city", "mobile", "subscribe_time"]
    assert set(users["sex"]) <= {0, 1, 2}
    assert users["mobile"].isna().mean() > 0.4, "bound mobile is often missing"
    ev = chain.jsonl("wechat/events.jsonl")
    assert list(ev.columns) == ["event_id", "platform", "event", "ts", "openid", "unionid", "article_id",
                                "coupon_id", "referrer_unionid"]
    assert set(ev["event"]) == set(codes.EVENT_TYPES)
    assert set(ev["platform"]) == set(codes.EVENT_PLATFORMS)
    assert ev["ts"].str.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$").all()
    assert ev.loc[ev.event == "referral", "referrer_unionid"].notna().all()
    assert ev.loc[ev.event != "referral", "referrer_unionid"].isna().all()
    assert ev.loc[ev.event.str.startswith("coupon"), "coupon_id"].notna().all()
    tb = chain.jsonl("telemetry/brushing.jsonl")
    assert list(tb.columns) == ["device_id", "unionid", "date", "sessions", "seconds", "pressure_alerts", "plaque_index"]
    assert tb["plaque_index"].dropna().between(0, 3).all()
    assert tb["seconds"].between(0, 7200).all()
    days = tb["date"].map(lambda s: parse_date(s))
    assert (days.max() - days.min()).days <= 183
    assert days.max() <= chain.end


def test_consults_and_reviews(chain):
    c = chain.csv("consult/consults.csv", "utf-8")
    assert set(c["渠道"]) == {"在线", "电话"}
    assert set(c["客户来源"]) <= {"his", "booking", "member", "wechat"}
    assert c["内容"].nunique() > 0.5 * len(c), "slot filling yields mostly distinct messages"
    r = chain.csv("reviews/reviews.csv", "utf-8")
    assert set(r["平台"]) <= {"大众点评", "美团", "小程序"}
    assert r["用户手机"].str.match(r"^1\d{2}\*{4}\d{4}$").all()
    assert set(r["星级"].astype(int)) <= {1, 2, 3, 4, 5}


def test_region_population(chain):
    t = pq.read_table(chain.src / "region/district_population.parquet").to_pandas()
    assert list(t.columns) == ["district", "year", "age_band", "population"]
    assert set(t["age_band"]) == set(codes.AGE_BANDS)
    assert (t["population"] > 0).all()
    assert t.groupby(["district", "year"]).size().eq(len(codes.AGE_BANDS)).all()


def test_manifest_counts_match_files(chain):
    m = json.loads((chain.out / "manifest.json").read_text(encoding="utf-8"))
    assert m == chain.manifest
    for rel, info in m["files"].items():
        path = chain.out / rel
        assert path.exists(), rel
        if rel.endswith(".csv"):
            enc = info["encoding"]
            n = len(chain.csv(rel.removeprefix("sources/"), enc))
        elif rel.endswith(".jsonl"):
            n = sum(1 for _ in path.open(encoding="utf-8"))
        elif rel.endswith(".xlsx"):
            n = sum(len(df) for df in chain.xlsx(rel.removeprefix("sources/")).values())
        else:
            n = pq.read_metadata(path).num_rows
        assert n == info["rows"], rel
    assert "config" in m and "out_dir" not in m["config"]
    assert m["noise"]["rates"]["name_homophone"] == chain.config.noise.name_homophone
