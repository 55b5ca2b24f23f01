"""``sex``, ``code`` and ``text``: small vocabularies and free text."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from molar.ingest.standardise import sql
from molar.ingest.standardise.base import Rules, Standardiser


def normalise_key(text: str) -> str:
    """How ``code`` and ``sex`` compare raw values (Python side of ``key_sql``)."""
    import unicodedata

    folded = text.translate(str.maketrans(sql.fullwidth_map()))
    out, in_ws = [], False
    for ch in folded:
        ws = ch in sql.WS_CHARS_EXTRA or unicodedata.category(ch) in ("Zs", "Zl", "Zp")
        if ws:
            in_ws = True
            continue
        if in_ws and out:
            out.append(" ")
        in_ws = False
        out.append(ch)
    return "".join(out).lower()


def key_sql(t: str, raw: str) -> str:
    """Trimmed input → comparison key: full-width folded, whitespace runs → ' ', lower-case."""
    return f"lower({sql.collapse_ws(sql.guarded_translate(t, sql.fullwidth_map(), raw))})"


def _case(key: str, mapping: Mapping[str, str]) -> str:
    whens = " ".join(f"WHEN {sql.lit(k)} THEN {sql.lit(v)}" for k, v in mapping.items())
    return f"CASE {key} {whens} END" if whens else "CAST(NULL AS VARCHAR)"


def _compile(mapping: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw, canon in mapping.items():
        k = normalise_key(str(raw))
        if out.get(k, canon) != canon:
            raise ValueError(f"{raw!r} maps to both {out[k]!r} and {canon!r} once normalised")
        out[k] = canon
    return out


# --------------------------------------------------------------------------------- sex

# GB/T 2261.1: 1 male, 2 female, 0 unknown, 9 not stated.
SEX_VALUES: dict[str, str] = {
    "男": "M", "男性": "M", "男士": "M", "m": "M", "male": "M", "man": "M", "1": "M",
    "女": "F", "女性": "F", "女士": "F", "f": "F", "female": "F", "woman": "F", "2": "F",
}
SEX_NOT_STATED: tuple[str, ...] = ("0", "9", "未知", "不详", "未说明", "u", "unknown")


@dataclass
class SexStandardiser(Standardiser):
    """男/女/M/F/male/female/1/2 (GB/T 2261.1) → 'M'/'F'.

    Values that state "unknown" (0, 9, 未知, 不详 …) give NULL without a problem;
    anything else unrecognised is ``sex_unknown``. ``extra`` adds spellings.
    """

    name: ClassVar[str] = "sex"
    problem_codes: ClassVar[tuple[str, ...]] = ("sex_unknown",)
    extra: Mapping[str, str] = field(default_factory=dict)
    not_stated: tuple[str, ...] = SEX_NOT_STATED

    def __post_init__(self) -> None:
        self._values = _compile({**SEX_VALUES, **self.extra})
        if set(self._values.values()) - {"M", "F"}:
            raise ValueError("sex values must map to 'M' or 'F'")

    @property
    def output_type(self) -> str:
        return "VARCHAR"

    def rules(self, t: str, raw: str) -> Rules:
        key = key_sql(t, raw)
        not_stated = f"{key} IN {sql.lit_list(normalise_key(v) for v in self.not_stated)}"
        return Rules([], _case(key, self._values), "sex_unknown", no_value=not_stated, shared=(key,))


# -------------------------------------------------------------------------------- code


@dataclass
class CodeStandardiser(Standardiser):
    """Raw labels → canonical codes through ``mapping`` (e.g. {"微信": "wechat"}).

    Keys match after folding full-width characters, collapsing whitespace and
    lower-casing. The canonical codes themselves are accepted too unless
    ``accept_canonical`` is off. Anything else is ``code_unknown``; its message lists
    what may be typed. ``mapping`` may also be a list of canonical codes.
    """

    name: ClassVar[str] = "code"
    problem_codes: ClassVar[tuple[str, ...]] = ("code_unknown",)
    mapping: Mapping[str, str] | Iterable[str] = field(default_factory=dict)
    accept_canonical: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.mapping, Mapping):
            self.mapping = {v: v for v in self.mapping}
        full = dict(self.mapping)
        if self.accept_canonical:
            for canon in self.mapping.values():
                full.setdefault(canon, canon)
        self._values = _compile(full)

    @property
    def output_type(self) -> str:
        return "VARCHAR"

    def rules(self, t: str, raw: str) -> Rules:
        key = key_sql(t, raw)
        return Rules([], _case(key, self._values), "code_unknown", shared=(key,))

    def params(self) -> dict[str, Any]:
        labels = list(dict.fromkeys(str(k) for k in self.mapping))
        if self.accept_canonical:
            labels += [v for v in dict.fromkeys(self.mapping.values()) if v not in labels]
        return {"allowed": "、".join(labels)}  # every one: a cut list hides the value the user needs


# -------------------------------------------------------------------------------- text


@dataclass
class TextStandardiser(Standardiser):
    """Free text: trimmed (Unicode whitespace), blank → NULL. Optional
    ``collapse_whitespace`` (runs → one space) and ``max_length`` (``text_too_long``)."""

    name: ClassVar[str] = "text"
    problem_codes: ClassVar[tuple[str, ...]] = ("text_too_long",)
    max_length: int | None = None
    collapse_whitespace: bool = False

    @property
    def output_type(self) -> str:
        return "VARCHAR"

    def rules(self, t: str, raw: str) -> Rules:
        value = sql.collapse_ws(t) if self.collapse_whitespace else t
        checks = [] if self.max_length is None else [(f"length({value}) > {int(self.max_length)}", "text_too_long")]
        return Rules(checks, value, "text_too_long")

    def params(self) -> dict[str, Any]:
        return {"max_length": self.max_length}
