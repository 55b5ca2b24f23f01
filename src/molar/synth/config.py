"""Configuration of the synthetic chain: the size of the world and every noise rate.

All rates that make source data dirty live in :class:`NoiseRates`, in one place, so the
docs (docs/synthetic-chain.md), the manifest and the tests agree on the same numbers.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class NoiseRates:
    """Probabilities of each kind of noise, per source record (or per row, for invalid rows).

    Identity noise makes records of one person look different across systems; invalid-row
    rates make rows that ingest must quarantine.  Population-structure rates (family phone
    sharing, duplicate registrations) are here too because they are what makes record
    linkage hard.
    """

    # --- how people are recorded (hard negatives / duplicate registrations) ----------
    child_uses_parent_phone: float = 0.90  # a minor is registered with a parent's mobile
    elder_uses_child_phone: float = 0.45  # an elder (65+) is registered with the head's mobile
    mobile_changed: float = 0.06  # person changed number; older records keep the old one
    his_second_record: float = 0.03  # person re-registered at another clinic (2 HIS records)
    booking_second_record: float = 0.02  # a second booking account
    member_second_card: float = 0.01  # a second membership card
    # --- identity noise on names, phones, IDs, birthdays ------------------------------
    name_homophone: float = 0.04  # one character replaced by a homophone (张伟→张玮)
    name_traditional: float = 0.015  # name typed in traditional characters (陈静→陳靜)
    name_pinyin: float = 0.01  # booking only: name typed in pinyin ("Zhang Wei")
    name_whitespace: float = 0.01  # stray spaces inside / around the name
    mobile_missing: float = 0.05  # HIS / member record without a mobile
    mobile_transposed: float = 0.01  # two adjacent digits swapped (still 11 digits)
    mobile_formatted: float = 0.15  # "+86 138 1234 5678", "138-1234-5678", "8613812345678"
    id_missing: float = 0.30  # HIS / member record without an ID number
    birth_date_error: float = 0.01  # day/month swapped or a wrong day / year
    sex_letter_code: float = 0.03  # HIS 性别 as M/F instead of 男/女
    wechat_mobile_bound: float = 0.35  # share of WeChat users with a bound mobile
    wechat_real_name: float = 0.15  # share of WeChat nicknames that are the real name
    # --- invalid rows (ingest must quarantine these) ------------------------------
    invalid_date: float = 0.005  # impossible calendar date (2024-02-30, 2025-13-01)
    invalid_phone_length: float = 0.006  # mobile with 10 or 12 digits
    invalid_id_checksum: float = 0.006  # 18-char ID number whose check char is wrong
    negative_amount: float = 0.005  # charge with a negative 金额
    future_visit_date: float = 0.004  # visit dated after the export date
    duplicate_row: float = 0.010  # exact duplicate of the previous row

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise ValueError(
                    f"NoiseRates.{f.name} must be a probability in [0, 1], got {v!r}; "
                    f"pass e.g. NoiseRates({f.name}=0.01)"
                )

    def as_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class SynthConfig:
    """What to generate.

    ``patients`` is the number of distinct real people in the world (some of them never
    visit: WeChat followers and booking leads).  ``end_date`` is the export date; the
    window of activity covers the ``years`` years up to and including it.
    """

    out_dir: Path
    patients: int = 20_000
    clinics: int = 10
    seed: int = 7
    end_date: date = date(2026, 10, 31)
    years: int = 2
    noise: NoiseRates = field(default_factory=NoiseRates)
    toothbrush_share: float = 0.05
    chunk_size: int = 25_000
    sheet_row_limit: int = 1_000_000
    workers: int = 2  # processes (2 from 100,000 people up); output is byte-identical for 1 and 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if not isinstance(self.patients, int) or self.patients < 10:
            raise ValueError(f"patients must be an int >= 10, got {self.patients!r}")
        if not isinstance(self.clinics, int) or not 1 <= self.clinics <= 99:
            raise ValueError(f"clinics must be an int in 1..99 (IDs are C01..C99), got {self.clinics!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if not isinstance(self.end_date, date):
            raise ValueError(f"end_date must be a datetime.date, got {self.end_date!r}")
        if not date(2015, 1, 1) <= self.end_date <= date(2034, 12, 31):
            raise ValueError(f"end_date must lie in 2015..2034 (holiday tables), got {self.end_date}")
        if not isinstance(self.years, int) or not 1 <= self.years <= 5:
            raise ValueError(f"years must be an int in 1..5, got {self.years!r}")
        if not isinstance(self.noise, NoiseRates):
            raise ValueError("noise must be a NoiseRates instance, e.g. NoiseRates(name_homophone=0.05)")
        if not 0.0 <= self.toothbrush_share <= 0.3:
            raise ValueError(f"toothbrush_share must be in [0, 0.3], got {self.toothbrush_share!r}")
        if not isinstance(self.chunk_size, int) or self.chunk_size < 100:
            raise ValueError(f"chunk_size must be an int >= 100, got {self.chunk_size!r}")
        if not isinstance(self.sheet_row_limit, int) or not 1 <= self.sheet_row_limit <= 1_048_575:
            raise ValueError(
                f"sheet_row_limit must be in 1..1048575 (Excel's row limit minus the header), "
                f"got {self.sheet_row_limit!r}"
            )

        if not isinstance(self.workers, int) or self.workers not in (1, 2):
            raise ValueError(f"workers must be 1 or 2, got {self.workers!r}")

    @property
    def window_start(self) -> date:
        """First day of the activity window (``years`` years before ``end_date``, exclusive)."""
        try:
            d = self.end_date.replace(year=self.end_date.year - self.years)
        except ValueError:  # 29 February
            d = self.end_date.replace(year=self.end_date.year - self.years, day=28)
        return date.fromordinal(d.toordinal() + 1)

    def as_dict(self) -> dict[str, object]:
        """The settings that determine the output (``out_dir`` and ``workers`` are left out on
        purpose: they do not change a byte of it)."""
        return {
            "patients": self.patients,
            "clinics": self.clinics,
            "seed": self.seed,
            "end_date": self.end_date.isoformat(),
            "years": self.years,
            "toothbrush_share": self.toothbrush_share,
            "chunk_size": self.chunk_size,
            "sheet_row_limit": self.sheet_row_limit,
        }

    def to_json(self) -> str:
        """Everything, including ``out_dir``, ``workers`` and the noise rates (for a worker process)."""
        d = dict(self.as_dict())
        d.update(out_dir=str(self.out_dir), workers=self.workers, noise=self.noise.as_dict())
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SynthConfig:
        d = json.loads(text)
        d["end_date"] = date.fromisoformat(d["end_date"])
        d["out_dir"] = Path(d["out_dir"])
        d["noise"] = NoiseRates(**d["noise"])
        return cls(**d)
