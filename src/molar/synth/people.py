"""Real people: households, names, birthdays, IDs, phones, addresses, friend groups.

One call makes the people of one chunk.  Households keep their members together
(shared address, shared surname, children and elders registered with a parent's phone,
occasional twins) — the hard negatives that record linkage must not merge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from molar.synth import geo, identifiers, names
from molar.synth.serials import Serials
from molar.synth.world import World

HEAD, SPOUSE, CHILD, ELDER = 0, 1, 2, 3
ROLE_NAMES = np.array(["head", "spouse", "child", "elder"], dtype=object)

# Household compositions (H head, S spouse, C child, E elder parent) and their shares.
_PATTERNS = (
    ("H",), ("H", "S"), ("H", "C"), ("H", "E"), ("H", "S", "C"), ("H", "S", "E"), ("H", "C", "C"),
    ("H", "S", "C", "C"), ("H", "S", "C", "E"), ("H", "S", "C", "C", "E"), ("H", "S", "E", "E"),
)
_PATTERN_P = np.array([0.30, 0.16, 0.05, 0.03, 0.18, 0.03, 0.02, 0.13, 0.05, 0.03, 0.02])
_PATTERN_P = _PATTERN_P / _PATTERN_P.sum()
_CODE = {"H": HEAD, "S": SPOUSE, "C": CHILD, "E": ELDER}
_ROLE_MATRIX = np.full((len(_PATTERNS), 5), -1, dtype=np.int64)
for _i, _p in enumerate(_PATTERNS):
    _ROLE_MATRIX[_i, : len(_p)] = [_CODE[c] for c in _p]
_SIZES = (_ROLE_MATRIX >= 0).sum(axis=1)
_HAS_CHILD = (_ROLE_MATRIX == CHILD).any(axis=1)
_HAS_ELDER = (_ROLE_MATRIX == ELDER).any(axis=1)


@dataclass
class People:
    n: int
    gidx: np.ndarray  # global person index
    person_id: np.ndarray
    household: np.ndarray  # global household number
    role: np.ndarray
    head: np.ndarray  # local index of the household head
    sex: np.ndarray  # 0 female, 1 male
    birth: np.ndarray  # day number
    age: np.ndarray  # years at the export date (float)
    surname: np.ndarray
    given: np.ndarray
    name: np.ndarray
    district: np.ndarray  # index into geo.DISTRICTS
    address: np.ndarray
    street_part: np.ndarray  # address without district (for source variants)
    mobile: np.ndarray  # own mobile (int64, 0 = none)
    old_mobile: np.ndarray  # previous own mobile (0 = none)
    changed_on: np.ndarray  # day the number changed (0 = never)
    contact_owner: np.ndarray  # local index of the person whose phone they give
    id_number: np.ndarray
    twin: np.ndarray
    friend_group: np.ndarray  # global friend group number, -1 = none

    def phone_at(self, local: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The mobile a person gives when registering on ``day`` (family phone, old number)."""
        owner = self.contact_owner[local]
        old = self.old_mobile[owner]
        use_old = (old > 0) & (np.asarray(day) < self.changed_on[owner])
        return np.where(use_old, old, self.mobile[owner])


def make_people(
    rng: np.random.Generator,
    world: World,
    n: int,
    first_index: int,
    serials: Serials,
    mobiles: identifiers.UniqueRegistry,
    ids: identifiers.UniqueRegistry,
) -> People:
    """``n`` people in households, drawn in a fixed order from ``rng`` (the order is part of
    the seed's promise: every step below draws after the one before)."""
    role, hh, n_hh, pat, head = _households(rng, n)
    age, sex, birth, twin = _ages_and_sexes(rng, world, n, n_hh, pat, role, hh, head)
    birth_year = world.cal.years_of(birth)
    surname, given, name, spouse = _names(rng, n, n_hh, role, hh, head, sex, birth_year)
    district, address, street_part = _homes(rng, world, n_hh, hh)
    mobile, old_mobile, changed_on, contact_owner = _phones(rng, world, n, mobiles, age, role, head, spouse)
    id_number = _id_numbers(rng, world, n, ids, age, sex, birth, birth_year, district)
    friend = _friend_groups(rng, n, serials, age)

    gidx = np.arange(first_index, first_index + n, dtype=np.int64)
    household = serials.take("household", n_hh)[hh] - 1
    person_id = np.array([f"P{i + 1:08d}" for i in gidx.tolist()], dtype=object)
    return People(
        n=n, gidx=gidx, person_id=person_id, household=household, role=role, head=head, sex=sex, birth=birth,
        age=age, surname=surname, given=given, name=name, district=district, address=address,
        street_part=street_part, mobile=mobile, old_mobile=old_mobile, changed_on=changed_on,
        contact_owner=contact_owner, id_number=id_number, twin=twin, friend_group=friend,
    )


def _households(rng: np.random.Generator, n: int):
    """Each person's role and household; the household pattern and head of each."""
    n_h = int(n / 2.2) + 16
    pat = rng.choice(len(_PATTERNS), size=n_h, p=_PATTERN_P)
    sizes = _SIZES[pat]
    while sizes.sum() < n:  # pragma: no cover - only for tiny n with bad luck
        more = rng.choice(len(_PATTERNS), size=n_h, p=_PATTERN_P)
        pat = np.concatenate([pat, more])
        sizes = _SIZES[pat]
    roles_all = _ROLE_MATRIX[pat].ravel()
    hh_all = np.repeat(np.arange(pat.size), 5)
    keep = roles_all >= 0
    role = roles_all[keep][:n]
    hh = hh_all[keep][:n]
    n_hh = int(hh[-1]) + 1
    pat = pat[:n_hh]
    starts = np.searchsorted(hh, np.arange(n_hh))
    head = starts[hh]
    return role, hh, n_hh, pat, head


def _ages_and_sexes(rng: np.random.Generator, world: World, n: int, n_hh: int, pat, role, hh, head):
    """Ages by household pattern and role (twins share a birth day), sexes, birth days."""
    end = world.end
    u = rng.random(n_hh)
    head_age = np.where(
        u < 0.55, rng.uniform(20, 35, n_hh), np.where(u < 0.85, rng.uniform(35, 60, n_hh), rng.uniform(60, 86, n_hh))
    )
    head_age = np.where(_HAS_CHILD[pat], rng.uniform(27, 50, n_hh), head_age)
    head_age = np.where(_HAS_ELDER[pat] & ~_HAS_CHILD[pat], rng.uniform(30, 58, n_hh), head_age)
    ha = head_age[hh]
    age = np.empty(n)
    age[:] = ha
    m = role == SPOUSE
    age[m] = np.maximum(20, ha[m] + rng.normal(-1.5, 3.0, int(m.sum())))
    m = role == CHILD
    age[m] = np.maximum(1.5 + rng.random(int(m.sum())), ha[m] - rng.uniform(22, 37, int(m.sum())))
    m = role == ELDER
    age[m] = np.minimum(97, ha[m] + rng.uniform(24, 34, int(m.sum())))
    # twins: a child directly after a child of the same household, 4 %
    twin = np.zeros(n, dtype=bool)
    prev_child = np.zeros(n, dtype=bool)
    prev_child[1:] = (role[1:] == CHILD) & (role[:-1] == CHILD) & (hh[1:] == hh[:-1])
    tw = prev_child & (rng.random(n) < 0.04)
    twin[tw] = True
    twin[np.flatnonzero(tw) - 1] = True
    age[tw] = age[np.flatnonzero(tw) - 1]

    sex = (rng.random(n) < 0.48).astype(np.int64)
    head_sex = sex[head]
    sex = np.where(role == SPOUSE, 1 - head_sex, sex)
    sex = np.where(role == ELDER, (rng.random(n) < 0.4).astype(np.int64), sex)
    birth = end - np.floor(age * 365.25).astype(np.int64)
    birth[tw] = birth[np.flatnonzero(tw) - 1]
    return age, sex, birth, twin


def _names(rng: np.random.Generator, n: int, n_hh: int, role, hh, head, sex, birth_year):
    """Surnames follow the family (the male partner's), given names the sex and birth year.
    Also returns each person's household spouse index (-1: none)."""
    head_sex = sex[head]
    sur = names.draw_surnames(rng, n)
    # the family surname is the male partner's
    is_spouse = role == SPOUSE
    spouse_of_hh = np.full(n_hh, -1)
    spouse_of_hh[hh[is_spouse]] = np.flatnonzero(is_spouse)
    sp = spouse_of_hh[hh]
    family = np.where(head_sex == 1, sur[head], np.where(sp >= 0, sur[np.maximum(sp, 0)], sur[head]))
    child = role == CHILD
    sur = np.where(child & (rng.random(n) < 0.95), family, sur)
    elder = role == ELDER
    sur = np.where(elder & (rng.random(n) < 0.5), sur[head], sur)
    surname = names.SURNAME_TEXT[sur]
    given = names.draw_given_names(rng, sex, birth_year)
    name = surname + given
    return surname, given, name, sp


def _homes(rng: np.random.Generator, world: World, n_hh: int, hh):
    """One address per household, in districts weighted by population and clinic nearness."""
    pop = np.array([d.population for d in geo.DISTRICTS], dtype=np.float64)
    boost = np.ones(len(geo.DISTRICTS))
    boost[np.unique(world.clinic_district)] = 3.0
    # nearness to any clinic also draws patients
    near = np.exp(-world.district_km.min(axis=1) / 15.0)
    p = pop * boost * (0.3 + near)
    p /= p.sum()
    h_dist = rng.choice(len(geo.DISTRICTS), size=n_hh, p=p)
    street = np.empty(n_hh, dtype=object)
    for di, d in enumerate(geo.DISTRICTS):
        sel = h_dist == di
        street[sel] = np.array(d.streets, dtype=object)[rng.integers(0, len(d.streets), int(sel.sum()))]
    no = identifiers.P3[rng.integers(1, 400, n_hh)]
    no = np.array([s.lstrip("0") for s in no], dtype=object)
    compound = np.array(geo.COMPOUNDS, dtype=object)[rng.integers(0, len(geo.COMPOUNDS), n_hh)]
    bld = rng.integers(1, 30, n_hh).astype("U2").astype(object)
    unit = rng.integers(1, 6, n_hh).astype("U1").astype(object)
    room = (rng.integers(1, 33, n_hh) * 100 + rng.integers(1, 7, n_hh)).astype("U4").astype(object)
    street_part = street + no + "号" + compound + bld + "栋" + unit + "单元" + room
    dname = np.array(geo.DISTRICT_NAMES, dtype=object)
    district = h_dist[hh]
    address = dname[district] + street_part[hh]
    return district, address, street_part[hh]


def _phones(rng: np.random.Generator, world: World, n: int, mobiles: identifiers.UniqueRegistry, age, role, head, sp):
    """Own mobiles (some changed), and whose phone each person writes on forms."""
    noise = world.config.noise
    end = world.end
    p_own = np.select([age >= 75, age >= 16, age >= 13, age >= 10], [0.7, 0.99, 0.55, 0.1], 0.0)
    own = (rng.random(n) < p_own) | (role == HEAD) | (role == SPOUSE)
    mobile = np.zeros(n, dtype=np.int64)
    k = int(own.sum())
    mobile[own] = mobiles.draw_unique(lambda s: identifiers.draw_mobiles(rng, s), k)
    changed = own & (rng.random(n) < noise.mobile_changed)
    old_mobile = np.zeros(n, dtype=np.int64)
    old_mobile[changed] = mobiles.draw_unique(lambda s: identifiers.draw_mobiles(rng, s), int(changed.sum()))
    changed_on = np.zeros(n, dtype=np.int64)
    changed_on[changed] = end - rng.integers(30, 5 * 365, int(changed.sum()))
    # whose phone goes on the forms
    parent = np.where((sp >= 0) & (rng.random(n) < 0.35), sp, head)
    minor = age < 18
    use_parent = (minor & ((~own) | (rng.random(n) < noise.child_uses_parent_phone))) & (role != HEAD)
    use_head = (role == ELDER) & ((~own) | (rng.random(n) < noise.elder_uses_child_phone))
    contact_owner = np.arange(n)
    contact_owner = np.where(use_parent, parent, contact_owner)
    contact_owner = np.where(use_head, head, contact_owner)
    # people still without any phone fall back to the head's
    contact_owner = np.where(mobile[contact_owner] == 0, head, contact_owner)
    return mobile, old_mobile, changed_on, contact_owner


def _id_numbers(rng: np.random.Generator, world: World, n: int, ids: identifiers.UniqueRegistry, age, sex, birth,
                birth_year, district):
    """Resident ID numbers: region by residence and age (old codes before they changed), unique."""
    cal = world.cal
    u = rng.random(n)
    p_local = np.where(age < 18, 0.85, np.where(age > 60, 0.6, 0.5))
    local = u < p_local
    chengdu_codes = np.array([d.code for d in geo.DISTRICTS], dtype=object)
    region = np.empty(n, dtype=object)
    region[local] = np.where(
        rng.random(int(local.sum())) < 0.6, chengdu_codes[district[local]],
        chengdu_codes[rng.integers(0, chengdu_codes.size, int(local.sum()))],
    )
    far = ~local
    other = np.array(geo.SICHUAN_CODES + geo.OTHER_CODES, dtype=object)
    op = np.where(np.arange(other.size) < len(geo.SICHUAN_CODES), 2.0, 1.0)
    region[far] = other[rng.choice(other.size, size=int(far.sum()), p=op / op.sum())]
    for new_code, (old_code, since) in geo.OLD_CODES.items():
        region[(region == new_code) & (birth_year < since)] = old_code
    region_i = region.astype(np.int64)
    ci = cal.idx(birth)
    ymd = cal.year[ci].astype(np.int64) * 10000 + cal.month[ci].astype(np.int64) * 100 + cal.dom[ci].astype(np.int64)

    def draw_bodies(sel: np.ndarray) -> np.ndarray:
        parity = rng.integers(0, 5, sel.size) * 2 + sex[sel]  # odd = male
        seq = rng.integers(0, 100, sel.size) * 10 + parity
        return identifiers.id_bodies(region_i[sel], ymd[sel], seq)

    bodies = draw_bodies(np.arange(n))
    for _ in range(50):  # redraw the sequence of colliding IDs for the same people
        bad = ids.taken(bodies)
        if not bad.any():
            break
        bi = np.flatnonzero(bad)
        bodies[bi] = draw_bodies(bi)
    ids.add(bodies)
    return identifiers.id_strings(bodies)


def _friend_groups(rng: np.random.Generator, n: int, serials: Serials, age):
    """Groups of 2-6 adults (18-65) who refer each other."""
    friend = np.full(n, -1, dtype=np.int64)
    elig = np.flatnonzero((age >= 18) & (age <= 65) & (rng.random(n) < 0.55))
    elig = rng.permutation(elig)
    gs = rng.integers(2, 7, size=elig.size // 2 + 1)
    gid = np.repeat(np.arange(gs.size), gs)[: elig.size]
    if gid.size:
        friend[elig] = serials.take("friend_group", int(gid.max()) + 1)[gid] - 1
    return friend
