"""What people say: consult messages/calls and platform reviews, tied to behaviour.

Complaint-driven churners complain (and some post a 1-2 star review) after their last
visit and before their churn date; price-driven churners ask about or complain about
prices; distance-driven churners ask for a nearer clinic.  Everyone else asks questions
before a first visit, worries after a root canal or an implant, praises, and sometimes
complains without leaving.
"""

from __future__ import annotations

import numpy as np

from molar.synth import texts
from molar.synth.calendar import fmt_hms
from molar.synth.care import Visits
from molar.synth.geo import DISTRICT_NAMES
from molar.synth.identifiers import mask_mobile
from molar.synth.life import COMPLAINT, DISTANCE, NONE, PRICE, Life
from molar.synth.output import Output
from molar.synth.people import People
from molar.synth.serials import Serials
from molar.synth.wechat import _seconds
from molar.synth.world import ITEM_ZH, D, T, World, doctor_of

TOPIC = {t: i for i, t in enumerate(texts.TOPICS)}
COMPLAINTS = np.array([TOPIC["complaint_wait"], TOPIC["complaint_attitude"], TOPIC["complaint_pain"],
                       TOPIC["complaint_billing"]])
PLATFORMS = np.array(["大众点评", "美团", "小程序"], dtype=object)
SOURCES = np.array(["his", "booking", "member", "wechat"], dtype=object)


def engagement_chunk(rng, world: World, ppl: People, life: Life, vis: Visits, his_key: np.ndarray,
                     booking_key: np.ndarray, member_key: np.ndarray, unionid: np.ndarray, out: Output,
                     serials: Serials) -> None:
    start, end = world.start, world.end
    n = ppl.n
    nv = vis.n
    # primary item per visit
    first = vis.line_no == 1
    prim = np.zeros(nv, dtype=np.int64)
    prim[vis.line_visit[first]] = vis.line_item[first]
    last_visit = np.full(n, -1, dtype=np.int64)
    if nv:
        lv = np.ones(nv, dtype=bool)
        lv[:-1] = vis.p[:-1] != vis.p[1:]
        last_visit[vis.p[lv]] = np.flatnonzero(lv)
    churn_phase = (life.reason[vis.p] != NONE) & (vis.day > life.churn[vis.p] - 200)

    P, DAY, TOP, VIS = [], [], [], []

    def add(p, day, topic, visit=None):
        P.append(np.asarray(p, dtype=np.int64))
        DAY.append(np.asarray(day, dtype=np.int64))
        TOP.append(np.broadcast_to(np.asarray(topic, dtype=np.int64), (np.asarray(p).size,)).copy())
        VIS.append(np.full(np.asarray(p).size, -1, dtype=np.int64) if visit is None else np.asarray(visit))

    # 1. questions before a first visit
    nw = np.flatnonzero(life.his & life.new & (rng.random(n) < 0.2))
    u = rng.random(nw.size)
    t = np.select([ppl.age[nw] < 13, (life.ortho_start[nw] >= 0) & (life.ortho_start[nw] - life.reg[nw] < 60),
                   u < 0.4, u < 0.55], [TOPIC["kids_question"], TOPIC["aligner_question"], TOPIC["price_question"],
                                        TOPIC["insurance_question"]], TOPIC["logistics"])
    add(nw, life.reg[nw] - rng.integers(0, 11, nw.size), t)
    # 2./3. after root canals and implant surgery
    for item, topic, p_, lo, hi in (("RCT", "rct_pain", 0.12, 1, 5), ("IMP", "implant_question", 0.3, 2, 11)):
        s = np.flatnonzero((prim == T[item]) & (rng.random(nv) < p_))
        add(vis.p[s], vis.day[s] + rng.integers(lo, hi, s.size), TOPIC[topic], s)
    # 4. before an orthodontic course
    o = np.flatnonzero((life.ortho_start >= start) & (rng.random(n) < 0.3))
    add(o, life.ortho_start[o] - rng.integers(5, 41, o.size), TOPIC["aligner_question"])
    # 5. parents asking about children
    k = np.flatnonzero(life.his & (ppl.age < 13) & (rng.random(n) < 0.08))
    add(k, rng.integers(start, end + 1, k.size), TOPIC["kids_question"])
    # 6./7./11./12. per-visit praise, worries, background complaints, logistics
    u = rng.random(nv)
    calm = ~churn_phase
    s = np.flatnonzero(calm & (u < 0.012))
    add(vis.p[s], vis.day[s] + rng.integers(0, 4, s.size), TOPIC["praise"], s)
    s = np.flatnonzero((u >= 0.012) & (u < 0.022))
    add(vis.p[s], vis.day[s] + rng.integers(0, 8, s.size), TOPIC["worry"], s)
    s = np.flatnonzero((u >= 0.022) & (u < 0.026))
    add(vis.p[s], vis.day[s] + rng.integers(0, 6, s.size),
        np.append(COMPLAINTS, TOPIC["complaint_price"])[rng.integers(0, 5, s.size)], s)
    s = np.flatnonzero((u >= 0.026) & (u < 0.041))
    add(vis.p[s], vis.day[s] - rng.integers(0, 6, s.size), TOPIC["logistics"], s)
    # 8. complaint-driven churners complain after their last visit, before they leave
    c = np.flatnonzero((life.reason == COMPLAINT) & (rng.random(n) < 0.9))
    lvc = last_visit[c]
    base = np.where(lvc >= 0, vis.day[np.maximum(lvc, 0)] if nv else 0, life.churn[c] - 30)
    d = np.minimum(base + rng.integers(0, 8, c.size), life.churn[c] - 1)
    topic = COMPLAINTS[rng.choice(4, c.size, p=[0.3, 0.3, 0.25, 0.15])]
    add(c, np.maximum(d, base), topic, np.where(lvc >= 0, lvc, -1))
    c2 = rng.random(c.size) < 0.35
    d2 = np.minimum(np.maximum(d, base) + rng.integers(1, 15, c.size), life.churn[c] - 1)
    add(c[c2], np.maximum(d2, base)[c2], COMPLAINTS[rng.integers(0, 4, int(c2.sum()))], np.where(lvc >= 0, lvc, -1)[c2])
    # 9. price-driven churners
    pr = np.flatnonzero((life.reason == PRICE) & (rng.random(n) < 0.6))
    t = np.where(rng.random(pr.size) < 0.5, TOPIC["complaint_price"], TOPIC["worry"])
    lvp = last_visit[pr]
    add(pr, life.churn[pr] - rng.integers(1, 121, pr.size), t, lvp)
    # 10. distance-driven churners
    di = np.flatnonzero((life.reason == DISTANCE) & (rng.random(n) < 0.3))
    add(di, life.churn[di] - rng.integers(0, 61, di.size), TOPIC["moving_away"], last_visit[di])
    # 13. leads
    ld = np.flatnonzero(life.lead & (rng.random(n) < 0.4))
    t = np.array([TOPIC["price_question"], TOPIC["aligner_question"], TOPIC["implant_question"],
                  TOPIC["logistics"]])[rng.choice(4, ld.size, p=[0.55, 0.2, 0.05, 0.2])]
    add(ld, life.reg[ld] + rng.integers(0, 21, ld.size), t)

    p = np.concatenate(P)
    day = np.concatenate(DAY)
    topic = np.concatenate(TOP)
    vi = np.concatenate(VIS)
    keep = (day >= start) & (day <= end)
    p, day, topic, vi = p[keep], day[keep], topic[keep], vi[keep]
    m = p.size
    phone = rng.random(m) < np.where(ppl.age[p] >= 60, 0.7, 0.35)
    sec = np.where(phone, rng.integers(9 * 3600, 20 * 3600, m), _seconds(rng, m))
    order = np.lexsort((p, sec, day))
    p, day, topic, vi, phone, sec = p[order], day[order], topic[order], vi[order], phone[order], sec[order]
    ctx = _context(rng, world, ppl, life, vis, prim, p, vi)
    text = texts.render_consults(rng, topic, phone, ctx)
    # the record the consult came through
    has = np.stack([his_key[p, 0] != "", booking_key[p, 0] != "", member_key[p, 0] != "", unionid[p] != ""], axis=1)
    w_chat = np.array([0.1, 0.25, 0.05, 0.6])
    w_call = np.array([0.6, 0.2, 0.2, 0.0001])
    wts = np.where(phone[:, None], w_call[None, :], w_chat[None, :])
    score = np.where(has, np.log(wts) + rng.gumbel(size=has.shape), -np.inf)
    src = np.argmax(score, axis=1)
    ckey = np.select([src == 0, src == 1, src == 2], [his_key[p, 0], booking_key[p, 0], member_key[p, 0]], unionid[p])
    ids = np.array([f"ZX{i:09d}" for i in serials.take("consult", m).tolist()], dtype=object)
    ts = world.cal.iso[world.cal.idx(day)] + " " + fmt_hms(sec)
    out.emit("sources/consult/consults.csv", [ids, np.where(phone, "电话", "在线").astype(object), ts, SOURCES[src],
                                              ckey, text], 0)
    out.truth("truth/consult_labels.parquet", {
        "consult_id": ids, "sentiment": texts.TOPIC_SENTIMENT[topic], "topic": np.array(texts.TOPICS, dtype=object)[topic],
        "person_id": ppl.person_id[p],
    })
    out.record("consult", "consults", ids, ppl.person_id[p], np.full(m, "", dtype=object))

    # ---- reviews ----------------------------------------------------------------------------
    u = rng.random(nv)
    s = np.flatnonzero(calm & (u < 0.035))
    stars_s = np.array([5, 4, 3, 2, 1])[rng.choice(5, s.size, p=[0.68, 0.22, 0.07, 0.02, 0.01])]
    cc = np.flatnonzero((life.reason == COMPLAINT) & (last_visit >= 0) & (rng.random(n) < 0.3))
    pc = np.flatnonzero((life.reason == PRICE) & (last_visit >= 0) & (rng.random(n) < 0.1))
    rv = np.concatenate([s, last_visit[cc], last_visit[pc]])
    stars = np.concatenate([stars_s, rng.integers(1, 3, cc.size), rng.integers(2, 4, pc.size)])
    rp = vis.p[rv]
    rday = np.minimum(vis.day[rv] + rng.integers(0, 6, rv.size), end)
    o = np.lexsort((rp, rday))
    rv, stars, rp, rday = rv[o], stars[o], rp[o], rday[o]
    k = rv.size
    rctx = _context(rng, world, ppl, life, vis, prim, rp, rv)
    rtext = texts.render_reviews(rng, stars, rctx)
    rid = np.array([f"PJ{i:09d}" for i in serials.take("review", k).tolist()], dtype=object)
    doctor = np.where(rng.random(k) < 0.8, world.doctor_name[vis.doctor[rv]], "").astype(object)
    out.emit("sources/reviews/reviews.csv", [
        rid, PLATFORMS[rng.choice(3, k, p=[0.45, 0.3, 0.25])], mask_mobile(ppl.phone_at(rp, rday)),
        world.clinic_review[vis.clinic[rv]], doctor, world.cal.iso[world.cal.idx(rday)],
        stars.astype(str).astype(object), rtext,
    ], 0)
    out.record("reviews", "reviews", rid, ppl.person_id[rp], np.full(k, "", dtype=object))


def _context(rng, world: World, ppl: People, life: Life, vis: Visits, prim: np.ndarray, p: np.ndarray,
             vi: np.ndarray) -> dict[str, np.ndarray]:
    """Slot values from the visit a message is about (or the home clinic if none)."""
    has = vi >= 0
    v = np.maximum(vi, 0)
    clinic = np.where(has, vis.clinic[v] if vis.n else life.home[p], life.home[p])
    dept = np.full(p.size, D["general"])
    doctor = np.where(has, vis.doctor[v] if vis.n else 0, doctor_of(world, ppl.gidx[p], clinic, dept))
    treat = np.where(has, ITEM_ZH[prim[v]] if vis.n else "洗牙", "洗牙")
    dn = np.array(DISTRICT_NAMES, dtype=object)
    other = rng.integers(0, dn.size, p.size)
    other = np.where(other == ppl.district[p], (other + 1) % dn.size, other)
    return {
        "ctx_clinic": world.clinic_short[clinic],
        "ctx_doctor": np.array([s[0] for s in world.doctor_name[doctor].tolist()], dtype=object) + "医生",
        "ctx_treat": treat.astype(object),
        "ctx_district": dn[other],
    }
