"""``name``: personal names → trimmed, simplified-character, punctuation-free text."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from molar.ingest.standardise import sql
from molar.ingest.standardise.base import Rules, Standardiser

# Traditional characters that zhconv folds but that are standard simplified characters
# in personal names (通用规范汉字表 2013 keeps them for names and surnames): 於 (surname
# Yū, not 于), 乾 (qián, not 干), 甦/昇/陞/锺/璿/徵 (given-name characters).
NAME_KEEP = "於乾甦昇陞锺璿徵"

# CJK ideographs (URO, Ext A, compatibility, Ext B–F) and ideographic zero 〇.
HAN_CLASS = r"[\x{3007}\x{3400}-\x{4DBF}\x{4E00}-\x{9FFF}\x{F900}-\x{FAFF}\x{20000}-\x{2FA1F}]"
LATIN_CLASS = "[A-Za-z]"
# Separators used inside transliterated names (买买提·艾力); all become '·'.
DOTS = ".•‧・･∙⋅"
# Bracketed notes typed after names: 张三(儿童)  王五【VIP】  李四〔母亲代〕.
BRACKETED = r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|〔[^〕]*〕"
# What a name may contain; anything else becomes a space.
NOT_NAME_CHAR = r"[^\p{L}\p{M}\x{3007}·' \-]"

# Names that cleaning leaves unchanged: only CJK ideographs (U+4E00–U+9FEF, all letters
# in every Unicode version in use) — the fast path.
CLEAN_NAME = r"^[\x{4E00}-\x{9FEF}]+$"

DEFAULT_PLACEHOLDERS: tuple[str, ...] = (
    "无", "无名", "无名氏", "未知", "不详", "匿名", "测试", "某某", "患者", "病人", "客户", "顾客",
    "先生", "女士", "小姐", "test", "unknown", "na", "xx", "xxx",
)


@cache
def traditional_to_simplified() -> dict[str, str]:
    """One-character traditional → simplified mapping over CJK Unified Ideographs.

    Generated from zhconv (``zh-cn``) at first use: every character of U+4E00–U+9FFF
    that zhconv turns into exactly one different character, minus ``NAME_KEEP``.
    """
    import zhconv

    mapping = {}
    for cp in range(0x4E00, 0xA000):
        ch = chr(cp)
        simp = zhconv.convert(ch, "zh-cn")
        if simp != ch and len(simp) == 1 and ch not in NAME_KEEP:
            mapping[ch] = simp
    # One pass must be enough: no target may itself be a source.
    for k, v in mapping.items():
        while v in mapping:
            v = mapping[v]
        mapping[k] = v
    return mapping


@dataclass
class NameStandardiser(Standardiser):
    """Names: full-width → ASCII, bracketed notes, digits and stray symbols removed,
    transliteration dots unified to '·', traditional → simplified characters.

    Names with Chinese characters and no Latin letters lose all spaces (张 三 → 张三);
    other names keep single spaces between words. Problems:
    ``name_empty_after_cleaning``, ``name_placeholder`` (未知, 测试, 先生 … — see
    ``placeholders``), ``name_too_long`` (more than ``max_length`` characters).
    """

    name: ClassVar[str] = "name"
    problem_codes: ClassVar[tuple[str, ...]] = ("name_empty_after_cleaning", "name_placeholder", "name_too_long")
    max_length: int = 30
    placeholders: tuple[str, ...] = field(default=DEFAULT_PLACEHOLDERS)

    @property
    def output_type(self) -> str:
        return "VARCHAR"

    def cleaned_sql(self, raw: str) -> str:
        """Everything but the traditional → simplified step, on the untrimmed input
        (every whitespace character ends up removed or collapsed anyway).

        Most names are already clean — a few Chinese characters and nothing else — and
        take a fast path that skips the cleaning (same result, one cheap regex).
        """
        a = sql.guarded_translate(raw, sql.fullwidth_map(), raw)
        b = sql.re_replace(a, BRACKETED, " ")
        c = sql.guarded_translate(b, dict.fromkeys(DOTS, "·"), raw, guard_chars="．")  # ． folds to .
        e = sql.re_replace(c, NOT_NAME_CHAR, " ")
        # Chinese names (Han characters, no Latin letters) lose spaces, apostrophes and
        # hyphens; others (Latin, other scripts) turn '·' into a space between words.
        # (Asked of c, not e: same answer, since letters survive e, and e's regex is slow
        # to compile because of the large \p{L} class.)
        han_only = sql.re_matches(c, f"^[^A-Za-z]*{HAN_CLASS}[^A-Za-z]*$")
        # One translate for both cases (the target ' ' is shared): Chinese deletes
        # " '-" (the leading '!' cannot occur any more and takes the ' '), others map
        # '·' to ' '.
        f = f"translate({e}, CASE WHEN {han_only} THEN '! ''-' ELSE '·' END, ' ')"
        g = sql.re_replace(sql.re_replace(f, " +", " "), "·+", "·")
        cleaned = sql.re_replace(g, "^[ ·'-]+|[ ·'-]+$")
        return f"CASE WHEN {sql.re_matches(raw, CLEAN_NAME)} THEN {raw} ELSE {cleaned} END"

    def rules(self, t: str, raw: str) -> Rules:
        cleaned = self.cleaned_sql(raw)
        # Guard the per-bucket translations with the short raw input, which holds
        # every traditional character the cleaned name can contain.
        value = sql.bucketed_translate(cleaned, raw, traditional_to_simplified())
        checks = [
            (f"{cleaned} = ''", "name_empty_after_cleaning"),
            # On the cleaned name, before simplification: placeholders in every spelling
            # that simplifies to them, so the long translation appears only once.
            (f"lower({cleaned}) IN {sql.lit_list(self._placeholder_spellings())}", "name_placeholder"),
            (f"length({cleaned}) > {int(self.max_length)}", "name_too_long"),
        ]
        return Rules(checks, value, "name_empty_after_cleaning", value_null="FALSE", shared=(cleaned, value))

    def _placeholder_spellings(self) -> list[str]:
        preimages: dict[str, list[str]] = {}
        for trad, simp in traditional_to_simplified().items():
            preimages.setdefault(simp, []).append(trad)
        out: set[str] = set()
        for p in self.placeholders:
            spellings = [""]
            for ch in p.lower():
                spellings = [s + c for s in spellings for c in (ch, *preimages.get(ch, ()))][:256]
            out.update(spellings)
        return sorted(out)

    def params(self) -> dict[str, Any]:
        return {"max_length": self.max_length}


# ------------------------------------------------------------------ what a name field holds

REAL, HONORIFIC, NICKNAME, EMPTY = "real", "honorific", "nickname", "empty"
# Raised whenever ``parse_name`` reads some text differently: caches of parsed names
# (identity.name_parse) are keyed by it, so a new reading replaces the old one.
PARSER_VERSION = 4

# Two-character surnames: the first two characters of a name are the surname when they
# are one of these (欧阳娜娜 → 欧阳 + 娜娜).
COMPOUND_SURNAMES: tuple[str, ...] = (
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "令狐", "端木", "澹台", "轩辕", "南宫", "单于", "万俟", "独孤", "西门", "闻人", "呼延",
    "钟离", "东郭", "公羊", "赫连", "申屠", "太史", "百里", "第五", "拓跋", "左丘", "濮阳", "仲孙",
)
# Common surnames (about 99 % of the population).
COMMON_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任"
    "卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严莫孔"
    "向常汤康易乔赖文施洪牛蒲冉税葛庞樊兰殷施申欧骆邢岳齐童颜柴祝鲁凌左柳甘伍辛关焦鲍滕邬解覃阎聂单舒"
    "晏俞季蔺卜包景梅窦裴瞿翟房缪屈温路詹华费吉阮卓车池郎饶幸宁尚符纪穆管谷喻于荣廉桂艾商巫涂仇连"
)
# Forms of address after a surname (李女士, 宋先生, 王老师, 陈sir) and the sex each implies.
HONORIFIC_SUFFIXES: dict[str, str | None] = {
    "女士": "F", "小姐": "F", "太太": "F", "阿姨": "F", "姨": "F", "姐": "F", "大姐": "F", "奶奶": "F", "婆婆": "F",
    "妈妈": "F", "先生": "M", "哥": "M", "大哥": "M", "叔": "M", "叔叔": "M", "大爷": "M", "爷爷": "M",
    "爸爸": "M", "sir": "M", "老师": None, "医生": None, "总": None, "经理": None, "老板": None,
    "同学": None, "工": None, "师傅": None,
}
# Titles that also follow a full name (李雨曦女士, 张伟先生): the name is real, the title
# gives the sex. Kinship words are not among them: 张小宇妈妈 is the child's mother.
FULL_NAME_TITLES: dict[str, str | None] = {
    "女士": "F", "小姐": "F", "先生": "M", "老师": None, "医生": None, "同学": None, "师傅": None,
}
# Forms of address before a surname: 小陈, 老王, 阿李.
HONORIFIC_PREFIXES = ("小", "老", "阿")
# A field holding one of these characters is a nickname: no personal name holds them,
# nicknames often do (王小明的日常, 夏天的风). Endings that make a field a nickname when it
# does not start with a surname (豆豆妈妈, 糖宝; but 于琴宝, 刘逸君 are names).
NICKNAME_CHARS = "的"
NICKNAME_ENDINGS = ("宝宝", "宝", "妈", "爸", "酱", "君")


@dataclass(frozen=True)
class NameParts:
    """What a name field holds. ``name``: the real name (kind ``real``); ``surname`` for
    ``honorific``; ``sex`` (F/M) when a form of address or title implies one."""

    kind: str
    name: str | None = None
    surname: str | None = None
    sex: str | None = None


def _surname_of(text: str) -> str | None:
    if text[:2] in COMPOUND_SURNAMES:
        return text[:2]
    return text[0] if text and text[0] in COMMON_SURNAMES else None


def _is_han(text: str) -> bool:
    return bool(text) and all("\u3400" <= c <= "\u9fff" or c == "\u3007" for c in text)


@cache
def parse_name(text: str | None, *, nickname_field: bool = False) -> NameParts:
    """Classify a standardised name (or, with ``nickname_field``, a WeChat/app nickname).

    - ``honorific``: a surname with a form of address (李女士, 宋先生, 王老师, 张姐, 小陈,
      陈sir); the sex it implies, if any;
    - ``real`` with ``sex``: a full name with a title (李雨曦女士 → 李雨曦, F);
    - ``real``: a personal name. In a name field, a Chinese name starting with a common
      surname, any other of 2–3 characters (rare surnames), or a romanised name of two
      words or more; in a nickname field only 2–4 Chinese characters starting with a
      common surname (张伟, 欧阳娜娜);
    - ``nickname``: anything else (快乐小鱼, momo, 追风少年, 豆豆妈妈);
    - ``empty``: nothing.
    """
    text = (text or "").strip()
    if not text:
        return NameParts(EMPTY)
    lower = text.lower()
    for suffix, sex in HONORIFIC_SUFFIXES.items():
        head = text[: len(text) - len(suffix)]
        if lower.endswith(suffix) and head and len(head) <= 2 and _is_han(head) and _surname_of(head) == head:
            return NameParts(HONORIFIC, surname=head, sex=sex)
    for title, sex in FULL_NAME_TITLES.items():
        head = text[: len(text) - len(title)]
        if text.endswith(title) and 2 <= len(head) <= 4 and _is_han(head) and _surname_of(head) is not None:
            return NameParts(REAL, name=head, sex=sex)
    if len(text) == 2 and text[0] in HONORIFIC_PREFIXES and _surname_of(text[1:]) == text[1:]:
        return NameParts(HONORIFIC, surname=text[1])
    if _is_han(text):
        if len(text) == 1:
            return NameParts(HONORIFIC, surname=text) if text in COMMON_SURNAMES else NameParts(NICKNAME)
        known_surname = _surname_of(text) is not None
        if any(c in text for c in NICKNAME_CHARS) or (
            not known_surname and (text.endswith(NICKNAME_ENDINGS) or (len(text) == 2 and text[0] == text[1]))
        ):
            return NameParts(NICKNAME)
        if nickname_field:
            # 陈陈, 彭彭: a doubled surname is a pet name, not a given name
            doubled = len(text) == 2 and text[0] == text[1]
            return NameParts(REAL, name=text) if known_surname and len(text) <= 4 and not doubled \
                else NameParts(NICKNAME)
        # rare surnames occur in 2–3 character names; longer names start with a known one
        if known_surname or (len(text) <= 3 and text[0] not in HONORIFIC_PREFIXES):
            return NameParts(REAL, name=text)
        return NameParts(NICKNAME)
    if nickname_field:
        return NameParts(NICKNAME)
    # romanised (Zhang Wei) or transliterated (买买提·艾力) names have two parts or more
    return NameParts(REAL, name=text) if len(text.replace("·", " ").split()) >= 2 else NameParts(NICKNAME)
