"""Toneless pinyin of standardised names (Python, run over distinct names only)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pyarrow as pa

# Surnames whose reading differs from the character's everyday reading (lazy_pinyin
# reads 曾 as "ceng", 单 as "dan" …). Compound surnames first.
COMPOUND_SURNAMES: dict[str, str] = {
    "单于": "chan yu",
    "尉迟": "yu chi",
    "长孙": "zhang sun",
    "澹台": "tan tai",
    "万俟": "mo qi",
}
SURNAMES: dict[str, str] = {
    "单": "shan", "曾": "zeng", "解": "xie", "仇": "qiu", "区": "ou", "朴": "piao",
    "查": "zha", "盖": "ge", "尉": "yu", "覃": "qin", "缪": "miao", "繁": "po",
    "折": "she", "乐": "yue", "召": "shao", "种": "chong", "宓": "mi", "秘": "bi",
    "翟": "zhai", "柏": "bai", "黑": "he", "纪": "ji", "任": "ren", "员": "yun",
    "句": "gou", "阚": "kan", "褚": "chu", "沈": "shen", "蕃": "pi", "长": "chang",
}
_HAN = re.compile(r"[\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_WORD = re.compile(r"[^\W_]+")  # letters and digits, any script


def _pinyin_one(name: str) -> str | None:
    from pypinyin import lazy_pinyin

    name = name.strip()
    if not name:
        return None
    head: list[str] = []
    rest = name
    if _HAN.match(name) and len(_HAN.findall(name)) >= 2:
        if name[:2] in COMPOUND_SURNAMES:
            head, rest = COMPOUND_SURNAMES[name[:2]].split(), name[2:]
        elif name[0] in SURNAMES:
            head, rest = [SURNAMES[name[0]]], name[1:]
    words = list(head)
    for chunk in lazy_pinyin(rest):
        words.extend(_WORD.findall(chunk))
    return " ".join(w.lower() for w in words) or None


def name_pinyin(names: pa.Array | pa.ChunkedArray | Iterable[str | None]) -> pa.Array:
    """Toneless pinyin, space-separated and lower-case, of each (standardised) name.

    张三 → "zhang san", 曾小明 → "zeng xiao ming" (surname readings), 买买提·艾力 →
    "mai mai ti ai li", Zhang Wei → "zhang wei". NULL/blank → NULL. Computed once per
    distinct name, so it is cheap on a column with many repeats.
    """
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    values = names.to_pylist() if isinstance(names, pa.Array) else list(names)
    cache: dict[str, str | None] = {}
    out = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        if v not in cache:
            cache[v] = _pinyin_one(v)
        out.append(cache[v])
    return pa.array(out, type=pa.string())
