"""Noise: how real systems garble a person's details, and rows that are plainly invalid.

Every application of noise is counted (``NoiseLog``) and flagged on the record it hit, so
the manifest can state realised counts next to configured rates and
``truth/records.parquet`` says which noise each record carries.  Invalid rows are logged
with file, row number and defect in ``truth/invalid_rows.parquet``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from molar.synth import identifiers, names
from molar.synth.calendar import Calendar


class NoiseLog:
    """Counts of applied noise per (table, kind) and eligible records per table."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.records: dict[str, int] = defaultdict(int)

    def flag(self, table: str, kind: str, mask: np.ndarray, flags: np.ndarray) -> None:
        mask = np.asarray(mask, dtype=bool)
        k = int(mask.sum())
        self.counts[(table, kind)] += k
        if k:
            flags[mask] = flags[mask] + (kind + ";")

    def as_dict(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (table, kind), v in sorted(self.counts.items()):
            out.setdefault(table, {"records": int(self.records.get(table, 0))})[kind] = int(v)
        return out


def new_flags(n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    out[:] = ""
    return out


def noisy_names(rng, name, surname, given, rates, flags, log: NoiseLog, table: str, pinyin: bool = False):
    """Homophone typos, traditional characters, stray spaces and (booking) pinyin."""
    out = name.copy()
    n = name.size
    u = rng.random((n, 3))
    # homophone
    m = np.flatnonzero(rng.random(n) < rates.name_homophone)
    changed = np.zeros(n, dtype=bool)
    for i in m.tolist():
        v = names.homophone_variant(out[i], float(u[i, 0]), float(u[i, 1]))
        if v != out[i]:
            out[i] = v
            changed[i] = True
    log.flag(table, "name_homophone", changed, flags)
    # traditional characters
    m = np.flatnonzero(rng.random(n) < rates.name_traditional)
    changed = np.zeros(n, dtype=bool)
    for i in m.tolist():
        v = names.to_traditional(out[i])
        if v != out[i]:
            out[i] = v
            changed[i] = True
    log.flag(table, "name_traditional", changed, flags)
    if pinyin:
        m = np.flatnonzero(rng.random(n) < rates.name_pinyin)
        for i in m.tolist():
            out[i] = names.pinyin_name(surname[i], given[i])
        mask = np.zeros(n, dtype=bool)
        mask[m] = True
        log.flag(table, "name_pinyin", mask, flags)
    # stray whitespace: "张 伟", " 张伟", "张伟 "
    m = np.flatnonzero(rng.random(n) < rates.name_whitespace)
    for i in m.tolist():
        s = out[i]
        k = int(u[i, 2] * 3)
        out[i] = (s[:1] + " " + s[1:]) if k == 0 else (" " + s if k == 1 else s + " ")
    mask = np.zeros(n, dtype=bool)
    mask[m] = True
    log.flag(table, "name_whitespace", mask, flags)
    return out


def noisy_mobiles(rng, mobiles, rates, flags, log: NoiseLog, table: str, *, missing: float,
                  formatted: float, transposed: float) -> np.ndarray:
    """Render mobiles with transposed digits, +86/space/dash formats and missing values."""
    m = np.asarray(mobiles, dtype=np.int64).copy()
    n = m.size
    has = m > 0
    tr = has & (rng.random(n) < transposed)  # typo'd first; a typo'd number may then be missing
    new, changed = identifiers.transpose_digits(m[tr], rng)
    m[tr] = new
    tmask = np.zeros(n, dtype=bool)
    tmask[np.flatnonzero(tr)[changed]] = True
    log.flag(table, "mobile_transposed", tmask, flags)
    miss = has & (rng.random(n) < missing)
    log.flag(table, "mobile_missing", miss, flags)
    style = np.zeros(n, dtype=np.int64)
    f = has & ~miss & (rng.random(n) < formatted)
    style[f] = rng.integers(1, len(identifiers.MOBILE_STYLES), int(f.sum()))
    out = identifiers.format_mobiles(np.where(has, m, 13800000000), style)
    log.flag(table, "mobile_formatted", f, flags)
    out[miss | ~has] = ""
    return out


def shift_birth(rng, cal: Calendar, birth: np.ndarray, rate: float, flags, log: NoiseLog, table: str) -> np.ndarray:
    """Day/month swapped (when both <= 12), or a wrong day, or a wrong year."""
    b = birth.copy()
    n = b.size
    sel = np.flatnonzero(rng.random(n) < rate)
    if sel.size:
        ci = cal.idx(b[sel])
        y = cal.year[ci].astype(np.int64)
        mo = cal.month[ci].astype(np.int64)
        d = cal.dom[ci].astype(np.int64)
        swap = (d <= 12) & (d != mo)
        months = (y - 1970) * 12 + (d - 1)
        swapped = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + (mo - 1)
        alt = np.where(rng.random(sel.size) < 0.5, rng.choice([-3, -2, -1, 1, 2, 3], sel.size),
                       rng.choice([-3650, -365, 365], sel.size))
        b[sel] = np.where(swap, swapped, b[sel] + alt)
    mask = np.zeros(n, dtype=bool)
    mask[sel] = True
    mask &= b != birth
    log.flag(table, "birth_date_error", mask, flags)
    return b


def blank_ids(rng, ids: np.ndarray, rate: float, flags, log: NoiseLog, table: str) -> np.ndarray:
    out = ids.copy()
    miss = rng.random(ids.size) < rate
    out[miss] = ""
    log.flag(table, "id_missing", miss, flags)
    return out


# ---------------------------------------------------------------------------------------
# invalid rows


class InvalidLog:
    """Rows made invalid on purpose: (file, row_number, record_key, defect)."""

    def __init__(self) -> None:
        self.files: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.keys: list[np.ndarray] = []
        self.defects: list[np.ndarray] = []
        self.counts: dict[tuple[str, str], int] = defaultdict(int)
        self.eligible: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, file: str, rows: np.ndarray, keys: np.ndarray, defect: str) -> None:
        k = int(np.asarray(rows).size)
        self.counts[(file, defect)] += k
        if k:
            self.files.append(np.full(k, file, dtype=object))
            self.rows.append(np.asarray(rows, dtype=np.int64))
            self.keys.append(np.asarray(keys, dtype=object).astype(str).astype(object))
            self.defects.append(np.full(k, defect, dtype=object))

    def drain(self) -> dict[str, np.ndarray] | None:
        if not self.rows:
            return None
        out = {
            "file": np.concatenate(self.files), "row_number": np.concatenate(self.rows),
            "record_key": np.concatenate(self.keys), "defect": np.concatenate(self.defects),
        }
        self.files, self.rows, self.keys, self.defects = [], [], [], []
        return out

    def as_dict(self) -> dict[str, dict[str, dict[str, int]]]:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (file, defect), e in sorted(self.eligible.items()):
            out.setdefault(file, {})[defect] = {"eligible_rows": int(e), "rows": int(self.counts.get((file, defect), 0))}
        return out


# A defect: (name, rate, eligible(cols) -> mask, apply(rng, cols, idx) -> None)
Defect = tuple[str, float, Callable[[list[np.ndarray]], np.ndarray], Callable[[np.random.Generator, list[np.ndarray], np.ndarray], None]]


def inject_invalid(rng, file: str, cols: list[np.ndarray], key_col: int, defects: Sequence[Defect],
                   dup_rate: float, row_offset: int, log: InvalidLog) -> list[np.ndarray]:
    """Corrupt rows in place (one defect per row at most) and insert exact duplicates.

    ``row_offset`` is the number of data rows already in the file; logged row numbers are
    1-based data-row numbers (the header is not counted).
    """
    n = cols[0].size
    taken = np.zeros(n, dtype=bool)
    applied_all: list[tuple[np.ndarray, str]] = []
    for name, rate, eligible, apply in defects:
        elig = np.asarray(eligible(cols), dtype=bool) & ~taken
        log.eligible[(file, name)] += int(elig.sum())
        idx = np.flatnonzero(elig & (rng.random(n) < rate))
        if idx.size:
            apply(rng, cols, idx)
            taken[idx] = True
        applied_all.append((idx, name))
    dup = np.flatnonzero(~taken & (rng.random(n) < dup_rate))
    log.eligible[(file, "duplicate_row")] += int(n)
    reps = np.ones(n, dtype=np.int64)
    reps[dup] = 2
    first_pos = np.cumsum(reps) - reps  # 0-based position of row i after insertion
    for idx, name in applied_all:
        log.add(file, row_offset + first_pos[idx] + 1, cols[key_col][idx], name)
    log.add(file, row_offset + first_pos[dup] + 2, cols[key_col][dup], "duplicate_row")
    if dup.size:
        order = np.repeat(np.arange(n), reps)
        cols = [c[order] for c in cols]
    return cols


# ---- defect helpers on string columns ----------------------------------------------------

_BAD_MONTH_DAY = ((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (11, 31), (13, 1), (0, 15), (2, 29))


def impossible_date(s: str, u: float) -> str:
    """An impossible date in the same style as ``s`` (2024-02-30, 2024/13/1, 2024年4月31日…)."""
    digits = "".join(ch for ch in s if ch.isdigit())
    y = int(digits[:4]) if len(digits) >= 4 else 2024
    mo, d = _BAD_MONTH_DAY[int(u * len(_BAD_MONTH_DAY))]
    if (mo, d) == (2, 29):
        y = y if y % 4 else y + 1  # 29 February of a common year
        if y % 4 == 0:
            y += 1
    if "年" in s:
        return f"{y}年{mo}月{d}日"
    if "/" in s:
        return f"{y}/{mo}/{d}"
    if "-" in s:
        return f"{y:04d}-{mo:02d}-{d:02d}"
    return f"{y:04d}{mo:02d}{d:02d}"


def set_impossible_dates(col: int):
    def apply(rng, cols, idx):
        u = rng.random(idx.size)
        c = cols[col]
        for j, i in enumerate(idx.tolist()):
            c[i] = impossible_date(c[i], float(u[j]))
    return apply


def plain_mobile(col: int):
    return lambda cols: np.array([isinstance(v, str) and len(v) == 11 and v.isdigit() for v in cols[col]], dtype=bool)


def set_wrong_length(col: int):
    def apply(rng, cols, idx):
        cols[col][idx] = identifiers.wrong_length(cols[col][idx], rng)
    return apply


def valid_id(col: int):
    return lambda cols: np.array([isinstance(v, str) and len(v) == 18 for v in cols[col]], dtype=bool)


def set_bad_checksum(col: int):
    def apply(rng, cols, idx):
        cols[col][idx] = identifiers.corrupt_id_check(cols[col][idx], rng)
    return apply


def everything(cols):
    return np.ones(cols[0].size, dtype=bool)
