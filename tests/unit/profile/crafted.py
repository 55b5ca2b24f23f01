"""A crafted dental chain written straight into a fresh warehouse, for profile tests.

Each patient is one declarative ``Patient`` with lists of visits, charges, bookings, cards,
app events, toothbrush days and consult/review texts; ``Chain.build`` writes the golden
record (identity.golden / identity.patient / identity.cluster with his, booking, member and
wechat records) and the std.* rows, so a test reads like the patient's story:

    chain = Chain([Patient("A", visits=[Visit(ago(100), ["CLN"])])])
    chain.build(warehouse)
    tags = tag_values(warehouse)
    assert tags.value(chain["A"], "recall_status") == "not_due"

Import as ``from unit.profile.crafted import …`` (tests/ is on the path).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from molar.privacy import fields
from molar.privacy.keys import open_keyring_from
from molar.profile.catalogue import Tag, load_catalogue
from molar.profile.inputs import build_inputs
from molar.profile.run import compute_profile
from molar.profile.tagging import compute_tags
from molar.warehouse import Engine, open_warehouse

AS_OF = date(2026, 10, 31)
RUN_AT = datetime(2026, 1, 1)
AUTO: Any = "auto"  # "derive this field" marker for dataclass defaults


def ago(days: int, as_of: date = AS_OF) -> date:
    """The date ``days`` days before ``as_of``."""
    return as_of - timedelta(days=days)


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


def years_before(as_of: date, years: int) -> date:
    """Same month and day, ``years`` earlier (the birthday that makes someone ``years`` old on as_of)."""
    return as_of.replace(year=as_of.year - years)


# --------------------------------------------------------------------------------------
# A fresh migrated warehouse per test, copied from one migrated template (4× faster than
# migrating each time). Test modules override tests/conftest.py's ``warehouse`` with
#     @pytest.fixture
#     def warehouse(tmp_path):
#         yield from fresh_warehouse(tmp_path)

_TEMPLATE: Path | None = None


def _template() -> Path:
    global _TEMPLATE
    if _TEMPLATE is None:
        folder = Path(tempfile.mkdtemp(prefix="molar-profile-template-"))
        atexit.register(shutil.rmtree, folder, True)
        open_warehouse(path=folder / "template.duckdb").close()
        _TEMPLATE = folder / "template.duckdb"
    return _TEMPLATE


def new_warehouse(path: Path) -> Engine:
    """A migrated, empty warehouse at ``path`` (a copy of the template)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template(), path)
    return open_warehouse(path=path)


def fresh_warehouse(tmp_path: Path) -> Iterator[Engine]:
    engine = new_warehouse(tmp_path / "molar.duckdb")
    try:
        yield engine
    finally:
        engine.close()


# --------------------------------------------------------------------------------------
# The chain's clinics: real Chengdu districts (profile/reference/district_centroids.csv).


@dataclass(frozen=True)
class Clinic:
    clinic_id: str
    name: str
    district: str
    latitude: float | None
    longitude: float | None


CLINICS = (
    Clinic("C01", "锦江口腔门诊部", "锦江区", 30.657, 104.083),  # at the 锦江区 centroid
    Clinic("C02", "高新口腔门诊部", "高新区", 30.55, 104.06),
    Clinic("C03", "双流口腔门诊部", "双流区", 30.574, 103.924),  # at the 双流区 centroid
)


# --------------------------------------------------------------------------------------
# What happens to a patient.


@dataclass
class Visit:
    on: date
    items: list[str] = field(default_factory=list)  # treatment item codes (codes.TREATMENTS)
    diagnosis: str | None = None
    clinic: str = "C01"
    amount: float | None = None  # also charge this much on the visit day


@dataclass
class Charge:
    on: date
    amount: float
    paid: float | None = AUTO  # AUTO: paid in full; None: paid_yuan left empty
    coupon: str | None = None
    method: str = "wechat_pay"


@dataclass
class Booking:
    slot: datetime
    channel: str | None = "wechat"
    status: str = "arrived"
    booked_at: datetime | None = AUTO  # AUTO: a week before the slot
    clinic: str = "C01"
    department: str = "general"


@dataclass
class Card:
    level: str | None = "regular"
    package: str | None = None
    opened_on: date | None = None
    balance: float = 0.0
    points: int = 0


@dataclass
class Event:
    type: str
    when: datetime
    article: str | None = None
    coupon: str | None = None
    referrer: str | None = None  # key of the referring patient in the same chain
    platform: str = "wechat"


@dataclass
class Brush:
    on: date
    seconds: int | None = 240
    plaque: float | None = 0.5
    sessions: int = 2


@dataclass
class Text:
    when: datetime
    label: str  # satisfied | doubt | complaint | neutral (as the classifier would say)
    text: str = "请问周末可以预约吗"
    kind: str = "consult"  # consult | review


@dataclass
class Patient:
    key: str
    sex: str | None = "F"
    birth: date | None = date(1990, 5, 20)
    district: str | None = "锦江区"
    home_clinic: str = "C01"
    wechat: bool = True
    visits: list[Visit] = field(default_factory=list)
    charges: list[Charge] = field(default_factory=list)
    bookings: list[Booking] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    brushing: list[Brush] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    merged_from: list[str] = field(default_factory=list)  # retired golden IDs now pointing here

    @property
    def golden_id(self) -> str:
        return golden_id_for(self.key)

    @property
    def his_key(self) -> str:
        return f"H-{self.key}"

    @property
    def booking_key(self) -> str:
        return f"B-{self.key}"

    @property
    def member_key(self) -> str:
        return f"M-{self.key}"

    @property
    def unionid(self) -> str | None:
        return f"oU-{self.key}" if self.wechat else None


def golden_id_for(key: str) -> str:
    """A stable golden ID (G + 10 digits) derived from the crafted key."""
    return f"G{int(hashlib.sha1(key.encode()).hexdigest(), 16) % 10**10:010d}"


# --------------------------------------------------------------------------------------


@dataclass
class Chain:
    patients: list[Patient]
    clinics: tuple[Clinic, ...] = CLINICS

    def __post_init__(self) -> None:
        keys = [p.key for p in self.patients]
        assert len(keys) == len(set(keys)), "patient keys must be unique"
        assert len({golden_id_for(k) for k in keys}) == len(keys), "golden ID collision"

    def __getitem__(self, key: str) -> str:
        """The golden ID of patient ``key``."""
        return self.patient(key).golden_id

    def patient(self, key: str) -> Patient:
        for p in self.patients:
            if p.key == key:
                return p
        raise KeyError(key)

    def build(self, engine: Engine) -> Chain:
        rows: dict[str, list[dict]] = {t: [] for t in (
            "identity.golden", "identity.patient", "identity.cluster", "std.clinic", "std.visit",
            "std.treatment", "std.charge", "std.appointment", "std.member_card", "std.event",
            "std.telemetry", "std.consult", "std.review", "profile.text_sentiment")}
        load_id = "L-crafted"
        counter = {"row": 0}

        def book(table: str, **values: Any) -> None:
            if table.startswith("std."):
                counter["row"] += 1
                values = {**values, "_load_id": load_id, "_row_number": counter["row"]}
            rows[table].append(values)

        for c in self.clinics:
            book("std.clinic", clinic_id=c.clinic_id, name=c.name, district=c.district, address=None,
                 latitude=c.latitude, longitude=c.longitude, opened_on=date(2015, 1, 1), chairs=8)
        by_key = {p.key: p for p in self.patients}
        for p in self.patients:
            g = p.golden_id
            sources = ["his", "booking", "member"] + (["wechat"] if p.wechat else [])
            book("identity.golden", golden_id=g, status="active", created_at=RUN_AT, created_run="R-crafted",
                 updated_at=RUN_AT, retired_at=None, merged_into=None, members=len(sources))
            for old in p.merged_from:
                book("identity.golden", golden_id=old, status="retired", created_at=RUN_AT,
                     created_run="R-crafted", updated_at=RUN_AT, retired_at=RUN_AT, merged_into=g, members=0)
            book("identity.patient", golden_id=g, name=f"患者{p.key}", name_pinyin=None, sex=p.sex,
                 birth_date=p.birth, mobile=None, id_number=None, district=p.district, address=None,
                 wechat_unionid=p.unionid, wechat_openid=None, home_clinic_id=p.home_clinic,
                 first_registered_on=min((v.on for v in p.visits), default=None), last_registered_on=None,
                 member_count=len(sources), sources=sources, updated_at=RUN_AT)
            keys = {"his": p.his_key, "booking": p.booking_key, "member": p.member_key, "wechat": p.unionid}
            for source in sources:
                book("identity.cluster", unique_id=f"{source}:{keys[source]}", source=source,
                     source_patient_key=keys[source], golden_id=g, run_id="R-crafted")

            for n, v in enumerate(p.visits, 1):
                visit_id = f"V-{p.key}-{n}"
                book("std.visit", source="his", visit_id=visit_id, source_patient_key=p.his_key,
                     clinic_id=v.clinic, doctor_id="D001", department="general", visit_date=v.on,
                     diagnosis=v.diagnosis)
                for line, item in enumerate(v.items, 1):
                    book("std.treatment", source="his", visit_id=visit_id, line_no=line, item_code=item,
                         tooth=None, quantity=1)
                if v.amount is not None:
                    book("std.charge", source="his", charge_id=f"CH-{p.key}-V{n}", visit_id=visit_id,
                         source_patient_key=p.his_key, charged_on=v.on, amount_yuan=v.amount,
                         paid_yuan=v.amount, payment_method="wechat_pay", coupon_id=None)
            for n, c in enumerate(p.charges, 1):
                book("std.charge", source="his", charge_id=f"CH-{p.key}-{n}", visit_id=None,
                     source_patient_key=p.his_key, charged_on=c.on, amount_yuan=c.amount,
                     paid_yuan=c.amount if c.paid is AUTO else c.paid, payment_method=c.method,
                     coupon_id=c.coupon)
            for n, b in enumerate(p.bookings, 1):
                book("std.appointment", source="booking", appointment_id=f"AP-{p.key}-{n}",
                     source_patient_key=p.booking_key, clinic_id=b.clinic, department=b.department,
                     doctor_id=None, booked_at=b.slot - timedelta(days=7) if b.booked_at is AUTO else b.booked_at,
                     slot_start=b.slot, channel=b.channel, status=b.status)
            for n, c in enumerate(p.cards, 1):
                book("std.member_card", source="member", card_no=f"MC-{p.key}-{n}", source_patient_key=p.member_key,
                     level=c.level, opened_on=c.opened_on, balance_yuan=c.balance, points=c.points,
                     package=c.package, clinic_id=p.home_clinic)
            for n, e in enumerate(p.events, 1):
                assert p.unionid, f"patient {p.key} has app events but no WeChat"
                referrer = by_key[e.referrer].unionid if e.referrer else None
                book("std.event", event_id=f"EV-{p.key}-{n}", platform=e.platform, event_type=e.type,
                     occurred_at=e.when, openid=None, unionid=p.unionid, article_id=e.article,
                     coupon_id=e.coupon, referrer_unionid=referrer)
            for b in p.brushing:
                assert p.unionid, f"patient {p.key} has a toothbrush but no WeChat"
                book("std.telemetry", device_id=f"TB-{p.key}", unionid=p.unionid, measured_on=b.on,
                     brushing_sessions=b.sessions, brushing_seconds=b.seconds, pressure_alerts=0,
                     plaque_index=b.plaque)
            for n, t in enumerate(p.texts, 1):
                text_id = f"{'CS' if t.kind == 'consult' else 'RV'}-{p.key}-{n}"
                if t.kind == "consult":
                    book("std.consult", consult_id=text_id, source="his", source_patient_key=p.his_key,
                         channel="chat", occurred_at=t.when, text=t.text)
                    occurred = t.when
                else:
                    book("std.review", review_id=text_id, source="his", source_patient_key=p.his_key,
                         clinic_id=p.home_clinic, doctor_id=None, posted_on=t.when.date(), rating=3, text=t.text)
                    occurred = at(t.when.date(), 0)
                book("profile.text_sentiment", text_id=text_id, kind=t.kind, source="his",
                     source_patient_key=p.his_key, occurred_at=occurred, label=t.label, confidence=0.9,
                     model_version="crafted")
        cipher = fields.cipher_for(engine)
        for table, items in rows.items():
            if items:   # sealed, as ingest and identity write them
                data = _arrow(engine, table, items)
                if table == fields.GOLDEN:
                    data = fields.seal_golden(data, open_keyring_from(None, engine))
                else:
                    data = fields.seal_rows(table, data, cipher)
                engine.append(table, data)
        return self


_COLUMN_TYPES: dict[str, dict[str, str]] = {}


def _arrow(engine: Engine, table: str, items: list[dict]) -> pa.Table:
    """Rows as an Arrow table typed like the warehouse table (so all-NULL columns are typed)."""
    if table not in _COLUMN_TYPES:
        schema, name = table.split(".")
        _COLUMN_TYPES[table] = dict(engine.rows(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ))
    types = _COLUMN_TYPES[table]
    arrow_types = {"VARCHAR": pa.string(), "DATE": pa.date32(), "TIMESTAMP": pa.timestamp("us"),
                   "BIGINT": pa.int64(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
                   "VARCHAR[]": pa.list_(pa.string()), "BOOLEAN": pa.bool_()}
    columns = list(items[0])
    fields = []
    for col in columns:
        t = types[col]
        fields.append(pa.field(col, pa.float64() if t.startswith("DECIMAL") else arrow_types[t]))
    return pa.table({f.name: pa.array([r[f.name] for r in items], f.type) for f in fields},
                    schema=pa.schema(fields))


# --------------------------------------------------------------------------------------
# Running the profile and reading results.


@dataclass
class TagValues:
    rows: dict[tuple[str, str], tuple[str, float | None, str | None]]

    def value(self, golden_id: str, key: str) -> str | None:
        row = self.rows.get((golden_id, key))
        return row[0] if row else None

    def num(self, golden_id: str, key: str) -> float | None:
        row = self.rows.get((golden_id, key))
        return row[1] if row else None

    def evidence(self, golden_id: str, key: str) -> dict | None:
        row = self.rows.get((golden_id, key))
        return json.loads(row[2]) if row and row[2] else None

    def has(self, golden_id: str, key: str) -> bool:
        return (golden_id, key) in self.rows

    def of(self, golden_id: str) -> dict[str, str]:
        return {k: v[0] for (g, k), v in self.rows.items() if g == golden_id}


_CATALOGUE: list[Tag] | None = None


def shipped_tags(include_value: bool = False) -> list[Tag]:
    global _CATALOGUE
    if _CATALOGUE is None:
        _CATALOGUE = load_catalogue()
    return [t for t in _CATALOGUE if include_value or t.dimension != "value"]


def tag_values(engine: Engine, *keys: str, as_of: date = AS_OF, tags: list[Tag] | None = None) -> TagValues:
    """Build the inputs and evaluate the (non-value) tags ``keys`` (default: all) as of ``as_of``,
    without publishing."""
    build_inputs(engine, as_of)
    chosen = tags if tags is not None else shipped_tags()
    if keys:
        chosen = [t for t in chosen if t.key in keys]
        assert {t.key for t in chosen} == set(keys), f"unknown tag(s) {set(keys) - {t.key for t in chosen}}"
    compute_tags(engine, chosen, as_of)
    return TagValues({(g, k): (v, n, e) for g, k, v, n, e in engine.rows(
        "SELECT golden_id, tag_key, value, value_num, evidence FROM new_tag")})


def run_profile(engine: Engine, as_of: date = AS_OF, **kwargs: Any) -> dict:
    """compute_profile without the sentiment classifier (texts come from the chain)."""
    return compute_profile(engine, as_of, sentiment=False, **kwargs)


def published(engine: Engine) -> TagValues:
    return TagValues({(g, k): (v, n, e) for g, k, v, n, e in engine.rows(
        "SELECT golden_id, tag_key, value, value_num, evidence FROM profile.tag_value")})
