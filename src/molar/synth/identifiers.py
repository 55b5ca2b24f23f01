"""Resident ID numbers, mobile numbers, WeChat-style tokens — vectorised and unique.

Resident ID numbers follow GB 11643-1999: 6-digit region code, 8-digit birth date,
3-digit sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import numpy as np

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARS = np.array(list("10X98765432"), dtype=object)
_POW10 = 10 ** np.arange(16, -1, -1, dtype=np.int64)  # digit extraction for 17-digit bodies

# China mobile prefixes by carrier (13x/15x/17x/18x/19x only) with rough market weights.
MOBILE_PREFIXES = np.array(
    [130, 131, 132, 133, 134, 135, 136, 137, 138, 139,
     150, 151, 152, 153, 155, 156, 157, 158, 159,
     173, 175, 176, 177, 178,
     180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
     191, 193, 195, 196, 197, 198, 199],
    dtype=np.int64,
)
_MP_W = np.array([3, 3, 2, 3, 3, 4, 4, 4, 5, 5,
                  3, 3, 3, 2, 2, 2, 2, 3, 3,
                  2, 1, 2, 2, 2,
                  3, 3, 2, 1, 1, 2, 2, 3, 3, 3,
                  2, 1, 1, 1, 1, 2, 2], dtype=np.float64)
MOBILE_PREFIX_P = _MP_W / _MP_W.sum()

P3 = np.array([f"{i:03d}" for i in range(1000)], dtype=object)
P4 = np.array([f"{i:04d}" for i in range(10000)], dtype=object)


def id_check_chars(body: np.ndarray) -> np.ndarray:
    """Check characters for 17-digit ID bodies given as int64."""
    digits = (np.asarray(body, dtype=np.int64)[:, None] // _POW10) % 10
    return CHECK_CHARS[(digits @ ID_WEIGHTS) % 11]


def id_number_valid(ids: list[str] | np.ndarray) -> np.ndarray:
    """True where an ID string is 18 chars, 17 digits + the right check char (vectorised)."""
    ids = np.asarray(ids, dtype=object)
    ok = np.array([isinstance(s, str) and len(s) == 18 and s[:17].isdigit() for s in ids], dtype=bool)
    out = np.zeros(ids.size, dtype=bool)
    if ok.any():
        good = ids[ok]
        body = np.array([int(s[:17]) for s in good], dtype=np.int64)
        check = np.array([s[17].upper() for s in good], dtype=object)
        out[ok] = id_check_chars(body) == check
    return out


def id_bodies(region: np.ndarray, yyyymmdd: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """17-digit bodies as int64 from region code, birth date and 3-digit sequence."""
    return (np.asarray(region, dtype=np.int64) * 10**11
            + np.asarray(yyyymmdd, dtype=np.int64) * 1000 + np.asarray(seq, dtype=np.int64))


def id_strings(body: np.ndarray) -> np.ndarray:
    body = np.asarray(body, dtype=np.int64)
    return body.astype("U17").astype(object) + id_check_chars(body)


def corrupt_id_check(ids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Replace the check character by a different, wrong one."""
    out = ids.copy()
    shift = rng.integers(1, 11, size=ids.size)
    for i, s in enumerate(ids):
        k = (int(np.flatnonzero(s[17] == CHECK_CHARS)[0]) + int(shift[i])) % 11
        out[i] = s[:17] + CHECK_CHARS[k]
    return out


class UniqueRegistry:
    """Integers already handed out (IDs, mobiles), so later chunks never reuse one."""

    def __init__(self) -> None:
        self._sorted = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return int(self._sorted.size)

    def taken(self, values: np.ndarray) -> np.ndarray:
        """Mask of values already registered or repeated earlier within ``values``."""
        values = np.asarray(values, dtype=np.int64)
        pos = np.searchsorted(self._sorted, values)
        pos = np.minimum(pos, max(self._sorted.size - 1, 0))
        clash = (self._sorted[pos] == values) if self._sorted.size else np.zeros(values.size, dtype=bool)
        _, first = np.unique(values, return_index=True)
        dup = np.ones(values.size, dtype=bool)
        dup[first] = False
        return clash | dup

    def add(self, values: np.ndarray) -> None:
        self._sorted = np.union1d(self._sorted, np.asarray(values, dtype=np.int64))

    def draw_unique(self, draw, n: int, max_rounds: int = 50) -> np.ndarray:
        """Call ``draw(k)`` until ``n`` values unique against the registry are found; register them."""
        values = np.asarray(draw(n), dtype=np.int64)
        for _ in range(max_rounds):
            bad = self.taken(values)
            if not bad.any():
                break
            values[bad] = draw(int(bad.sum()))
        else:  # pragma: no cover - needs an exhausted number space
            raise RuntimeError("could not draw unique values; the number space is exhausted")
        self.add(values)
        return values


def draw_mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = MOBILE_PREFIXES[rng.choice(MOBILE_PREFIXES.size, size=n, p=MOBILE_PREFIX_P)]
    return prefix * 10**8 + rng.integers(0, 10**8, size=n)


def mobile_strings(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.int64)
    return m.astype("U11").astype(object)


MOBILE_STYLES = ("plain", "+86 138 1234 5678", "138-1234-5678", "8613812345678", "+8613812345678", "138 1234 5678")


def format_mobiles(m: np.ndarray, style: np.ndarray) -> np.ndarray:
    """Render mobiles (int64, 11 digits) in the given style index per row (see MOBILE_STYLES)."""
    m = np.asarray(m, dtype=np.int64)
    a, b, c = P3[m // 10**8], P4[(m // 10**4) % 10**4], P4[m % 10**4]
    plain = a + b + c
    out = plain.copy()
    style = np.asarray(style)
    for k, (pre, sep) in enumerate((("", ""), ("+86 ", " "), ("", "-"), ("86", ""), ("+86", ""), ("", " "))):
        if k == 0:
            continue
        sel = style == k
        if sel.any():
            out[sel] = pre + a[sel] + sep + b[sel] + sep + c[sel]
    return out


def transpose_digits(m: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Swap two adjacent digits among positions 3..10; returns (new, changed-mask)."""
    m = np.asarray(m, dtype=np.int64)
    k = rng.integers(3, 10, size=m.size)  # swap digit k and k+1 (0-based from the left)
    hi = 10 ** (10 - k)
    lo = 10 ** (9 - k)
    dk = (m // hi) % 10
    dk1 = (m // lo) % 10
    new = m - dk * hi - dk1 * lo + dk1 * hi + dk * lo
    return new, new != m


def wrong_length(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Drop or add one digit of 11-digit strings (10 or 12 digits)."""
    out = s.copy()
    pos = rng.integers(3, 11, size=s.size)
    add = rng.random(s.size) < 0.5
    extra = rng.integers(0, 10, size=s.size)
    for i, v in enumerate(s):
        p = int(pos[i])
        out[i] = v[:p] + str(int(extra[i])) + v[p:] if add[i] else v[:p] + v[p + 1:]
    return out


_TOKEN = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def random_tokens(rng: np.random.Generator, n: int, length: int, prefix: str = "", alphabet: str = "token") -> np.ndarray:
    """Random strings like WeChat openids (``alphabet`` 'token') or hex IDs ('hex')."""
    alph = _TOKEN if alphabet == "token" else _HEX
    codes = np.ascontiguousarray(alph[rng.integers(0, alph.size, size=(n, length))])
    s = codes.view(f"S{length}").ravel().astype(f"U{length}").astype(object)
    return prefix + s if prefix else s


def mask_mobile(m: np.ndarray) -> np.ndarray:
    """'138****5678' as review platforms show a phone."""
    m = np.asarray(m, dtype=np.int64)
    return P3[m // 10**8] + "****" + P4[m % 10**4]
