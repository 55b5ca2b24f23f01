"""Who each person is to the chain: which systems know them, when they registered, their
home clinic, dental risks, treatment courses, referrals — and whether, when and why they
churn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molar.synth.people import CHILD, HEAD, People
from molar.synth.world import World

NEVER = 10**7  # churn day of people who do not churn
REASONS = np.array(["none", "price", "complaint", "distance"], dtype=object)
NONE, PRICE, COMPLAINT, DISTANCE = 0, 1, 2, 3


@dataclass
class Life:
    his: np.ndarray  # has visited a clinic (HIS patient)
    lead: np.ndarray  # known only from WeChat / booking, never visited
    booking: np.ndarray
    member: np.ndarray
    wechat: np.ndarray
    reg: np.ndarray  # HIS registration day (first visit); leads: first contact day
    new: np.ndarray  # registered inside the window
    home: np.ndarray  # home clinic index
    dist_km: np.ndarray
    churn: np.ndarray  # churn day (NEVER if not churned by the export date)
    reason: np.ndarray  # NONE / PRICE / COMPLAINT / DISTANCE
    price_sens: np.ndarray
    loyalty: np.ndarray
    perio: np.ndarray  # periodontal risk 0..1
    caries: np.ndarray  # caries risk 0..1
    engage: np.ndarray  # digital engagement (events per month scale)
    recall: np.ndarray  # comes for cleaning recalls
    recall_gap: np.ndarray  # days between recalls
    ortho_start: np.ndarray  # day, -1 = none
    ortho_months: np.ndarray
    aligner: np.ndarray
    implant_day: np.ndarray  # day of the implant consultation, -1 = none
    referrer: np.ndarray  # local index of the friend who referred them, -1 = none
    toothbrush: np.ndarray
    app_user: np.ndarray

    @property
    def churned(self) -> np.ndarray:
        return self.churn < NEVER


def plan_lives(rng: np.random.Generator, world: World, ppl: People) -> Life:
    n = ppl.n
    start, end = world.start, world.end
    age = ppl.age
    adult = age >= 18

    # ---- which systems know the person ----------------------------------------------------
    lead = adult & (age < 62) & (rng.random(n) < 0.10)
    his = ~lead
    loyalty = rng.beta(2.2, 2.0, n)
    price_sens = rng.beta(2.0, 3.0, n)
    perio = np.clip(rng.beta(2, 5, n) + 0.008 * np.maximum(age - 30, 0), 0, 1)
    caries = np.clip(rng.beta(2, 4, n) + 0.15 * (age < 13), 0, 1)
    engage = rng.lognormal(0.0, 0.7, n) * np.where(age < 45, 1.0, 0.6)

    # ---- registration and home clinic -------------------------------------------------
    new = rng.random(n) < 0.42
    reg = np.where(new, rng.integers(start, end - 20, n), rng.integers(start - 6 * 365, start - 1, n))
    reg = np.maximum(reg, ppl.birth + 365)  # first dental visit after the first birthday
    first_open = int(world.clinic_open.min())
    reg = np.where(reg < first_open, first_open + rng.integers(0, 200, n), reg)
    new = reg >= start
    km = world.district_km[ppl.district]  # [n, clinics]
    score = -km / 4.0 + np.log(world.clinic_chairs)[None, :] + rng.gumbel(size=km.shape)
    score = np.where(world.clinic_open[None, :] <= reg[:, None], score, -np.inf)
    home = np.argmax(score, axis=1)
    # families go to the head's clinic
    fam = (ppl.role != HEAD) & (rng.random(n) < 0.8)
    hh_home = home[ppl.head]
    ok = world.clinic_open[hh_home] <= reg
    home = np.where(fam & ok, hh_home, home)

    # ---- treatment courses ------------------------------------------------------------
    mid_age = age - (end - start) / 730.0
    p_ortho = np.select([(mid_age >= 9) & (mid_age < 17), (mid_age >= 17) & (mid_age < 36)], [0.12, 0.035], 0.0)
    p_ortho = p_ortho * np.where(ppl.sex == 0, 1.3, 0.8)
    ortho = his & (rng.random(n) < p_ortho)
    ortho_start = np.where(ortho, rng.integers(start - 600, end - 30, n), -1)
    ortho_start = np.where(ortho & new, reg + rng.integers(0, 45, n), ortho_start)
    ortho_start = np.where(ortho & (ortho_start < reg), reg + rng.integers(0, 45, n), ortho_start)
    ortho_months = rng.integers(18, 26, n)
    aligner = rng.random(n) < np.where(age >= 18, 0.6, 0.3)
    p_imp = np.clip(0.02 + 0.004 * (age - 40), 0, 0.15) * (age >= 40)
    implant = his & (rng.random(n) < p_imp)
    implant_day = np.where(implant, rng.integers(start - 200, end - 5, n), -1)
    implant_day = np.where(implant & (implant_day < reg), reg + rng.integers(0, 30, n), implant_day)
    recall = his & (age >= 14) & (rng.random(n) < 0.25 + 0.45 * loyalty)
    recall_gap = rng.uniform(180, 365, n) * np.where(loyalty > 0.6, 0.85, 1.1)

    # ---- churn ----------------------------------------------------------------------------
    dist_km = km[np.arange(n), home]
    far = dist_km > 8
    hazard = 0.09 * (1 + 1.6 * price_sens) * (1 + 0.9 * far) * (1.4 - 0.8 * loyalty)
    hazard = hazard * np.where(ortho_start >= 0, 0.45, 1.0)
    tenure = rng.exponential(365.25 / hazard)
    churn = reg + np.maximum(90, tenure).astype(np.int64)
    # people in an ortho course or with an implant do not leave mid-treatment
    churn = np.where(ortho_start >= 0, np.maximum(churn, ortho_start + ortho_months * 31 + 60), churn)
    churn = np.where(implant_day >= 0, np.maximum(churn, implant_day + 200), churn)
    churn = np.where(his & (churn <= end), churn, NEVER)
    w = np.stack([np.zeros(n), 0.4 + 2.2 * price_sens, np.full(n, 0.9), 0.25 + 2.8 * far], axis=1)
    w = w / w.sum(axis=1, keepdims=True)
    reason = (rng.random(n)[:, None] > np.cumsum(w, axis=1)).sum(axis=1)
    reason = np.where(churn < NEVER, np.minimum(reason, 3), NONE)
    reason = np.where((churn < NEVER) & (reason == NONE), COMPLAINT, reason)

    # ---- source systems -------------------------------------------------------------------
    u = rng.random(n)
    p_booking = np.select([age < 18, age < 36, age < 61], [0.55, 0.7, 0.5], 0.22)
    booking = np.where(lead, u < 0.35, u < p_booking)
    # children are booked through a parent's account only if the parent books too
    booking = booking & ~((ppl.role == CHILD) & (rng.random(n) < 0.25))
    p_wechat = np.select([age < 13, age < 18, age < 51, age < 66], [0.0, 0.2, 0.62, 0.42], 0.15)
    wechat = np.where(lead, ~booking | (rng.random(n) < 0.3), rng.random(n) < p_wechat)
    p_member = np.clip(0.12 + 0.28 * loyalty + 0.2 * (ortho_start >= 0) + 0.2 * (implant_day >= 0), 0, 0.9)
    member = his & (rng.random(n) < p_member)

    # ---- referrals among friends --------------------------------------------------------
    referrer = np.full(n, -1, dtype=np.int64)
    grp = ppl.friend_group
    cand = np.flatnonzero(grp >= 0)
    if cand.size:
        order = cand[np.lexsort((reg[cand], grp[cand]))]
        g = grp[order]
        first = np.ones(order.size, dtype=bool)
        first[1:] = g[1:] != g[:-1]
        leader = order[np.maximum.accumulate(np.where(first, np.arange(order.size), 0))]
        is_ref = (
            ~first & his[order] & new[order] & wechat[order] & wechat[leader] & his[leader]
            & (reg[leader] < reg[order] - 30) & (churn[leader] > reg[order]) & (rng.random(order.size) < 0.45)
        )
        referrer[order[is_ref]] = leader[is_ref]
        # referred friends go to the referrer's clinic
        rr = order[is_ref]
        rhome = home[leader[is_ref]]
        ok = world.clinic_open[rhome] <= reg[rr]
        home[rr[ok]] = rhome[ok]
        dist_km = km[np.arange(n), home]

    brush_ok = wechat & (age >= 12)
    p_brush = min(1.0, world.config.toothbrush_share * n / max(int(brush_ok.sum()), 1))
    toothbrush = brush_ok & (rng.random(n) < p_brush)
    app_user = (booking | wechat) & (age >= 16) & (age < 55) & (rng.random(n) < 0.35)
    reg = np.where(lead, rng.integers(start, end - 10, n), reg)
    new = np.where(lead, True, new)
    return Life(
        his=his, lead=lead, booking=booking, member=member, wechat=wechat, reg=reg, new=new, home=home,
        dist_km=dist_km, churn=churn, reason=reason, price_sens=price_sens, loyalty=loyalty, perio=perio,
        caries=caries, engage=engage, recall=recall, recall_gap=recall_gap, ortho_start=ortho_start,
        ortho_months=ortho_months, aligner=aligner, implant_day=implant_day, referrer=referrer,
        toothbrush=toothbrush, app_user=app_user,
    )

