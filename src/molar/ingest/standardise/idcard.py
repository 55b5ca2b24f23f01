"""``id_number``: 18-character mainland resident ID numbers (居民身份证号码, GB 11643)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from molar.ingest.standardise import sql
from molar.ingest.standardise.base import Rules, Standardiser

# ISO 7064 MOD 11-2: weights of the first 17 digits, and check character by remainder.
WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"

_FOLD = "0123456789Xx"


def check_char_sql(body17: str) -> str:
    """SQL for the check character of a 17-digit body (meaningless unless all digits).

    ``ascii(d) - 48`` is the digit's value (cheaper than a cast, and never an error).
    """
    terms = " + ".join(f"{w} * (ascii(substr({body17}, {i}, 1)) - 48)" for i, w in enumerate(WEIGHTS, 1))
    return f"substr({sql.lit(CHECK_CHARS)}, ((({terms}) % 11) + 11) % 11 + 1, 1)"


@dataclass
class IdNumberStandardiser(Standardiser):
    """Resident ID numbers → 18 characters, upper-case X, checksum and birth date verified.

    Full-width digits and ``ｘ`` are folded; spaces inside are dropped. Problems, first
    failing rule wins: ``id_invalid_characters``, ``id_wrong_length``,
    ``id_bad_birth_date`` (characters 7–14 not a real date between ``birth_not_before``
    and ``not_after``), ``id_bad_checksum``. With ``upgrade_15`` the pre-1999 15-digit
    numbers are converted to 18 (19 inserted before the year, check digit computed).
    """

    name: ClassVar[str] = "id_number"
    problem_codes: ClassVar[tuple[str, ...]] = (
        "id_invalid_characters",
        "id_wrong_length",
        "id_bad_birth_date",
        "id_bad_checksum",
    )
    upgrade_15: bool = field(default=False, kw_only=True)
    birth_not_before: dt.date = field(default=dt.date(1900, 1, 1), kw_only=True)
    not_after: dt.date | None = field(default=None, kw_only=True)

    @property
    def output_type(self) -> str:
        return "VARCHAR"

    def normalised_sql(self, raw: str) -> str:
        """Full-width folded, every whitespace character removed, upper-case.

        One guarded translate does both (no regex inside: this expression is repeated
        ~60 times in the SQL, once per digit of the checksum, and each regex costs
        compile time).
        """
        mapping = {**sql.fullwidth_map(_FOLD), **dict.fromkeys(sql.WS_CHARS, "")}
        return f"upper({sql.guarded_translate(raw, mapping, raw)})"

    def rules(self, t: str, raw: str) -> Rules:
        n = self.normalised_sql(raw)
        if self.upgrade_15:
            # 15-digit numbers (issued before 1999): insert the century, check digit follows.
            body = f"substr({sql.re_rewrite(n, '^([0-9]{6})([0-9]{9})$', '{1}19{2}')}, 1, 17)"
            lengths = f"(length({n}) = 18 OR (length({n}) = 15 AND {sql.re_matches(n, '^[0-9]+$')}))"
        else:
            body = f"substr({n}, 1, 17)"
            lengths = f"length({n}) = 18"
        check = check_char_sql(body)
        birth = sql.try_cast(f"substr({body}, 7, 4) || '-' || substr({body}, 11, 2) || '-' || substr({body}, 13, 2)", "DATE")
        bad_birth = f"{birth} IS NULL OR {birth} < {sql.date_literal(self.birth_not_before)}"
        if self.not_after is not None:
            bad_birth += f" OR {birth} > {sql.date_literal(self.not_after)}"
        checks = [
            (f"NOT {sql.re_matches(n, '^[0-9]*X?$')}", "id_invalid_characters"),
            (f"NOT {lengths}", "id_wrong_length"),
            (bad_birth, "id_bad_birth_date"),
            (f"length({n}) = 18 AND substr({n}, 18, 1) <> {check}", "id_bad_checksum"),
        ]
        return Rules(
            checks, f"{body} || {check}", "id_invalid_characters", value_null="FALSE", shared=(n, body, check, birth)
        )

    # ----------------------------------------------------------------- helpers
    def _std(self, expr: str, standardised: bool) -> str:
        if standardised:
            v = sql.cast(expr, "VARCHAR")
            return f"CASE WHEN {sql.re_matches(v, '^[0-9]{17}[0-9X]$')} THEN {v} END"
        return self.value_sql(expr)

    def birth_date_sql(self, expr: str, *, standardised: bool = False) -> str:
        """Birth date (DATE) encoded in the ID; NULL when the ID is not valid."""
        v = self._std(expr, standardised)
        ymd = sql.re_rewrite(f"substr({v}, 7, 8)", "^([0-9]{4})([0-9]{2})([0-9]{2})$", "{1}-{2}-{3}")
        return sql.try_cast(ymd, "DATE")

    def sex_sql(self, expr: str, *, standardised: bool = False) -> str:
        """'M' when the 17th digit is odd, 'F' when even; NULL when the ID is not valid."""
        v = self._std(expr, standardised)
        digit = sql.try_cast(f"substr({v}, 17, 1)", "INTEGER")
        return f"substr('FM', {digit} % 2 + 1, 1)"

    def crosscheck_sql(
        self,
        expr: str,
        birth_date_expr: str | None = None,
        sex_expr: str | None = None,
        *,
        standardised: bool = False,
    ) -> str:
        """Warning code when the ID disagrees with the row's stated birth date or sex.

        ``birth_date_expr`` must be a DATE expression and ``sex_expr`` an 'M'/'F'
        expression (i.e. already standardised). NULL when they agree, when either side
        is unknown, or when the ID is invalid (that is ``problem_sql``'s business).
        Birth date is checked first.
        """
        whens = []
        if birth_date_expr is not None:
            b = self.birth_date_sql(expr, standardised=standardised)
            whens.append(f"WHEN {b} <> {birth_date_expr} THEN 'id_birth_mismatch'")
        if sex_expr is not None:
            s = self.sex_sql(expr, standardised=standardised)
            whens.append(f"WHEN {s} <> {sex_expr} THEN 'id_sex_mismatch'")
        if not whens:
            raise ValueError("crosscheck_sql needs birth_date_expr and/or sex_expr")
        return "CASE " + " ".join(whens) + " END"

    def params(self) -> dict[str, Any]:
        return {"not_after": self.not_after.isoformat() if self.not_after else None}


_DEFAULT = IdNumberStandardiser()


def id_birth_date_sql(expr: str, *, standardised: bool = False) -> str:
    """Birth date encoded in a resident ID (raw input by default), NULL if the ID is invalid."""
    return _DEFAULT.birth_date_sql(expr, standardised=standardised)


def id_sex_sql(expr: str, *, standardised: bool = False) -> str:
    """'M'/'F' from the 17th digit of a resident ID, NULL if the ID is invalid."""
    return _DEFAULT.sex_sql(expr, standardised=standardised)


def id_crosscheck_sql(
    expr: str,
    birth_date_expr: str | None = None,
    sex_expr: str | None = None,
    *,
    standardised: bool = False,
) -> str:
    """``id_birth_mismatch`` / ``id_sex_mismatch`` warnings (see ``IdNumberStandardiser.crosscheck_sql``)."""
    return _DEFAULT.crosscheck_sql(expr, birth_date_expr, sex_expr, standardised=standardised)
