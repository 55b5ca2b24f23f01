"""``date`` and ``timestamp``: many written forms → DATE / TIMESTAMP, with a plausible range."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from molar.ingest.standardise import sql
from molar.ingest.standardise.base import Rules, Standardiser


@dataclass(frozen=True)
class DateFormat:
    """A written date form: a regex for the date part with three groups in ``order``."""

    name: str
    example: str
    pattern: str  # over the normalised text (ASCII digits/punctuation, single spaces)
    order: str  # "ymd", "dmy" or "mdy": which group is year, month, day
    time_sep: str  # regex that must separate the date from a time of day


# Years 0001–9999 (DuckDB would read 0000 as 1 BC).
_Y = r"((?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9]))"
_M = r"([0-9]{1,2})"

DATE_FORMATS: dict[str, DateFormat] = {
    f.name: f
    for f in (
        DateFormat("ymd", "2024-01-05、2024/1/5、2024.1.5", rf"{_Y}[-/.]{_M}[-/.]{_M}", "ymd", r"(?: |T)"),
        DateFormat("chinese", "2024年1月5日", rf"{_Y} ?年 ?{_M} ?月 ?{_M} ?[日号]?", "ymd", r" ?"),
        DateFormat("compact", "20240105", rf"{_Y}([0-9]{{2}})([0-9]{{2}})", "ymd", r"(?: |T)"),
        # Day-first and month-first forms are ambiguous with each other; off by default.
        DateFormat("dmy", "05/01/2024", rf"{_M}[-/.]{_M}[-/.]{_Y}", "dmy", r" "),
        DateFormat("mdy", "01/05/2024", rf"{_M}[-/.]{_M}[-/.]{_Y}", "mdy", r" "),
    )
}
DEFAULT_DATE_FORMATS: tuple[str, ...] = ("ymd", "chinese", "compact")
EXCEL_SERIAL = r"^[1-9][0-9]{4}(?:\.[0-9]+)?$"  # an Excel day number (five digits, optional time fraction)

# Time of day, validated by the pattern itself (DuckDB would read 24:00 as midnight of
# the next day): H:MM or H:MM:SS, with a fraction of a second accepted and dropped.
_HH = r"([01]?[0-9]|2[0-3])"
_MM = r"([0-5][0-9])"
_FRACTION = r"(?:[.,][0-9]{1,9})?"

# Characters whose full-width forms are folded before parsing.
_FOLD = "0123456789-/.:, T"


def format_rewrite(name: str, with_time: bool) -> tuple[str, str]:
    """(anchored pattern, template) that rewrites one format as ``|Y-M-D[ h:m:s]``.

    The leading '|' marks a rewritten value: no accepted format contains '|', so text
    no pattern matched can never look rewritten. Without ``with_time`` a time may
    follow but only the date is kept. With it, absent time parts leave ``' ::'`` or a
    trailing ``':'``, which ``rtrim(…, ' :')`` removes (a bare date reads as midnight).
    """
    f = DATE_FORMATS[name]
    ymd = "-".join("{" + str(f.order.index(k) + 1) + "}" for k in "ymd")
    pattern = rf"^{f.pattern}(?:{f.time_sep}{_HH}:{_MM}(?::{_MM}{_FRACTION})?)?$"
    return pattern, "|" + ymd + (" {4}:{5}:{6}" if with_time else "")


@dataclass
class _DateParser:
    formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    not_before: dt.date | dt.datetime | None = dt.date(1900, 1, 1)
    not_after: dt.date | dt.datetime | None = None
    # Accept Excel's day numbers (a date cell saved as a number: 45296 = 2024-01-05). Five
    # digits only (1927-05-18 … 2173-10-14), so years (1990) and counts are never read as
    # days. Day 1 is 1900-01-01 and Excel counts a 1900-02-29 that never was, so five-digit
    # serials count from 1899-12-30.
    excel_serial: bool = False

    def __post_init__(self) -> None:
        self.formats = tuple(self.formats)
        unknown = [f for f in self.formats if f not in DATE_FORMATS]
        if unknown or not self.formats:
            raise ValueError(f"unknown date formats {unknown}; known: {', '.join(DATE_FORMATS)}")

    def _parse(self, t: str, raw: str, with_time: bool, sql_type: str) -> tuple[str, str, tuple[str, ...]]:
        """(value, matched, shared sub-expressions (n, c, value)) SQL: each format in
        turn rewrites a whole-string match to ``|Y-M-D[ h:m:s]``; the first format that
        matches wins. ``value`` is NULL for impossible dates such as 2024-02-30."""
        n = sql.collapse_ws(sql.guarded_translate(t, sql.fullwidth_map(_FOLD), raw))
        c = n
        for fname in self.formats:
            c = sql.re_rewrite(c, *format_rewrite(fname, with_time))
        if with_time:
            c = sql.rtrim_chars(c, " :")
        matched = f"(substr({c}, 1, 1) = '|' AND instr({n}, '|') = 0)"
        value = sql.try_cast(f"substr({c}, 2)", sql_type)
        if self.excel_serial:
            serial = sql.re_matches(n, EXCEL_SERIAL)
            days = sql.try_cast(n, "DOUBLE")
            if with_time:
                day_value = f"(TIMESTAMP '1899-12-30' + to_seconds(CAST(round({days} * 86400) AS BIGINT)))"
            else:
                day_value = f"CAST(DATE '1899-12-30' + CAST(floor({days}) AS INTEGER) AS DATE)"
            # CASE, not OR: the serial pattern is tried only where no written format matched.
            value = f"(CASE WHEN {matched} THEN {value} WHEN {serial} THEN {day_value} END)"
            matched = f"(CASE WHEN {matched} THEN TRUE ELSE {serial} END)"
        return value, matched, (n, c, value)

    def _range_checks(self, value: str, as_date: str) -> list[tuple[str, str]]:
        checks = []
        for bound, op, code in ((self.not_before, "<", "date_too_old"), (self.not_after, ">", "date_in_future")):
            if bound is None:
                continue
            lhs = value if isinstance(bound, dt.datetime) else as_date
            checks.append((f"{lhs} {op} {sql.date_literal(bound)}", code))
        return checks

    def range_params(self) -> dict[str, Any]:
        return {
            "not_before": self.not_before.isoformat() if self.not_before else None,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "formats": "、".join(DATE_FORMATS[f].example for f in self.formats),
        }


@dataclass
class DateStandardiser(_DateParser, Standardiser):
    """Dates written as 2024-01-05, 2024/1/5, 2024.1.5, 2024年1月5日, 20240105 → DATE.

    A trailing time of day (``2024-01-05 10:22:00``) is accepted and dropped, but it
    must be a real time. Full-width digits and punctuation are folded first.
    ``not_before`` (default 1900-01-01) and ``not_after`` (default none; pass the
    load's reference date, not "today", so reruns give the same result) bound the
    plausible range. ``formats`` picks and orders the accepted forms (keys of
    ``DATE_FORMATS``; the first that matches wins).
    """

    name: ClassVar[str] = "date"
    problem_codes: ClassVar[tuple[str, ...]] = ("date_invalid", "date_too_old", "date_in_future")

    @property
    def output_type(self) -> str:
        return "DATE"

    def rules(self, t: str, raw: str) -> Rules:
        value, matched, shared = self._parse(t, raw, False, "DATE")
        checks = [(f"NOT {matched} OR {value} IS NULL", "date_invalid"), *self._range_checks(value, value)]
        return Rules(checks, value, "date_invalid", value_null="FALSE", shared=shared)

    def params(self) -> dict[str, Any]:
        return self.range_params()


@dataclass
class TimestampStandardiser(_DateParser, Standardiser):
    """Date and time of day → TIMESTAMP (seconds precision, clinic local time).

    Accepts every ``date`` form followed by ``H:MM`` or ``H:MM:SS`` (separated by a
    space or ``T``; after 年月日 the space is optional). A date without a time means
    midnight unless ``require_time`` is set.
    """

    name: ClassVar[str] = "timestamp"
    problem_codes: ClassVar[tuple[str, ...]] = (
        "timestamp_invalid",
        "timestamp_missing_time",
        "date_too_old",
        "date_in_future",
    )
    require_time: bool = field(default=False, kw_only=True)

    @property
    def output_type(self) -> str:
        return "TIMESTAMP"

    def rules(self, t: str, raw: str) -> Rules:
        value, matched, shared = self._parse(t, raw, True, "TIMESTAMP")
        checks = [(f"NOT {matched} OR {value} IS NULL", "timestamp_invalid")]
        if self.require_time:
            c = shared[1]  # the rewritten text: '|Y-M-D' when no time was written
            checks.append((f"instr({c}, ' ') = 0", "timestamp_missing_time"))
        checks.extend(self._range_checks(value, sql.cast(value, "DATE")))
        return Rules(checks, value, "timestamp_invalid", value_null="FALSE", shared=shared)

    def params(self) -> dict[str, Any]:
        return self.range_params()
