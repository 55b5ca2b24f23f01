"""Clinical behaviour: treatment plans turned into visits with seasonality.

Streams per person — cleaning recalls (intervals stretch before churn), children's
preventive visits (school holidays), sporadic check-ups, acute episodes (fillings, root
canals with crowns, extractions, periodontal therapy, whitening, dentures), orthodontic
courses (monthly, weekend mornings) and implant courses (surgery and follow-ups).  Each
planned date is nudged towards busy days of its clinic and department, then same-day
items merge into one visit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molar.synth.life import NONE, Life
from molar.synth.people import People
from molar.synth.world import ITEM_DEPT, ITEM_PRICE, D, T, World, doctor_of

ENTRY, RECALL, PAED, CHECK, ACUTE, ORTHO, IMPLANT = range(7)
KIND_NAMES = ("entry", "recall", "paediatric", "check", "acute", "ortho", "implant")

# Priority of an item when it decides the visit's department (zero-price follow-ups
# outrank a check-up).
ITEM_RANK = ITEM_PRICE.copy()
ITEM_RANK[T["ORTHF"]] = 60
ITEM_RANK[T["IMPF"]] = 60

# Episode templates: (min gap, max gap, item, probability, requires previous step)
EPISODES: dict[str, tuple[tuple[int, int, str, float, bool], ...]] = {
    "FILL": ((0, 0, "FILL", 1.0, False), (7, 14, "FILL", 0.2, False)),
    "RCT": ((0, 0, "RCT", 1.0, False), (5, 10, "RCT", 1.0, True), (7, 14, "RCT", 0.85, True),
            (20, 45, "CRN", 0.6, False), (10, 16, "CRN", 1.0, True)),
    "EXT": ((0, 0, "EXT", 1.0, False), (6, 10, "CHK", 0.3, False)),
    "PERIO": ((0, 0, "PERIO", 1.0, False), (7, 14, "PERIO", 0.9, True), (7, 14, "PERIO", 0.6, True),
              (60, 120, "CLN", 0.5, False)),
    "CRN": ((0, 0, "CRN", 1.0, False), (10, 18, "CRN", 1.0, True)),
    "WHT": ((0, 0, "WHT", 1.0, False),),
    "DENT": ((0, 0, "DENT", 1.0, False), (7, 14, "DENT", 1.0, True), (7, 14, "DENT", 0.8, True)),
    "IMPLANT": ((0, 0, "CHK", 1.0, False), (7, 21, "IMP", 1.0, False), (7, 10, "IMPF", 1.0, False),
                (80, 100, "IMPF", 1.0, False), (50, 80, "CRN", 0.9, False), (300, 400, "IMPF", 0.7, False)),
}
ACUTE_TYPES = ("FILL", "RCT", "EXT", "PERIO", "CRN", "WHT", "DENT")
# acute episode type weights by age group: <13, 13-39, 40-59, 60+
ACUTE_W = np.array([
    [0.70, 0.10, 0.20, 0.00, 0.00, 0.00, 0.00],
    [0.45, 0.17, 0.15, 0.06, 0.05, 0.12, 0.00],
    [0.35, 0.20, 0.12, 0.15, 0.12, 0.03, 0.03],
    [0.25, 0.15, 0.20, 0.15, 0.10, 0.00, 0.15],
])

# Half-hour appointment slots 09:00 .. 20:30 and time-of-day profiles.
SLOT_MINUTES = 540 + 30 * np.arange(24)
_h = SLOT_MINUTES / 60.0
_PROFILES = np.stack([
    np.select([_h < 12, _h < 14, _h < 17.5], [0.7, 1.0, 0.8], 1.8),  # 0 weekday adult
    np.select([_h < 12, _h < 13.5, _h < 17.5], [1.5, 0.7, 1.2], 0.5),  # 1 weekend
    np.select([_h < 12, _h < 13.5, _h < 17.5], [4.0, 0.4, 0.8], 0.3),  # 2 orthodontics weekend
    np.select([_h < 16.5, _h < 19], [0.25, 2.5], 0.4),  # 3 school-day child
    np.select([_h < 11.5, _h < 14, _h < 17], [2.2, 0.8, 1.0], 0.2),  # 4 elderly weekday
])
_PROFILE_CDF = np.cumsum(_PROFILES / _PROFILES.sum(axis=1, keepdims=True), axis=1)


@dataclass
class Visits:
    """Merged visits of one chunk (window and past only) plus their treatment lines."""

    p: np.ndarray  # local person index
    day: np.ndarray
    clinic: np.ndarray
    dept: np.ndarray
    doctor: np.ndarray
    kind: np.ndarray
    minute: np.ndarray  # slot start, minutes after midnight
    rec: np.ndarray  # which HIS record of the person (0 first, 1 re-registration)
    series: np.ndarray  # follow-up booked at the previous visit
    # lines (treatment items), sorted by visit then line number
    line_visit: np.ndarray  # index into the visit arrays
    line_no: np.ndarray
    line_item: np.ndarray
    line_tooth: np.ndarray
    line_qty: np.ndarray
    # future plans (after the export date): the next booked visit per person
    fut_p: np.ndarray
    fut_day: np.ndarray
    fut_clinic: np.ndarray
    fut_dept: np.ndarray
    fut_doctor: np.ndarray
    fut_minute: np.ndarray
    fut_rec: np.ndarray
    # re-registration (second HIS record)
    switch_day: np.ndarray  # per person, -1 if none
    switch_clinic: np.ndarray

    @property
    def n(self) -> int:
        return int(self.p.size)


class _Rows:
    def __init__(self) -> None:
        self.cols: dict[str, list[np.ndarray]] = {k: [] for k in ("p", "day", "item", "kind", "flex", "tooth", "qty", "series")}

    def add(self, p, day, item, kind, flex, tooth=None, qty=None, series=False) -> None:
        m = np.asarray(p).size
        if m == 0:
            return
        self.cols["p"].append(np.asarray(p, dtype=np.int64))
        self.cols["day"].append(np.asarray(day, dtype=np.int64))
        self.cols["item"].append(np.broadcast_to(np.asarray(item, dtype=np.int64), (m,)).copy())
        self.cols["kind"].append(np.full(m, kind, dtype=np.int64))
        self.cols["flex"].append(np.broadcast_to(np.asarray(flex, dtype=np.int64), (m,)).copy())
        t = np.full(m, "", dtype=object) if tooth is None else np.asarray(tooth, dtype=object)
        self.cols["tooth"].append(t)
        self.cols["qty"].append(np.ones(m, dtype=np.int64) if qty is None else np.asarray(qty, dtype=np.int64))
        self.cols["series"].append(np.broadcast_to(np.asarray(series, dtype=bool), (m,)).copy())

    def build(self) -> dict[str, np.ndarray]:
        out = {}
        for k, v in self.cols.items():
            if v:
                out[k] = np.concatenate(v)
            else:
                out[k] = np.empty(0, dtype=object if k == "tooth" else (bool if k == "series" else np.int64))
        return out


def _teeth(rng: np.random.Generator, n: int, kind: str, child: np.ndarray) -> np.ndarray:
    """FDI tooth numbers for an episode type; primary teeth (51-85) for small children."""
    q = rng.integers(1, 5, n)
    if kind in ("RCT", "CRN"):
        t = rng.integers(4, 8, n)
    elif kind == "EXT":
        t = np.where(rng.random(n) < 0.55, 8, rng.integers(4, 8, n))
    elif kind == "IMPLANT":
        t = rng.integers(5, 8, n)
    else:
        t = rng.integers(1, 8, n)
    fdi = q * 10 + t
    prim = (rng.integers(5, 9, n)) * 10 + rng.integers(1, 6, n)
    fdi = np.where(child, prim, fdi)
    return fdi.astype("U2").astype(object)


def _expand(rng, rows: _Rows, p, t0, steps, kind, flex_first, flex_rest, tooth, series_after_first=False) -> None:
    e = p.size
    day = t0.astype(np.int64).copy()
    inc_prev = np.ones(e, dtype=bool)
    for j, (lo, hi, item, prob, chain) in enumerate(steps):
        if j > 0:
            day = day + rng.integers(lo, hi + 1, e)
        inc = rng.random(e) < prob
        if chain:
            inc &= inc_prev
        it = T[item]
        tooth_j = tooth if item not in ("CHK", "CLN") else np.full(e, "全口" if item == "CLN" else "", dtype=object)
        qty = np.where(rng.random(e) < 0.15, 2, 1) if item == "FILL" else None
        rows.add(p[inc], day[inc], it, kind, flex_first if j == 0 else flex_rest, tooth_j[inc],
                 None if qty is None else qty[inc], series=series_after_first and j > 0)
        inc_prev = inc


def plan_visits(rng: np.random.Generator, world: World, ppl: People, life: Life) -> Visits:
    start, horizon = world.start, world.horizon
    his = life.his
    rows = _Rows()
    active_from = np.maximum(life.reg, start)
    active_to = np.minimum(life.churn, horizon)

    # ---- entry visit of new patients ----------------------------------------------------
    m = np.flatnonzero(his & life.new)
    rows.add(m, life.reg[m], T["CHK"], ENTRY, 0)

    # ---- cleaning recalls ------------------------------------------------------------------
    r = np.flatnonzero(life.recall & (active_from < active_to))
    if r.size:
        gap = life.recall_gap[r]
        t = np.where(life.new[r], life.reg[r] + gap * rng.uniform(0.6, 1.1, r.size), start + gap * rng.random(r.size))
        pre_churn = life.reason[r] != NONE
        k_max = int(np.ceil((horizon - start) / 150.0)) + 2
        for _ in range(k_max):
            ti = t.astype(np.int64)
            ok = (ti < active_to[r]) & (ti >= active_from[r])
            rows.add(r[ok], ti[ok], T["CLN"], RECALL, 20, np.full(int(ok.sum()), "全口", dtype=object))
            chk = ok & (rng.random(r.size) < 0.5)
            rows.add(r[chk], ti[chk], T["CHK"], RECALL, 20)
            # intervals stretch over the ~2.5 years before churn (up to 2.2x)
            closeness = np.clip(1 - (life.churn[r] - t) / 900.0, 0, 1)
            stretch = np.where(pre_churn, 1 + 1.2 * closeness, 1.0)
            t = t + gap * rng.lognormal(0, 0.15, r.size) * stretch

    # ---- children's preventive visits (school holidays) -------------------------------
    kid = np.flatnonzero(his & (ppl.age < 14) & (ppl.age >= 2.5) & (active_from < active_to))
    if kid.size:
        gap = rng.uniform(150, 230, kid.size)
        t = np.where(life.new[kid], life.reg[kid] + gap, start + gap * rng.random(kid.size))
        for _ in range(int(np.ceil((horizon - start) / 150.0)) + 2):
            ti = t.astype(np.int64)
            age_at = (ti - ppl.birth[kid]) / 365.25
            ok = (ti < active_to[kid]) & (ti >= active_from[kid]) & (age_at >= 2.5) & (age_at < 14)
            ok &= rng.random(kid.size) < 0.85
            rows.add(kid[ok], ti[ok], T["FLUO"], PAED, 60, np.full(int(ok.sum()), "全口", dtype=object))
            seal = ok & (age_at >= 6) & (age_at < 13) & (rng.random(kid.size) < 0.3)
            nseal = np.where(rng.random(kid.size) < 0.6, 4, 2)
            tooth = np.where(nseal == 4, "16,26,36,46", np.where(rng.random(kid.size) < 0.5, "36,46", "16,26"))
            rows.add(kid[seal], ti[seal], T["SEAL"], PAED, 60, tooth[seal].astype(object), nseal[seal])
            chk = ok & (rng.random(kid.size) < 0.5)
            rows.add(kid[chk], ti[chk], T["CHK"], PAED, 60)
            t = t + gap * rng.lognormal(0, 0.1, kid.size)

    # ---- sporadic check-ups of people without a recall habit ----------------------------
    sp = np.flatnonzero(his & ~life.recall & (ppl.age >= 14) & (active_from < active_to))
    if sp.size:
        span = (active_to[sp] - active_from[sp]) / 365.25
        cnt = rng.poisson(0.35 * span)
        pp = np.repeat(sp, cnt)
        d = active_from[pp] + (rng.random(pp.size) * (active_to[pp] - active_from[pp])).astype(np.int64)
        rows.add(pp, d, T["CHK"], CHECK, 15)
        cl = rng.random(pp.size) < 0.5
        rows.add(pp[cl], d[cl], T["CLN"], CHECK, 15, np.full(int(cl.sum()), "全口", dtype=object))

    # ---- acute episodes --------------------------------------------------------------
    ac = np.flatnonzero(his & (active_from < active_to))
    if ac.size:
        span = (active_to[ac] - active_from[ac]) / 365.25
        lam = (0.15 + 0.45 * life.caries[ac]) * span
        cnt = rng.poisson(lam)
        pp = np.repeat(ac, cnt)
        d = active_from[pp] + (rng.random(pp.size) * (active_to[pp] - active_from[pp])).astype(np.int64)
        age = ppl.age[pp]
        grp = np.select([age < 13, age < 40, age < 60], [0, 1, 2], 3)
        w = ACUTE_W[grp].copy()
        w[:, 3] *= 0.5 + 2.0 * life.perio[pp]
        w /= w.sum(axis=1, keepdims=True)
        typ = (rng.random(pp.size)[:, None] > np.cumsum(w, axis=1)).sum(axis=1)
        typ = np.minimum(typ, len(ACUTE_TYPES) - 1)
        for ti, name in enumerate(ACUTE_TYPES):
            sel = typ == ti
            if not sel.any():
                continue
            tooth = _teeth(rng, int(sel.sum()), name, age[sel] < 12)
            if name == "WHT":
                tooth = np.full(int(sel.sum()), "上下前牙", dtype=object)
            elif name == "PERIO":
                tooth = np.full(int(sel.sum()), "全口", dtype=object)
            elif name == "DENT":
                tooth = np.where(rng.random(int(sel.sum())) < 0.5, "上颌", "下颌").astype(object)
            _expand(rng, rows, pp[sel], d[sel], EPISODES[name], ACUTE, 7, 3, tooth)

    # ---- orthodontic courses ---------------------------------------------------------
    o = np.flatnonzero(life.ortho_start >= 0)
    if o.size:
        s0 = life.ortho_start[o]
        first = np.where(life.aligner[o], T["ALIGN"], T["ORTHO"])
        rows.add(o, s0, first, ORTHO, 10, np.full(o.size, "全口", dtype=object))
        t = s0.copy()
        months = life.ortho_months[o]
        for k in range(1, 27):
            t = t + rng.integers(26, 37, o.size)
            ok = k <= months
            rows.add(o[ok], t[ok], T["ORTHF"], ORTHO, 4, np.full(int(ok.sum()), "全口", dtype=object), series=True)
        ret = t + rng.integers(80, 100, o.size)  # retention check
        rows.add(o, ret, T["ORTHF"], ORTHO, 7, np.full(o.size, "全口", dtype=object), series=True)

    # ---- implant courses ---------------------------------------------------------------
    im = np.flatnonzero(life.implant_day >= 0)
    if im.size:
        tooth = _teeth(rng, im.size, "IMPLANT", np.zeros(im.size, dtype=bool))
        _expand(rng, rows, im, life.implant_day[im], EPISODES["IMPLANT"], IMPLANT, 7, 3, tooth,
                series_after_first=True)

    plan = rows.build()
    return _merge(rng, world, ppl, life, plan)


def _nudge(rng, world: World, clinic, dept, day, flex) -> np.ndarray:
    """Move flexible dates towards busy days of the clinic and department (Gumbel-max)."""
    out = day.copy()
    sel = np.flatnonzero(flex > 0)
    if sel.size == 0:
        return out
    k = 9
    f = flex[sel][:, None]
    offs = np.rint((rng.random((sel.size, k)) * 2 - 1) * f).astype(np.int64)
    offs[:, 0] = 0
    cand = day[sel][:, None] + offs
    w = world.season_weight(clinic[sel][:, None], dept[sel][:, None], cand)
    score = np.log(w) + rng.gumbel(size=w.shape)
    out[sel] = cand[np.arange(sel.size), np.argmax(score, axis=1)]
    return out


def _minutes(rng, world: World, day, dept, age) -> np.ndarray:
    ci = world.cal.idx(day)
    wd = world.cal.weekday[ci]
    weekend = (wd >= 5) | world.cal.holiday[ci]
    month = world.cal.month[ci]
    school_break = np.isin(month, (1, 2, 7, 8))
    prof = np.where(weekend, 1, 0)
    prof = np.where(weekend & (dept == D["orthodontics"]), 2, prof)
    prof = np.where(~weekend & ~school_break & (age < 18), 3, prof)
    prof = np.where(~weekend & (age >= 60), 4, prof)
    u = rng.random(day.size)
    slot = (u[:, None] > _PROFILE_CDF[prof]).sum(axis=1)
    return SLOT_MINUTES[np.minimum(slot, SLOT_MINUTES.size - 1)]


def _merge(rng, world: World, ppl: People, life: Life, plan: dict[str, np.ndarray]) -> Visits:
    p = plan["p"]
    item = plan["item"]
    dept = ITEM_DEPT[item]
    home = life.home[p]
    day = _nudge(rng, world, home, dept, plan["day"], plan["flex"])
    start, end, horizon = world.start, world.end, world.horizon
    ok = (
        life.his[p] & (day >= np.maximum(life.reg[p], start)) & (day < life.churn[p]) & (day <= horizon)
        & (day >= world.clinic_open[home]) & (day >= ppl.birth[p] + 365)
    )
    cols = {k: v[ok] for k, v in plan.items()}
    cols["day"] = day[ok]
    p, day, item = cols["p"], cols["day"], cols["item"]
    # sort by person, day, item rank (desc): the first row of a (person, day) is the visit
    order = np.lexsort((-ITEM_RANK[item], day, p))
    cols = {k: v[order] for k, v in cols.items()}
    p, day, item = cols["p"], cols["day"], cols["item"]
    # drop repeated items within the same visit
    dup = np.zeros(p.size, dtype=bool)
    if p.size:
        o2 = np.lexsort((item, day, p))
        ps, ds, its = p[o2], day[o2], item[o2]
        dup[o2[1:]] = (ps[1:] == ps[:-1]) & (ds[1:] == ds[:-1]) & (its[1:] == its[:-1])
    cols = {k: v[~dup] for k, v in cols.items()}
    p, day, item = cols["p"], cols["day"], cols["item"]
    new_visit = np.ones(p.size, dtype=bool)
    new_visit[1:] = (p[1:] != p[:-1]) | (day[1:] != day[:-1])
    vstart = np.flatnonzero(new_visit)
    line_visit_all = np.cumsum(new_visit) - 1
    line_no_all = np.arange(p.size) - vstart[line_visit_all] + 1

    v_p = p[vstart]
    v_day = day[vstart]
    v_dept = ITEM_DEPT[item[vstart]]
    v_kind = cols["kind"][vstart]
    v_series = cols["series"][vstart]
    future = v_day > end
    v_clinic = life.home[v_p].copy()
    # occasional visit at another open clinic (not for courses with their own doctor)
    other = (~np.isin(v_kind, (ORTHO, IMPLANT))) & (rng.random(v_p.size) < 0.07)
    alt = rng.choice(world.n_clinics, size=v_p.size, p=world.clinic_chairs / world.clinic_chairs.sum())
    other &= world.clinic_open[alt] <= v_day
    v_clinic = np.where(other, alt, v_clinic)

    # ---- re-registration at another clinic (second HIS record) ---------------------
    rate = world.config.noise.his_second_record
    in_window = ~future
    cnt = np.bincount(v_p[in_window], minlength=ppl.n)
    first_idx = np.full(ppl.n, -1)
    wi = np.flatnonzero(in_window)
    if wi.size:
        fi = np.ones(wi.size, dtype=bool)
        fi[1:] = v_p[wi][1:] != v_p[wi][:-1]
        first_idx[v_p[wi][fi]] = wi[fi]
    qual = (cnt >= 2) & (rng.random(ppl.n) < rate)
    switch_day = np.full(ppl.n, -1, dtype=np.int64)
    switch_clinic = np.full(ppl.n, -1, dtype=np.int64)
    q = np.flatnonzero(qual)
    if q.size:
        k = 1 + (rng.random(q.size) * (cnt[q] - 1)).astype(np.int64)
        sw_visit = first_idx[q] + k
        sday = v_day[sw_visit]
        km = world.district_km[ppl.district[q]]
        score = -km / 6.0 + rng.gumbel(size=km.shape)
        score[np.arange(q.size), life.home[q]] = -np.inf
        score = np.where(world.clinic_open[None, :] <= sday[:, None], score, -np.inf)
        c2 = np.argmax(score, axis=1)
        good = np.isfinite(score[np.arange(q.size), c2])
        switch_day[q[good]] = sday[good]
        switch_clinic[q[good]] = c2[good]
    sw = switch_day[v_p]
    v_rec = ((sw >= 0) & (v_day >= sw)).astype(np.int64)
    v_clinic = np.where(v_rec == 1, switch_clinic[v_p], v_clinic)
    v_doctor = doctor_of(world, ppl.gidx[v_p], v_clinic, v_dept)
    v_minute = _minutes(rng, world, v_day, v_dept, ppl.age[v_p])

    # future: keep only the first planned visit per person after the export date
    fidx = np.flatnonzero(future)
    if fidx.size:
        ff = np.ones(fidx.size, dtype=bool)
        ff[1:] = v_p[fidx][1:] != v_p[fidx][:-1]
        fidx = fidx[ff]
    past = np.flatnonzero(~future)
    remap = np.full(v_p.size, -1)
    remap[past] = np.arange(past.size)
    line_keep = ~future[line_visit_all]
    return Visits(
        p=v_p[past], day=v_day[past], clinic=v_clinic[past], dept=v_dept[past], doctor=v_doctor[past],
        kind=v_kind[past], minute=v_minute[past], rec=v_rec[past], series=v_series[past],
        line_visit=remap[line_visit_all[line_keep]], line_no=line_no_all[line_keep],
        line_item=item[line_keep], line_tooth=cols["tooth"][line_keep], line_qty=cols["qty"][line_keep],
        fut_p=v_p[fidx], fut_day=v_day[fidx], fut_clinic=v_clinic[fidx], fut_dept=v_dept[fidx],
        fut_doctor=v_doctor[fidx], fut_minute=v_minute[fidx], fut_rec=v_rec[fidx],
        switch_day=switch_day, switch_clinic=switch_clinic,
    )

