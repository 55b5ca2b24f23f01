"""``amount`` (yuan), ``integer`` and ``decimal``: numbers as people type them."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from molar.ingest.standardise import sql
from molar.ingest.standardise.base import Rules, Standardiser

Number = int | float | Decimal

# Digits with optional thousands separators in the right places: 1280, 1,280, 1,280,000.
_GROUPED = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)"
_FOLD = "0123456789+-.,eE"
_MAX_DOUBLE = "1.7976931348623157e308"  # the largest finite double: only infinities exceed it


def _range_checks(value: str, minimum: Number | None, maximum: Number | None) -> list[tuple[str, str]]:
    conds = [f"{value} < {minimum!s}"] if minimum is not None else []
    if maximum is not None:
        conds.append(f"{value} > {maximum!s}")
    return [(" OR ".join(conds), "out_of_range")] if conds else []


def range_text(minimum: Number | None, maximum: Number | None) -> str | None:
    if minimum is not None and maximum is not None:
        return f"{minimum}–{maximum}"
    if minimum is not None:
        return f"≥ {minimum}"
    if maximum is not None:
        return f"≤ {maximum}"
    return None


def _numeric_text(raw: str) -> str:
    """Full-width folded, all whitespace removed (1 280 → 1280): one guarded translate."""
    return sql.guarded_translate(raw, {**sql.fullwidth_map(_FOLD), **dict.fromkeys(sql.WS_CHARS, "")}, raw)


# ------------------------------------------------------------------------------ amount

_CURRENCY = r"(?:¥|￥|rmb|cny|人民币)"
# [sign][currency] or [currency][sign], at most one sign.
_SIGNED = rf"^(?:([-+]?){_CURRENCY}?|{_CURRENCY}([-+]))"
_INT = r"((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*))"
_SUFFIX = r"(?:元整?|块|rmb|cny)?$"


def amount_rewrites() -> list[tuple[str, str]]:
    """(pattern, template) pairs that rewrite an amount to ``|<sign><digits>.<fraction>``.

    Text already lower-cased, folded, without whitespace. 万 (ten thousand) moves the
    decimal point four places: one pattern per fraction length pads it with zeros.
    """
    plain = (rf"{_SIGNED}{_INT}(?:\.([0-9]*))?{_SUFFIX}", "|{1}{2}{3}.{4}")
    wan = [(rf"{_SIGNED}{_INT}\.?万{_SUFFIX}", "|{1}{2}{3}0000.")]
    for k in (1, 2, 3):
        wan.append((rf"{_SIGNED}{_INT}\.([0-9]{{{k}}})万{_SUFFIX}", "|{1}{2}{3}{4}" + "0" * (4 - k) + "."))
    wan.append((rf"{_SIGNED}{_INT}\.([0-9]{{4}})([0-9]*)万{_SUFFIX}", "|{1}{2}{3}{4}.{5}"))
    return [plain, *wan]


@dataclass
class AmountStandardiser(Standardiser):
    """Amounts in yuan → DECIMAL(12,2), rounded half away from zero.

    Accepts thousands separators (1,280.00), currency marks (￥280, ¥ 280, RMB 280,
    280元, 280元整), 万 (1.2万 = 12000) and full-width digits. ``allow_negative``
    (default no: ``amount_negative``), optional ``minimum``/``maximum``
    (``out_of_range``; so is anything beyond DECIMAL(12,2)).
    """

    name: ClassVar[str] = "amount"
    problem_codes: ClassVar[tuple[str, ...]] = ("amount_not_numeric", "amount_negative", "out_of_range")
    allow_negative: bool = False
    minimum: Number | None = None
    maximum: Number | None = None

    @property
    def output_type(self) -> str:
        return "DECIMAL(12,2)"

    def rules(self, t: str, raw: str) -> Rules:
        n = f"lower({_numeric_text(raw)})"
        (plain_pattern, plain_template), *wan = amount_rewrites()
        c = n
        for pattern, template in wan:
            c = sql.re_rewrite(c, pattern, template)
        # The 万 forms only where there is a 万 (saves five regex runs on other rows).
        c = f"CASE WHEN instr({n}, '万') > 0 THEN {c} ELSE {sql.re_rewrite(n, plain_pattern, plain_template)} END"
        matched = f"substr({c}, 1, 1) = '|' AND instr({n}, '|') = 0 AND {sql.re_matches(n, '[0-9]')}"
        value = sql.try_cast(f"replace(substr({c}, 2), ',', '')", "DECIMAL(12,2)")
        checks = [(f"NOT ({matched})", "amount_not_numeric")]
        if not self.allow_negative:
            checks.append((f"{value} < 0", "amount_negative"))
        checks.append((f"{value} IS NULL", "out_of_range"))
        checks.extend(_range_checks(value, self.minimum, self.maximum))
        return Rules(checks, value, "out_of_range", value_null="FALSE", shared=(n, c, value))

    def params(self) -> dict[str, Any]:
        return {"range": range_text(self.minimum, self.maximum) or "≤ 9999999999.99"}


# ----------------------------------------------------------------------------- integer

INTEGER_PATTERN = rf"^([-+]?{_GROUPED})(?:\.([0-9]*))?$"


@dataclass
class IntegerStandardiser(Standardiser):
    """Whole numbers → BIGINT. Accepts 1,000, +5, full-width digits and Excel's 5.0;
    5.5 is ``not_integer``; ``minimum``/``maximum`` bound it (``out_of_range``)."""

    name: ClassVar[str] = "integer"
    problem_codes: ClassVar[tuple[str, ...]] = ("not_numeric", "not_integer", "out_of_range")
    minimum: Number | None = None
    maximum: Number | None = None

    @property
    def output_type(self) -> str:
        return "BIGINT"

    def rules(self, t: str, raw: str) -> Rules:
        n = _numeric_text(raw)
        whole, frac = sql.re_groups(n, INTEGER_PATTERN, 2)
        value = sql.try_cast(f"replace({whole}, ',', '')", "BIGINT")
        checks = [
            (f"NOT {sql.re_matches(n, INTEGER_PATTERN)}", "not_numeric"),
            (sql.re_matches(frac, "[1-9]"), "not_integer"),
            (f"{value} IS NULL", "out_of_range"),
            *_range_checks(value, self.minimum, self.maximum),
        ]
        return Rules(checks, value, "out_of_range", shared=(n, whole, value))

    def params(self) -> dict[str, Any]:
        return {"range": range_text(self.minimum, self.maximum) or "BIGINT"}


# ----------------------------------------------------------------------------- decimal

DECIMAL_PATTERN = rf"^[-+]?(?:{_GROUPED}(?:\.[0-9]*)?|\.[0-9]+)(?:e[-+]?[0-9]+)?$"
EXPONENT_PAST_9999 = r"e([-+]?)0*[1-9][0-9]{4,}$"


@dataclass
class DecimalStandardiser(Standardiser):
    """Decimal numbers → DOUBLE (or ``DECIMAL(precision, scale)`` when ``scale`` is set).

    Accepts 1,234.5, .5, 1e-3, full-width digits; ``minimum``/``maximum`` bound it
    (``out_of_range``; so do magnitudes beyond 1e308 or the DECIMAL's width).
    """

    name: ClassVar[str] = "decimal"
    problem_codes: ClassVar[tuple[str, ...]] = ("not_numeric", "out_of_range")
    minimum: Number | None = None
    maximum: Number | None = None
    scale: int | None = field(default=None, kw_only=True)
    precision: int = field(default=18, kw_only=True)

    @property
    def output_type(self) -> str:
        return "DOUBLE" if self.scale is None else f"DECIMAL({int(self.precision)},{int(self.scale)})"

    def rules(self, t: str, raw: str) -> Rules:
        n = f"lower({_numeric_text(raw)})"
        text = f"replace({n}, ',', '')"
        if self.scale is not None:
            # DuckDB reads DECIMAL exponents as 16-bit numbers: 0e33000 would fail. Beyond
            # ±9999 the exponent alone decides (zero stays zero, tiny rounds to zero, huge
            # is out of range) for any mantissa under 9,000 digits, so cap it there.
            text = sql.re_rewrite(text, EXPONENT_PAST_9999, "e{1}9999")
        value = sql.try_cast(text, self.output_type)
        checks = [(f"NOT {sql.re_matches(n, DECIMAL_PATTERN)}", "not_numeric")]
        if self.scale is None:
            checks.append((f"{value} IS NULL OR abs({value}) > {_MAX_DOUBLE}", "out_of_range"))
        else:
            checks.append((f"{value} IS NULL", "out_of_range"))
        checks.extend(_range_checks(value, self.minimum, self.maximum))
        return Rules(checks, value, "out_of_range", shared=(n, value))

    def params(self) -> dict[str, Any]:
        return {"range": range_text(self.minimum, self.maximum) or self.output_type}
