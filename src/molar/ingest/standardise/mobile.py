"""``mobile``: mainland China mobile numbers → E.164 (+8613812345678)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from molar.ingest.standardise import sql
from molar.ingest.standardise.base import Rules, Standardiser

# Three-digit mobile prefixes (号段) allocated by MIIT to China Mobile, China Unicom,
# China Telecom, China Broadnet and the virtual operators (162/165/167/170/171), as of
# 2024. Excluded: 140–144 and 148's data-only IoT ranges are 13 digits anyway; 154,
# 160, 161, 163, 164, 168, 169, 179 and 194 are not allocated for subscribers.
CHINA_MOBILE_PREFIXES: tuple[str, ...] = tuple(
    sorted(
        {f"13{i}" for i in range(10)}
        | {"145", "146", "147", "148", "149"}
        | {"150", "151", "152", "153", "155", "156", "157", "158", "159"}
        | {"162", "165", "166", "167"}
        | {"170", "171", "172", "173", "174", "175", "176", "177", "178"}
        | {f"18{i}" for i in range(10)}
        | {"190", "191", "192", "193", "195", "196", "197", "198", "199"}
    )
)

# What a mobile number starts with: 13x–19x. A number with a well-formed but unallocated
# prefix (154, 160 …) is kept: it still identifies its holder across records; whether it
# can be reached is ``allocated_sql``.
WELL_FORMED_PREFIXES: tuple[str, ...] = tuple(f"1{i}{j}" for i in range(3, 10) for j in range(10))


def allocated_sql(value: str) -> str:
    """SQL: the standardised mobile ``value`` (+86…) has an allocated prefix (reachable)."""
    return f"(substr({value}, 4, 3) IN {sql.lit_list(CHINA_MOBILE_PREFIXES)})"


# Separators people type inside phone numbers: spaces, dashes, dots, parentheses.
SEPARATORS = sql.WS_CLASS[:-1] + r"\-\x{2010}-\x{2015}().]"
_FOLD = "0123456789+-(). "


@dataclass
class MobileStandardiser(Standardiser):
    """Mobile numbers in any common spelling → ``+86`` followed by 11 digits.

    Accepts spaces, dashes, dots, parentheses, full-width digits and the prefixes
    ``+86``, ``0086``, ``86`` (when 13 digits) and a trunk ``0`` before the 1 (when 12
    digits). Then the number must be 11 digits with a mobile prefix (``prefixes``,
    default ``WELL_FORMED_PREFIXES``: 13x–19x, allocated or not — see ``allocated_sql``).
    A ``+`` with another country code is ``mobile_not_mainland``.
    """

    name: ClassVar[str] = "mobile"
    problem_codes: ClassVar[tuple[str, ...]] = (
        "mobile_not_mainland",
        "mobile_not_numeric",
        "mobile_wrong_length",
        "mobile_invalid_prefix",
    )
    prefixes: tuple[str, ...] = field(default=WELL_FORMED_PREFIXES)

    def __post_init__(self) -> None:
        self.prefixes = tuple(self.prefixes)
        if not self.prefixes or not all(len(p) == 3 and p.isdigit() for p in self.prefixes):
            raise ValueError("mobile prefixes must be a non-empty list of three-digit strings")

    @property
    def output_type(self) -> str:
        return "VARCHAR"

    def digits_sql(self, raw: str) -> str:
        """The number with separators and country/trunk prefix removed (may still be junk).

        A '+' other than +86 stays in front, which marks a foreign number.
        """
        s = sql.re_replace(sql.guarded_translate(raw, sql.fullwidth_map(_FOLD), raw), SEPARATORS)
        return sql.re_rewrite(s, r"^(?:\+86(.*)|0086(.*)|86(.{11})|0(1.{10}))$", "{1}{2}{3}{4}")

    def rules(self, t: str, raw: str) -> Rules:
        d = self.digits_sql(raw)
        checks = [
            (f"substr({d}, 1, 1) = '+'", "mobile_not_mainland"),
            (f"NOT {sql.re_matches(d, '^[0-9]+$')}", "mobile_not_numeric"),
            (f"length({d}) <> 11", "mobile_wrong_length"),
            (f"substr({d}, 1, 3) NOT IN {sql.lit_list(self.prefixes)}", "mobile_invalid_prefix"),
        ]
        return Rules(checks, f"'+86' || {d}", "mobile_not_numeric", value_null="FALSE", shared=(d,))
