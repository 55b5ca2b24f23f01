"""Concrete examples for every standardiser, run through DuckDB and the Python reference."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest

from molar.ingest.standardise import (
    PROBLEMS,
    STANDARDISERS,
    get_standardiser,
    id_birth_date_sql,
    id_crosscheck_sql,
    id_sex_sql,
    name_pinyin,
    traditional_to_simplified,
)
from molar.ingest.standardise import reference as ref

REF_DAY = dt.date(2026, 11, 23)


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


def run(con, std, values) -> list[tuple[object, object]]:
    """(value, problem) for each input, in order."""
    con.register("inp", pa.table({"i": pa.array(range(len(values)), pa.int64()), "raw": pa.array(values, pa.string())}))
    try:
        return con.execute(
            f"SELECT {std.value_sql('raw')} AS v, {std.problem_sql('raw')} AS p FROM inp ORDER BY i"
        ).fetchall()
    finally:
        con.unregister("inp")


def check(con, kind, cases, **options):
    std = get_standardiser(kind, **options)
    got = run(con, std, [raw for raw, _ in cases])
    for (raw, expected), sql_result in zip(cases, got, strict=True):
        assert sql_result == expected, f"{kind} SQL {raw!r}"
        assert tuple(ref.standardise(kind, raw, **options)) == expected, f"{kind} reference {raw!r}"


BAD = lambda code: (None, code)  # noqa: E731
BLANK = (None, None)


# ------------------------------------------------------------------------------ dates


def test_date_examples(con):
    d = dt.date(2024, 1, 5)
    check(
        con,
        "date",
        [
            ("2024-01-05", (d, None)),
            ("2024/1/5", (d, None)),
            ("2024.1.5", (d, None)),
            ("2024年1月5日", (d, None)),
            ("2024 年 1 月 5 日", (d, None)),
            ("2024年1月5号", (d, None)),
            ("20240105", (d, None)),
            ("2024-01-05 10:22:00", (d, None)),
            ("2024-01-05T10:22", (d, None)),
            ("2024年1月5日10:22", (d, None)),
            ("２０２４－０１－０５", (d, None)),
            ("２０２４／１／５", (d, None)),
            ("  2024-01-05\u3000", (d, None)),
            ("2024-02-29", (dt.date(2024, 2, 29), None)),
            ("2024-02-30", BAD("date_invalid")),
            ("2023-02-29", BAD("date_invalid")),
            ("2024-13-01", BAD("date_invalid")),
            ("2024-00-10", BAD("date_invalid")),
            ("0000-01-01", BAD("date_invalid")),
            ("2024-01-05 25:00", BAD("date_invalid")),
            ("2024-01-05 10:60", BAD("date_invalid")),
            ("05/01/2024", BAD("date_invalid")),  # day-first is off by default
            ("45296", BAD("date_invalid")),  # Excel serial numbers are not dates
            ("2024-1-5-", BAD("date_invalid")),
            ("2024|1|5", BAD("date_invalid")),
            ("|2024-1-5", BAD("date_invalid")),
            ("yesterday", BAD("date_invalid")),
            ("1899-12-31", BAD("date_too_old")),
            ("1900-01-01", (dt.date(1900, 1, 1), None)),
            ("2026-11-23", (REF_DAY, None)),
            ("2026-11-24", BAD("date_in_future")),
            ("", BLANK),
            ("   ", BLANK),
            (None, BLANK),
            ("NULL", BLANK),
            ("-", BLANK),
            ("n/a", BLANK),
        ],
        not_after=REF_DAY,
    )


def test_date_formats_option(con):
    check(
        con,
        "date",
        [("05/01/2024", (dt.date(2024, 1, 5), None)), ("2024-01-05", BAD("date_invalid")), ("31/12/1999", (dt.date(1999, 12, 31), None))],
        formats=["dmy"],
    )
    # Both ambiguous forms: the first listed wins.
    check(con, "date", [("05/01/2024", (dt.date(2024, 5, 1), None))], formats=["mdy", "dmy"])
    check(con, "date", [("1800-01-01", (dt.date(1800, 1, 1), None))], not_before=None)


def test_timestamp_examples(con):
    check(
        con,
        "timestamp",
        [
            ("2024-01-05 10:22", (dt.datetime(2024, 1, 5, 10, 22), None)),
            ("2024-01-05 10:22:07", (dt.datetime(2024, 1, 5, 10, 22, 7), None)),
            ("2024/1/5 9:05", (dt.datetime(2024, 1, 5, 9, 5), None)),
            ("2024-01-05T10:22:07.123", (dt.datetime(2024, 1, 5, 10, 22, 7), None)),
            ("2024年1月5日 10:22", (dt.datetime(2024, 1, 5, 10, 22), None)),
            ("2024年1月5日10:22:30", (dt.datetime(2024, 1, 5, 10, 22, 30), None)),
            ("20240105 08:00", (dt.datetime(2024, 1, 5, 8, 0), None)),
            ("２０２４－０１－０５　１０：２２", (dt.datetime(2024, 1, 5, 10, 22), None)),
            ("2024-01-05", (dt.datetime(2024, 1, 5), None)),
            ("2024-01-05 24:00", BAD("timestamp_invalid")),
            ("2024-01-05 23:59:60", BAD("timestamp_invalid")),
            ("2024-02-30 10:00", BAD("timestamp_invalid")),
            ("2024-01-05 10", BAD("timestamp_invalid")),
            ("1899-12-31 23:59", BAD("date_too_old")),
            ("2026-11-23 23:59", (dt.datetime(2026, 11, 23, 23, 59), None)),
            ("2026-11-24 00:00", BAD("date_in_future")),
            ("", BLANK),
        ],
        not_after=REF_DAY,
    )
    check(
        con,
        "timestamp",
        [("2024-01-05", BAD("timestamp_missing_time")), ("2024-01-05 00:00", (dt.datetime(2024, 1, 5), None))],
        require_time=True,
    )
    bound = dt.datetime(2026, 11, 23, 12, 0)
    check(
        con,
        "timestamp",
        [("2026-11-23 12:00", (bound, None)), ("2026-11-23 12:01", BAD("date_in_future"))],
        not_after=bound,
    )


# ----------------------------------------------------------------------------- mobile


def test_mobile_examples(con):
    ok = ("+8613812345678", None)
    check(
        con,
        "mobile",
        [
            ("13812345678", ok),
            ("138 1234 5678", ok),
            ("138-1234-5678", ok),
            ("(138)1234-5678", ok),
            ("138.1234.5678", ok),
            ("+86 138 1234 5678", ok),
            ("+86-13812345678", ok),
            ("(+86)13812345678", ok),
            ("008613812345678", ok),
            ("8613812345678", ok),
            ("013812345678", ok),
            ("１３８１２３４５６７８", ok),
            ("＋８６ １３８－１２３４－５６７８", ok),
            ("\u3000138 1234 5678\u200b", ok),
            ("19912345678", ("+8619912345678", None)),
            ("16612345678", ("+8616612345678", None)),
            ("1381234567", BAD("mobile_wrong_length")),
            ("138123456789", BAD("mobile_wrong_length")),
            ("+86 1381234567", BAD("mobile_wrong_length")),
            ("12812345678", BAD("mobile_invalid_prefix")),
            ("11012345678", BAD("mobile_invalid_prefix")),
            ("15412345678", ("+8615412345678", None)),  # well-formed, unallocated: kept for matching
            ("01012345678", BAD("mobile_invalid_prefix")),  # a Beijing landline
            ("23812345678", BAD("mobile_invalid_prefix")),
            ("1381234567a", BAD("mobile_not_numeric")),
            ("13812345678/13987654321", BAD("mobile_not_numeric")),
            ("138 1234 5678 转 8", BAD("mobile_not_numeric")),
            ("无", BAD("mobile_not_numeric")),
            ("+44 7911 123456", BAD("mobile_not_mainland")),
            ("+1 415 555 0100", BAD("mobile_not_mainland")),
            ("", BLANK),
            ("NULL", BLANK),
            (None, BLANK),
        ],
    )


# -------------------------------------------------------------------------- ID number


def make_id(region: str, birth: dt.date, seq: int) -> str:
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + ref.id_check_char(body)


def test_id_number_examples(con):
    valid = "11010519491231002X"  # the GB 11643 example
    assert ref.id_check_char(valid[:17]) == "X"
    other = make_id("440305", dt.date(1990, 3, 7), 123)
    check(
        con,
        "id_number",
        [
            (valid, (valid, None)),
            (valid.lower(), (valid, None)),
            (" 110105 19491231 002X ", (valid, None)),
            ("１１０１０５１９４９１２３１００２Ｘ", (valid, None)),
            ("１１０１０５１９４９１２３１００２ｘ", (valid, None)),
            (other, (other, None)),
            ("110105194912310021", BAD("id_bad_checksum")),
            (other[:-1] + str((int(other[-1]) + 1) % 10) if other[-1] != "X" else other[:-1] + "0", BAD("id_bad_checksum")),
            ("11010519491231002", BAD("id_wrong_length")),
            ("1101051949123100201", BAD("id_wrong_length")),
            ("110105491231002", BAD("id_wrong_length")),
            ("1101051949123100XX", BAD("id_invalid_characters")),
            ("X10105194912310021", BAD("id_invalid_characters")),
            ("11010519491231002-", BAD("id_invalid_characters")),
            ("ID 11010519491231002X", BAD("id_invalid_characters")),
            (make_id("110105", dt.date(1949, 12, 31), 2)[:10] + "1332" + "0020", BAD("id_bad_birth_date")),
            ("110105189912310023", BAD("id_bad_birth_date")),  # before 1900
            (make_id("110105", dt.date(2027, 1, 1), 1), BAD("id_bad_birth_date")),  # after not_after
            ("", BLANK),
        ],
        not_after=REF_DAY,
    )


def test_id_number_upgrade_15(con):
    # 15-digit 110105491231002 → 110105 19 491231002 + check digit
    check(
        con,
        "id_number",
        [
            ("110105491231002", ("11010519491231002X", None)),
            ("110105491331002", BAD("id_bad_birth_date")),
            ("11010549123100X", BAD("id_wrong_length")),
            ("11010519491231002X", ("11010519491231002X", None)),
        ],
        upgrade_15=True,
    )


def test_id_helpers_and_crosscheck(con):
    female = make_id("310101", dt.date(1985, 6, 30), 124)  # 17th digit 4: even → F
    male = make_id("310101", dt.date(2001, 2, 3), 351)  # 1 → M
    rows = [
        (female, dt.date(1985, 6, 30), "F", None),
        (male, dt.date(2001, 2, 3), "M", None),
        (male, dt.date(2001, 2, 4), "M", "id_birth_mismatch"),
        (male, dt.date(2001, 2, 3), "F", "id_sex_mismatch"),
        (male, dt.date(1999, 1, 1), "F", "id_birth_mismatch"),  # birth date reported first
        (male, None, None, None),
        ("not an id", dt.date(2001, 2, 3), "M", None),  # invalid IDs are problem_sql's business
    ]
    con.register(
        "p",
        pa.table(
            {
                "i": list(range(len(rows))),
                "id": [r[0] for r in rows],
                "birth": pa.array([r[1] for r in rows], pa.date32()),
                "sex": [r[2] for r in rows],
            }
        ),
    )
    try:
        got = con.execute(
            f"""SELECT {id_birth_date_sql('id')}, {id_sex_sql('id')},
                       {id_crosscheck_sql('id', 'birth', 'sex')},
                       {id_birth_date_sql(get_standardiser('id_number').value_sql('id'), standardised=True)}
                FROM p ORDER BY i"""
        ).fetchall()
    finally:
        con.unregister("p")
    for row, (birth, sex, warning, birth_std) in zip(rows, got, strict=True):
        valid = row[0] != "not an id"
        assert birth == (ref.id_birth_date(row[0]) if valid else None)
        assert birth_std == birth
        assert sex == (ref.id_sex(row[0]) if valid else None)
        assert warning == row[3], row
    assert ref.id_sex(female) == "F" and ref.id_sex(male) == "M"
    for code in ("id_birth_mismatch", "id_sex_mismatch"):
        assert PROBLEMS[code].severity == "warning"
    with pytest.raises(ValueError):
        id_crosscheck_sql("id")


# ------------------------------------------------------------------------------- names


def test_name_examples(con):
    check(
        con,
        "name",
        [
            ("张三", ("张三", None)),
            ("  张  三 ", ("张三", None)),
            ("张\u3000三", ("张三", None)),
            ("張三豐", ("张三丰", None)),
            ("歐陽鋒", ("欧阳锋", None)),
            ("陳大文", ("陈大文", None)),
            ("於大海", ("於大海", None)),  # 於 is a surname of its own, kept
            ("乾隆", ("乾隆", None)),
            ("买买提.艾力", ("买买提·艾力", None)),
            ("买买提・艾力", ("买买提·艾力", None)),
            ("买买提．艾力", ("买买提·艾力", None)),
            ("买买提 · 艾力", ("买买提·艾力", None)),
            ("·买买提··艾力·", ("买买提·艾力", None)),
            ("张三(儿童)", ("张三", None)),
            ("张三（儿童）", ("张三", None)),
            ("王五【VIP】", ("王五", None)),
            ("王五123", ("王五", None)),
            ("李四!!", ("李四", None)),
            ("李-四", ("李四", None)),
            ("Zhang  Wei", ("Zhang Wei", None)),
            ("ＺＨＡＮＧ　ＷＥＩ", ("ZHANG WEI", None)),
            ("J. Smith", ("J Smith", None)),
            ("Mary-Jane O'Neil", ("Mary-Jane O'Neil", None)),
            ("Zoë Müller", ("Zoë Müller", None)),
            ("张三 Tom", ("张三 Tom", None)),
            ("김 민준", ("김 민준", None)),
            ("???", BAD("name_empty_after_cleaning")),
            ("123", BAD("name_empty_after_cleaning")),
            ("(空)", BAD("name_empty_after_cleaning")),
            ("未知", BAD("name_placeholder")),
            ("測試", BAD("name_placeholder")),
            ("无名氏", BAD("name_placeholder")),
            ("無名氏", BAD("name_placeholder")),
            ("TEST", BAD("name_placeholder")),
            ("先生", BAD("name_placeholder")),
            ("张先生", ("张先生", None)),
            ("x" * 31, BAD("name_too_long")),
            ("阿" * 30, ("阿" * 30, None)),
            ("", BLANK),
            ("null", BLANK),
        ],
    )
    check(con, "name", [("阿卜杜热西提", BAD("name_too_long"))], max_length=5)


def test_traditional_table():
    table = traditional_to_simplified()
    assert len(table) > 3000
    assert table["張"] == "张" and table["陳"] == "陈" and table["豐"] == "丰"
    assert "於" not in table and "乾" not in table
    assert all(0x4E00 <= ord(k) <= 0x9FFF and len(v) == 1 for k, v in table.items())
    assert not set(table.values()) & set(table)  # one pass of translate() is enough
    assert traditional_to_simplified() is table  # cached


def test_name_pinyin():
    got = name_pinyin(["张三", "曾小明", "单田芳", "尉迟恭", "买买提·艾力", "Zhang Wei", None, "", "张三"])
    assert got.to_pylist() == [
        "zhang san",
        "zeng xiao ming",
        "shan tian fang",
        "yu chi gong",
        "mai mai ti ai li",
        "zhang wei",
        None,
        None,
        "zhang san",
    ]
    chunked = pa.chunked_array([["李四"], ["王五", None]])
    assert name_pinyin(chunked).to_pylist() == ["li si", "wang wu", None]
    assert name_pinyin(pa.array(["李四"])).type == pa.string()


# --------------------------------------------------------------------- sex and codes


def test_sex_examples(con):
    check(
        con,
        "sex",
        [
            ("男", ("M", None)),
            ("女", ("F", None)),
            ("M", ("M", None)),
            ("f", ("F", None)),
            ("Male", ("M", None)),
            ("FEMALE", ("F", None)),
            ("Ｍ", ("M", None)),
            (" 男性 ", ("M", None)),
            ("女士", ("F", None)),
            ("1", ("M", None)),
            ("2", ("F", None)),
            ("0", BLANK),
            ("9", BLANK),
            ("未知", BLANK),
            ("不详", BLANK),
            ("3", BAD("sex_unknown")),
            ("x", BAD("sex_unknown")),
            ("男女", BAD("sex_unknown")),
            ("", BLANK),
        ],
    )
    check(con, "sex", [("公", ("M", None)), ("母", ("F", None))], extra={"公": "M", "母": "F"})


def test_code_examples(con):
    mapping = {"微信": "wechat", "小程序": "wechat", "电话": "phone", "到店": "walk_in", "App": "app", "官 网": "online"}
    check(
        con,
        "code",
        [
            ("微信", ("wechat", None)),
            (" 小程序 ", ("wechat", None)),
            ("APP", ("app", None)),
            ("ａｐｐ", ("app", None)),
            ("wechat", ("wechat", None)),
            ("WALK_IN", ("walk_in", None)),
            ("官\u3000网", ("online", None)),
            ("官  网", ("online", None)),
            ("官网", BAD("code_unknown")),
            ("微博", BAD("code_unknown")),
            ("it's", BAD("code_unknown")),
            ("", BLANK),
        ],
        mapping=mapping,
    )
    check(con, "code", [("wechat", BAD("code_unknown"))], mapping=mapping, accept_canonical=False)
    check(con, "code", [("gold", ("gold", None)), ("Gold", ("gold", None)), ("金卡", BAD("code_unknown"))], mapping=["regular", "gold"])
    std = get_standardiser("code", mapping=mapping)
    msg = std.problems()["code_unknown"].message_zh
    assert "微信" in msg and "walk_in" in msg and "{value}" in msg and "{allowed}" not in msg
    assert "「微博」" in std.message("code_unknown", "微博")
    assert "Allowed: 微信" in std.message("code_unknown", "x", lang="en")
    with pytest.raises(ValueError):
        get_standardiser("code", mapping={"A": "x", "a": "y"})


def test_text_examples(con):
    check(con, "text", [("  hello  world ", ("hello  world", None)), ("\u3000\u200b", BLANK), ("x", ("x", None)), ("NULL", BLANK)])
    check(con, "text", [("a \t b", ("a b", None)), ("abcdef", BAD("text_too_long"))], collapse_whitespace=True, max_length=5)
    check(con, "text", [("NULL", ("NULL", None))], null_tokens=())


# ---------------------------------------------------------------------------- numbers


def test_amount_examples(con):
    def yuan(s):
        return (Decimal(s), None)

    check(
        con,
        "amount",
        [
            ("1,280.00", yuan("1280.00")),
            ("￥280", yuan("280.00")),
            ("¥ 280", yuan("280.00")),
            ("280元", yuan("280.00")),
            ("280元整", yuan("280.00")),
            ("280.5", yuan("280.50")),
            ("RMB 280", yuan("280.00")),
            ("280 CNY", yuan("280.00")),
            ("人民币280元", yuan("280.00")),
            ("1,234,567.891", yuan("1234567.89")),
            ("280.555", yuan("280.56")),
            ("280.545", yuan("280.55")),
            ("0.004", yuan("0.00")),
            (".5", yuan("0.50")),
            ("280.", yuan("280.00")),
            ("1.2万", yuan("12000.00")),
            ("3万", yuan("30000.00")),
            ("1.23456万", yuan("12345.60")),
            ("1.234567万", yuan("12345.67")),
            ("２８０", yuan("280.00")),
            ("1，280", yuan("1280.00")),
            ("+280", yuan("280.00")),
            ("-0.001", yuan("0.00")),
            ("9999999999.99", yuan("9999999999.99")),
            ("-280", BAD("amount_negative")),
            ("￥-280", BAD("amount_negative")),
            ("-￥280", BAD("amount_negative")),
            ("10000000000", BAD("out_of_range")),
            ("9999999999.995", BAD("out_of_range")),
            ("-99999999999", BAD("out_of_range")),
            ("abc", BAD("amount_not_numeric")),
            ("1,28", BAD("amount_not_numeric")),
            ("12,34.5", BAD("amount_not_numeric")),
            ("1.2.3", BAD("amount_not_numeric")),
            ("--280", BAD("amount_not_numeric")),
            ("+￥-280", BAD("amount_not_numeric")),
            ("￥", BAD("amount_not_numeric")),
            ("万", BAD("amount_not_numeric")),
            ("1e3", BAD("amount_not_numeric")),
            ("280|", BAD("amount_not_numeric")),
            ("(280)", BAD("amount_not_numeric")),
            ("", BLANK),
            ("-", BLANK),
        ],
    )
    check(con, "amount", [("-280", (Decimal("-280.00"), None))], allow_negative=True)
    check(con, "amount", [("50", (Decimal("50.00"), None)), ("50.01", BAD("out_of_range"))], maximum=50)


def test_integer_examples(con):
    check(
        con,
        "integer",
        [
            ("42", (42, None)),
            (" 1,000 ", (1000, None)),
            ("+5", (5, None)),
            ("-3", (-3, None)),
            ("007", (7, None)),
            ("5.0", (5, None)),
            ("5.", (5, None)),
            ("５", (5, None)),
            ("9223372036854775807", (2**63 - 1, None)),
            ("9223372036854775808", BAD("out_of_range")),
            ("5.5", BAD("not_integer")),
            ("1e3", BAD("not_numeric")),
            ("1,00", BAD("not_numeric")),
            ("abc", BAD("not_numeric")),
            (".5", BAD("not_numeric")),
        ],
    )
    check(con, "integer", [("0", (0, None)), ("-1", BAD("out_of_range")), ("6", BAD("out_of_range"))], minimum=0, maximum=5)


def test_decimal_examples(con):
    check(
        con,
        "decimal",
        [
            ("1.5", (1.5, None)),
            ("1,234.5", (1234.5, None)),
            (".5", (0.5, None)),
            ("-2", (-2.0, None)),
            ("1e3", (1000.0, None)),
            ("1.5E-3", (0.0015, None)),
            ("1e999", BAD("out_of_range")),
            ("abc", BAD("not_numeric")),
            ("nan", BLANK),
            ("inf", BAD("not_numeric")),
            ("1.2.3", BAD("not_numeric")),
        ],
    )
    check(con, "decimal", [("2.5", (2.5, None)), ("3.1", BAD("out_of_range")), ("-0.1", BAD("out_of_range"))], minimum=0, maximum=3)
    check(
        con,
        "decimal",
        [("1.23456", (Decimal("1.2346"), None)), ("12345678901234.5", (Decimal("12345678901234.5000"), None)), ("123456789012345", BAD("out_of_range"))],
        scale=4,
    )


# ---------------------------------------------------------------------- API contract


def test_registry_and_problem_catalogue():
    # Others may register more (e.g. "epoch"); these are the ones specified here.
    assert set(STANDARDISERS) >= {
        "date", "timestamp", "mobile", "id_number", "name", "sex", "amount", "integer", "decimal", "text", "code",
    }
    assert set(ref.REFERENCES) <= set(STANDARDISERS)
    with pytest.raises(KeyError, match="known"):
        get_standardiser("postcode")
    with pytest.raises(TypeError, match="date"):
        get_standardiser("date", not_a_real_option=1)
    with pytest.raises(ValueError):
        get_standardiser("date", formats=["yyyy"])
    for cls in STANDARDISERS.values():
        for code in cls.problem_codes:
            assert code in PROBLEMS, code
    for p in PROBLEMS.values():
        assert p.severity in ("error", "warning")
        for template in (p.message_zh, p.message_en):
            assert set(re.findall(r"\{(\w*)\}", template)) <= {"value"}, p.code
        assert "{value}" in p.message_zh and "{value}" in p.message_en, p.code
        assert re.search(r"[\u4e00-\u9fff]", p.message_zh), p.code


def test_messages_are_completed_by_settings():
    date_std = get_standardiser("date", not_after=REF_DAY)
    texts = date_std.problems()
    assert "2026-11-23" in texts["date_in_future"].message_zh
    assert "2024年1月5日" in texts["date_invalid"].message_zh
    assert "1900-01-01" in date_std.message("date_too_old", "1800-1-1", lang="en")
    assert "「1800-1-1」" in date_std.message("date_too_old", "1800-1-1")
    assert "0–5" in get_standardiser("integer", minimum=0, maximum=5).message("out_of_range", "9")
    assert "{" not in get_standardiser("date").message("date_in_future", "2999-1-1")  # no bound: plain text
    assert get_standardiser("name").problems()["name_too_long"].message_en.endswith("(at most 30 characters)")


def test_output_types_and_composability(con):
    """Every standardiser's value has its declared type, and all compose in one SELECT."""
    stds = {
        "date": get_standardiser("date"),
        "timestamp": get_standardiser("timestamp"),
        "mobile": get_standardiser("mobile"),
        "id_number": get_standardiser("id_number"),
        "name": get_standardiser("name"),
        "sex": get_standardiser("sex"),
        "amount": get_standardiser("amount"),
        "integer": get_standardiser("integer"),
        "decimal": get_standardiser("decimal"),
        "decimal4": get_standardiser("decimal", scale=4),
        "text": get_standardiser("text"),
        "code": get_standardiser("code", mapping={"a": "b"}),
    }
    select = ",\n".join(s.select_sql("t.raw", f"c_{k}") for k, s in stds.items())
    rel = con.sql(f"SELECT {select} FROM (SELECT '1'::VARCHAR AS raw) t")
    types = dict(zip(rel.columns, (str(t) for t in rel.types), strict=True))
    for k, s in stds.items():
        assert types[f"c_{k}"] == s.output_type, k
        assert types[f"c_{k}__problem"] == "VARCHAR"
    # Non-VARCHAR input columns are accepted too (e.g. phone numbers read as integers).
    assert con.execute(f"SELECT {stds['mobile'].value_sql('13812345678')}").fetchall() == [("+8613812345678",)]


# Functions the generated SQL may use: the portable set (DuckDB and Spark SQL alike).
PORTABLE_FUNCTIONS = {
    "regexp_matches", "regexp_replace", "regexp_extract", "translate", "substr", "length",
    "lower", "upper", "lpad", "rpad", "replace", "instr", "coalesce", "abs", "ascii", "concat",
    "rtrim",  # sql.rtrim_chars: TRIM(TRAILING … FROM …) in Spark
}


def test_sql_uses_portable_functions_only():
    # The standardisers of this module (others registered elsewhere, e.g. "epoch", answer
    # for their own SQL).
    stds = [STANDARDISERS[name]() for name in ref.REFERENCES if name != "code"]
    stds.append(get_standardiser("code", mapping={"a": "b"}))
    stds.append(get_standardiser("id_number", upgrade_15=True))
    stds.append(get_standardiser("timestamp", require_time=True, formats=["ymd", "dmy", "mdy", "chinese", "compact"]))
    for std in stds:
        text = std.value_sql("raw.col") + "\n" + std.problem_sql("raw.col")
        text = re.sub(r"'(?:[^']|'')*'", "''", text)  # drop string literals
        called = {f.lower() for f in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(", text)}
        called -= {"case", "cast", "try_cast", "in", "and", "or", "not", "when", "then", "else", "decimal"}
        assert called <= PORTABLE_FUNCTIONS, (std.name, called - PORTABLE_FUNCTIONS)
        assert "MACRO" not in text.upper()
