"""The clinic HIS export: clinics, doctors, patients, visits, treatments, charges (GBK CSV).

HIS habits reproduced: mixed date formats (2024-01-05, 2024/1/5, 2024年1月5日, 20240105),
性别 as 男/女 or M/F, phones with +86/spaces/dashes, many missing ID numbers, clinic and
doctor *names* (not IDs) in visits, amounts like "1,280.00", "￥280" or "280元", and a
second patient record when someone re-registers at another clinic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molar.synth import geo
from molar.synth import noise as nz
from molar.synth.care import Visits
from molar.synth.life import Life
from molar.synth.output import HIS, Output
from molar.synth.people import People
from molar.synth.serials import Serials
from molar.synth.world import DEPT_ZH_ARR, ITEM_CODE, ITEM_PRICE, ITEM_ZH, T, World
from molar.synth.writers import lines

DATE_STYLE_P = np.array([0.70, 0.15, 0.10, 0.05])  # iso, slash, chinese, compact
PAY_ZH = {"cash": "现金", "card": "银行卡", "wechat_pay": "微信支付", "alipay": "支付宝", "insurance": "医保",
          "member_balance": "会员卡"}
PAY_CODES = ("wechat_pay", "alipay", "card", "cash", "insurance", "member_balance")
PAY_ZH_ARR = np.array([PAY_ZH[c] for c in PAY_CODES], dtype=object)

DIAGNOSES: dict[str, tuple[str, ...]] = {
    "CHK": ("口腔检查", "定期复查", "无明显异常", "口腔健康检查", "牙龈轻度红肿"),
    "CLN": ("牙石(++)", "慢性龈炎", "牙龈出血", "色素沉着", "牙石(+)，慢性龈炎"),
    "PERIO": ("慢性牙周炎", "牙周炎(中度)", "牙周炎(重度)", "牙周袋形成", "牙龈退缩"),
    "FILL": ("{t}龋坏", "中龋({t})", "深龋({t})", "{t}楔状缺损", "浅龋"),
    "RCT": ("慢性牙髓炎({t})", "急性牙髓炎({t})", "根尖周炎({t})", "{t}牙髓坏死", "{t}根管治疗中"),
    "EXT": ("{t}阻生齿", "{t}残根", "{t}松动Ⅲ度", "智齿冠周炎", "乳牙滞留({t})"),
    "IMP": ("{t}缺失", "牙列缺损({t})", "{t}缺失，种植修复"),
    "IMPF": ("种植术后复查", "种植体愈合良好", "种植术后拆线"),
    "ORTHO": ("牙列拥挤", "深覆合", "反颌", "安氏II类错颌", "牙列不齐"),
    "ALIGN": ("牙列拥挤", "牙列稀疏", "深覆合", "安氏I类错颌", "牙列不齐"),
    "ORTHF": ("正畸复诊", "正畸加力", "更换弓丝", "更换牙套", "保持器复查"),
    "WHT": ("牙齿着色", "氟斑牙", "四环素牙(轻度)", "牙齿美白"),
    "CRN": ("{t}牙体缺损", "{t}根管治疗后", "{t}冠修复", "{t}牙体缺损，冠修复"),
    "SEAL": ("窝沟封闭", "深窝沟", "窝沟龋预防"),
    "FLUO": ("涂氟防龋", "乳牙龋预防", "儿童口腔保健"),
    "DENT": ("牙列缺失", "牙列缺损", "{t}牙列缺损", "义齿修复"),
}


@dataclass
class HisIds:
    """Record and visit numbers: deterministic from the plan, no randomness (shared by all writers)."""

    rp: np.ndarray  # patient records: local person index, in file order
    rrec: np.ndarray  # 0 first registration, 1 re-registration
    rreg: np.ndarray  # registration day
    rclinic: np.ndarray
    keys: np.ndarray  # 病历号 per record
    key: np.ndarray  # [n, 2] 病历号 of each person's record 0 / 1 ('' = none)
    v_order: np.ndarray  # visits in file order
    visit_id: np.ndarray  # per visit


def his_ids(world: World, ppl: People, life: Life, vis: Visits, serials: Serials) -> HisIds:
    n = ppl.n
    p0 = np.flatnonzero(life.his)
    p1 = np.flatnonzero(vis.switch_day >= 0)
    rp = np.concatenate([p0, p1])
    rrec = np.concatenate([np.zeros(p0.size, dtype=np.int64), np.ones(p1.size, dtype=np.int64)])
    rreg = np.concatenate([life.reg[p0], vis.switch_day[p1]])
    rclinic = np.concatenate([life.home[p0], vis.switch_clinic[p1]])
    order = np.lexsort((rp, rreg))
    rp, rrec, rreg, rclinic = rp[order], rrec[order], rreg[order], rclinic[order]
    keys = np.array([f"BL{i:08d}" for i in serials.take("his_patient", rp.size).tolist()], dtype=object)
    key = np.full((n, 2), "", dtype=object)
    key[rp, rrec] = keys
    v_order = np.lexsort((vis.p, vis.minute, vis.clinic, vis.day))
    seq = np.empty(vis.n, dtype=np.int64)
    seq[v_order] = serials.daily("visit", vis.clinic[v_order], vis.day[v_order])
    ymd = world.cal.compact[world.cal.idx(vis.day)]
    visit_id = np.array(lines("MZ{}{:02d}{:05d}", ymd, vis.clinic + 1, seq), dtype=object)
    return HisIds(rp=rp, rrec=rrec, rreg=rreg, rclinic=rclinic, keys=keys, key=key, v_order=v_order,
                  visit_id=visit_id)


def write_static(out: Output, world: World) -> None:
    dname = np.array(geo.DISTRICT_NAMES, dtype=object)
    out.emit(HIS + "clinics.csv", [
        world.clinic_id, world.clinic_name, dname[world.clinic_district], world.clinic_address,
        [f"{v:.6f}" for v in world.clinic_lat], [f"{v:.6f}" for v in world.clinic_lon],
        world.cal.fmt(world.clinic_open, 0), world.clinic_chairs.astype(str),
    ])
    out.emit(HIS + "doctors.csv", [
        world.doctor_id, world.doctor_name, world.clinic_id[world.doctor_clinic], DEPT_ZH_ARR[world.doctor_dept],
        world.doctor_title,
    ])


def _styles(rng, n: int) -> np.ndarray:
    return rng.choice(4, size=n, p=DATE_STYLE_P)


def _amount_text(rng, amount: np.ndarray) -> np.ndarray:
    """'1280.00' mostly; sometimes '1,280.00', '￥1280' or '1280元'."""
    a = amount.tolist()
    u = rng.random(len(a))
    out = np.empty(len(a), dtype=object)
    for i, (x, v) in enumerate(zip(a, u.tolist(), strict=True)):
        if v < 0.75:
            out[i] = f"{x:.2f}"
        elif v < 0.85:
            out[i] = f"{x:,.2f}"
        elif v < 0.92:
            out[i] = f"￥{x:g}"
        else:
            out[i] = f"{x:g}元"
    return out


def his_write(rng, world: World, ppl: People, life: Life, vis: Visits, ids: HisIds, coupon: np.ndarray,
              coupon_value: np.ndarray, out: Output, serials: Serials) -> np.ndarray:
    """Write patients, visits, treatments and charges with their noise; return spend per person."""
    rates = world.config.noise
    cal = world.cal
    n = ppl.n
    rp, rrec, rreg, rclinic, keys = ids.rp, ids.rrec, ids.rreg, ids.rclinic, ids.keys
    m = rp.size
    table = "his/patients"
    flags = nz.new_flags(m)
    log = out.noise
    log.flag(table, "second_record", rrec == 1, flags)
    name = nz.noisy_names(rng, ppl.name[rp], ppl.surname[rp], ppl.given[rp], rates, flags, log, table)
    letter = rng.random(m) < rates.sex_letter_code
    log.flag(table, "sex_letter_code", letter, flags)
    sex = np.where(ppl.sex[rp] == 1, np.where(letter, "M", "男"), np.where(letter, "F", "女")).astype(object)
    birth = nz.shift_birth(rng, cal, ppl.birth[rp], rates.birth_date_error, flags, log, table)
    phone = nz.noisy_mobiles(rng, ppl.phone_at(rp, rreg), rates, flags, log, table, missing=rates.mobile_missing,
                             formatted=rates.mobile_formatted, transposed=rates.mobile_transposed)
    idm = np.where(rrec == 1, np.minimum(1.0, rates.id_missing * 1.8), rates.id_missing)
    idn = ppl.id_number[rp].copy()
    miss = rng.random(m) < idm
    idn[miss] = ""
    log.flag(table, "id_missing", miss, flags)
    dname = np.array(geo.DISTRICT_NAMES, dtype=object)
    dist = dname[ppl.district[rp]]
    u = rng.random(m)
    dist = np.where(u < 0.08, np.array([d[:-1] for d in dist.tolist()], dtype=object), dist)
    dist = np.where(u > 0.96, "", dist).astype(object)
    u = rng.random(m)
    addr = np.where(u < 0.5, ppl.address[rp], np.where(u < 0.72, geo.CITY + "市" + ppl.address[rp],
                                                         np.where(u < 0.85, ppl.street_part[rp], "")))
    cols = [keys, name, sex, cal.fmt(birth, _styles(rng, m)), phone, idn, dist, addr.astype(object),
            cal.fmt(rreg, _styles(rng, m)), world.clinic_name[rclinic]]
    out.record("his", "patients", keys, ppl.person_id[rp], flags)
    out.emit(HIS + "patients.csv", cols, 0, defects=[
        ("invalid_date", rates.invalid_date, nz.everything, nz.set_impossible_dates(3)),
        ("invalid_phone_length", rates.invalid_phone_length, nz.plain_mobile(4), nz.set_wrong_length(4)),
        ("invalid_id_checksum", rates.invalid_id_checksum, nz.valid_id(5), nz.set_bad_checksum(5)),
    ], dup_rate=rates.duplicate_row)

    # ---- visits ---------------------------------------------------------------------------
    nv = vis.n
    v_order = ids.v_order
    visit_id = ids.visit_id
    # lines
    li = vis.line_item
    lv = vis.line_visit
    first_line = vis.line_no == 1
    prim_item = np.empty(nv, dtype=np.int64)
    prim_tooth = np.empty(nv, dtype=object)
    prim_item[lv[first_line]] = li[first_line]
    prim_tooth[lv[first_line]] = vis.line_tooth[first_line]
    diag = np.empty(nv, dtype=object)
    pick = rng.random(nv)
    for code, opts in DIAGNOSES.items():
        sel = np.flatnonzero(prim_item == T[code])
        if sel.size == 0:
            continue
        o = np.array(opts, dtype=object)[(pick[sel] * len(opts)).astype(np.int64)]
        tooth = prim_tooth[sel]
        diag[sel] = [s.replace("{t}", t) for s, t in zip(o.tolist(), tooth.tolist(), strict=True)]
    vkey = ids.key[vis.p, vis.rec]
    vcols = [visit_id, vkey, cal.fmt(vis.day, _styles(rng, nv)), world.clinic_name[vis.clinic],
             DEPT_ZH_ARR[vis.dept], world.doctor_name[vis.doctor], diag]
    vcols = [c[v_order] for c in vcols]
    end = world.end

    def future_date(rng_, cols_, idx):
        cols_[2][idx] = cal.fmt(end + rng_.integers(1, 400, idx.size), 0)

    out.emit(HIS + "visits.csv", vcols, 0, defects=[
        ("future_visit_date", rates.future_visit_date, nz.everything, future_date),
        ("invalid_date", rates.invalid_date, nz.everything, nz.set_impossible_dates(2)),
    ], dup_rate=rates.duplicate_row)

    # treatments, in visit-file order
    rank = np.empty(nv, dtype=np.int64)
    rank[v_order] = np.arange(nv)
    l_order = np.lexsort((vis.line_no, rank[lv]))
    out.emit(HIS + "treatments.csv", [
        visit_id[lv][l_order], vis.line_no[l_order].astype(str).astype(object), ITEM_CODE[li][l_order],
        ITEM_ZH[li][l_order], vis.line_tooth[l_order], vis.line_qty[l_order].astype(str).astype(object),
    ], 0, dup_rate=rates.duplicate_row)

    # ---- charges ---------------------------------------------------------------------------
    unit = ITEM_PRICE[li] * world.clinic_price[vis.clinic[lv]]
    unit = np.where(unit >= 100, np.round(unit / 10) * 10, np.round(unit))
    tier = np.array([0.8, 1.0, 1.2, 1.5])[rng.integers(0, 4, li.size)]
    premium = np.isin(li, [T["IMP"], T["ORTHO"], T["ALIGN"], T["CRN"], T["DENT"], T["WHT"]])
    unit = np.where(premium, np.round(unit * tier / 100) * 100, unit)
    amount = np.bincount(lv, weights=unit * vis.line_qty, minlength=nv)
    charged = np.flatnonzero(amount > 0)
    c_order = charged[np.argsort(rank[charged], kind="stable")]
    k = c_order.size
    # some pay the next day, but never after the export date (that would be a future charge)
    cday = np.minimum(vis.day[c_order] + (rng.random(k) < 0.04), world.end)
    cseq = serials.daily("charge", vis.clinic[c_order], cday)
    cid = np.array(lines("SF{}{:02d}{:05d}", cal.compact[cal.idx(cday)], vis.clinic[c_order] + 1, cseq), dtype=object)
    amt = amount[c_order]
    cv = coupon_value[c_order]
    paid = np.maximum(amt - cv, 0)
    partial = (amt >= 10000) & (rng.random(k) < 0.12)
    paid = np.where(partial, np.round(amt * rng.uniform(0.3, 0.6, k) / 100) * 100, paid)
    member = life.member[vis.p[c_order]]
    dept_ins = np.isin(vis.dept[c_order], [0, 1, 2, 3])  # general, perio, endo, surgery
    u = rng.random(k)
    pay = np.select([member & (u < 0.3), dept_ins & (u > 0.88)], [5, 4], -1)
    rest = pay < 0
    pay[rest] = rng.choice(4, size=int(rest.sum()), p=[0.48, 0.24, 0.18, 0.10])
    ccols = [cid, visit_id[c_order], vkey[c_order], cal.fmt(cday, _styles(rng, k)), _amount_text(rng, amt),
             np.array([f"{x:.2f}" for x in paid.tolist()], dtype=object), PAY_ZH_ARR[pay], coupon[c_order]]

    def negative(rng_, cols_, idx):
        cols_[4][idx] = ["-" + f"{x:.2f}" for x in amt[idx].tolist()]

    out.emit(HIS + "charges.csv", ccols, 0, defects=[
        ("negative_amount", rates.negative_amount, nz.everything, negative),
        ("invalid_date", rates.invalid_date, nz.everything, nz.set_impossible_dates(3)),
    ], dup_rate=rates.duplicate_row)

    return np.bincount(vis.p, weights=amount, minlength=n)

