"""How clerks and apps write a person's facts: name typos, honorifics, nicknames, date and
phone spellings, district and address variants."""

from __future__ import annotations

from collections import defaultdict
from functools import cache

import numpy as np
import zhconv
from pypinyin import lazy_pinyin

from foreign.identity import vocab

FULL_WIDTH = str.maketrans("0123456789+-", "０１２３４５６７８９＋－")


@cache
def _homophones() -> dict[str, str]:
    chars = set("".join(vocab.GIVEN_CHARS.values()) + vocab.HOMOPHONE_EXTRAS)
    groups: dict[str, list[str]] = defaultdict(list)
    for c in sorted(chars):
        groups[lazy_pinyin(c)[0]].append(c)
    return {c: "".join(g) for g in groups.values() for c in g if len(g) > 1}


@cache
def pinyin_of(chars: str) -> str:
    return vocab.SURNAME_READINGS.get(chars) or "".join(lazy_pinyin(chars))


NAME_TYPOS = ("homophone", "traditional", "missing", "extra", "spaces")


def misspell(surname: str, given: str, kind: str, u: float) -> str:
    """One clerk's typo of a real name; u in [0, 1) picks the position and replacement."""
    if kind == "traditional":
        written = zhconv.convert(surname + given, "zh-hant")
        if written != surname + given:
            return written
        kind = "homophone"
    if kind == "homophone":
        table = _homophones()
        spots = [i for i, c in enumerate(given) if c in table]
        if spots:
            i = spots[int(u * len(spots))]
            options = table[given[i]].replace(given[i], "")
            return surname + given[:i] + options[int(u * 997) % len(options)] + given[i + 1 :]
        kind = "extra"
    if kind == "missing" and len(given) >= 2:
        i = int(u * len(given))
        return surname + given[:i] + given[i + 1 :]
    if kind in ("missing", "extra"):
        i = int(u * len(given))
        return surname + given[: i + 1] + given[i:]
    # spaces
    return [
        f"{surname} {given}",
        f"{surname}{given} ",
        " ".join(surname + given),
        f" {surname}{given}",
    ][int(u * 4)]


@cache
def _honorific_table(male: bool, age_band: str):
    rows = [
        (pattern, w)
        for pattern, sex, fits, w in vocab.HONORIFICS
        if sex in ("", "M" if male else "F") and fits in ("any", age_band)
    ]
    weights = np.cumsum([w for _, w in rows], dtype=float)
    return [p for p, _ in rows], weights / weights[-1]


def honorific(surname: str, given: str, male: bool, age: int, u: float) -> str:
    """What staff write for a customer: 李女士, 王老师, 小陈, 老王, 陈sir; rarely the full name + 女士."""
    if u < 0.04:
        return surname + given + ("先生" if male else "女士")
    band = "young" if age < 35 else "old" if age >= 50 else "mid"
    patterns, cum = _honorific_table(male, band)
    return patterns[int(np.searchsorted(cum, u, side="right"))].format(s=surname)


def nickname(surname: str, given: str, kind: int, u: float, child_given: str | None) -> str:
    """A WeChat or app nickname; kind (0..9) picks the style, u the variant."""
    pick = lambda seq: seq[int(u * len(seq)) % len(seq)]  # noqa: E731
    decoration = vocab.NICKNAME_DECORATIONS[int(u * 7919) % len(vocab.NICKNAME_DECORATIONS)]
    if kind == 0:
        return pick(vocab.NICKNAME_PHRASES)
    if kind == 1:
        return pick(vocab.NICKNAME_PHRASES) + decoration
    if kind == 2:
        return pick(vocab.NICKNAME_ENGLISH) + decoration
    if kind == 3:
        return pick(vocab.NICKNAME_EMOJI) + (
            "小" + given[-1] if u < 0.5 else pick(vocab.NICKNAME_PHRASES)
        )
    if kind == 4:  # 陈陈, 雨雨
        return surname * 2 if u < 0.4 else given[-1] * 2
    if kind == 5:  # 阿杰, 小宇
        return ("阿" if u < 0.5 else "小") + given[-1]
    if kind == 6:  # liyuxi, Yuxi, li_yuxi88
        sp, gp = pinyin_of(surname), pinyin_of(given)
        return [
            sp + gp,
            gp.capitalize(),
            f"{sp}_{gp}{int(u * 100)}",
            f"{sp.capitalize()} {gp.capitalize()}",
        ][int(u * 4)]
    if kind == 7:  # A.Li
        return f"{chr(65 + int(u * 26))}.{pinyin_of(surname).capitalize()}"
    if kind == 8 and child_given:  # 小宇妈妈
        return ("小" + child_given[-1] if u < 0.6 else child_given) + (
            "爸爸" if u * 10 % 1 < 0.3 else "妈妈"
        )
    return surname + given  # the real name


NICKNAME_KINDS = np.array([0.2, 0.1, 0.18, 0.08, 0.07, 0.08, 0.08, 0.05, 0.06, 0.1])
DATE_FORMATS = (
    "{y:04d}-{m:02d}-{d:02d}",
    "{y}/{m}/{d}",
    "{y:04d}{m:02d}{d:02d}",
    "{y}.{m:02d}.{d:02d}",
    "{y}年{m}月{d}日",
)


def format_dates(y: np.ndarray, m: np.ndarray, d: np.ndarray, fmt: np.ndarray) -> list[str]:
    return [
        DATE_FORMATS[f].format(y=a, m=b, d=c)
        for a, b, c, f in zip(y.tolist(), m.tolist(), d.tolist(), fmt.tolist(), strict=True)
    ]


def spell_mobile(number: str, style: int) -> str:
    """Plain, +86 138 0013 8000, 138-0013-8000, full width, 138 0013 8000, +8613800138000."""
    if style == 0:
        return number
    a, b, c = number[:3], number[3:7], number[7:]
    return [
        number,
        f"+86 {a} {b} {c}",
        f"{a}-{b}-{c}",
        number.translate(FULL_WIDTH),
        f"{a} {b} {c}",
        f"+86{number}",
    ][style]


def transpose(number: str, u: float) -> str:
    """Swap two adjacent, different digits after the prefix (a mis-heard or mistyped number)."""
    start = 3 + int(u * 7)
    for i in list(range(start, 10)) + list(range(3, start)):
        if number[i] != number[i + 1]:
            return number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    return number


def spell_district(district: str, style: int) -> str:
    short = district[:-1] if len(district) > 2 else district
    return [district, short, f"{vocab.CITY}市{district}", f"{vocab.CITY}{district}"][style]


def spell_address(district: str, address: str, style: int) -> str:
    return [
        address,
        district + address,
        f"{vocab.CITY}市{district}{address}",
        address.replace("幢", "栋"),
    ][style]
