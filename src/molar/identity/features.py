"""Link input: one row per source person record, with the features the linker compares.

Built in SQL from ``std.patient`` (``features_sql``) so the same statement runs on any
engine; the only Python step is the pinyin of names, computed once per distinct character
(``pinyin_keys``) and cached in ``identity.name_key``, so a rerun only looks at new names.

Features (see docs/identity.md for why each exists):

``unique_id``      ``source || ':' || source_patient_key``
``name``           simplified name; for WeChat users a nickname that looks like a real name
``name_py``        toneless pinyin without spaces (张伟, 张玮, "Zhang Wei" → zhangwei)
``surname_py``     pinyin of the surname (compound surnames 欧阳 … kept whole)
``given_py``       pinyin of the given name
``sex``            from the ID number when there is one, else as stated
``birth_date``     from the ID number when there is one, else as stated; ``birth_y/m/d`` parts
                   (an ID number that contradicts the record's own birth date or sex is
                   dropped: it is someone else's, typically a parent's)
``mobile``         E.164; ``mobile_key`` its digits sorted (equal under a digit transposition)
``mobile_names``   distinct given names (pinyin) recorded with this mobile: 1 = own phone,
                   2+ = a family phone shared by parents, children and elders
``id_number``      verified 18-character resident ID
``district``       home district (only values naming a 区/县)
``wechat_unionid`` WeChat unionid
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from functools import cache

import pyarrow as pa

from molar.ingest.standardise import id_birth_date_sql, id_sex_sql
from molar.ingest.standardise.pinyin import COMPOUND_SURNAMES as SPECIAL_COMPOUNDS
from molar.ingest.standardise.pinyin import SURNAMES as SPECIAL_SURNAMES
from molar.warehouse import Engine

# Two-character surnames: the first two characters of a name are the surname when they
# are one of these (欧阳娜娜 → 欧阳 + 娜娜).
COMPOUND_SURNAMES: tuple[str, ...] = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "令狐", "端木", "澹台", "轩辕", "南宫", "单于", "万俟", "独孤", "西门", "闻人", "呼延",
    "钟离", "东郭", "公羊", "赫连", "申屠", "太史", "百里", "第五", "拓跋", "左丘", "濮阳", "仲孙",
)
# Common surnames (about 99 % of the population): a WeChat nickname of 2–4 Chinese
# characters starting with one of these is taken as a real name.
COMMON_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任"
    "卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔"
    "向常汤康易乔赖文施洪牛蒲冉税葛庞樊兰殷施申欧骆邢岳齐童颜柴祝鲁凌左柳甘伍辛关焦鲍滕邬解覃阎聂单舒"
    "晏俞季蔺卜包景梅窦裴瞿翟房缪屈温路詹华费吉阮卓车池郎饶幸宁尚符纪穆管谷喻于荣廉桂艾商巫涂仇连"
)
# Endings that make a nickname a form of address rather than a name (张女士, 李哥, 豆豆妈妈).
NICKNAME_ENDINGS = ("女士", "先生", "小姐", "姐", "哥", "妈", "爸", "总", "老师", "医生", "宝", "的日常")

_HAN_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]{2,4}$")
_HAN = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_LATIN_WORD = re.compile(r"[a-z]+")


def looks_like_name(nickname: str | None) -> bool:
    """True for a nickname that reads as a real Chinese name (张伟, 欧阳娜娜), not 张女士."""
    if not nickname or not _HAN_NAME.match(nickname):
        return False
    if nickname.endswith(NICKNAME_ENDINGS):
        return False
    return nickname[:2] in COMPOUND_SURNAMES or nickname[0] in COMMON_SURNAMES


@cache
def _char_pinyin(ch: str) -> str:
    from pypinyin import lazy_pinyin

    out = "".join(w for part in lazy_pinyin(ch) for w in _LATIN_WORD.findall(part.lower()))
    return out


def split_pinyin(name: str | None) -> tuple[str | None, str | None, str | None]:
    """(name_py, surname_py, given_py) for a standardised name; None parts when unknown.

    Chinese names: the surname is the first character, or the first two for a compound
    surname; surnames use their surname reading (曾 zeng, 单 shan). Romanised names
    ("Zhang Wei", "Wang Huijun"): the first word is the surname.
    """
    if not name:
        return None, None, None
    if _HAN.search(name):
        chars = [c for c in name if not c.isspace() and c not in "·'-"]
        if not chars:
            return None, None, None
        head = "".join(chars[:2])
        if head in COMPOUND_SURNAMES:
            k = 2
            sur = SPECIAL_COMPOUNDS.get(head, "").replace(" ", "") or "".join(_char_pinyin(c) for c in chars[:2])
        else:
            k = 1
            sur = SPECIAL_SURNAMES.get(chars[0]) or _char_pinyin(chars[0])
        given = "".join(_char_pinyin(c) if _HAN.match(c) else c.lower() for c in chars[k:])
        full = sur + given
        return (full or None), (sur or None), (given or None)
    words = _LATIN_WORD.findall(name.lower())
    if not words:
        return None, None, None
    return "".join(words), words[0], ("".join(words[1:]) or None)


def pinyin_keys(names: Iterable[str | None]) -> pa.Table:
    """Arrow table (name, name_py, surname_py, given_py) for distinct ``names``."""
    rows = [(n, *split_pinyin(n)) for n in names if n]
    return pa.table(
        {
            "name": pa.array([r[0] for r in rows], pa.string()),
            "name_py": pa.array([r[1] for r in rows], pa.string()),
            "surname_py": pa.array([r[2] for r in rows], pa.string()),
            "given_py": pa.array([r[3] for r in rows], pa.string()),
        }
    )


def looks_like_name_sql(col: str) -> str:
    """SQL version of ``looks_like_name`` (the tests hold the two to the same answers)."""
    endings = " OR ".join(f"suffix({col}, '{e}')" for e in NICKNAME_ENDINGS)
    compounds = ", ".join(f"'{c}'" for c in COMPOUND_SURNAMES)
    return (
        f"(regexp_full_match({col}, '[\\x{{3400}}-\\x{{4DBF}}\\x{{4E00}}-\\x{{9FFF}}]{{2,4}}')"
        f" AND NOT ({endings})"
        f" AND (substr({col}, 1, 2) IN ({compounds}) OR contains('{COMMON_SURNAMES}', substr({col}, 1, 1))))"
    )


def _link_name_sql(p: str) -> str:
    return f"coalesce({p}.name, nk.name)"


def birth_close_sql(a: str, b: str, days: int = 3) -> str:
    """SQL: dates ``a`` and ``b`` differ at most by a typo — a few days, day and month
    swapped, or a wrong year with the same month and nearly the same day."""
    return (
        f"(abs(date_diff('day', {a}, {b})) <= {days}"
        f" OR (month({a}) = month({b}) AND abs(day({a}) - day({b})) <= {days})"
        f" OR (year({a}) = year({b}) AND month({a}) = day({b}) AND day({a}) = month({b})))"
    )


def refresh_name_keys(engine: Engine, source_table: str = "std.patient") -> int:
    """Add pinyin keys for names (and name-like nicknames) not yet in ``identity.name_key``."""
    engine.execute(
        f"""INSERT INTO identity.nickname_name
            SELECT nickname, CASE WHEN {looks_like_name_sql("nickname")} THEN nickname END
            FROM (SELECT DISTINCT p.nickname FROM {source_table} p
                  LEFT JOIN identity.nickname_name seen ON seen.nickname = p.nickname
                  WHERE p.nickname IS NOT NULL AND p.name IS NULL AND seen.nickname IS NULL)"""
    )
    missing = engine.arrow(
        f"""SELECT DISTINCT u.n FROM (
              SELECT p.name AS n FROM {source_table} p
              UNION ALL SELECT name FROM identity.nickname_name WHERE name IS NOT NULL) u
            LEFT JOIN identity.name_key k ON k.name = u.n
            WHERE u.n IS NOT NULL AND k.name IS NULL"""
    )
    keys = pinyin_keys(missing.column(0).to_pylist())
    if keys.num_rows:
        engine.append("identity.name_key", keys)
    return keys.num_rows


def features_sql(source_table: str = "std.patient") -> str:
    """SELECT producing the link input from a table shaped like ``std.patient``.

    Needs ``identity.name_key`` and ``identity.nickname_name`` filled for the table's names
    (``refresh_name_keys``).
    """
    id_dob = id_birth_date_sql("p.id_number", standardised=True)
    id_sex = id_sex_sql("p.id_number", standardised=True)
    return f"""
WITH src AS (
  SELECT p.*, {id_dob} AS id_dob, {id_sex} AS id_sex FROM {source_table} p
),
checked AS (
  -- An ID number is used only when it agrees with the record's own birth date and sex
  -- (a child registered with a parent's ID number must not link to the parent).
  SELECT *,
    id_number IS NOT NULL
      AND (birth_date IS NULL OR id_dob IS NULL OR {birth_close_sql("id_dob", "birth_date")})
      AND (sex IS NULL OR id_sex IS NULL OR id_sex = sex) AS id_ok
  FROM src
),
base AS (
  SELECT
    p.source || ':' || p.source_patient_key AS unique_id,
    p.source,
    p.source_patient_key,
    {_link_name_sql("p")} AS name,
    CASE WHEN p.id_ok THEN coalesce(p.id_sex, p.sex) ELSE p.sex END AS sex,
    CASE WHEN p.id_ok THEN coalesce(p.id_dob, p.birth_date) ELSE p.birth_date END AS birth_date,
    p.mobile,
    CASE WHEN p.id_ok THEN p.id_number END AS id_number,
    CASE WHEN p.district LIKE '%区' OR p.district LIKE '%县' THEN p.district END AS district,
    p.wechat_unionid,
    p.registered_on,
    p.address,
    p.wechat_openid,
    p.clinic_id
  FROM checked p
  LEFT JOIN identity.nickname_name nk ON p.name IS NULL AND nk.nickname = p.nickname
),
keyed AS (
  SELECT b.*, k.name_py, k.surname_py, k.given_py
  FROM base b LEFT JOIN identity.name_key k ON k.name = b.name
),
ids AS (
  -- record numbers in unique_id order (a narrow sort: sorting the wide rows costs 3×)
  SELECT unique_id, CAST(row_number() OVER (ORDER BY unique_id) - 1 AS BIGINT) AS idx FROM keyed
),
phones AS (
  SELECT mobile, count(DISTINCT coalesce(given_py, name_py)) AS mobile_names
  FROM keyed WHERE mobile IS NOT NULL GROUP BY mobile
)
SELECT
  ix.idx, k.unique_id, k.source, k.source_patient_key, k.name, k.name_py, k.surname_py, k.given_py,
  k.sex, k.birth_date,
  CAST(year(k.birth_date) AS INTEGER) AS birth_y,
  CAST(month(k.birth_date) AS INTEGER) AS birth_m,
  CAST(day(k.birth_date) AS INTEGER) AS birth_d,
  k.mobile,
  array_to_string(list_sort(string_split(k.mobile, '')), '') AS mobile_key,
  CAST(coalesce(ph.mobile_names, 0) AS INTEGER) AS mobile_names,
  k.id_number, k.district, k.wechat_unionid, k.registered_on, k.address, k.wechat_openid, k.clinic_id
FROM keyed k JOIN ids ix ON ix.unique_id = k.unique_id LEFT JOIN phones ph ON ph.mobile = k.mobile
"""


# Columns the linker sees besides its unique_id (``identity.link_input.idx``).
LINK_COLUMNS: tuple[str, ...] = (
    "source", "name", "name_py", "surname_py", "given_py", "sex", "birth_date", "birth_y", "birth_m",
    "birth_d", "mobile", "mobile_key", "mobile_names", "id_number", "district", "wechat_unionid",
)


def build_link_input(engine: Engine, seconds: dict[str, float] | None = None,
                     source_table: str = "std.patient") -> int:
    """Rebuild ``identity.link_input`` from ``source_table``; returns its row count."""
    t = time.perf_counter()
    refresh_name_keys(engine, source_table)
    if seconds is not None:
        seconds["features_names"] = time.perf_counter() - t
    with engine.transaction():
        engine.execute("DELETE FROM identity.link_input")
        engine.execute(
            f"INSERT INTO identity.link_input BY NAME {features_sql(source_table)}"
        )
    return engine.count("identity.link_input")
