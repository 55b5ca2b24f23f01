"""Plain-Python statement of every standardiser's rules: the oracle the SQL is tested against.

One function per standardiser, taking one raw value and the same options as the SQL
standardiser, returning ``Result(value, problem)``. Written to be read, not to be fast:
each rule is spelled out directly (Python ``re`` with explicit ASCII classes,
``datetime``, ``decimal``, ``unicodedata``, zhconv) rather than derived from the SQL
building blocks, so a mistake in one shows up as a disagreement with the other.

``standardise(name, raw, **options)`` dispatches by registry name.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, NamedTuple

# The oracle's own copies of the tables the standardisers use: a reference that imported
# them from the code it checks would agree with any mistake made in them.

# Strings that mean "no value" in exports.
DEFAULT_NULL_TOKENS = ("null", "none", "nan", "n/a", "#n/a", "\\n", "-", "--", "/")

# GB/T 2261.1 sex codes and the spellings seen in exports.
SEX_VALUES = {
    "男": "M", "男性": "M", "男士": "M", "m": "M", "male": "M", "man": "M", "1": "M",
    "女": "F", "女性": "F", "女士": "F", "f": "F", "female": "F", "woman": "F", "2": "F",
}
SEX_NOT_STATED = ("0", "9", "未知", "不详", "未说明", "u", "unknown")

# Three-digit prefixes of mainland mobile numbers allocated to subscribers (MIIT numbering
# plan, 2024), written out one by one.
CHINA_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "145", "146", "147", "148", "149",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "162", "165", "166", "167",
    "170", "171", "172", "173", "174", "175", "176", "177", "178",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
    "190", "191", "192", "193", "195", "196", "197", "198", "199",
)

# Prefixes whose digits are kept (for matching) whether allocated or not: 130–199.
WELL_FORMED_PREFIXES = tuple(str(n) for n in range(130, 200))

# Names that stand for "no real name", and traditional characters that are also used as
# simplified ones in names (zhconv would change them).
DEFAULT_PLACEHOLDERS = (
    "无", "无名", "无名氏", "未知", "不详", "匿名", "测试", "某某", "患者", "病人", "客户", "顾客",
    "先生", "女士", "小姐", "test", "unknown", "na", "xx", "xxx",
)
NAME_KEEP = "於乾甦昇陞锺璿徵"

# The ``date`` / ``timestamp`` defaults, restated.
DEFAULT_FORMATS = ("ymd", "chinese", "compact")
DEFAULT_NOT_BEFORE = dt.date(1900, 1, 1)


class Result(NamedTuple):
    value: Any
    problem: str | None


BLANK = Result(None, None)


# ----------------------------------------------------------------------- common steps


def is_ws(ch: str) -> bool:
    """Whitespace: ASCII \\t\\n\\v\\f\\r, Unicode separators, NEL and zero-width characters."""
    return ch in "\t\n\x0b\x0c\r\x85\u200b\u200c\u200d\u2060\ufeff" or unicodedata.category(ch) in ("Zs", "Zl", "Zp")


def trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and is_ws(text[start]):
        start += 1
    while end > start and is_ws(text[end - 1]):
        end -= 1
    return text[start:end]


def remove_ws(text: str) -> str:
    return "".join(ch for ch in text if not is_ws(ch))


def collapse_ws(text: str) -> str:
    """Every run of whitespace → one ASCII space."""
    out: list[str] = []
    for ch in text:
        if is_ws(ch):
            if not out or out[-1] != "\0ws":
                out.append("\0ws")
        else:
            out.append(ch)
    return "".join(" " if part == "\0ws" else part for part in out)


def fold(text: str, ascii_chars: str | None = None) -> str:
    """Full-width forms (U+FF01–FF5E, ideographic space) → ASCII, optionally only some."""
    out = []
    for ch in text:
        cp = ord(ch)
        if 0xFF01 <= cp <= 0xFF5E:
            half = chr(cp - 0xFEE0)
            out.append(half if ascii_chars is None or half in ascii_chars else ch)
        elif ch == "\u3000" and (ascii_chars is None or " " in ascii_chars):
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def blank_or_trimmed(raw: object, null_tokens: Iterable[str]) -> str | None:
    """The trimmed text, or None when the cell is empty or a "no value" token."""
    if raw is None:
        return None
    t = trim(str(raw))
    if t.lower() in {"", *(tok.lower() for tok in null_tokens)}:
        return None
    return t


# ------------------------------------------------------------------------ date & time

_DATE_PARTS = {
    "ymd": (r"([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})", "ymd", r"(?: |T)"),
    "chinese": (r"([0-9]{4}) ?年 ?([0-9]{1,2}) ?月 ?([0-9]{1,2}) ?[日号]?", "ymd", r" ?"),
    "compact": (r"([0-9]{4})([0-9]{2})([0-9]{2})", "ymd", r"(?: |T)"),
    "dmy": (r"([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})", "dmy", r" "),
    "mdy": (r"([0-9]{1,2})[-/.]([0-9]{1,2})[-/.]([0-9]{4})", "mdy", r" "),
}
_TIME = r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]{1,9})?)?"


def parse_datetime(t: str, formats: Iterable[str]) -> tuple[dt.date, dt.time | None] | None:
    """The first format whose shape fits decides; then the date and time must exist."""
    text = collapse_ws(fold(t, "0123456789-/.:, T"))
    for name in formats:
        pattern, order, sep = _DATE_PARTS[name]
        m = re.fullmatch(f"{pattern}(?:{sep}{_TIME})?", text)
        if not m:
            continue
        parts = dict(zip(order, m.groups()[:3], strict=True))
        try:
            day = dt.date(int(parts["y"]), int(parts["m"]), int(parts["d"]))
            hh, mi, ss = m.group(4), m.group(5), m.group(6)
            time = None if hh is None else dt.time(int(hh), int(mi), int(ss or 0))
        except ValueError:
            return None
        return day, time
    return None


def _range_problem(value: dt.date | dt.datetime, not_before, not_after) -> str | None:  # noqa: ANN001
    def as_comparable(bound):  # noqa: ANN001, ANN202
        if isinstance(value, dt.datetime) and not isinstance(bound, dt.datetime):
            return value.date()
        return value

    if not_before is not None and as_comparable(not_before) < not_before:
        return "date_too_old"
    if not_after is not None and as_comparable(not_after) > not_after:
        return "date_in_future"
    return None


def date(
    raw: object,
    formats: Iterable[str] = DEFAULT_FORMATS,
    not_before: dt.date | None = DEFAULT_NOT_BEFORE,
    not_after: dt.date | None = None,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    t = blank_or_trimmed(raw, null_tokens)
    if t is None:
        return BLANK
    parsed = parse_datetime(t, formats)
    if parsed is None:
        return Result(None, "date_invalid")
    problem = _range_problem(parsed[0], not_before, not_after)
    return Result(None, problem) if problem else Result(parsed[0], None)


def timestamp(
    raw: object,
    formats: Iterable[str] = DEFAULT_FORMATS,
    not_before: dt.date | dt.datetime | None = DEFAULT_NOT_BEFORE,
    not_after: dt.date | dt.datetime | None = None,
    require_time: bool = False,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    t = blank_or_trimmed(raw, null_tokens)
    if t is None:
        return BLANK
    parsed = parse_datetime(t, formats)
    if parsed is None:
        return Result(None, "timestamp_invalid")
    day, time = parsed
    if require_time and time is None:
        return Result(None, "timestamp_missing_time")
    value = dt.datetime.combine(day, time or dt.time())
    problem = _range_problem(value, not_before, not_after)
    return Result(None, problem) if problem else Result(value, None)


# ---------------------------------------------------------------------------- mobile


def mobile(
    raw: object,
    prefixes: Iterable[str] = WELL_FORMED_PREFIXES,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    if blank_or_trimmed(raw, null_tokens) is None:
        return BLANK
    s = fold(str(raw), "0123456789+-(). ")
    s = "".join(ch for ch in s if not (is_ws(ch) or ch in "-().\u2010\u2011\u2012\u2013\u2014\u2015"))
    if s.startswith("+86"):
        s = s[3:]
    elif s.startswith("0086"):
        s = s[4:]
    elif s.startswith("86") and len(s) == 13:
        s = s[2:]
    elif s.startswith("01") and len(s) == 12:
        s = s[1:]
    if s.startswith("+"):
        return Result(None, "mobile_not_mainland")
    if not re.fullmatch(r"[0-9]+", s):
        return Result(None, "mobile_not_numeric")
    if len(s) != 11:
        return Result(None, "mobile_wrong_length")
    if s[:3] not in set(prefixes):
        return Result(None, "mobile_invalid_prefix")
    return Result("+86" + s, None)


# ------------------------------------------------------------------------- ID number

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_check_char(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(body17, ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def id_number(
    raw: object,
    upgrade_15: bool = False,
    birth_not_before: dt.date = DEFAULT_NOT_BEFORE,
    not_after: dt.date | None = None,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    if blank_or_trimmed(raw, null_tokens) is None:
        return BLANK
    n = remove_ws(fold(str(raw), "0123456789Xx")).upper()
    if not re.fullmatch(r"[0-9]*X?", n):
        return Result(None, "id_invalid_characters")
    if upgrade_15 and len(n) == 15 and n.isdigit():
        body = n[:6] + "19" + n[6:]
    elif len(n) == 18:
        body = n[:17]
    else:
        return Result(None, "id_wrong_length")
    try:
        birth = dt.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError:
        return Result(None, "id_bad_birth_date")
    if birth < birth_not_before or (not_after is not None and birth > not_after):
        return Result(None, "id_bad_birth_date")
    check = id_check_char(body)
    if len(n) == 18 and n[17] != check:
        return Result(None, "id_bad_checksum")
    return Result(body + check, None)


def id_birth_date(id18: str | None) -> dt.date | None:
    return None if id18 is None else dt.date(int(id18[6:10]), int(id18[10:12]), int(id18[12:14]))


def id_sex(id18: str | None) -> str | None:
    return None if id18 is None else ("M" if int(id18[16]) % 2 else "F")


# ------------------------------------------------------------------------------ name

_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|〔[^〕]*〕")


def _is_han(ch: str) -> bool:
    cp = ord(ch)
    return (
        cp == 0x3007
        or 0x3400 <= cp <= 0x4DBF
        or 0x4E00 <= cp <= 0x9FFF
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x2FA1F
    )


def simplify_char(ch: str) -> str:
    """Traditional → simplified for one character of U+4E00–U+9FFF, as zhconv says."""
    import zhconv

    if not 0x4E00 <= ord(ch) <= 0x9FFF or ch in NAME_KEEP:
        return ch
    simp = zhconv.convert(ch, "zh-cn")
    return simp if len(simp) == 1 else ch


def clean_name(raw: str) -> str:
    s = fold(raw)
    s = _BRACKETED.sub(" ", s)
    s = "".join("·" if ch in ".•‧・･∙⋅" else ch for ch in s)
    s = "".join(
        ch if unicodedata.category(ch)[0] in "LM" or ch in "〇·' -" else " " for ch in s
    )
    han_only = not re.search(r"[A-Za-z]", s) and any(_is_han(ch) for ch in s)
    # Chinese names drop spaces, apostrophes and hyphens; others use spaces between words.
    s = re.sub("[ '-]", "", s) if han_only else s.replace("·", " ")
    s = re.sub(" +", " ", s)
    s = re.sub("·+", "·", s)
    return s.strip(" ·'-")


def name(
    raw: object,
    max_length: int = 30,
    placeholders: Iterable[str] = DEFAULT_PLACEHOLDERS,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    if blank_or_trimmed(raw, null_tokens) is None:
        return BLANK
    cleaned = clean_name(str(raw))
    simplified = "".join(simplify_char(ch) for ch in cleaned)
    if not cleaned:
        return Result(None, "name_empty_after_cleaning")
    if simplified.lower() in {p.lower() for p in placeholders}:
        return Result(None, "name_placeholder")
    if len(cleaned) > max_length:
        return Result(None, "name_too_long")
    return Result(simplified, None)


# ----------------------------------------------------------------------- sex & codes


def code_key(t: str) -> str:
    return collapse_ws(fold(t)).lower()


def sex(
    raw: object,
    extra: Mapping[str, str] | None = None,
    not_stated: Iterable[str] = SEX_NOT_STATED,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    t = blank_or_trimmed(raw, null_tokens)
    if t is None:
        return BLANK
    key = code_key(t)
    if key in {code_key(v) for v in not_stated}:
        return BLANK
    values = {code_key(k): v for k, v in {**SEX_VALUES, **(extra or {})}.items()}
    return Result(values[key], None) if key in values else Result(None, "sex_unknown")


def code(
    raw: object,
    mapping: Mapping[str, str] | Iterable[str] = (),
    accept_canonical: bool = True,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    t = blank_or_trimmed(raw, null_tokens)
    if t is None:
        return BLANK
    if not isinstance(mapping, Mapping):
        mapping = {v: v for v in mapping}
    table = {code_key(k): v for k, v in mapping.items()}
    if accept_canonical:
        for v in mapping.values():
            table.setdefault(code_key(v), v)
    key = code_key(t)
    return Result(table[key], None) if key in table else Result(None, "code_unknown")


def text(
    raw: object,
    max_length: int | None = None,
    collapse_whitespace: bool = False,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    t = blank_or_trimmed(raw, null_tokens)
    if t is None:
        return BLANK
    value = collapse_ws(t) if collapse_whitespace else t
    if max_length is not None and len(value) > max_length:
        return Result(None, "text_too_long")
    return Result(value, None)


# --------------------------------------------------------------------------- numbers

_GROUPED_INT = r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+"


def _in_range(value, minimum, maximum) -> bool:  # noqa: ANN001
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def amount(
    raw: object,
    allow_negative: bool = False,
    minimum: float | Decimal | None = None,
    maximum: float | Decimal | None = None,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    if blank_or_trimmed(raw, null_tokens) is None:
        return BLANK
    s = remove_ws(fold(str(raw), "0123456789+-.,eE")).lower()
    m = re.fullmatch(
        r"(?P<sign1>[-+]?)(?P<cur>¥|￥|rmb|cny|人民币)?(?P<sign2>[-+]?)"
        r"(?P<int>[0-9,]*)(?:\.(?P<frac>[0-9]*))?(?P<wan>万?)(?:元整?|块|rmb|cny)?",
        s,
    )
    if (
        not m
        or (m["sign2"] and (m["sign1"] or not m["cur"]))  # one sign, before or after the currency
        or not (m["int"] == "" or re.fullmatch(_GROUPED_INT, m["int"]))  # commas every 3 digits
        or not re.search(r"[0-9]", (m["int"] or "") + (m["frac"] or ""))
    ):
        return Result(None, "amount_not_numeric")
    sign = "-" if "-" in m["sign1"] + m["sign2"] else ""
    with localcontext() as ctx:
        ctx.prec = 200
        number = Decimal(sign + "0" + m["int"].replace(",", "") + "." + (m["frac"] or "0"))
        if m["wan"]:
            number *= 10000
        value = number.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if abs(value) >= Decimal("1e10"):  # does not fit DECIMAL(12,2)
        return Result(None, "out_of_range")
    if value < 0 and not allow_negative:
        return Result(None, "amount_negative")
    if not _in_range(value, minimum, maximum):
        return Result(None, "out_of_range")
    return Result(value, None)


def integer(
    raw: object,
    minimum: float | None = None,
    maximum: float | None = None,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    if blank_or_trimmed(raw, null_tokens) is None:
        return BLANK
    s = remove_ws(fold(str(raw), "0123456789+-.,eE"))
    m = re.fullmatch(rf"([-+]?(?:{_GROUPED_INT}))(?:\.([0-9]*))?", s)
    if not m:
        return Result(None, "not_numeric")
    if re.search("[1-9]", m[2] or ""):
        return Result(None, "not_integer")
    value = int(m[1].replace(",", ""))
    if not -(2**63) <= value < 2**63 or not _in_range(value, minimum, maximum):
        return Result(None, "out_of_range")
    return Result(value, None)


def decimal(
    raw: object,
    minimum: float | None = None,
    maximum: float | None = None,
    scale: int | None = None,
    precision: int = 18,
    null_tokens: Iterable[str] = DEFAULT_NULL_TOKENS,
) -> Result:
    if blank_or_trimmed(raw, null_tokens) is None:
        return BLANK
    s = remove_ws(fold(str(raw), "0123456789+-.,eE")).lower()
    if not re.fullmatch(rf"[-+]?(?:(?:{_GROUPED_INT})(?:\.[0-9]*)?|\.[0-9]+)(?:e[-+]?[0-9]+)?", s):
        return Result(None, "not_numeric")
    plain = s.replace(",", "")
    if scale is None:
        value: float | Decimal = float(plain)
        if abs(value) > 1.7976931348623157e308:  # infinite
            return Result(None, "out_of_range")
    else:
        number = Decimal(plain)
        if number != 0 and number.adjusted() >= precision - scale:  # too many integer digits
            return Result(None, "out_of_range")
        with localcontext() as ctx:
            ctx.prec = 100
            value = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
        if abs(value) >= Decimal(10) ** (precision - scale):  # rounding carried into one more digit
            return Result(None, "out_of_range")
    if not _in_range(value, minimum, maximum):
        return Result(None, "out_of_range")
    return Result(value, None)


# -------------------------------------------------------------------------- dispatch

REFERENCES = {
    "date": date,
    "timestamp": timestamp,
    "mobile": mobile,
    "id_number": id_number,
    "name": name,
    "sex": sex,
    "amount": amount,
    "integer": integer,
    "decimal": decimal,
    "text": text,
    "code": code,
}


def standardise(kind: str, raw: object, **options: Any) -> Result:
    """Reference result for one raw value, with the SQL standardiser's options."""
    return REFERENCES[kind](raw, **options)
