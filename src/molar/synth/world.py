"""The static world: calendar, clinics, doctors, treatments and seasonality.

Everything here is drawn from one RNG stream (``SeedSequence([seed, STATIC_STREAM])``) and
is identical for every chunk of people.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from molar.model import codes
from molar.synth import geo, names
from molar.synth.calendar import Calendar, day_number
from molar.synth.config import SynthConfig

STATIC_STREAM = 0x5EED_0000  # SeedSequence entropy word for the static world (chunks use 0, 1, 2…)
FINAL_STREAM = 0x5EED_0001

DEPT_ZH: dict[str, str] = {
    "general": "综合科",
    "periodontics": "牙周科",
    "endodontics": "牙体牙髓科",
    "surgery": "口腔外科",
    "implant": "种植科",
    "orthodontics": "正畸科",
    "prosthodontics": "修复科",
    "paediatrics": "儿童口腔科",
    "cosmetic": "美容科",
}
DEPTS = codes.DEPARTMENTS
D = {d: i for i, d in enumerate(DEPTS)}  # department index by code
DEPT_ZH_ARR = np.array([DEPT_ZH[d] for d in DEPTS], dtype=object)

ITEMS = codes.TREATMENTS
T = {t.code: i for i, t in enumerate(ITEMS)}  # treatment index by code
ITEM_CODE = np.array([t.code for t in ITEMS], dtype=object)
ITEM_ZH = np.array([t.name_zh for t in ITEMS], dtype=object)
ITEM_DEPT = np.array([D[t.department] for t in ITEMS], dtype=np.int64)
ITEM_PRICE = np.array([t.typical_price_yuan for t in ITEMS], dtype=np.float64)

# Doctors per department for a 12-chair clinic.
DOCTORS_PER_DEPT = {"general": 2, "periodontics": 2, "endodontics": 1, "surgery": 1, "implant": 1,
                    "orthodontics": 2, "prosthodontics": 1, "paediatrics": 1, "cosmetic": 1}
TITLES = ("主任医师", "副主任医师", "主治医师", "医师")
TITLE_P = (0.08, 0.2, 0.42, 0.30)

# Seasonality: month weights (Jan..Dec) per department and weekday weights (Mon..Sun).
MONTH_W: dict[str, tuple[float, ...]] = {
    "general": (1.0, 0.8, 1.0, 1.0, 1.0, 0.95, 1.05, 1.05, 1.0, 0.95, 1.0, 1.05),
    "periodontics": (1.25, 0.8, 0.95, 1.0, 1.0, 0.9, 1.15, 1.15, 0.95, 0.9, 1.0, 1.2),
    "endodontics": (1.0, 0.85, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 1.05, 1.05),
    "surgery": (1.0, 0.8, 0.95, 0.95, 0.95, 1.0, 1.45, 1.4, 0.9, 0.9, 0.95, 1.0),
    "implant": (0.9, 0.7, 1.15, 1.25, 1.2, 1.0, 0.8, 0.8, 1.15, 1.2, 1.2, 1.0),
    "orthodontics": (1.15, 1.0, 0.9, 0.9, 0.9, 0.95, 1.35, 1.35, 0.9, 0.85, 0.9, 0.95),
    "prosthodontics": (0.95, 0.75, 1.0, 1.0, 1.0, 0.95, 0.95, 0.95, 1.0, 1.1, 1.15, 1.15),
    "paediatrics": (2.2, 2.0, 0.7, 0.7, 0.7, 0.7, 2.8, 2.8, 0.6, 0.8, 0.7, 0.7),
    "cosmetic": (1.5, 0.9, 0.9, 1.0, 1.3, 1.0, 1.0, 1.0, 1.2, 1.3, 0.9, 1.3),
}
WEEKDAY_W: dict[str, tuple[float, ...]] = {
    "default": (0.9, 0.9, 0.9, 0.95, 1.0, 1.55, 1.3),
    "orthodontics": (0.45, 0.45, 0.45, 0.45, 0.5, 3.2, 2.8),
    "paediatrics": (0.65, 0.65, 0.65, 0.65, 0.7, 2.3, 2.0),
    "implant": (1.1, 1.1, 1.1, 1.1, 1.1, 0.8, 0.6),
}


@dataclass
class World:
    config: SynthConfig
    cal: Calendar
    start: int  # first day of the window (day number)
    end: int  # export date (day number)
    horizon: int  # last day for which future bookings are made
    # clinics
    clinic_id: np.ndarray
    clinic_name: np.ndarray  # HIS name 摩乐口腔春熙路诊所
    clinic_short: np.ndarray  # booking / member store name 春熙路店
    clinic_review: np.ndarray  # review-platform name 摩乐口腔(春熙路店)
    clinic_district: np.ndarray
    clinic_lat: np.ndarray
    clinic_lon: np.ndarray
    clinic_open: np.ndarray  # day number
    clinic_chairs: np.ndarray
    clinic_address: np.ndarray
    clinic_price: np.ndarray  # price level multiplier
    # doctors
    doctor_id: np.ndarray
    doctor_name: np.ndarray
    doctor_clinic: np.ndarray
    doctor_dept: np.ndarray
    doctor_title: np.ndarray
    doc_offset: np.ndarray  # [clinic, dept] first doctor index
    doc_count: np.ndarray  # [clinic, dept] doctors
    # districts
    district_lat: np.ndarray
    district_lon: np.ndarray
    district_km: np.ndarray  # [district, clinic] distance
    # seasonality [clinic, dept, day - w_first]
    w_first: int
    season: np.ndarray

    @property
    def n_clinics(self) -> int:
        return int(self.clinic_id.size)

    def season_weight(self, clinic: np.ndarray, dept: np.ndarray, day: np.ndarray) -> np.ndarray:
        i = np.clip(np.asarray(day, dtype=np.int64) - self.w_first, 0, self.season.shape[2] - 1)
        return self.season[clinic, dept, i]


def doctor_of(world: World, gidx: np.ndarray, clinic: np.ndarray, dept: np.ndarray) -> np.ndarray:
    """The doctor a person sees at a clinic and department (stable per person)."""
    h = (np.asarray(gidx, dtype=np.int64) * 2654435761 + np.asarray(dept) * 40503 + np.asarray(clinic) * 97) % 2147483647
    return world.doc_offset[clinic, dept] + h % world.doc_count[clinic, dept]


def between(rng: np.random.Generator, lo, hi) -> np.ndarray:
    """Uniform integer days in [lo, hi) per element; ``lo`` where the range is empty."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    span = np.maximum(hi - lo, 1)
    return lo + (rng.random(np.broadcast(lo, hi).shape) * span).astype(np.int64)


def build_world(config: SynthConfig) -> World:
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, STATIC_STREAM]))
    start = day_number(config.window_start)
    end = day_number(config.end_date)
    horizon = end + 75
    cal = Calendar(date(1915, 1, 1), date(config.end_date.year + 2, 12, 31))

    # ---- clinics --------------------------------------------------------------------
    n = config.clinics
    nd = len(geo.DISTRICTS)
    cid, cname, cshort, creview, cdist, lat, lon, addr = [], [], [], [], [], [], [], []
    used: set[str] = set()
    for k in range(n):
        di = k % nd
        dist = geo.DISTRICTS[di]
        lm = dist.landmarks[(k // nd) % len(dist.landmarks)]
        base = lm
        j = 2
        while base in used:
            base = f"{lm}{j}"
            j += 1
        used.add(base)
        cid.append(f"C{k + 1:02d}")
        cname.append(f"{geo.BRAND}{base}诊所")
        cshort.append(f"{base}店")
        creview.append(f"{geo.BRAND}({base}店)")
        cdist.append(di)
        lat.append(round(dist.lat + float(rng.normal(0, 0.012)), 6))
        lon.append(round(dist.lon + float(rng.normal(0, 0.012)), 6))
        street = dist.streets[int(rng.integers(0, len(dist.streets)))]
        addr.append(f"{geo.CITY}市{dist.name}{street}{int(rng.integers(1, 300))}号{int(rng.integers(1, 4))}楼")
    n_old = max(1, int(np.ceil(0.7 * n)))
    first_open = min(day_number(date(2012, 3, 1)), start - 1500)
    old_open = np.sort(rng.integers(first_open, start - 420, size=n_old))
    new_open = np.sort(rng.integers(start - 400, start + int(0.6 * (end - start)), size=n - n_old))
    clinic_open = np.concatenate([old_open, new_open]).astype(np.int64)
    chairs = rng.integers(6, 21, size=n)
    price = np.round(rng.uniform(0.9, 1.2, size=n), 3)

    # ---- doctors --------------------------------------------------------------------
    doc_count = np.zeros((n, len(DEPTS)), dtype=np.int64)
    for c in range(n):
        for d, dept in enumerate(DEPTS):
            doc_count[c, d] = max(1, int(round(DOCTORS_PER_DEPT[dept] * chairs[c] / 12)))
    doc_offset = (np.cumsum(doc_count.ravel()) - doc_count.ravel()).reshape(doc_count.shape)
    total = int(doc_count.sum())
    doctor_clinic = np.repeat(np.repeat(np.arange(n), len(DEPTS)), doc_count.ravel())
    doctor_dept = np.repeat(np.tile(np.arange(len(DEPTS)), n), doc_count.ravel())
    dsex = rng.integers(0, 2, size=total)
    dby = rng.integers(1966, 1998, size=total)
    dname = names.SURNAME_TEXT[names.draw_surnames(rng, total)] + names.draw_given_names(rng, dsex, dby)
    titles = np.array(TITLES, dtype=object)[rng.choice(len(TITLES), size=total, p=TITLE_P)]
    hyg = (doctor_dept == D["periodontics"]) & (rng.random(total) < 0.5)
    titles[hyg] = "洁牙师"
    doctor_id = np.array([f"D{i + 1:04d}" for i in range(total)], dtype=object)

    # ---- districts ------------------------------------------------------------------
    dlat = np.array([d.lat for d in geo.DISTRICTS])
    dlon = np.array([d.lon for d in geo.DISTRICTS])
    km = geo.haversine_km(dlat[:, None], dlon[:, None], np.array(lat)[None, :], np.array(lon)[None, :])

    # ---- seasonality ----------------------------------------------------------------
    w_first = start - 120
    days = np.arange(w_first, horizon + 60)
    ci = cal.idx(days)
    month = cal.month[ci].astype(np.int64) - 1
    wd = cal.weekday[ci].astype(np.int64)
    closed = cal.closed[ci]
    holiday = cal.holiday[ci]
    phase = rng.uniform(0, 12, size=n)
    amp = rng.uniform(0.05, 0.2, size=n)
    clinic_m = 1 + amp[:, None] * np.sin(2 * np.pi * (np.arange(12)[None, :] + phase[:, None]) / 12)
    season = np.empty((n, len(DEPTS), days.size), dtype=np.float32)
    for d, dept in enumerate(DEPTS):
        mw = np.array(MONTH_W[dept])[month]
        ww = np.array(WEEKDAY_W.get(dept, WEEKDAY_W["default"]))[wd]
        base = mw * ww * np.where(closed, 0.02, 1.0) * np.where(holiday, 0.6, 1.0)
        season[:, d, :] = clinic_m[:, month] * base[None, :]
    for c in range(n):  # no visits before a clinic opens
        season[c, :, : max(0, int(clinic_open[c]) - w_first)] = 1e-6

    return World(
        config=config, cal=cal, start=start, end=end, horizon=horizon,
        clinic_id=np.array(cid, dtype=object), clinic_name=np.array(cname, dtype=object),
        clinic_short=np.array(cshort, dtype=object), clinic_review=np.array(creview, dtype=object),
        clinic_district=np.array(cdist, dtype=np.int64), clinic_lat=np.array(lat), clinic_lon=np.array(lon),
        clinic_open=clinic_open, clinic_chairs=chairs.astype(np.int64), clinic_address=np.array(addr, dtype=object),
        clinic_price=price,
        doctor_id=doctor_id, doctor_name=dname, doctor_clinic=doctor_clinic.astype(np.int64),
        doctor_dept=doctor_dept.astype(np.int64), doctor_title=titles, doc_offset=doc_offset, doc_count=doc_count,
        district_lat=dlat, district_lon=dlon, district_km=km,
        w_first=w_first, season=season,
    )
