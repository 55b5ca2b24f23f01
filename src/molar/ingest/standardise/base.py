"""The standardiser protocol: raw VARCHAR expression in, value and problem expressions out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from molar.ingest.standardise import sql
from molar.ingest.standardise.problems import PROBLEMS, Problem

# Cell contents that mean "no value" in exports from HIS/Excel/pandas. Compared after
# trimming, case-insensitively. Blank cells are always "no value".
DEFAULT_NULL_TOKENS: tuple[str, ...] = ("null", "none", "nan", "n/a", "#n/a", "\\n", "-", "--", "/")


@dataclass(frozen=True)
class Rules:
    """What a standardiser does with a trimmed, non-blank input.

    ``checks`` are (condition, problem code) pairs tried in order; the first true one
    is the row's problem and the value is NULL. ``value`` is the standardised value
    when no check fires; if it is still NULL, ``fallback`` is the problem. Rows where
    ``no_value`` holds are treated like blanks (NULL value, no problem) — e.g. a sex
    stated explicitly as "unknown". ``value_null``, if given, is a cheaper expression
    equivalent to ``value IS NULL`` once the checks have passed.

    ``shared`` lists the costly sub-expressions that the checks and the value repeat
    (see ``Standardiser.value_sql`` for why they are named).
    """

    checks: list[tuple[str, str]]
    value: str
    fallback: str
    no_value: str | None = None
    value_null: str | None = None
    shared: tuple[str, ...] = ()


@dataclass
class Standardiser(ABC):
    """Base class. Subclasses set ``name`` and ``problem_codes`` and implement ``rules``.

    ``value_sql`` and ``problem_sql`` are plain SQL expressions over the input
    expression, safe to compose into any SELECT: no macros, no UDFs, no errors raised
    at run time for any input string (every cast is a TRY_CAST). Exactly one of these
    holds for every row: the input is blank/NULL (value and problem NULL), the value is
    non-NULL (problem NULL), or the problem is non-NULL (value NULL).
    """

    name: ClassVar[str]
    problem_codes: ClassVar[tuple[str, ...]]

    null_tokens: tuple[str, ...] = field(default=DEFAULT_NULL_TOKENS, kw_only=True)

    # ------------------------------------------------------------------ to implement
    @property
    @abstractmethod
    def output_type(self) -> str:
        """DuckDB type of the standardised value."""

    @abstractmethod
    def rules(self, t: str, raw: str) -> Rules:
        """Rules over ``t``, the SQL for the trimmed input (not blank when evaluated).

        ``raw`` is the untrimmed input as VARCHAR: a short expression for guards that
        only ask whether some character occurs (keeps the generated SQL small, since
        every reference to ``t`` repeats its text).
        """

    def params(self) -> dict[str, Any]:
        """Parameters for problem messages besides ``{value}``."""
        return {}

    # ------------------------------------------------------------------- public API
    def raw_sql(self, expr: str) -> str:
        return sql.cast(expr, "VARCHAR")

    def trimmed_sql(self, expr: str) -> str:
        return sql.trim_ws(self.raw_sql(expr))

    def blank_sql(self, expr: str) -> str:
        t = self.trimmed_sql(expr)
        tokens = ["", *(tok.lower() for tok in self.null_tokens)]
        return f"(coalesce(lower({t}), '') IN {sql.lit_list(tokens)})"

    @staticmethod
    def _warm_up(t: str, r: Rules) -> str:
        """An always-false first CASE condition that mentions every shared sub-expression.

        DuckDB's common-sub-expression elimination only considers expressions in
        positions that are always evaluated (not in later CASE branches or later
        operands of AND/OR); a sub-expression repeated only in such conditional places is
        computed once per mention. Naming each shared sub-expression here, in the first
        condition, lets DuckDB compute it once per row for the value and problem columns
        together (≈4× faster on dates). ``length(…) < 0`` is never true.
        """
        args = ", ".join(f"CAST({x} AS VARCHAR)" for x in (t, *r.shared))
        return f"length(concat({args})) < 0"

    def value_sql(self, expr: str) -> str:
        t = self.trimmed_sql(expr)
        r = self.rules(t, self.raw_sql(expr))
        nulls = [self.blank_sql(expr)]
        if r.no_value:
            nulls.append(f"({r.no_value})")
        nulls.extend(f"({cond})" for cond, _ in r.checks)
        when = "\n  OR ".join(nulls)
        return (
            f"CAST(CASE WHEN {self._warm_up(t, r)} THEN NULL\n  WHEN {when}\n  THEN NULL ELSE {r.value} END"
            f" AS {self.output_type})"
        )

    def problem_sql(self, expr: str) -> str:
        t = self.trimmed_sql(expr)
        r = self.rules(t, self.raw_sql(expr))
        parts = [f"CASE WHEN {self._warm_up(t, r)} THEN NULL", f"WHEN {self.blank_sql(expr)} THEN NULL"]
        if r.no_value:
            parts.append(f"WHEN {r.no_value} THEN NULL")
        parts.extend(f"WHEN {cond} THEN {sql.lit(code)}" for cond, code in r.checks)
        value_null = r.value_null or f"({r.value}) IS NULL"
        if value_null != "FALSE":
            parts.append(f"WHEN {value_null} THEN {sql.lit(r.fallback)}")
        parts.append("END")
        return "\n  ".join(parts)

    def select_sql(self, expr: str, alias: str) -> str:
        """``<value> AS alias, <problem> AS alias__problem`` for a SELECT list."""
        return f"{self.value_sql(expr)} AS {alias},\n{self.problem_sql(expr)} AS {alias}__problem"

    def problems(self) -> dict[str, Problem]:
        """This standardiser's problems, messages completed with its settings (only
        ``{value}`` left to fill)."""
        params = self.params()
        return {code: PROBLEMS[code].specialised(**params) for code in self.problem_codes}

    def message(self, code: str, value: object = None, lang: str = "zh") -> str:
        """Finished message for one of this standardiser's problems and a raw value."""
        return PROBLEMS[code].format(value, lang, **self.params())
