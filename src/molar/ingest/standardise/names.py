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
