"""The five systems of the chain and what each writes about a person.

his      clinic HIS, one record per patient per clinic: the fullest records, typed by clerks
member   membership cards
booking  online/phone bookings: a name field (often an honorific) and the booker's phone
consult  customer-service chats: an honorific, nickname or nothing, often a phone
wechat   WeChat/app users: a nickname, a unionid, sometimes a bound phone or the real name
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from foreign.identity import noise, vocab
from foreign.identity.population import ADULT, CHILD, ELDER, Population, nicknames

SOURCES = ("his", "member", "booking", "consult", "wechat")
COLUMNS = [
    "record_id",
    "source",
    "name",
    "sex",
    "birth_date",
    "mobile",
    "id_number",
    "district",
    "address",
    "wechat_unionid",
]
RECORD_PREFIX = {"his": "MZ", "member": "VIP", "booking": "YY", "consult": "KF", "wechat": "WX"}

# Chance a person has records in a source, by role (adult, child, elder), and extra records.
PRESENCE = {
    "his": ((0.72, 0.85, 0.8), (0.15, 0.03)),
    "member": ((0.38, 0.15, 0.25), (0.04,)),
    "booking": ((0.5, 0.45, 0.4), (0.32, 0.1)),
    "consult": ((0.28, 0.12, 0.08), (0.2,)),
    "wechat": ((0.9, 0.9, 0.9), (0.3,)),  # of people with WeChat
}
NAME_TYPO = {"his": 0.06, "member": 0.025, "booking": 0.03, "consult": 0.03, "wechat": 0.0}
TYPO_KINDS = np.array([0.42, 0.18, 0.12, 0.08, 0.20])  # noise.NAME_TYPOS
TRANSPOSED = {"his": 0.02, "member": 0.015, "booking": 0.03, "consult": 0.02, "wechat": 0.005}
MOBILE_STYLES = np.array([0.62, 0.08, 0.1, 0.04, 0.1, 0.06])  # noise.spell_mobile
DISTRICT_STYLES = np.array([0.55, 0.25, 0.12, 0.08])  # noise.spell_district
HIS_DATE_STYLES = (0.5, 0.25, 0.15, 0.07, 0.03)  # noise.DATE_FORMATS
# The habit of each district's clinic (vocab.DISTRICTS order): date, mobile, district spelling.
CLINIC_DATE = (0, 1, 0, 0, 2, 0, 1, 0, 3, 2, 0, 1)
CLINIC_MOBILE = (0, 0, 2, 0, 4, 0, 1, 0, 5, 0, 2, 0)
CLINIC_DISTRICT = (0, 1, 0, 0, 2, 1, 0, 3, 0, 1, 0, 2)


def record_counts(pop: Population, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(pop)
    counts = {}
    for source, (by_role, extra) in PRESENCE.items():
        has = rng.random(n) < np.array(by_role)[pop.role]
        if source == "wechat":
            has &= pop.has_wechat
        count = has.astype(np.int64)
        for share in extra:
            count += has & (rng.random(n) < share)
        counts[source] = count
    # Everybody is somewhere: a person with no record gets an HIS, booking or WeChat record.
    none = sum(counts.values()) == 0
    u = rng.random(n)
    counts["wechat"][none & pop.has_wechat & (u < 0.25)] = 1
    counts["booking"][none & (counts["wechat"] == 0) & (u < 0.6)] = 1
    counts["his"][sum(counts.values()) == 0] = 1
    return counts


def emit(source: str, p: np.ndarray, pop: Population, rng: np.random.Generator) -> pd.DataFrame:
    """Records of one source for persons p (one entry per record)."""
    m = len(p)
    cols = _BUILDERS[source](p, pop, rng)
    frame = pd.DataFrame({c: cols.get(c, np.full(m, "", dtype=object)) for c in COLUMNS[2:]})
    frame.insert(0, "source", source)
    width = max(6, len(str(m)) + 1)
    frame.insert(0, "record_id", [f"{RECORD_PREFIX[source]}{i:0{width}d}" for i in range(1, m + 1)])
    return frame


def _real_names(p, pop, rng, source) -> np.ndarray:
    names = pop.name[p].copy()
    typo = np.flatnonzero(rng.random(len(p)) < NAME_TYPO[source])
    kinds = rng.choice(len(noise.NAME_TYPOS), size=len(typo), p=TYPO_KINDS)
    us = rng.random(len(typo))
    for i, k, u in zip(typo.tolist(), kinds.tolist(), us.tolist(), strict=True):
        names[i] = noise.misspell(pop.surname[p[i]], pop.given[p[i]], noise.NAME_TYPOS[k], u)
    return names


def _honorifics(q, pop, rng) -> np.ndarray:
    us = rng.random(len(q))
    return np.array(
        [
            noise.honorific(pop.surname[i], pop.given[i], bool(pop.male[i]), int(pop.age[i]), u)
            for i, u in zip(q.tolist(), us.tolist(), strict=True)
        ],
        dtype=object,
    )


def _sex(p, pop, rng, present, labels=("女", "男"), wrong=0.0):
    m = len(p)
    male = pop.male[p] ^ (rng.random(m) < wrong)
    out = np.where(male, labels[1], labels[0]).astype(object)
    out[rng.random(m) >= present] = ""
    return out


def _draw(rng, m, probs):
    return rng.choice(len(probs), size=m, p=probs)


def _clinic_habits(rng, clinic, habits, probs, keep=0.8):
    """Each clinic's clerks write a field their own way (habits[clinic]) most of the time."""
    return np.where(
        rng.random(len(clinic)) < keep, np.array(habits)[clinic], _draw(rng, len(clinic), probs)
    )


def _birth_dates(p, pop, rng, present, swapped_or_off, fmt):
    m = len(p)
    b = pop.birth[p]
    y = b.astype("datetime64[Y]").astype(int) + 1970
    mo = b.astype("datetime64[M]").astype(int) % 12 + 1
    d = (b - b.astype("datetime64[M]")).astype(int) + 1
    bad = rng.random(m) < swapped_or_off
    kind = rng.integers(0, 3, m)
    swap = bad & (kind == 0) & (d <= 12) & (d != mo)
    mo, d = np.where(swap, d, mo), np.where(swap, mo, d)
    day_off = bad & ((kind == 1) | ((kind == 0) & ~swap))
    d = np.where(day_off, np.clip(d + rng.choice([-2, -1, 1, 2], m), 1, 28), d)
    year_off = bad & (kind == 2)
    y = np.where(year_off, y + rng.choice([-1, 1, 10, -10], m), y)
    out = np.array(noise.format_dates(y, mo, d, fmt), dtype=object)
    out[rng.random(m) >= present] = ""
    return out


def _mobiles(numbers, rng, source, present, styles=None):
    m = len(numbers)
    styles = _draw(rng, m, MOBILE_STYLES) if styles is None else styles
    transposed = rng.random(m) < TRANSPOSED[source]
    us = rng.random(m)
    text = numbers.astype("U11")
    out = np.full(m, "", dtype=object)
    keep = np.flatnonzero((numbers > 0) & (rng.random(m) < present))
    out[keep] = [
        noise.spell_mobile(noise.transpose(t, u) if x else t, s)
        for t, s, x, u in zip(
            text[keep].tolist(),
            styles[keep].tolist(),
            transposed[keep].tolist(),
            us[keep].tolist(),
            strict=True,
        )
    ]
    return out


def _districts(district_idx, rng, present, style=None):
    m = len(district_idx)
    names = np.array([d[0] for d in vocab.DISTRICTS], dtype=object)[district_idx]
    style = _draw(rng, m, DISTRICT_STYLES) if style is None else style
    out = np.array(
        [noise.spell_district(n, s) for n, s in zip(names.tolist(), style.tolist(), strict=True)],
        dtype=object,
    )
    out[rng.random(m) >= present] = ""
    return out


def _addresses(p, pop, rng, present):
    m = len(p)
    names = [vocab.DISTRICTS[d][0] for d in pop.district[p].tolist()]
    style = rng.integers(0, 4, m)
    out = np.array(
        [
            noise.spell_address(n, a, s)
            for n, a, s in zip(names, pop.address[p].tolist(), style.tolist(), strict=True)
        ],
        dtype=object,
    )
    out[rng.random(m) >= present] = ""
    return out


def _ids(p, pop, rng, present, carer_mistake=0.0):
    m = len(p)
    holder = np.where((pop.role[p] == CHILD) & (rng.random(m) < carer_mistake), pop.carer[p], p)
    out = pop.id_number[holder].copy()
    lower = rng.random(m) < 0.3
    out[lower] = [s.lower() for s in out[lower]]
    out[rng.random(m) >= present] = ""
    return out


def _his(p, pop, rng):
    m = len(p)
    role = pop.role[p]
    own, old, contact = pop.own_mobile[p], pop.old_mobile[p], pop.contact_mobile[p]
    u = rng.random(m)
    number = np.where((role == ADULT) & (own > 0) & (u < 0.75), own, contact)
    number = np.where((old > 0) & (rng.random(m) < 0.35), old, number)
    # One clinic per district; patients mostly visit the one in their own district.
    clinic = np.where(
        rng.random(m) < 0.7, pop.district[p], rng.integers(0, len(vocab.DISTRICTS), m)
    )
    date_style = _clinic_habits(rng, clinic, CLINIC_DATE, HIS_DATE_STYLES)
    return {
        "name": _real_names(p, pop, rng, "his"),
        "sex": _sex(p, pop, rng, present=0.98, wrong=0.005),
        "birth_date": _birth_dates(p, pop, rng, 0.97, 0.04, date_style),
        "mobile": _mobiles(
            number, rng, "his", 0.94, _clinic_habits(rng, clinic, CLINIC_MOBILE, MOBILE_STYLES)
        ),
        "id_number": _ids(
            p, pop, rng, present=np.where(pop.id_known[p], 0.92, 0.0), carer_mistake=0.1
        ),
        "district": _districts(
            pop.district[p],
            rng,
            0.85,
            _clinic_habits(rng, clinic, CLINIC_DISTRICT, DISTRICT_STYLES),
        ),
        "address": _addresses(p, pop, rng, present=0.7),
    }


def _member(p, pop, rng):
    m = len(p)
    own, old, contact = pop.own_mobile[p], pop.old_mobile[p], pop.contact_mobile[p]
    number = np.where(own > 0, own, contact)
    number = np.where((old > 0) & (rng.random(m) < 0.25), old, number)
    letters = rng.random(m) < 0.5
    sex = np.where(letters, _sex(p, pop, rng, 0.9, ("F", "M")), _sex(p, pop, rng, 0.9))
    return {
        "name": _real_names(p, pop, rng, "member"),
        "sex": sex,
        "birth_date": _birth_dates(p, pop, rng, 0.7, 0.02, _draw(rng, m, (0.7, 0.05, 0.25, 0, 0))),
        "mobile": _mobiles(number, rng, "member", present=0.95),
        "id_number": _ids(p, pop, rng, present=0.3),
        "district": _districts(pop.district[p], rng, present=0.4),
        "address": _addresses(p, pop, rng, present=0.25),
    }


def _booking(p, pop, rng):
    m = len(p)
    role = pop.role[p]
    booker = pop.carer[p].copy()
    # An elder with an own phone books for themself half the time.
    elder_self = (role == ELDER) & (pop.own_mobile[p] > 0) & (rng.random(m) < 0.5)
    booker[elder_self] = p[elder_self]
    number = pop.contact_mobile[p].copy()
    number[elder_self] = pop.own_mobile[p][elder_self]
    # Partners sharing a phone: the one holding it sometimes gives their own honorific.
    holder_of_shared = np.flatnonzero(
        (role == ADULT) & (pop.spouse[p] >= 0) & (number != pop.own_mobile[p])
    )
    u = rng.random(m)
    names = _real_names(p, pop, rng, "booking")
    patient_hon = _honorifics(p, pop, rng)
    booker_hon = _honorifics(booker, pop, rng)
    spouse_hon = _honorifics(np.where(pop.spouse[p] >= 0, pop.spouse[p], p), pop, rng)
    child_nick = np.array(["小" + g[-1] for g in pop.given[p].tolist()], dtype=object)
    name = np.where(u < 0.42, names, patient_hon)  # adults: real name or their honorific
    child = role == CHILD
    name[child] = np.select(
        [u[child] < 0.55, u[child] < 0.85, u[child] < 0.95],
        [names[child], booker_hon[child], child_nick[child]],
        "",
    )
    by_carer = (role == ELDER) & ~elder_self
    name[by_carer] = np.select(
        [u[by_carer] < 0.4, u[by_carer] < 0.75, u[by_carer] < 0.9],
        [names[by_carer], patient_hon[by_carer], booker_hon[by_carer]],
        "",
    )
    spouse_named = holder_of_shared[rng.random(len(holder_of_shared)) < 0.15]
    name[spouse_named] = spouse_hon[spouse_named]
    name[(role == ADULT) & (u > 0.96)] = ""
    district = np.where(
        rng.random(m) < 0.7, pop.district[p], rng.integers(0, len(vocab.DISTRICTS), m)
    )
    return {
        "name": name,
        "sex": _sex(p, pop, rng, present=0.12),
        "birth_date": _birth_dates(
            p, pop, rng, np.where(child, 0.25, 0.05), 0.03, _draw(rng, m, (0.3, 0.5, 0.2, 0, 0))
        ),
        "mobile": _mobiles(number, rng, "booking", present=0.97),
        "district": _districts(district, rng, present=0.3),
    }


def _consult(p, pop, rng):
    nick = pop.nickname
    m = len(p)
    u = rng.random(m)
    has_nick = nick[p] != ""
    number = np.where(rng.random(m) < 0.5, pop.contact_mobile[p], pop.own_mobile[p])
    number = np.where(number == 0, pop.contact_mobile[p], number)
    name = np.select(
        [u < 0.35, (u < 0.5) & has_nick, u < 0.8],
        [_honorifics(p, pop, rng), nick[p], np.full(m, "", dtype=object)],
        _real_names(p, pop, rng, "consult"),
    )
    unionid = np.where(rng.random(m) < 0.15, pop.unionid[p], "").astype(object)
    return {
        "name": name,
        "mobile": _mobiles(number, rng, "consult", present=np.where(name == "", 0.85, 0.55)),
        "district": _districts(pop.district[p], rng, present=0.1),
        "wechat_unionid": unionid,
    }


def _wechat(p, pop, rng):
    nick = pop.nickname
    m = len(p)
    u = rng.random(m)
    other = nicknames(p, pop, rng)  # a nickname changed since
    name = np.select([u < 0.68, u < 0.78], [nick[p], other], _real_names(p, pop, rng, "wechat"))
    number = np.where(pop.own_mobile[p] > 0, pop.own_mobile[p], pop.contact_mobile[p])
    region = np.array(["", vocab.CITY, f"{vocab.PROVINCE} {vocab.CITY}"], dtype=object)[
        rng.choice(3, size=m, p=(0.5, 0.3, 0.2))
    ]
    birth = _birth_dates(p, pop, rng, 0.08, 0.05, _draw(rng, m, (0.9, 0.1, 0, 0, 0)))
    birth[rng.random(m) < 0.02] = "1990-01-01"  # the app's default birthday, never changed
    return {
        "name": name,
        "sex": np.where(rng.random(m) < 0.05, "未知", _sex(p, pop, rng, present=0.6)),
        "birth_date": birth,
        "mobile": _mobiles(number, rng, "wechat", present=0.45),
        "district": region,
        "wechat_unionid": pop.unionid[p],
    }


_BUILDERS = {
    "his": _his,
    "member": _member,
    "booking": _booking,
    "consult": _consult,
    "wechat": _wechat,
}
