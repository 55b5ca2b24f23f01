"""Marketing: leads with their touch paths, treatment plans and spend, as a CRM exports them.

New patients of the window arrive as leads (from 美团, 大众点评, 抖音, 小红书, a referral or
walking in); every channel also brings leads that drop off before consulting, booking or
arriving. Consultants propose treatment plans at visits; the big courses the care
simulation plants (implants, orthodontics, root canal + crown, whitening) are accepted
plans, other proposals wait or are declined. Spend per channel × clinic × month follows
the leads each channel brought at a cost per lead.

Everything draws from ``SeedSequence([seed, MARKETING_STREAM, chunk])``, so the files the
other modules write are unchanged by this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa

from molar.synth.calendar import day_number, fmt_hms
from molar.synth.names import SURNAME_TEXT, draw_given_names, draw_surnames
from molar.synth.world import ITEM_PRICE, ITEM_ZH, T, World

MARKETING_STREAM = 0x5EED_0003
STATIC_CHUNK = 2**32 - 1
CRM = "sources/crm/"

CHANNELS = ("meituan", "dianping", "douyin", "xiaohongshu", "referral", "walk_in")
CHANNEL_ZH = {"meituan": "美团", "dianping": "大众点评", "douyin": "抖音", "xiaohongshu": "小红书",
              "referral": "老带新", "walk_in": "自然到店"}
PAID = np.array([0, 1, 2, 3])
REFERRAL, WALK_IN = 4, 5
# How arriving new patients who were not referred found the clinic.
FOUND_VIA_P = np.array([0.22, 0.20, 0.18, 0.12, 0.0, 0.28])
# Per channel: P(lead → consult), P(consult → booking), P(booking → arrival); cost per lead (CNY).
P_CONSULT = np.array([0.75, 0.80, 0.55, 0.60, 0.95, 1.0])
P_BOOK = np.array([0.60, 0.55, 0.35, 0.40, 0.85, 1.0])
P_ARRIVE = np.array([0.75, 0.75, 0.60, 0.65, 0.90, 1.0])
COST_PER_LEAD = np.array([60.0, 80.0, 45.0, 70.0, 0.0, 0.0])
# Earlier touches before the lead's own channel: awareness on short-video and notes apps.
EARLY_TOUCH_P = np.array([0.15, 0.20, 0.35, 0.30])
THEMES = ("新春焕齿", "开学季涂氟", "三八美白", "种植节", "五一洁牙", "儿童节窝沟封闭", "暑期正畸", "暑期正畸",
          "开学季涂氟", "国庆洁牙", "双十一套餐", "年终种植")
CAMPAIGN_CODE = {"meituan": "MT", "dianping": "DP", "douyin": "DY", "xiaohongshu": "XHS"}
CONSULTANTS_PER_CLINIC = 3

PLAN_STATUS_ZH = {"proposed": "待确认", "accepted": "已接受", "partially_done": "部分完成", "declined": "已拒绝"}
PLAN_VALID_DAYS = 90
# Proposals nobody took up: items and their weights.
OPEN_PLANS = (("WHT",), ("CRN",), ("IMP", "CRN"), ("PERIO",), ("ALIGN",))
OPEN_PLAN_P = np.array([0.3, 0.25, 0.2, 0.15, 0.1])

LEADS_HEADER = ("线索编号", "来源平台", "推广活动", "门店", "咨询师", "客户手机", "创建时间", "咨询时间", "预约时间",
                "到店时间", "病历号")
TOUCHES_HEADER = ("线索编号", "序号", "平台", "推广活动", "触达时间")
PLANS_HEADER = ("方案编号", "病历号", "就诊号", "门店", "医生", "咨询师", "开具日期", "项目编码", "项目", "报价金额",
                "状态", "接受日期", "有效期至")
SPEND_HEADER = ("月份", "门店", "平台", "推广活动", "消耗金额")
CSV_SPECS = {
    CRM + "leads.csv": LEADS_HEADER,
    CRM + "lead_touches.csv": TOUCHES_HEADER,
    CRM + "plans.csv": PLANS_HEADER,
    CRM + "spend.csv": SPEND_HEADER,
}

TS = pa.timestamp("s")
TRUTH_SCHEMAS = {
    "truth/leads.parquet": pa.schema([
        ("lead_id", pa.string()), ("person_id", pa.string()), ("channel", pa.string()), ("campaign", pa.string()),
        ("clinic_id", pa.string()), ("consultant", pa.string()), ("created_at", TS), ("consulted_at", TS),
        ("booked_at", TS), ("arrived_at", TS), ("patient_key", pa.string()), ("visit_id", pa.string()),
        ("path", pa.string()),
    ]),
    "truth/plans.parquet": pa.schema([
        ("plan_id", pa.string()), ("person_id", pa.string()), ("patient_key", pa.string()), ("visit_id", pa.string()),
        ("clinic_id", pa.string()), ("consultant", pa.string()), ("proposed_on", pa.date32()), ("items", pa.string()),
        ("quoted_yuan", pa.float64()), ("status", pa.string()), ("accepted_on", pa.date32()),
        ("expires_on", pa.date32()),
    ]),
    "truth/marketing_spend.parquet": pa.schema([
        ("month", pa.date32()), ("clinic_id", pa.string()), ("channel", pa.string()), ("campaign", pa.string()),
        ("spend_yuan", pa.float64()),
    ]),
}


@dataclass
class MarketingState:
    """What spans chunks: consultants, running numbers and leads per channel × clinic × month."""

    consultants: np.ndarray  # [clinic, CONSULTANTS_PER_CLINIC] names
    lead_serial: int = 0
    plan_serial: int = 0
    leads_per_month: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (channel, clinic, month) → leads


def month_index(world: World, day: np.ndarray) -> np.ndarray:
    """Months since January of year 0: year * 12 + month - 1."""
    i = world.cal.idx(day)
    return world.cal.year[i].astype(np.int64) * 12 + world.cal.month[i].astype(np.int64) - 1


def campaign_names(channel: np.ndarray, month: np.ndarray) -> np.ndarray:
    """One campaign per paid channel and month, e.g. ``DY-202503-三八美白``; '' for referral and walk-in."""
    out = np.full(channel.size, "", dtype=object)
    for i, (c, m) in enumerate(zip(channel.tolist(), month.tolist(), strict=True)):
        if c < REFERRAL:
            out[i] = f"{CAMPAIGN_CODE[CHANNELS[c]]}-{m // 12}{m % 12 + 1:02d}-{THEMES[m % 12]}"
    return out


def start_marketing(seed: int, world: World) -> MarketingState:
    rng = np.random.default_rng(np.random.SeedSequence([seed, MARKETING_STREAM, STATIC_CHUNK]))
    k = world.n_clinics * CONSULTANTS_PER_CLINIC
    sex = (rng.random(k) < 0.25).astype(np.int64)  # consultants are mostly women
    names = SURNAME_TEXT[draw_surnames(rng, k)] + draw_given_names(rng, sex, rng.integers(1985, 2001, k))
    return MarketingState(consultants=names.reshape(world.n_clinics, CONSULTANTS_PER_CLINIC))


def _stamp(world: World, seconds: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD HH:MM:SS' for seconds since 1970-01-01 (local time); '' for -1."""
    s = np.asarray(seconds, dtype=np.int64)
    ok = s >= 0
    day, sod = np.divmod(np.maximum(s, 0), 86400)
    text = world.cal.iso[world.cal.idx(day)] + " " + fmt_hms(sod)
    return np.where(ok, text, "").astype(object)


def _daytime(seconds: np.ndarray) -> np.ndarray:
    """The same day, squeezed into 09:00–21:00: staff answer leads in working hours."""
    day, sod = np.divmod(np.asarray(seconds, dtype=np.int64), 86400)
    return day * 86400 + 9 * 3600 + sod // 2


def _ts(seconds: np.ndarray) -> pa.Array:
    s = np.asarray(seconds, dtype=np.int64)
    return pa.array(s, type=pa.int64(), mask=s < 0).cast(TS)


def _masked_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """Platforms hand over masked numbers (138****5678)."""
    head = rng.choice(np.array(["138", "139", "135", "136", "150", "151", "158", "159", "177", "180", "186", "187",
                                "188", "189", "199"]), n)
    tail = rng.integers(0, 10_000, n)
    return np.array([f"{h}****{t:04d}" for h, t in zip(head.tolist(), tail.tolist(), strict=True)], dtype=object)


def marketing_chunk(seed: int, chunk: int, world: World, ppl, life, vis, hid, state: MarketingState, out) -> None:
    """Leads, touches and plans of one chunk of people."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, MARKETING_STREAM, chunk]))
    _leads(rng, world, ppl, life, vis, hid, state, out)
    _plans(rng, world, ppl, vis, hid, state, out)


def _first_visits(world: World, life, vis) -> np.ndarray:
    """Index of the first visit of every person registered inside the window (-1 = none)."""
    first = np.full(life.his.size, -1, dtype=np.int64)
    if vis.n == 0:
        return first
    order = np.lexsort((vis.minute, vis.day, vis.p))
    p = vis.p[order]
    head = np.ones(p.size, dtype=bool)
    head[1:] = p[1:] != p[:-1]
    first[p[head]] = order[head]
    keep = life.his & life.new & (first >= 0)
    keep[keep] &= vis.day[first[keep]] >= world.start
    return np.where(keep, first, -1)


def _leads(rng, world: World, ppl, life, vis, hid, state: MarketingState, out) -> None:
    first = _first_visits(world, life, vis)
    arrived_p = np.flatnonzero(first >= 0)
    v = first[arrived_p]
    n_arr = arrived_p.size
    channel = rng.choice(len(CHANNELS), size=n_arr, p=FOUND_VIA_P)
    channel = np.where(life.referrer[arrived_p] >= 0, REFERRAL, channel)
    arrive = (vis.day[v] * 1440 + vis.minute[v]) * 60
    # booking 0–14 days before the visit, consult 0–3 days before booking, lead 0–2 days before that
    book = arrive - (rng.integers(0, 15, n_arr) * 86400 + rng.integers(1800, 36000, n_arr))
    consult = book - rng.integers(0, 3 * 86400, n_arr)
    created = consult - rng.integers(300, 2 * 86400, n_arr)
    start = world.start * 86400 + 9 * 3600
    created = np.maximum(_daytime(created), start)
    consult = np.maximum(_daytime(consult), created)
    book = np.minimum(np.maximum(_daytime(book), consult), arrive)
    consult = np.minimum(consult, book)
    created = np.minimum(created, consult)
    walk = channel == WALK_IN
    book, consult, created = (np.where(walk, arrive - 60 * k, x) for k, x in ((5, book), (10, consult), (15, created)))
    clinic = vis.clinic[v]

    # leads that did not arrive: per arriving lead, about 1/conversion - 1 more from the same channel
    conv = P_CONSULT * P_BOOK * P_ARRIVE
    extra = rng.poisson(1.0 / conv[channel] - 1.0)
    src = np.repeat(np.arange(n_arr), extra)
    c2 = channel[src]
    m = src.size
    created2 = created[src] + rng.integers(-40, 41, m) * 86400 + rng.integers(-7200, 7200, m)
    created2 = np.clip(created2, world.start * 86400 + 3600, (world.end - 1) * 86400 + 3600)
    # the stage where each dropped lead stopped, in proportion to the losses at each stage
    lost = np.stack([1 - P_CONSULT, P_CONSULT * (1 - P_BOOK), P_CONSULT * P_BOOK * (1 - P_ARRIVE)], axis=1)[c2]
    lost = lost / lost.sum(axis=1, keepdims=True)
    stop = (rng.random(m)[:, None] > np.cumsum(lost, axis=1)).sum(axis=1)  # 0 lead, 1 consult, 2 booking
    created2 = _daytime(created2)
    consult2 = np.where(stop >= 1, _daytime(created2 + rng.integers(300, 2 * 86400, m)), -1)
    consult2 = np.where(stop >= 1, np.maximum(consult2, created2), -1)
    book2 = np.where(stop >= 2, np.maximum(_daytime(consult2 + rng.integers(1800, 3 * 86400, m)), consult2), -1)
    last_moment = world.end * 86400 + 21 * 3600 - 1  # nothing happens after the export
    consult2, book2 = (np.where(x >= 0, np.minimum(x, last_moment), -1) for x in (consult2, book2))

    n = n_arr + m
    ch = np.concatenate([channel, c2])
    cl = np.concatenate([clinic, clinic[src]])
    created_all = np.concatenate([created, created2])
    consulted = np.concatenate([consult, consult2])
    booked = np.concatenate([book, book2])
    arrived = np.concatenate([arrive, np.full(m, -1)])
    order = np.argsort(created_all, kind="stable")
    ch, cl, created_all, consulted, booked, arrived = (a[order] for a in (ch, cl, created_all, consulted, booked,
                                                                         arrived))
    person = np.concatenate([arrived_p, np.full(m, -1)])[order]
    visit = np.concatenate([v, np.full(m, -1)])[order]
    month = month_index(world, created_all // 86400)
    campaign = campaign_names(ch, month)
    consultant = state.consultants[cl, rng.integers(0, CONSULTANTS_PER_CLINIC, n)]
    consultant = np.where(consulted >= 0, consultant, "").astype(object)
    key = np.where(person >= 0, hid.key[np.maximum(person, 0), vis.rec[np.maximum(visit, 0)]], "").astype(object)
    visit_id = np.where(visit >= 0, hid.visit_id[np.maximum(visit, 0)], "").astype(object)
    lead_id = np.array([f"XS{state.lead_serial + i + 1:08d}" for i in range(n)], dtype=object)
    state.lead_serial += n
    for c, k_, mo in zip(ch.tolist(), cl.tolist(), month.tolist(), strict=True):
        state.leads_per_month[(c, k_, mo)] = state.leads_per_month.get((c, k_, mo), 0) + 1

    # touch paths: 0–3 earlier paid touches, then the lead's own channel
    n_early = np.minimum(rng.poisson(np.where(ch < REFERRAL, 0.9, np.where(ch == WALK_IN, 0.5, 0.2))), 3)
    t_lead = np.repeat(np.arange(n), n_early + 1)
    pos = np.arange(t_lead.size) - np.repeat(np.cumsum(n_early + 1) - (n_early + 1), n_early + 1)
    last = pos == n_early[t_lead]
    t_ch = np.where(last, ch[t_lead], rng.choice(PAID, size=t_lead.size, p=EARLY_TOUCH_P))
    back = n_early[t_lead] - pos  # touches before the lead: days back
    t_at = created_all[t_lead] - back * rng.integers(86400, 10 * 86400, t_lead.size) - rng.integers(0, 3600, t_lead.size)
    t_at = np.where(last, created_all[t_lead], t_at)
    t_campaign = campaign_names(t_ch, month_index(world, t_at // 86400))
    names = np.array([CHANNEL_ZH[c] for c in CHANNELS], dtype=object)
    path = np.empty(n, dtype=object)
    path[:] = ""
    for i, c in zip(t_lead.tolist(), t_ch.tolist(), strict=True):
        path[i] = f"{path[i]}>{CHANNELS[c]}" if path[i] else CHANNELS[c]

    out.emit(CRM + "leads.csv", [
        lead_id, names[ch], campaign, world.clinic_short[cl], consultant, _masked_mobiles(rng, n),
        _stamp(world, created_all), _stamp(world, consulted), _stamp(world, booked), _stamp(world, arrived), key,
    ])
    out.emit(CRM + "lead_touches.csv", [
        lead_id[t_lead], (pos + 1).astype(str), names[t_ch], t_campaign, _stamp(world, t_at),
    ])
    out.truth("truth/leads.parquet", {
        "lead_id": lead_id,
        "person_id": pa.array(np.where(person >= 0, ppl.person_id[np.maximum(person, 0)], None), type=pa.string()),
        "channel": np.array(CHANNELS, dtype=object)[ch], "campaign": pa.array(campaign, mask=campaign == ""),
        "clinic_id": world.clinic_id[cl], "consultant": pa.array(consultant, mask=consultant == ""),
        "created_at": _ts(created_all), "consulted_at": _ts(consulted), "booked_at": _ts(booked),
        "arrived_at": _ts(arrived), "patient_key": pa.array(key, mask=key == ""),
        "visit_id": pa.array(visit_id, mask=visit_id == ""), "path": path,
    })


def _plans(rng, world: World, ppl, vis, hid, state: MarketingState, out) -> None:
    """Accepted plans behind the big courses; open and declined proposals at other visits."""
    item = vis.line_item
    lv = vis.line_visit
    p_of = vis.p[lv]
    day_of = vis.day[lv]
    rows: list[tuple[np.ndarray, list[tuple[str, ...]], np.ndarray, np.ndarray]] = []  # visit, items, status, accepted day

    def first_visit_with(code: str) -> np.ndarray:
        """Per person with a line of ``code``: the visit of the first such line."""
        idx = np.flatnonzero(item == T[code])
        idx = idx[np.lexsort((day_of[idx], p_of[idx]))]
        head = np.ones(idx.size, dtype=bool)
        head[1:] = p_of[idx][1:] != p_of[idx][:-1]
        return lv[idx[head]]

    def done_after(code: str, visits: np.ndarray) -> np.ndarray:
        """Whether the person of each visit had ``code`` on or after that visit."""
        idx = np.flatnonzero(item == T[code])
        last = np.full(ppl.n, -1, dtype=np.int64)
        np.maximum.at(last, p_of[idx], day_of[idx])
        return last[vis.p[visits]] >= vis.day[visits]

    for codes_ in (("IMP", "CRN"), ("ORTHO",), ("ALIGN",), ("RCT", "CRN"), ("WHT",)):
        v = first_visit_with(codes_[0])
        if codes_ == ("RCT", "CRN"):
            v = v[rng.random(v.size) < 0.5]  # half the root canals were quoted with their crown
        complete = done_after(codes_[-1], v) if len(codes_) > 1 else np.ones(v.size, dtype=bool)
        status = np.where(complete, "accepted", "partially_done").astype(object)
        rows.append((v, [codes_] * v.size, status, vis.day[v]))

    # proposals at check-ups and cleanings that were not taken up
    chk = np.unique(lv[(item == T["CHK"]) | (item == T["CLN"])])
    v = chk[rng.random(chk.size) < 0.05]
    picks = rng.choice(len(OPEN_PLANS), size=v.size, p=OPEN_PLAN_P)
    age = world.end - vis.day[v]
    status = np.where((age <= PLAN_VALID_DAYS) & (rng.random(v.size) < 0.7), "proposed",
                      np.where(rng.random(v.size) < 0.35, "proposed", "declined")).astype(object)
    rows.append((v, [OPEN_PLANS[k] for k in picks.tolist()], status, np.full(v.size, -1)))

    v = np.concatenate([r[0] for r in rows])
    if v.size == 0:
        return
    items = [it for r in rows for it in r[1]]
    status = np.concatenate([r[2] for r in rows])
    accepted = np.concatenate([r[3] for r in rows]).astype(np.int64)
    # proposed at the visit or up to three weeks before a course starts
    proposed = np.where(accepted >= 0, vis.day[v] - rng.integers(0, 22, v.size), vis.day[v])
    order = np.lexsort((v, proposed))
    v, status, accepted, proposed = v[order], status[order], accepted[order], proposed[order]
    items = [items[i] for i in order.tolist()]
    clinic = vis.clinic[v]
    price = np.array([sum(ITEM_PRICE[T[c]] for c in it) for it in items])
    quoted = np.round(price * world.clinic_price[clinic] * rng.uniform(0.9, 1.15, v.size), -1)
    expires = proposed + PLAN_VALID_DAYS
    consultant = state.consultants[clinic, rng.integers(0, CONSULTANTS_PER_CLINIC, v.size)]
    key = hid.key[vis.p[v], vis.rec[v]].astype(object)
    n = v.size
    plan_id = np.array([f"FA{state.plan_serial + i + 1:08d}" for i in range(n)], dtype=object)
    state.plan_serial += n
    code_text = np.array(["+".join(it) for it in items], dtype=object)
    zh_text = np.array(["+".join(ITEM_ZH[T[c]] for c in it) for it in items], dtype=object)
    iso = world.cal.iso
    out.emit(CRM + "plans.csv", [
        plan_id, key, hid.visit_id[v], world.clinic_short[clinic], world.doctor_name[vis.doctor[v]], consultant,
        iso[world.cal.idx(proposed)], code_text, zh_text, [f"{q:.2f}" for q in quoted.tolist()],
        np.array([PLAN_STATUS_ZH[s] for s in status.tolist()], dtype=object),
        np.where(accepted >= 0, iso[world.cal.idx(np.maximum(accepted, 0))], "").astype(object),
        iso[world.cal.idx(expires)],
    ])
    out.truth("truth/plans.parquet", {
        "plan_id": plan_id, "person_id": ppl.person_id[vis.p[v]], "patient_key": key, "visit_id": hid.visit_id[v],
        "clinic_id": world.clinic_id[clinic], "consultant": consultant,
        "proposed_on": pa.array(proposed.astype("datetime64[D]"), type=pa.date32()), "items": code_text,
        "quoted_yuan": quoted, "status": status,
        "accepted_on": pa.array(np.maximum(accepted, 0).astype("datetime64[D]"), type=pa.date32(), mask=accepted < 0),
        "expires_on": pa.array(expires.astype("datetime64[D]"), type=pa.date32()),
    })


def write_spend(seed: int, world: World, state: MarketingState, out) -> None:
    """Spend per paid channel × clinic × month of the window: the leads it bought at its cost per lead."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, MARKETING_STREAM, STATIC_CHUNK, 1]))
    first, last = (int(month_index(world, np.array([d]))[0]) for d in (world.start, world.end))
    rows = [(c, k, mo) for mo in range(first, last + 1) for k in range(world.n_clinics) for c in PAID.tolist()
            if world.clinic_open[k] <= _month_start(mo)]
    if not rows:
        return
    c, k, mo = (np.array(x, dtype=np.int64) for x in zip(*rows, strict=True))
    leads = np.array([state.leads_per_month.get(r, 0) for r in rows], dtype=np.float64)
    spend = np.round((leads + 2) * COST_PER_LEAD[c] * rng.lognormal(0.0, 0.15, c.size), 2)
    campaign = campaign_names(c, mo)
    month_start = np.array([_month_start(m) for m in mo.tolist()], dtype=np.int64)
    out.emit(CRM + "spend.csv", [
        world.cal.iso[world.cal.idx(month_start)], world.clinic_short[k],
        np.array([CHANNEL_ZH[CHANNELS[x]] for x in c.tolist()], dtype=object), campaign,
        [f"{s:.2f}" for s in spend.tolist()],
    ])
    out.truth("truth/marketing_spend.parquet", {
        "month": pa.array(month_start.astype("datetime64[D]"), type=pa.date32()), "clinic_id": world.clinic_id[k],
        "channel": np.array(CHANNELS, dtype=object)[c], "campaign": campaign, "spend_yuan": spend,
    })


def _month_start(month: int) -> int:
    return day_number(date(month // 12, month % 12 + 1, 1))
