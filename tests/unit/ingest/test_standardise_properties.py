"""Property tests: the SQL standardisers agree with the Python reference on generated input.

Each Hypothesis example is a list of raw values run through DuckDB in one query (a query
costs ~20–250 ms to plan, mostly compiling regular expressions), so examples are few
but wide.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import duckdb
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from molar.ingest.standardise import (
    STANDARDISERS,
    get_standardiser,
    id_birth_date_sql,
    id_sex_sql,
    traditional_to_simplified,
)
from molar.ingest.standardise import reference as ref
from molar.ingest.standardise.mobile import allocated_sql
from support import examples

MOBILE_PREFIXES = ref.WELL_FORMED_PREFIXES  # the reference's own lists, not the code's

REF_DAY = dt.date(2026, 11, 23)
# Examples per test: the profile's (tests/conftest.py) where a query is cheap, fewer where
# each example costs a second or so.
COSTLY = settings(max_examples=examples(ci=30, local=8))

# Options used for each kind (the same for SQL and reference).
OPTIONS: dict[str, dict] = {
    "date": {"not_after": REF_DAY},
    "timestamp": {"not_after": REF_DAY},
    "mobile": {},
    "id_number": {"not_after": REF_DAY},
    "name": {},
    "sex": {},
    "amount": {},
    "integer": {"minimum": -1000, "maximum": 10**12},
    "decimal": {"minimum": -5, "maximum": 1e6},
    "text": {"max_length": 12},
    "code": {"mapping": {"微信": "wechat", "小程序": "wechat", "电话": "phone", "到店": "walk_in", "App": "app"}},
}


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


_SQL: dict[str, str] = {}


def run(con, kind: str, values: list[str | None], **extra) -> list[tuple[object, object]]:
    key = kind + repr(sorted(extra.items()))
    if key not in _SQL:
        std = get_standardiser(kind, **{**OPTIONS.get(kind, {}), **extra})
        _SQL[key] = f"SELECT {std.value_sql('raw')} AS v, {std.problem_sql('raw')} AS p FROM inp ORDER BY i"
    con.register("inp", pa.table({"i": pa.array(range(len(values)), pa.int64()), "raw": pa.array(values, pa.string())}))
    try:
        return con.execute(_SQL[key]).fetchall()
    finally:
        con.unregister("inp")


def assert_agrees(con, kind: str, values: list[str | None], **extra) -> list[tuple[object, object]]:
    got = run(con, kind, values, **extra)
    options = {**OPTIONS[kind], **extra}
    for raw, result in zip(values, got, strict=True):
        assert result == tuple(ref.standardise(kind, raw, **options)), f"{kind} {raw!r}"
    return got


# ------------------------------------------------------------------------------ dates


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@st.composite
def written_dates(draw, with_time: bool):
    day = draw(st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31)))
    y, m, d = day.year, day.month, day.day
    pad = draw(st.booleans())
    mm, dd = (f"{m:02d}", f"{d:02d}") if pad else (str(m), str(d))
    style = draw(st.sampled_from(["-", "/", ".", "chinese", "chinese_spaced", "compact"]))
    if style == "chinese":
        text = f"{y}年{mm}月{dd}" + draw(st.sampled_from(["日", "号", ""]))
    elif style == "chinese_spaced":
        text = f"{y} 年 {mm} 月 {dd} 日"
    elif style == "compact":
        text = f"{y}{m:02d}{d:02d}"
    else:
        text = f"{y}{style}{mm}{style}{dd}"
    time = None
    if with_time and draw(st.booleans()):
        time = dt.time(draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59)))
        if style.startswith("chinese"):
            # no separator only after 日/号: "2000年1月1" + "10:00" would read as the 11th
            seps = [" ", "  ", ""] if not text[-1].isdigit() else [" ", "  "]
        else:
            seps = [" ", "T", "  "]
        sep = draw(st.sampled_from(seps))
        hh = f"{time.hour:02d}" if draw(st.booleans()) else str(time.hour)
        if draw(st.booleans()):
            text += f"{sep}{hh}:{time.minute:02d}:{time.second:02d}" + draw(st.sampled_from(["", ".5", ".123456"]))
        else:
            time = time.replace(second=0)
            text += f"{sep}{hh}:{time.minute:02d}"
    if draw(st.integers(0, 9)) == 0:
        text = _fullwidth(text)
    text = draw(st.sampled_from(["", " ", "\u3000"])) + text + draw(st.sampled_from(["", " ", "\t"]))
    return text, day, time


@COSTLY
@given(st.lists(written_dates(with_time=True), min_size=1, max_size=80))
def test_dates_in_every_style_round_trip(con, cases):
    texts = [c[0] for c in cases]
    for (text, day, _), (value, problem) in zip(cases, assert_agrees(con, "date", texts), strict=True):
        assert (value, problem) == ((day, None) if day <= REF_DAY else (None, "date_in_future")), text
    for (text, day, time), (value, problem) in zip(cases, assert_agrees(con, "timestamp", texts), strict=True):
        expected = dt.datetime.combine(day, time or dt.time())
        assert (value, problem) == ((expected, None) if day <= REF_DAY else (None, "date_in_future")), text


DATE_NOISE = st.text(alphabet="0123456789-/.: T年月日号２０１|", max_size=24)


@settings(max_examples=examples(ci=60, local=10))
@given(st.lists(DATE_NOISE, min_size=1, max_size=150))
def test_date_like_noise_agrees_with_reference(con, texts):
    assert_agrees(con, "date", texts)
    assert_agrees(con, "timestamp", texts)
    assert_agrees(con, "timestamp", texts, require_time=True, formats=("ymd", "dmy", "chinese"), not_before=None)


# ----------------------------------------------------------------------------- mobile


@st.composite
def written_mobiles(draw):
    digits = draw(st.text("0123456789", min_size=8, max_size=14))
    if draw(st.booleans()):
        digits = draw(st.sampled_from(MOBILE_PREFIXES)) + draw(st.text("0123456789", min_size=8, max_size=8))
    prefix = draw(st.sampled_from(["", "", "+86", "+86 ", "0086", "86", "0", "+1 ", "(+86)", "+"]))
    text = prefix + digits
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from([" ", "-", ".", "(", ")", "\u3000", "x", "/"])) + text[at:]
    return _fullwidth(text) if draw(st.integers(0, 9)) == 0 else text


@given(st.lists(written_mobiles(), min_size=1, max_size=150))
def test_mobile_agrees_with_reference(con, texts):
    for text, (value, _) in zip(texts, assert_agrees(con, "mobile", texts), strict=True):
        if value is not None:
            assert len(value) == 14 and value.startswith("+861") and value[3:6] in MOBILE_PREFIXES, text


@given(st.lists(st.tuples(st.sampled_from(MOBILE_PREFIXES), st.text("0123456789", min_size=8, max_size=8)), min_size=1, max_size=80))
def test_valid_mobiles_round_trip(con, numbers):
    texts = [f"+86 {p} {rest[:4]}-{rest[4:]}" for p, rest in numbers]
    got = assert_agrees(con, "mobile", texts)
    assert got == [(f"+86{p}{rest}", None) for p, rest in numbers]


def test_every_three_digit_prefix_agrees_with_the_reference_list(con):
    """All of 100–199: well-formed prefixes (13x–19x) keep their digits, every other one is refused."""
    texts = [f"{p}{p[1:]}{p}188" for p in (str(n) for n in range(100, 200))]
    got = assert_agrees(con, "mobile", texts)
    assert [t[:3] for t, (value, _) in zip(texts, got, strict=True) if value] == sorted(MOBILE_PREFIXES)


def test_only_allocated_prefixes_count_as_reachable(con):
    """The reachability flag (golden record, outreach) follows the reference's allocated list."""
    numbers = [f"+86{n}12345678" for n in range(100, 200)]
    flags = con.execute(
        f"SELECT {allocated_sql('m')} FROM unnest(?::VARCHAR[]) WITH ORDINALITY AS t(m, i) ORDER BY i", [numbers]
    ).fetchall()
    reachable = [n[3:6] for n, (flag,) in zip(numbers, flags, strict=True) if flag]
    assert reachable == sorted(ref.CHINA_MOBILE_PREFIXES)


# -------------------------------------------------------------------------- ID number


@st.composite
def resident_ids(draw):
    region = draw(st.text("0123456789", min_size=6, max_size=6))
    birth = draw(st.dates(dt.date(1900, 1, 1), REF_DAY))
    seq = draw(st.integers(0, 999))
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + ref.id_check_char(body), birth, "M" if seq % 2 else "F"


@COSTLY
@given(st.lists(resident_ids(), min_size=1, max_size=120), st.data())
def test_valid_ids_round_trip_and_single_errors_are_caught(con, ids, data):
    texts = [i for i, _, _ in ids]
    spelled = [t.lower() if data.draw(st.booleans()) else f" {t[:6]} {t[6:14]} {t[14:]} " for t in texts]
    # Change one character: MOD 11-2 detects every single-character error.
    corrupted = []
    for t in texts:
        at = data.draw(st.integers(0, 17))
        new = data.draw(st.sampled_from([c for c in "0123456789X" if c != t[at]]))
        corrupted.append(t[:at] + new + t[at + 1 :])
    values = spelled + corrupted
    std = get_standardiser("id_number", **OPTIONS["id_number"])
    con.register("ids", pa.table({"i": range(len(values)), "raw": pa.array(values, pa.string())}))
    try:
        got = con.execute(
            f"SELECT {std.value_sql('raw')}, {std.problem_sql('raw')}, {id_birth_date_sql('raw')}, {id_sex_sql('raw')} "
            "FROM ids ORDER BY i"
        ).fetchall()
    finally:
        con.unregister("ids")
    n = len(texts)
    assert got[:n] == [(t, None, birth, sex) for t, birth, sex in ids]
    for text, (value, problem, birth, sex) in zip(corrupted, got[n:], strict=True):
        assert value is None and problem is not None and birth is None and sex is None, text
        assert (value, problem) == tuple(ref.standardise("id_number", text, **OPTIONS["id_number"])), text


@COSTLY
@given(st.lists(st.text("0123456789Xx ", min_size=13, max_size=20), min_size=1, max_size=200))
def test_id_like_noise_agrees_with_reference(con, texts):
    assert_agrees(con, "id_number", texts)
    assert_agrees(con, "id_number", texts, upgrade_15=True)


# ------------------------------------------------------------------------------ names

_TRADITIONAL = "".join(sorted(traditional_to_simplified())[::40]) + "張陳劉黃鋒歐陽豐於乾無測試詳"
NAME_ALPHABET = (
    "张王李赵刘陈杨黄吴周买提艾力阿卜杜〇未知测试无名氏先生"
    + _TRADITIONAL
    + "abcxyzABCXYZéüÉ"
    + "0123456789"
    + ".·•・･．()（）[]【】〔〕-'’ ,!?？、。"
    + "ＡＢｃ１２\u3000\t"
    + "김민준"
)


@COSTLY
@given(st.lists(st.text(alphabet=NAME_ALPHABET, max_size=14), min_size=1, max_size=150))
def test_names_agree_with_reference(con, texts):
    for text, (value, _) in zip(texts, assert_agrees(con, "name", texts), strict=True):
        if value is not None:
            assert value == value.strip() and "  " not in value, text
            assert not set(value) & set(traditional_to_simplified()), text


# ------------------------------------------------------------------- sex and codes

SEX_WORDS = ["男", "女", "M", "F", "m", "f", "male", "Female", "MALE", "1", "2", "0", "9", "男性", "女士", "未知", "Ｍ", "ｆ", "x", "男女"]


@given(st.lists(st.tuples(st.sampled_from(SEX_WORDS), st.sampled_from(["", " ", "\u3000", "  "])), min_size=1, max_size=60))
def test_sex_agrees_with_reference(con, words):
    assert_agrees(con, "sex", [pad + w + pad for w, pad in words])


@pytest.mark.parametrize("kind", sorted(ref.REFERENCES))
def test_every_null_token_is_blank_for_every_kind(con, kind):
    tokens = [w for t in ref.DEFAULT_NULL_TOKENS for w in (t, t.upper(), f" {t} ")]
    got = assert_agrees(con, kind, tokens)
    assert set(got) == {(None, None)}, kind


def test_every_sex_spelling_of_the_reference_agrees(con):
    words = [w for w in (*ref.SEX_VALUES, *ref.SEX_NOT_STATED) for w in (w, w.upper(), f"\u3000{w} ")]
    got = assert_agrees(con, "sex", words)
    assert {v for v, _ in got} == {"M", "F", None} and {p for _, p in got} == {None}


def test_placeholder_names_and_kept_characters_agree(con):
    names = [*ref.DEFAULT_PLACEHOLDERS, *(f"张{ch}" for ch in ref.NAME_KEEP)]
    got = assert_agrees(con, "name", names)
    assert got[-len(ref.NAME_KEEP):] == [(f"张{ch}", None) for ch in ref.NAME_KEEP]


CODE_WORDS = ["微信", "小程序", "电话", "到店", "App", "APP", "ａｐｐ", "wechat", "WeChat", "phone", "walk_in", "微博", "电 话"]


@given(st.lists(st.tuples(st.sampled_from(CODE_WORDS), st.sampled_from(["", " ", "\u3000"])), min_size=1, max_size=60))
def test_codes_agree_with_reference(con, words):
    assert_agrees(con, "code", [pad + w + pad for w, pad in words])


# ---------------------------------------------------------------------------- numbers

AMOUNT_NOISE = st.text(alphabet="0123456789,.-+¥￥元万整RMBrmb ２", max_size=16)


@settings(max_examples=examples(ci=60, local=10))
@given(st.lists(AMOUNT_NOISE, min_size=1, max_size=150))
def test_amount_noise_agrees_with_reference(con, texts):
    assert_agrees(con, "amount", texts)
    assert_agrees(con, "amount", texts, allow_negative=True, maximum=5000)


@st.composite
def written_amounts(draw):
    cents = draw(st.integers(0, 10**11))
    value = Decimal(cents) / 100
    style = draw(st.sampled_from(["plain", "comma", "yen", "yuan", "wan", "3dp"]))
    if style == "comma":
        text = f"{value:,.2f}"
    elif style == "yen":
        text = draw(st.sampled_from(["￥", "¥", "¥ ", "RMB "])) + f"{value:f}"
    elif style == "yuan":
        text = f"{value:f}" + draw(st.sampled_from(["元", "元整", " 元"]))
    elif style == "wan":
        text = f"{value / 10000:f}万"
    elif style == "3dp":
        extra = draw(st.integers(0, 9))
        text, value = f"{value:.2f}{extra}", (value + Decimal(extra) / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)
    else:
        text = f"{value:f}"
    return text, value


@given(st.lists(written_amounts(), min_size=1, max_size=100))
def test_amounts_in_every_style(con, cases):
    texts = [t for t, _ in cases]
    for (text, value), got in zip(cases, assert_agrees(con, "amount", texts), strict=True):
        expected = (value, None) if value < Decimal("1e10") else (None, "out_of_range")
        assert got == expected, text


NUMBER_NOISE = st.text(alphabet="0123456789,.-+eE ５", max_size=14)


@given(st.lists(NUMBER_NOISE, min_size=1, max_size=150))
@example(["0E33000", "1e-33000", "0e00000000033000", "-0.0e99999", "1e+40000"])  # found in CI runs
def test_integer_and_decimal_noise_agree_with_reference(con, texts):
    assert_agrees(con, "integer", texts)
    assert_agrees(con, "decimal", texts)
    assert_agrees(con, "decimal", texts, scale=3, precision=12)


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=80))
def test_integers_round_trip(con, numbers):
    texts = [f"{n:,}" if n % 3 == 0 else str(n) for n in numbers]
    assert assert_agrees(con, "integer", texts, minimum=None, maximum=None) == [(n, None) for n in numbers]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=80))
def test_floats_round_trip(con, numbers):
    texts = [repr(x) for x in numbers]
    got = assert_agrees(con, "decimal", texts, minimum=None, maximum=None)
    assert got == [(x, None) for x in numbers]


# -------------------------------------------------------------- any input at all

ANY_TEXT = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.text(st.characters(exclude_categories=("Cs", "Cn"), max_codepoint=0xFFFF), max_size=12),
)


@pytest.mark.parametrize("kind", sorted(STANDARDISERS))
@settings(max_examples=examples(ci=15, local=4))
@given(values=st.lists(ANY_TEXT, min_size=1, max_size=150))
def test_any_unicode_gives_a_value_a_problem_or_null(con, kind, values):
    """Never an SQL error; error problems never come with a value; NULL both means blank.

    Runs over every registered standardiser, including ones added elsewhere without a
    reference implementation (those get the invariants only).
    """
    options = OPTIONS.get(kind, {})
    std = get_standardiser(kind, **options)
    has_reference = kind in ref.REFERENCES
    for raw, (value, problem) in zip(values, run(con, kind, values), strict=True):
        assert value is None or problem is None, (kind, raw)
        if problem is not None:
            assert problem in std.problem_codes, (kind, raw, problem)
        if value is None and problem is None:
            if has_reference:
                assert ref.standardise(kind, raw, **options) == ref.BLANK, (kind, raw)
            else:
                assert ref.blank_or_trimmed(raw, std.null_tokens) is None, (kind, raw)
        if has_reference and kind != "name":  # names depend on Unicode letter tables (version)
            assert (value, problem) == tuple(ref.standardise(kind, raw, **options)), (kind, raw)
