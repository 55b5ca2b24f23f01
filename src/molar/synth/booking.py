"""The booking system: customer accounts and appointments (XLSX, one workbook per year).

Appointments that ended 已到诊 are the HIS visits of the same person, day, clinic and
department.  Around them: no-shows and cancellations (more of both before churn), walk-in
registrations (到店), orthodontic follow-ups booked at the previous visit, a last booking
that churners never keep, leads who book but never come, and 已预约 future slots after
the export date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molar.synth import noise as nz
from molar.synth.calendar import excel_serial
from molar.synth.care import Visits
from molar.synth.life import NEVER, NONE, Life
from molar.synth.output import Output
from molar.synth.people import People
from molar.synth.serials import Serials
from molar.synth.wechat import _seconds
from molar.synth.world import DEPT_ZH_ARR, D, World, between, doctor_of
from molar.synth.writers import lines

CHANNEL_ZH = {"online": "官网", "app": "App", "wechat": "微信", "phone": "电话", "walk_in": "到店"}
STATUS_ZH = {"booked": "已预约", "arrived": "已到诊", "no_show": "爽约", "cancelled": "已取消"}
CHANNELS = ("online", "app", "wechat", "phone", "walk_in")
CH_ZH = np.array([CHANNEL_ZH[c] for c in CHANNELS], dtype=object)
STATUSES = ("booked", "arrived", "no_show", "cancelled")
ST_ZH = np.array([STATUS_ZH[s] for s in STATUSES], dtype=object)
BOOKED, ARRIVED, NO_SHOW, CANCELLED = range(4)
WALK_IN = 4
# channel mix by age group (<18 booked by a parent, 18-35, 36-59, 60+)
CHANNEL_P = np.array([
    [0.08, 0.15, 0.37, 0.28, 0.12],
    [0.10, 0.28, 0.38, 0.14, 0.10],
    [0.08, 0.12, 0.35, 0.33, 0.12],
    [0.02, 0.03, 0.15, 0.50, 0.30],
])


@dataclass
class BookingPlan:
    """Accounts and appointments, decided and numbered before anything is rendered."""

    cp: np.ndarray  # customer records: local person index, in file order
    crec: np.ndarray  # 0 first account, 1 second account
    creg: np.ndarray  # registration day
    creg_sec: np.ndarray
    keys: np.ndarray  # 客户ID per record
    ckey: np.ndarray  # [n, 2] 客户ID of each person's account 0 / 1 ('' = none)
    # appointments in file order (by booking time)
    a_id: np.ndarray
    a_p: np.ndarray
    a_cust: np.ndarray
    a_day: np.ndarray
    a_minute: np.ndarray
    a_clinic: np.ndarray
    a_dept: np.ndarray
    a_doctor: np.ndarray
    a_status: np.ndarray
    a_channel: np.ndarray
    a_bday: np.ndarray
    a_bsec: np.ndarray
    a_visit: np.ndarray  # index of the HIS visit for 已到诊, else -1


def plan_booking(rng, world: World, ppl: People, life: Life, vis: Visits, serials: Serials) -> BookingPlan:
    rates = world.config.noise
    start, end = world.start, world.end
    n = ppl.n
    bk = life.booking

    # ---- accounts ---------------------------------------------------------------------------
    second = bk & (rng.random(n) < rates.booking_second_record) & (life.reg < end - 120)
    acc2_day = np.where(second, between(rng, np.maximum(life.reg, start) + 60, end - 30), -1)
    reg_day = np.where(life.new | life.lead, life.reg - rng.integers(0, 10, n),
                       between(rng, np.maximum(life.reg, start - 3 * 365), start + 200))
    reg_day = np.where(life.lead, life.reg, reg_day)

    # ---- appointments ------------------------------------------------------------------------
    A: dict[str, list[np.ndarray]] = {k: [] for k in ("p", "day", "minute", "clinic", "dept", "doctor", "status",
                                                          "series", "prev", "visit")}

    def add(p, day, minute, clinic, dept, doctor, status, series=None, prev=None, visit=None):
        m = p.size
        A["p"].append(p)
        A["day"].append(day.astype(np.int64))
        A["minute"].append(minute.astype(np.int64))
        A["clinic"].append(clinic)
        A["dept"].append(dept)
        A["doctor"].append(doctor)
        A["status"].append(np.full(m, status, dtype=np.int64) if np.isscalar(status) else status)
        A["series"].append(np.zeros(m, dtype=bool) if series is None else series)
        A["prev"].append(np.full(m, -1, dtype=np.int64) if prev is None else prev)
        A["visit"].append(np.full(m, -1, dtype=np.int64) if visit is None else visit)

    vp = vis.p
    prev = np.full(vis.n, -1, dtype=np.int64)
    if vis.n:
        same = np.zeros(vis.n, dtype=bool)
        same[1:] = vp[1:] == vp[:-1]
        prev[same] = np.flatnonzero(same) - 1
    churn_phase = (life.reason[vp] != NONE) & (vis.day > life.churn[vp] - 200)
    booked = bk[vp] & (rng.random(vis.n) < np.where(vis.series, 0.95, 0.85))
    b = np.flatnonzero(booked)
    add(vp[b], vis.day[b], vis.minute[b], vis.clinic[b], vis.dept[b], vis.doctor[b], ARRIVED, vis.series[b], prev[b], b)
    # a no-show or a cancellation before the visit that was kept
    u = rng.random(b.size)
    p_ns = np.where(churn_phase[b], 0.15, 0.05)
    p_cx = np.where(churn_phase[b], 0.15, 0.09)
    ns = u < p_ns
    cx = (u >= p_ns) & (u < p_ns + p_cx)
    for mask, st, lo, hi in ((ns, NO_SHOW, 2, 22), (cx, CANCELLED, 1, 15)):
        s = b[mask]
        d = vis.day[s] - rng.integers(lo, hi, s.size)
        ok = d >= start
        s, d = s[ok], d[ok]
        add(vp[s], d, vis.minute[s], vis.clinic[s], vis.dept[s], vis.doctor[s], st)
    # churners' last booking that is never kept
    if vis.n:
        last = np.ones(vis.n, dtype=bool)
        last[:-1] = vp[:-1] != vp[1:]
        lv = np.flatnonzero(last & bk[vp] & (life.reason[vp] != NONE) & (rng.random(vis.n) < 0.35))
        d = vis.day[lv] + rng.integers(20, 90, lv.size)
        d = np.minimum(d, np.minimum(life.churn[vp[lv]] + 30, end))
        ok = d > vis.day[lv]
        lv, d = lv[ok], d[ok]
        st = np.where(rng.random(lv.size) < 0.4, NO_SHOW, CANCELLED)
        add(vp[lv], d, vis.minute[lv], vis.clinic[lv], vis.dept[lv], vis.doctor[lv], st)
    # future slots after the export date
    f = np.flatnonzero(bk[vis.fut_p] & (life.churn[vis.fut_p] >= NEVER) & (vis.fut_day <= end + 45)
                       & (rng.random(vis.fut_p.size) < 0.75))
    add(vis.fut_p[f], vis.fut_day[f], vis.fut_minute[f], vis.fut_clinic[f], vis.fut_dept[f], vis.fut_doctor[f], BOOKED)
    # leads who book and never come
    ld = np.flatnonzero(life.lead & bk)
    cnt = 1 + rng.poisson(0.4, ld.size)
    lp = np.repeat(ld, cnt)
    d = np.minimum(life.reg[lp] + rng.integers(1, 40, lp.size), end)
    dept = np.array([D["general"], D["periodontics"], D["orthodontics"], D["implant"], D["cosmetic"]])[
        rng.choice(5, lp.size, p=[0.3, 0.3, 0.15, 0.1, 0.15])]
    clinic = life.home[lp]
    add(lp, d, rng.choice(np.arange(540, 1230, 30), lp.size), clinic, dept, doctor_of(world, ppl.gidx[lp], clinic, dept),
        np.where(rng.random(lp.size) < 0.45, NO_SHOW, CANCELLED))

    cat = {k: np.concatenate(v) for k, v in A.items()}
    p = cat["p"]
    m = p.size
    # channel and booking time
    age = ppl.age[p]
    grp = np.select([age < 18, age < 36, age < 60], [0, 1, 2], 3)
    ch = (rng.random(m)[:, None] > np.cumsum(CHANNEL_P[grp], axis=1)).sum(axis=1)
    ch = np.minimum(ch, 4)
    at_desk = cat["series"] & (cat["prev"] >= 0) & (rng.random(m) < 0.7)
    ch = np.where(at_desk, WALK_IN, ch)
    ch = np.where(~life.app_user[p] & (ch == 1), 2, ch)
    slot_sec = cat["minute"] * 60
    lead_days = np.floor(rng.exponential(np.where(ch == 3, 4.0, 3.0))).astype(np.int64)
    bday = cat["day"] - lead_days
    bsec = np.where(lead_days == 0, np.maximum(slot_sec - rng.integers(30, 300, m) * 60, 7 * 3600 + rng.integers(0, 3600, m)),
                    _seconds(rng, m))
    walk = (ch == WALK_IN) & ~at_desk
    bday = np.where(walk, cat["day"], bday)
    bsec = np.where(walk, np.maximum(slot_sec - rng.integers(10, 120, m) * 60, 8 * 3600), bsec)
    pv = np.maximum(cat["prev"], 0)
    bday = np.where(at_desk, vis.day[pv] if vis.n else bday, bday)
    bsec = np.where(at_desk, (vis.minute[pv] if vis.n else 0) * 60 + rng.integers(1200, 2700, m), bsec)
    future = cat["status"] == BOOKED
    bday = np.where(future & (bday > end), end - rng.integers(0, 5, m), bday)
    bsec = np.minimum(bsec, 86399)
    bsec = np.where(bday == cat["day"], np.minimum(bsec, np.maximum(slot_sec - 600, 0)), bsec)
    # which account
    acc = np.where((acc2_day[p] >= 0) & (bday >= acc2_day[p]) & (rng.random(m) < 0.85), 1, 0)

    # ---- customers -------------------------------------------------------------------------
    c0 = np.flatnonzero(bk)
    c1 = np.flatnonzero(second)
    cp = np.concatenate([c0, c1])
    crec = np.concatenate([np.zeros(c0.size, dtype=np.int64), np.ones(c1.size, dtype=np.int64)])
    creg = np.concatenate([reg_day[c0], acc2_day[c1]]).astype(np.int64)
    creg_sec = _seconds(rng, cp.size)
    # an account exists before its first booking
    first_b = np.full((n, 2), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_b, (p, acc), bday * 86400 + bsec)
    fb = first_b[cp, crec]
    creg_t = np.minimum(creg * 86400 + creg_sec, fb - rng.integers(60, 3 * 86400, cp.size))
    creg, creg_sec = creg_t // 86400, creg_t % 86400
    order = np.lexsort((cp, creg_t))
    cp, crec, creg, creg_sec = cp[order], crec[order], creg[order], creg_sec[order]
    k = cp.size
    keys = np.array([str(10000000 + i) for i in serials.take("booking_customer", k).tolist()], dtype=object)
    ckey = np.full((n, 2), "", dtype=object)
    ckey[cp, crec] = keys
    o = np.lexsort((p, bsec, bday))
    seq = serials.daily("appointment", np.zeros(m, dtype=np.int64), bday[o])
    aid = np.array(lines("YY{}{:06d}", world.cal.compact[world.cal.idx(bday[o])], seq), dtype=object)
    po = p[o]
    cust = ckey[po, acc[o]]
    cust = np.where(cust == "", ckey[po, 0], cust)
    return BookingPlan(
        cp=cp, crec=crec, creg=creg, creg_sec=creg_sec, keys=keys, ckey=ckey, a_id=aid, a_p=po, a_cust=cust,
        a_day=cat["day"][o], a_minute=cat["minute"][o], a_clinic=cat["clinic"][o], a_dept=cat["dept"][o],
        a_doctor=cat["doctor"][o], a_status=cat["status"][o], a_channel=ch[o], a_bday=bday[o], a_bsec=bsec[o],
        a_visit=cat["visit"][o],
    )


def write_booking(rng, world: World, ppl: People, plan: BookingPlan, visit_id: np.ndarray, out: Output) -> None:
    """Render customers.xlsx (with name/phone/birthday noise) and the appointment workbooks."""
    rates = world.config.noise
    cp, crec, creg, creg_sec, keys = plan.cp, plan.crec, plan.creg, plan.creg_sec, plan.keys
    k = cp.size
    table = "booking/customers"
    flags = nz.new_flags(k)
    out.noise.flag(table, "second_record", crec == 1, flags)
    name = nz.noisy_names(rng, ppl.name[cp], ppl.surname[cp], ppl.given[cp], rates, flags, out.noise, table,
                          pinyin=True)
    # the booking app validates numbers: 11 digits, but typos and old numbers get through
    phone = nz.noisy_mobiles(rng, ppl.phone_at(cp, creg), rates, flags, out.noise, table, missing=0.0,
                             formatted=0.0, transposed=rates.mobile_transposed)
    sex = np.where(rng.random(k) < 0.08, "", np.where(ppl.sex[cp] == 1, "男", "女")).astype(object)
    has_bd = rng.random(k) < 0.62
    bd = nz.shift_birth(rng, world.cal, ppl.birth[cp], rates.birth_date_error, flags, out.noise, table)
    birthday = np.where(has_bd, excel_serial(bd), np.nan)
    out.record("booking", "customers", keys, ppl.person_id[cp], flags)
    out.emit_customers([keys, name, phone, sex, birthday, excel_serial(creg, seconds=creg_sec)], defects=[
        ("invalid_phone_length", rates.invalid_phone_length, nz.plain_mobile(2), nz.set_wrong_length(2)),
    ], dup_rate=rates.duplicate_row)

    slot = excel_serial(plan.a_day, minutes=plan.a_minute)
    booked_at = excel_serial(plan.a_bday, seconds=plan.a_bsec)
    cols = [plan.a_id, plan.a_cust, world.clinic_short[plan.a_clinic], DEPT_ZH_ARR[plan.a_dept],
            world.doctor_name[plan.a_doctor], booked_at, slot, CH_ZH[plan.a_channel], ST_ZH[plan.a_status]]
    years = world.cal.years_of(plan.a_day)
    for y in np.unique(years).tolist():
        sel = years == y
        out.emit_appointments(int(y), [c[sel] for c in cols], dup_rate=rates.duplicate_row)
    arrived = plan.a_status == ARRIVED
    out.truth("truth/appointment_visits.parquet", {
        "appointment_id": plan.a_id[arrived], "visit_id": visit_id[plan.a_visit[arrived]],
    })
