"""The people of the modelled city: households, names, birth dates, phones, ID numbers and
WeChat accounts. Everything is one numpy array per attribute, one entry per person."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property

import numpy as np

from foreign.identity import noise, vocab

REFERENCE_DAY = np.datetime64(date(2026, 6, 30))

ADULT, CHILD, ELDER = 0, 1, 2
SINGLE, COUPLE, FAMILY, SINGLE_PARENT, WITH_ELDER = range(5)
HOUSEHOLD_SHARES = (0.42, 0.20, 0.22, 0.05, 0.11)
TWIN_SHARE = 0.08  # of two-child families
SHARED_PHONE_SHARE = 0.3  # of couples and parents: one phone on both partners' bookings
UNALLOCATED_SHARE = 0.03  # of owned phones
OLD_NUMBER_SHARE = 0.10  # of owned phones: an earlier number still on some records
RECYCLED_SHARE = 0.2  # of old numbers: reissued to another person since

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
ID_CHECK = np.array(list("10X98765432"))


@dataclass(frozen=True)
class Population:
    household: np.ndarray  # int
    role: np.ndarray  # ADULT / CHILD / ELDER
    carer: np.ndarray  # index of the person whose phone carries this person's bookings
    spouse: np.ndarray  # index or -1
    surname: np.ndarray  # object
    given: np.ndarray  # object
    male: np.ndarray  # bool
    birth: np.ndarray  # datetime64[D]
    age: np.ndarray  # int, years at REFERENCE_DAY
    own_mobile: np.ndarray  # int64, 0 = none
    old_mobile: np.ndarray  # int64, 0 = none
    contact_mobile: np.ndarray  # int64: the number bookings and chats use, 0 = none
    id_number: np.ndarray  # object, 18 characters
    id_known: np.ndarray  # bool: the clinics have seen the ID card
    district: np.ndarray  # int index into vocab.DISTRICTS
    address: np.ndarray  # object, without district
    has_wechat: np.ndarray  # bool
    unionid: np.ndarray  # object, "" without WeChat
    first_child: np.ndarray  # index of the first child this person books for, or -1
    nickname: np.ndarray | None = None  # object, "" without WeChat

    @cached_property
    def name(self) -> np.ndarray:
        return self.surname + self.given

    def __len__(self) -> int:
        return len(self.role)


def build_population(n: int, rng: np.random.Generator) -> Population:
    kind, size, n_children, twins = _households(n, rng)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    hh = np.repeat(np.arange(len(size)), size)
    pos = np.arange(n) - start[hh]
    k = kind[hh]
    role = np.full(n, ADULT, dtype=np.int8)
    role[((k == FAMILY) & (pos >= 2)) | ((k == SINGLE_PARENT) & (pos >= 1))] = CHILD
    role[(k == WITH_ELDER) & (pos >= 1)] = ELDER

    male = rng.random(n) < 0.46
    male[(k == COUPLE) | (k == FAMILY)] = pos[(k == COUPLE) | (k == FAMILY)] == 0
    male[(k == SINGLE_PARENT) & (pos == 0)] = (
        rng.random(((k == SINGLE_PARENT) & (pos == 0)).sum()) < 0.2
    )
    elder_spouse = (k == WITH_ELDER) & (pos == 2)
    male[elder_spouse] = ~male[np.flatnonzero(elder_spouse) - 1]

    # Mothers carry the children's bookings three times in four; elders use their adult child's phone.
    mother_books = rng.random(len(size)) < 0.75
    carer = np.arange(n)
    child = role == CHILD
    carer[child] = start[hh[child]] + ((k[child] == FAMILY) & mother_books[hh[child]])
    carer[role == ELDER] = start[hh[role == ELDER]]
    spouse = np.full(n, -1)
    paired = ((k == COUPLE) | (k == FAMILY)) & (pos <= 1)
    spouse[paired] = start[hh[paired]] + 1 - pos[paired]

    age = _ages(rng, k, pos, hh, start)
    birth = REFERENCE_DAY - (age * 365.25).astype(int) - rng.integers(0, 365, n)
    twin_second = (k == FAMILY) & (pos == 3) & twins[hh]
    birth[twin_second] = birth[np.flatnonzero(twin_second) - 1]
    age = ((REFERENCE_DAY - birth).astype(int) / 365.25).astype(int)

    surname, given = _names(rng, n, male, birth, role, k, pos, start, hh, twin_second)
    district = rng.choice(len(vocab.DISTRICTS), size=len(size), p=_district_shares())[hh]
    own, old, contact = _mobiles(rng, n, role, age, spouse, carer, hh)
    id_number = _id_numbers(rng, birth, male, district)
    has_wechat = np.where(role == ELDER, rng.random(n) < 0.25, rng.random(n) < 0.6)
    has_wechat[role == CHILD] = (age[role == CHILD] >= 14) & (rng.random(child.sum()) < 0.2)
    unionid = np.where(has_wechat, _unionids(rng, n), "").astype(object)
    kids = np.flatnonzero(child)
    first_child = np.full(n, -1)
    first_child[carer[kids][::-1]] = kids[::-1]
    pop = Population(
        household=hh,
        role=role,
        carer=carer,
        spouse=spouse,
        surname=surname,
        given=given,
        male=male,
        birth=birth,
        age=age,
        own_mobile=own,
        old_mobile=old,
        contact_mobile=contact,
        id_number=id_number,
        id_known=rng.random(n) < 0.55,
        district=district,
        address=_addresses(rng, len(size), district[start])[hh],
        has_wechat=has_wechat,
        unionid=unionid,
        first_child=first_child,
    )
    wechat = np.flatnonzero(has_wechat)
    nickname = np.full(n, "", dtype=object)
    nickname[wechat] = nicknames(wechat, pop, rng)
    return replace(pop, nickname=nickname)


def nicknames(q: np.ndarray, pop: Population, rng: np.random.Generator) -> np.ndarray:
    """A WeChat nickname for each person in q."""
    kinds = rng.choice(len(noise.NICKNAME_KINDS), size=len(q), p=noise.NICKNAME_KINDS)
    us = rng.random(len(q))
    child = pop.first_child[q]
    return np.array(
        [
            noise.nickname(pop.surname[i], pop.given[i], k, u, pop.given[c] if c >= 0 else None)
            for i, k, u, c in zip(
                q.tolist(), kinds.tolist(), us.tolist(), child.tolist(), strict=True
            )
        ],
        dtype=object,
    )


def _households(n, rng):
    m = n // 2 + 16
    kind = rng.choice(5, size=m, p=HOUSEHOLD_SHARES)
    n_children = np.where(rng.random(m) < 0.55, 1, 2)
    elders = np.where(rng.random(m) < 0.7, 1, 2)
    size = np.select(
        [kind == SINGLE, kind == COUPLE, kind == FAMILY, kind == SINGLE_PARENT],
        [1, 2, 2 + n_children, 1 + n_children],
        1 + elders,
    )
    twins = (kind == FAMILY) & (n_children == 2) & (rng.random(m) < TWIN_SHARE)
    total = np.cumsum(size)
    keep = int(np.searchsorted(total, n, side="right"))
    filled = int(total[keep - 1]) if keep else 0
    pad = n - filled  # the remainder become one-person households
    cut = lambda a, v: np.concatenate([a[:keep], np.full(pad, v)])  # noqa: E731
    return cut(kind, SINGLE), cut(size, 1), cut(n_children, 0), cut(twins, False)


def _ages(rng, k, pos, hh, start):
    n = len(k)
    age = 18 + 52 * rng.beta(2, 3.5, n)
    couple_first = (k == COUPLE) & (pos == 0)
    age[couple_first] = 22 + 50 * rng.beta(2, 3, couple_first.sum())
    parent = ((k == FAMILY) & (pos <= 1)) | ((k == SINGLE_PARENT) & (pos == 0))
    age[parent] = 28 + 22 * rng.beta(2, 2, parent.sum())
    adult_child = (k == WITH_ELDER) & (pos == 0)
    age[adult_child] = 30 + 25 * rng.beta(2, 2, adult_child.sum())
    # Partners and elders follow the first person of the household.
    second = ((k == COUPLE) | (k == FAMILY)) & (pos == 1)
    age[second] = np.maximum(20, age[start[hh[second]]] + rng.normal(-2, 3, second.sum()))
    elder = (k == WITH_ELDER) & (pos >= 1)
    age[elder] = np.minimum(95, age[start[hh[elder]]] + rng.uniform(24, 35, elder.sum()))
    child = ((k == FAMILY) & (pos >= 2)) | ((k == SINGLE_PARENT) & (pos >= 1))
    parent_age = age[start[hh[child]]]
    age[child] = rng.uniform(2.5, np.clip(parent_age - 22, 3, 18))
    return age


def _district_shares():
    shares = np.array([d[1] for d in vocab.DISTRICTS])
    return shares / shares.sum()


def _weights(k: int) -> np.ndarray:
    w = 1.0 / (np.arange(k) + 2.0) ** 0.8
    return w / w.sum()


def _names(rng, n, male, birth, role, k, pos, start, hh, twin_second):
    names = np.array(list(vocab.SURNAMES), dtype=object)
    shares = np.array(list(vocab.SURNAMES.values()))
    surname = names[rng.choice(len(names), size=n, p=shares / shares.sum())]
    # Children take the father's surname (sometimes the mother's); a man's elder father shares his.
    child = role == CHILD
    first = start[hh[child]]
    takes_first = (k[child] == FAMILY) & (rng.random(child.sum()) < 0.92)
    takes_first |= (k[child] == SINGLE_PARENT) & (rng.random(child.sum()) < 0.3)
    surname[np.flatnonzero(child)[takes_first]] = surname[first[takes_first]]
    elder_father = (role == ELDER) & male
    surname[elder_father] = surname[start[hh[elder_father]]]

    young = birth >= np.datetime64("1980-01-01")
    given = np.empty(n, dtype=object)
    for sex_is_male, sex in ((False, "F"), (True, "M")):
        for is_young, era in ((False, "old"), (True, "young")):
            sel = np.flatnonzero((male == sex_is_male) & (young == is_young))
            chars = np.array(list(vocab.GIVEN_CHARS[(sex, era)]), dtype=object)
            w = _weights(len(chars))
            a = chars[rng.choice(len(chars), size=len(sel), p=w)]
            b = chars[rng.choice(len(chars), size=len(sel), p=w)]
            two = rng.random(len(sel)) < (0.8 if is_young else 0.6)
            given[sel] = np.where(two & (a != b), a + b, a)
    # Twins: different given names, often sharing the first character.
    for i in np.flatnonzero(twin_second):
        sibling = given[i - 1]
        if given[i] == sibling or rng.random() < 0.5:
            pool = vocab.GIVEN_CHARS[("M" if male[i] else "F", "young")]
            options = [c for c in pool if c not in sibling]
            given[i] = sibling[0] + options[rng.integers(len(options))]
    return surname, given


def _unique_numbers(rng, prefixes: np.ndarray, taken: set[int]) -> np.ndarray:
    numbers = prefixes.astype(np.int64) * 10**8 + rng.integers(0, 10**8, len(prefixes))
    while True:
        _, first = np.unique(numbers, return_index=True)
        clash = np.ones(len(numbers), bool)
        clash[first] = False
        clash |= np.isin(numbers, np.fromiter(taken, np.int64, len(taken)))
        if not clash.any():
            return numbers
        numbers[clash] = prefixes[clash].astype(np.int64) * 10**8 + rng.integers(
            0, 10**8, clash.sum()
        )


def _prefixes(rng, m):
    allocated = np.array(list(vocab.ALLOCATED_PREFIXES), dtype=np.int64)
    w = np.array(list(vocab.ALLOCATED_PREFIXES.values()), float)
    out = allocated[rng.choice(len(allocated), size=m, p=w / w.sum())]
    odd = rng.random(m) < UNALLOCATED_SHARE
    out[odd] = np.array(vocab.UNALLOCATED_PREFIXES, dtype=np.int64)[
        rng.integers(0, len(vocab.UNALLOCATED_PREFIXES), odd.sum())
    ]
    return out


def _mobiles(rng, n, role, age, spouse, carer, hh):
    owns = np.where(role == ADULT, rng.random(n) < 0.97, rng.random(n) < 0.55)
    owns[role == CHILD] = (age[role == CHILD] >= 13) & (rng.random((role == CHILD).sum()) < 0.35)
    own = np.zeros(n, np.int64)
    own[owns] = _unique_numbers(rng, _prefixes(rng, owns.sum()), set())
    has_old = owns & (rng.random(n) < OLD_NUMBER_SHARE)
    old = np.zeros(n, np.int64)
    old[has_old] = _unique_numbers(rng, _prefixes(rng, has_old.sum()), set(own[owns].tolist()))
    # Operators reissue numbers: some old numbers now belong to someone else.
    recycled = np.flatnonzero(has_old & (rng.random(n) < RECYCLED_SHARE))
    new_owner = np.flatnonzero(owns)[rng.integers(0, owns.sum(), len(recycled))]
    elsewhere = hh[new_owner] != hh[recycled]
    old[recycled[elsewhere]] = own[new_owner[elsewhere]]

    contact = own.copy()
    # Children and elders: the carer's phone (an elder with an own phone still uses it half the time).
    dependant = (role == CHILD) | ((role == ELDER) & ((own == 0) | (rng.random(n) < 0.5)))
    contact[dependant] = own[carer[dependant]]
    # Some couples put one phone on both partners' bookings: the wife's or the husband's.
    households = hh.max() + 1
    sharing = (spouse >= 0) & (rng.random(households) < SHARED_PHONE_SHARE)[hh]
    pair = np.sort(np.stack([np.arange(n), spouse]), axis=0)
    holder = np.where(rng.random(households)[hh] < 0.5, pair[0], pair[1])
    contact[sharing] = own[holder[sharing]]
    contact[(contact == 0) & (own > 0)] = own[(contact == 0) & (own > 0)]
    return own, old, contact


def _id_numbers(rng, birth, male, district):
    n = len(birth)
    local = np.array([d[2] for d in vocab.DISTRICTS])[district]
    elsewhere = np.array(vocab.MIGRANT_REGIONS)[rng.integers(0, len(vocab.MIGRANT_REGIONS), n)]
    other_local = np.array([d[2] for d in vocab.DISTRICTS])[
        rng.integers(0, len(vocab.DISTRICTS), n)
    ]
    u = rng.random(n)
    region = np.where(u < 0.5, local, np.where(u < 0.75, other_local, elsewhere))
    ymd = np.datetime_as_string(birth, unit="D").astype("U10")
    ymd = np.char.replace(ymd, "-", "")
    seq = rng.integers(0, 50, n) * 10 + rng.integers(0, 5, n) * 2 + male  # odd = male
    body = np.char.add(np.char.add(region, ymd), np.char.zfill(seq.astype("U3"), 3))
    return np.char.add(body, check_digits(body)).astype(object)


def check_digits(body: np.ndarray) -> np.ndarray:
    """GB 11643 check character for 17-digit ID-number bodies."""
    digits = (
        np.frombuffer(np.asarray(body, dtype="S17").tobytes(), dtype=np.uint8).reshape(-1, 17) - 48
    )
    return ID_CHECK[(digits.astype(np.int64) @ ID_WEIGHTS) % 11]


def _addresses(rng, m, district):
    streets = [d[3] for d in vocab.DISTRICTS]
    street = [streets[d][i] for d, i in zip(district, rng.integers(0, 5, m), strict=True)]
    number = rng.integers(1, 900, m)
    building = rng.integers(1, 30, m)
    unit = rng.integers(1, 6, m)
    room = rng.integers(1, 33, m) * 100 + rng.integers(1, 5, m)
    return np.array(
        [
            f"{s}{a}号{b}幢{u}单元{r}"
            for s, a, b, u, r in zip(street, number, building, unit, room, strict=True)
        ],
        dtype=object,
    )


_UNIONID_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", np.uint8
)


def _unionids(rng, n):
    body = _UNIONID_ALPHABET[rng.integers(0, 64, (n, 27))]
    raw = np.concatenate([np.full((n, 1), ord("o"), np.uint8), body], axis=1)
    return raw.view("S28").ravel().astype("U28")
