"""WeChat official account / app: users and behaviour events, coupons and referrals.

Users carry nicknames rather than names and a bound mobile only sometimes.  Events follow
the person's life: a follow around the first visit, article reads on topics they are about
to need (aligners before an orthodontic course), coupons received and used at a charge,
referral events (with ``referrer_unionid``) shortly before the referred friend's first
visit, and unfollows after churn.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from molar.model import codes
from molar.synth import identifiers, names
from molar.synth import noise as nz
from molar.synth.calendar import fmt_hms
from molar.synth.care import Visits
from molar.synth.life import NEVER, NONE, Life
from molar.synth.output import Output
from molar.synth.people import CHILD, People
from molar.synth.world import ITEM_PRICE, World
from molar.synth.writers import lines

EVENT_CODE = {e: i for i, e in enumerate(codes.EVENT_TYPES)}
EVENT_NAMES = np.array(codes.EVENT_TYPES, dtype=object)
TOPICS = ("ortho", "implant", "kids", "perio", "whitening", "general")
COUPON_VALUE = {"A": 50.0, "B": 100.0, "C": 200.0}

# seconds-of-day profile for phone activity (hourly weights 0..23)
_HOURLY = np.array([0.3, 0.15, 0.08, 0.05, 0.05, 0.1, 0.3, 0.8, 1.2, 1.0, 0.9, 1.0,
                    1.6, 1.4, 0.9, 0.9, 1.0, 1.1, 1.4, 1.7, 2.0, 2.2, 1.9, 1.0])
_HOUR_CDF = np.cumsum(_HOURLY / _HOURLY.sum())


def _seconds(rng, n: int) -> np.ndarray:
    h = np.searchsorted(_HOUR_CDF, rng.random(n))
    return np.minimum(h, 23) * 3600 + rng.integers(0, 3600, n)


@dataclass
class WechatPlan:
    """What WeChat knows, decided before anything is rendered (shared by every writer)."""

    w: np.ndarray  # local indices of WeChat users
    openid: np.ndarray  # per person ('' = not a WeChat user)
    unionid: np.ndarray
    app_id: np.ndarray
    subscribe: np.ndarray  # per WeChat user: day
    subscribe_sec: np.ndarray
    child_given: np.ndarray  # per person: a child's given name in the household (nicknames)
    coupon: np.ndarray  # per visit, coupon id redeemed ('' = none)
    coupon_value: np.ndarray  # per visit
    # events, sorted by time: person, type code, day, second, article, coupon, referrer unionid, app?
    ev_p: np.ndarray
    ev_type: np.ndarray
    ev_day: np.ndarray
    ev_sec: np.ndarray
    ev_article: np.ndarray
    ev_coupon: np.ndarray
    ev_referrer: np.ndarray
    ev_app: np.ndarray


def plan_wechat(rng, world: World, ppl: People, life: Life, vis: Visits) -> WechatPlan:
    cal = world.cal
    start, end = world.start, world.end
    n = ppl.n
    w = np.flatnonzero(life.wechat)
    k = w.size

    # ---- identities ------------------------------------------------------------------
    openid = np.full(n, "", dtype=object)
    unionid = np.full(n, "", dtype=object)
    app_id = np.full(n, "", dtype=object)
    openid[w] = identifiers.random_tokens(rng, k, 27, "o")
    unionid[w] = identifiers.random_tokens(rng, k, 27, "o")
    a = np.flatnonzero(life.app_user)
    app_id[a] = identifiers.random_tokens(rng, a.size, 12, "app_", alphabet="hex")

    # ---- subscription day -----------------------------------------------------------------
    reg = life.reg[w]
    sub = np.where(rng.random(k) < 0.5, reg - rng.integers(0, 20, k), reg + rng.integers(0, 60, k))
    sub = np.where(life.new[w], sub, rng.integers(start - 3 * 365, start + 300, k))
    sub = np.where(life.lead[w], life.reg[w], sub)
    ref = life.referrer[w]
    ref_day = np.where(ref >= 0, life.reg[w] - rng.integers(1, 22, k), -1)
    sub = np.where(ref >= 0, ref_day - rng.integers(0, 4, k), sub)
    sub = np.minimum(sub, end)
    sub_sec = _seconds(rng, k)
    child_given = np.full(n, None, dtype=object)
    ch = np.flatnonzero(ppl.role == CHILD)
    child_given[ppl.head[ch]] = ppl.given[ch]

    # ---- coupons --------------------------------------------------------------------------
    nv = vis.n
    coupon = np.full(nv, "", dtype=object)
    coupon_value = np.zeros(nv)
    chargeable = np.bincount(vis.line_visit, weights=ITEM_PRICE[vis.line_item], minlength=nv) > 0
    a_from = np.maximum(sub, start)
    a_to = np.minimum(end, np.where(life.churn[w] < NEVER, life.churn[w] + 60, end))
    months = np.maximum(a_to - a_from, 0) / 30.4
    cnt = rng.poisson(0.09 * months)
    cp = np.repeat(np.arange(k), cnt)
    cday = a_from[cp] + (rng.random(cp.size) * (a_to[cp] - a_from[cp])).astype(np.int64)
    letter = np.array(["A", "B", "C"], dtype=object)[rng.choice(3, cp.size, p=[0.5, 0.3, 0.2])]
    yyyymm = np.array([s[:6] for s in cal.compact[cal.idx(cday)].tolist()], dtype=object)
    cid = "CP" + yyyymm + letter
    cval = np.array([COUPON_VALUE[x] for x in letter.tolist()])
    # redeem at the next chargeable visit within 45 days
    vk = vis.p.astype(np.int64) * 100000 + (vis.day - start + 50000)
    ch_idx = np.flatnonzero(chargeable)
    vk_c = vk[ch_idx]
    order = np.argsort(vk_c, kind="stable")
    vk_s = vk_c[order]
    qk = w[cp].astype(np.int64) * 100000 + (cday - start + 50000)
    pos = np.searchsorted(vk_s, qk)
    found = pos < vk_s.size
    posc = np.minimum(pos, max(vk_s.size - 1, 0))
    hit = found & (vk_s[posc] // 100000 == w[cp]) & (vk_s[posc] - qk <= 45) if vk_s.size else np.zeros(cp.size, bool)
    use = hit & (rng.random(cp.size) < 0.35 + 0.4 * life.price_sens[w[cp]])
    used_visit = np.where(use, ch_idx[order[posc]] if vk_s.size else 0, -1)
    first_use = np.zeros(cp.size, dtype=bool)
    uv = np.flatnonzero(use)
    if uv.size:
        _, fi = np.unique(used_visit[uv], return_index=True)
        first_use[uv[fi]] = True
    coupon[used_visit[first_use]] = cid[first_use]
    coupon_value[used_visit[first_use]] = cval[first_use]

    # ---- events ---------------------------------------------------------------------------
    ev_p, ev_t, ev_day, ev_sec, ev_art, ev_cp, ev_ref, ev_plat = [], [], [], [], [], [], [], []

    def add(pl, typ, day, sec, art=None, cpn=None, refu=None, platform=None):
        m = pl.size
        ev_p.append(pl)
        ev_t.append(np.full(m, EVENT_CODE[typ], dtype=np.int64))
        ev_day.append(day.astype(np.int64))
        ev_sec.append(sec.astype(np.int64))
        ev_art.append(np.full(m, None, dtype=object) if art is None else art)
        ev_cp.append(np.full(m, None, dtype=object) if cpn is None else cpn)
        ev_ref.append(np.full(m, None, dtype=object) if refu is None else refu)
        ev_plat.append(np.zeros(m, dtype=bool) if platform is None else platform)

    fol = np.flatnonzero((sub >= start) & (sub <= end))
    add(w[fol], "follow", sub[fol], sub_sec[fol])
    eng = life.engage[w]
    for typ, rate in (("page_view", 0.5), ("article_read", 0.3)):
        c = rng.poisson(eng * rate * months)
        ep = np.repeat(np.arange(k), c)
        d = a_from[ep] + (rng.random(ep.size) * (a_to[ep] - a_from[ep])).astype(np.int64)
        sec = _seconds(rng, ep.size)
        pw = w[ep]
        interest = np.select(
            [life.ortho_start[pw] >= 0, life.implant_day[pw] >= 0, life.perio[pw] > 0.5,
             (ppl.sex[pw] == 0) & (ppl.age[pw] < 40)], [0, 1, 3, 4], 5)
        has_kid = child_given[ppl.head[pw]] != None  # noqa: E711
        interest = np.where(has_kid & (interest == 5), 2, interest)
        topic = np.where(rng.random(ep.size) < 0.5, interest, rng.integers(0, len(TOPICS), ep.size))
        art = ("art_" + np.array(TOPICS, dtype=object)[topic] + "_"
               + identifiers.P3[rng.integers(1, 41, ep.size)]).astype(object)
        plat = life.app_user[pw] & (rng.random(ep.size) < 0.4)
        add(pw, typ, d, sec, art=art, platform=plat)
        if typ == "article_read":
            sh = rng.random(ep.size) < 0.08
            add(pw[sh], "share", d[sh], np.minimum(sec[sh] + rng.integers(10, 300, int(sh.sum())), 86399),
                art=art[sh])
    # referrals: the referred person's event names the referrer
    r = np.flatnonzero((ref >= 0) & (ref_day >= start))
    rsec = _seconds(rng, r.size)
    add(w[r], "referral", ref_day[r], rsec, refu=unionid[ref[r]])
    add(ref[r], "share", ref_day[r], np.maximum(rsec - rng.integers(60, 3600, r.size), 0),
        art=np.full(r.size, "art_invite_001", dtype=object))
    # coupons
    add(w[cp], "coupon_received", cday, _seconds(rng, cp.size), cpn=cid)
    uf = np.flatnonzero(first_use)
    vi = used_visit[uf]
    add(w[cp[uf]], "coupon_used", vis.day[vi], np.minimum(vis.minute[vi] * 60 + rng.integers(1200, 5400, uf.size), 86399),
        cpn=cid[uf])
    # unfollows: after churn, or at random
    churner = life.reason[w] != NONE
    ud = np.where(churner, life.churn[w] + rng.integers(0, 90, k), rng.integers(start, end + 1, k))
    unf = np.flatnonzero((rng.random(k) < np.where(churner, 0.4, 0.04)) & (ud >= np.maximum(sub, start)) & (ud <= end))
    add(w[unf], "unfollow", ud[unf], _seconds(rng, unf.size))

    ed = np.concatenate(ev_day)
    es = np.concatenate(ev_sec)
    o = np.flatnonzero((ed >= start) & (ed <= end))
    o = o[np.lexsort((es[o], ed[o]))]
    return WechatPlan(
        w=w, openid=openid, unionid=unionid, app_id=app_id, subscribe=sub, subscribe_sec=sub_sec,
        child_given=child_given, coupon=coupon, coupon_value=coupon_value,
        ev_p=np.concatenate(ev_p)[o], ev_type=np.concatenate(ev_t)[o], ev_day=ed[o], ev_sec=es[o],
        ev_article=np.concatenate(ev_art)[o], ev_coupon=np.concatenate(ev_cp)[o], ev_referrer=np.concatenate(ev_ref)[o],
        ev_app=np.concatenate(ev_plat)[o],
    )


def write_wechat(rng, world: World, ppl: People, plan: WechatPlan, out: Output) -> None:
    """Render users.jsonl (names, nicknames, bound phones with their noise) and events.jsonl."""
    rates = world.config.noise
    cal = world.cal
    w = plan.w
    k = w.size
    sub = plan.subscribe
    table = "wechat/users"
    flags = nz.new_flags(k)
    real = rng.random(k) < rates.wechat_real_name
    nick = np.empty(k, dtype=object)
    fr = flags[real]
    nick[real] = nz.noisy_names(rng, ppl.name[w][real], ppl.surname[w][real], ppl.given[w][real], rates,
                                fr, out.noise, table)
    flags[real] = fr
    u = rng.random(k)
    v = rng.random(k)
    for i in np.flatnonzero(~real).tolist():
        pi = w[i]
        nick[i] = names.nickname(float(u[i]), float(v[i]), ppl.surname[pi], ppl.given[pi], bool(ppl.sex[pi] == 0),
                                 plan.child_given[ppl.head[pi]])
    out.noise.flag(table, "nickname_not_name", ~real, flags)
    sex = np.where(rng.random(k) < 0.1, 0, np.where(ppl.sex[w] == 1, 1, 2))
    cu = rng.random(k)
    city = np.where(cu < 0.8, '"成都"', np.where(cu < 0.92, '""', np.where(cu < 0.96, '"Chengdu"', '"重庆"'))).astype(object)
    bound = rng.random(k) < rates.wechat_mobile_bound
    out.noise.flag(table, "mobile_missing", ~bound, flags)
    mob = np.full(k, "null", dtype=object)
    mob[bound] = '"' + identifiers.mobile_strings(ppl.phone_at(w[bound], sub[bound])) + '"'
    ts = cal.iso[cal.idx(sub)] + " " + fmt_hms(plan.subscribe_sec)
    keys = plan.unionid[w]  # the chain's stable key for a WeChat user (openids differ per official account)
    rel = "sources/wechat/users.jsonl"
    mcol = [mob, keys]

    def wrong(rng_, cols_, idx):
        bad = identifiers.wrong_length(np.array([s.strip('"') for s in cols_[0][idx].tolist()], dtype=object), rng_)
        cols_[0][idx] = '"' + bad + '"'

    # invalid phone lengths on bound mobiles, corrupted in place (row order unchanged)
    nz.inject_invalid(out.rng_for(rel), rel, mcol, 1, [("invalid_phone_length", rates.invalid_phone_length,
                                                       lambda c: bound, wrong)], 0.0, out.jsonl[rel].rows, out.invalid)
    out.record("wechat", "users", keys, ppl.person_id[w], flags)
    out.jsonl[rel].write_lines(lines(
        '{{"openid":"{}","unionid":"{}","nickname":{},"sex":{},"city":{},"mobile":{},"subscribe_time":"{}"}}',
        plan.openid[w], keys, [json.dumps(x, ensure_ascii=False) for x in nick.tolist()], sex, city, mcol[0], ts,
    ))

    # ---- events ---------------------------------------------------------------------------
    m = plan.ev_p.size
    eid = identifiers.random_tokens(rng, m, 24, alphabet="hex")
    pl = plan.ev_p
    app = plan.ev_app
    oid = np.where(app, plan.app_id[pl], plan.openid[pl])
    platform = np.where(app, "app", "wechat").astype(object)
    day_s = cal.iso[cal.idx(plan.ev_day)]
    hms = fmt_hms(plan.ev_sec)
    typ = EVENT_NAMES[plan.ev_type]
    out_lines = np.empty(m, dtype=object)
    head = '{{"event_id":"{}","platform":"{}","event":"{}","ts":"{} {}","openid":"{}","unionid":"{}",'
    for kinds, extra, col in (
        (("page_view", "article_read", "share"), '"article_id":"{}","coupon_id":null,"referrer_unionid":null}}',
         plan.ev_article),
        (("coupon_received", "coupon_used"), '"article_id":null,"coupon_id":"{}","referrer_unionid":null}}',
         plan.ev_coupon),
        (("referral",), '"article_id":null,"coupon_id":null,"referrer_unionid":"{}"}}', plan.ev_referrer),
        (("follow", "unfollow"), '"article_id":null,"coupon_id":null,"referrer_unionid":null}}{}', None),
    ):
        sel = np.flatnonzero(np.isin(plan.ev_type, [EVENT_CODE[k_] for k_ in kinds]))
        last = col[sel] if col is not None else [""] * sel.size
        out_lines[sel] = lines(head + extra, eid[sel], platform[sel], typ[sel], day_s[sel], hms[sel], oid[sel],
                               plan.unionid[pl[sel]], last)
    out.emit_lines("sources/wechat/events.jsonl", out_lines, eid, dup_rate=rates.duplicate_row)
