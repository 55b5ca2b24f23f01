"""Unix times (seconds since 1970-01-01 UTC), as WeChat and app platforms export them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

from molar.ingest.standardise import sql
from molar.ingest.standardise.base import Rules, Standardiser


@dataclass
class EpochStandardiser(Standardiser):
    """Unix seconds (9–10 digits, or 13 digits of milliseconds) → clinic local TIMESTAMP.

    ``utc_offset_hours`` is the clinics' offset from UTC (China Standard Time: +8, no
    daylight saving). ``output`` is ``timestamp`` or ``date``. ``not_after`` bounds the
    plausible range like the date standardiser.
    """

    name: ClassVar[str] = "epoch"
    problem_codes: ClassVar[tuple[str, ...]] = ("timestamp_invalid", "date_in_future")
    utc_offset_hours: int = field(default=8, kw_only=True)
    output: str = field(default="timestamp", kw_only=True)
    not_after: dt.date | dt.datetime | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.output not in ("timestamp", "date"):
            raise ValueError("output must be 'timestamp' or 'date'")

    @property
    def output_type(self) -> str:
        return "TIMESTAMP" if self.output == "timestamp" else "DATE"

    def rules(self, t: str, raw: str) -> Rules:
        seconds = f"CASE WHEN length({t}) = 13 THEN {sql.try_cast(t, 'BIGINT')} // 1000 ELSE {sql.try_cast(t, 'BIGINT')} END"
        local = f"(make_timestamp(({seconds}) * 1000000) + INTERVAL {int(self.utc_offset_hours)} HOUR)"
        value = local if self.output == "timestamp" else sql.cast(local, "DATE")
        checks = [(f"NOT {sql.re_matches(t, '^([0-9]{9,10}|[0-9]{13})$')}", "timestamp_invalid")]
        if self.not_after is not None:
            bound = self.not_after
            if not isinstance(bound, dt.datetime):
                bound = dt.datetime.combine(bound, dt.time(23, 59, 59))
            checks.append((f"{local} > {sql.date_literal(bound)}", "date_in_future"))
        return Rules(checks, value, "timestamp_invalid")

    def params(self) -> dict[str, Any]:
        return {
            "not_before": None,
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "formats": "Unix 秒数 (如 1700000000)",
        }
