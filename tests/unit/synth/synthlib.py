"""Readers for a generated synthetic chain, used by the synth tests (independent of the generator)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from molar.synth import SynthConfig

BRAND = "摩乐口腔"


@dataclass
class Chain:
    out: Path
    config: SynthConfig
    manifest: dict

    @property
    def src(self) -> Path:
        return self.out / "sources"

    def csv(self, rel: str, encoding: str) -> pd.DataFrame:
        """A source CSV as strings; empty cells stay ''."""
        return pd.read_csv(self.src / rel, encoding=encoding, dtype=str, keep_default_na=False)

    def his(self, name: str) -> pd.DataFrame:
        return self.csv(f"his/{name}.csv", "gbk")

    def xlsx(self, rel: str) -> dict[str, pd.DataFrame]:
        wb = CalamineWorkbook.from_path(str(self.src / rel))
        out = {}
        for name in wb.sheet_names:
            rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
            out[name] = pd.DataFrame(rows[1:], columns=rows[0])
        return out

    def appointments(self) -> pd.DataFrame:
        frames = []
        for p in sorted(self.src.glob("booking/appointments_*.xlsx")):
            for df in self.xlsx(p.relative_to(self.src).as_posix()).values():
                frames.append(df.assign(_file=p.name))
        return pd.concat(frames, ignore_index=True)

    def customers(self) -> pd.DataFrame:
        return pd.concat(self.xlsx("booking/customers.xlsx").values(), ignore_index=True)

    def jsonl(self, rel: str) -> pd.DataFrame:
        return pd.read_json(self.src / rel, lines=True, dtype=False)

    def truth(self, name: str) -> pd.DataFrame:
        return pd.read_parquet(self.out / "truth" / f"{name}.parquet")

    @cached_property
    def persons(self) -> pd.DataFrame:
        return self.truth("persons")

    @cached_property
    def records(self) -> pd.DataFrame:
        return self.truth("records")

    @cached_property
    def invalid(self) -> pd.DataFrame:
        return self.truth("invalid_rows")

    def person_of(self, source: str, table: str) -> dict[str, str]:
        r = self.records[(self.records.source == source) & (self.records.table == table)]
        return dict(zip(r.record_key, r.person_id, strict=True))

    @property
    def end(self) -> date:
        return self.config.end_date

    @property
    def start(self) -> date:
        return date.fromisoformat(self.manifest["window"]["start"])

    def clinic_ids(self) -> dict[str, str]:
        """Every name form of a clinic (HIS name, store name, review name) -> clinic ID."""
        out = {}
        for cid, name in zip(self.his("clinics")["诊所编号"], self.his("clinics")["诊所名称"], strict=True):
            branch = name.removeprefix(BRAND).removesuffix("诊所")
            out[name] = cid
            out[f"{branch}店"] = cid
            out[f"{BRAND}({branch}店)"] = cid
        return out


_FORMATS = (
    re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def parse_date(s: str) -> date | None:
    """A date in any of the four HIS formats; None if the text is not a real calendar date."""
    for rx in _FORMATS:
        m = rx.match(s)
        if m:
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                return None
    return None


def date_style(s: str) -> int | None:
    for i, rx in enumerate(_FORMATS):
        if rx.match(s):
            return i
    return None


def digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def read_raw_rows(path: Path, encoding: str) -> list[list[str]]:
    with open(path, encoding=encoding, newline="") as fh:
        return list(csv.reader(io.StringIO(fh.read())))


def load_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
