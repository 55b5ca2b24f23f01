"""What the collector accepts: the event envelope, each event type's data, and the
plain-English problems it reports when an event does not fit.

Times: a timestamp without a UTC offset is clinic local time (Asia/Shanghai); one with an
offset is converted to clinic local time. Stored times are naive local, like the rest of
the warehouse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
)

from molar.model import codes
from molar.model.events import DERIVED_EVENT_TYPES, INBOUND_EVENT_TYPES

CLINIC_TZ = ZoneInfo("Asia/Shanghai")
EARLIEST = datetime(2000, 1, 1)
LATEST = datetime(2100, 1, 1)   # for times in data (appointment slots); occurred_at: now + slack
# Allowed clock skew for occurred_at in the future.
FUTURE_SLACK = timedelta(hours=24)


def local_now() -> datetime:
    """Clinic local time now, naive (how every Molar timestamp is stored)."""
    return datetime.now(CLINIC_TZ).replace(tzinfo=None)


def to_local(value: datetime) -> datetime:
    """Clinic local time, naive. Raises ValueError for a time outside 2000–2100."""
    if not (EARLIEST - timedelta(days=1) <= value.replace(tzinfo=None) <= LATEST + timedelta(days=1)):
        raise ValueError(f"is outside the years {EARLIEST.year}–{LATEST.year - 1}; check the date")
    if value.tzinfo is not None:
        value = value.astimezone(CLINIC_TZ).replace(tzinfo=None)
    if not (EARLIEST <= value < LATEST):
        raise ValueError(f"is outside the years {EARLIEST.year}–{LATEST.year - 1}; check the date")
    return value


# ---------------------------------------------------------------------- mobiles
def _mobile_prefixes() -> frozenset[str]:
    # well-formed, not only allocated: an unallocated prefix still identifies its holder
    # (the ingest standardiser keeps such numbers too; reachability is a separate flag)
    from molar.ingest.standardise.mobile import WELL_FORMED_PREFIXES

    return frozenset(WELL_FORMED_PREFIXES)


_PREFIXES: frozenset[str] | None = None
_FOLD = str.maketrans("０１２３４５６７８９＋－（）．　", "0123456789+-(). ")
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015().]")
_COUNTRY = re.compile(r"^(?:\+86(.*)|0086(.*)|86(.{11})|0(1.{10}))$")


def normalise_mobile(raw: str) -> str:
    """A mainland mobile in any common spelling → ``+86`` and 11 digits.

    Same rules as the ingest ``mobile`` standardiser: spaces, dashes, dots, brackets and
    full-width digits are allowed; so are the prefixes +86, 0086, 86 and a trunk 0. A
    well-formed number with an unallocated prefix (154, 160 …) is accepted for matching.
    Raises ValueError with a message for the sender.
    """
    global _PREFIXES
    if _PREFIXES is None:
        _PREFIXES = _mobile_prefixes()
    s = _SEPARATORS.sub("", str(raw).translate(_FOLD))
    m = _COUNTRY.match(s)
    if m:
        s = next(g for g in m.groups() if g is not None)
    if s.startswith("+"):
        raise ValueError("is not a mainland China mobile number (only +86 numbers are accepted)")
    if not (s.isascii() and s.isdigit()):
        raise ValueError("must contain only digits, e.g. 13812345678 or +86 138 1234 5678")
    if len(s) != 11:
        raise ValueError(f"must have 11 digits after +86 (this one has {len(s)})")
    if s[:3] not in _PREFIXES:
        raise ValueError(f"does not start with a mobile prefix (13x–19x; {s[:3]} is not one)")
    return "+86" + s


# ---------------------------------------------------------------------- field types
def _vocabulary(name: str):
    table = codes.VOCABULARIES[name]

    def translate(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return table.get(value, value)
        return value

    return BeforeValidator(translate)


def _one_of(allowed: tuple[str, ...], what: str):
    allowed_set = frozenset(allowed)

    def check(value: str) -> str:
        if value not in allowed_set:
            raise ValueError(f"must be one of the {what}: {', '.join(allowed)} (got {value!r})")
        return value

    return AfterValidator(check)


Text = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=10_000)]
LocalDateTime = Annotated[datetime, AfterValidator(to_local)]
Department = Annotated[str, _vocabulary("department"), _one_of(codes.DEPARTMENTS, "departments")]
AppointmentChannel = Annotated[
    str, _vocabulary("appointment_channel"), _one_of(codes.APPOINTMENT_CHANNELS, "booking channels")
]
PaymentMethod = Annotated[
    str, _vocabulary("payment_method"), _one_of(codes.PAYMENT_METHODS, "payment methods")
]
ItemCode = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
    _one_of(codes.TREATMENT_CODES, "treatment codes"),
]
AppAction = Annotated[str, _one_of(codes.EVENT_TYPES, "app actions")]
ConsultChannel = Annotated[
    str, _vocabulary("consult_channel"), _one_of(codes.CONSULT_CHANNELS, "consult channels")
]


class _Data(BaseModel):
    # Only declared fields: anything else could carry personal data nobody masks.
    model_config = ConfigDict(
        extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True, frozen=True
    )


class TreatmentLine(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)
    item_code: ItemCode
    tooth: Text | None = None
    quantity: int = Field(1, ge=1, le=100)
    amount_yuan: float | None = Field(None, ge=0, le=10_000_000)


class AppointmentBooked(_Data):
    appointment_id: Text
    clinic_id: Text
    department: Department
    slot_start: LocalDateTime
    channel: AppointmentChannel
    doctor_id: Text | None = None


class AppointmentCancelled(_Data):
    appointment_id: Text
    reason: LongText | None = None


class AppointmentNoShow(_Data):
    appointment_id: Text


class VisitCompleted(_Data):
    visit_id: Text
    clinic_id: Text
    department: Department
    items: list[TreatmentLine] = Field(min_length=1, max_length=200)
    doctor_id: Text | None = None
    diagnosis: Text | None = None


class ChargePaid(_Data):
    charge_id: Text
    amount_yuan: float = Field(ge=0, le=10_000_000)
    payment_method: PaymentMethod | None = Field(None, validation_alias=AliasChoices("payment_method", "method"))
    paid_yuan: float | None = Field(None, ge=0, le=10_000_000)
    coupon_id: Text | None = None
    visit_id: Text | None = None


class AppAction_(_Data):
    platform: Literal["wechat", "app"]
    action: AppAction
    target: Text | None = None
    article_id: Text | None = None
    coupon_id: Text | None = None
    referrer_golden_id: Text | None = None
    referrer_unionid: Text | None = None


class ConsultMessage(_Data):
    consult_id: Text
    channel: ConsultChannel
    text: LongText


class ReviewPosted(_Data):
    review_id: Text
    rating: int = Field(ge=1, le=5)
    text: LongText | None = None
    clinic_id: Text | None = None
    doctor_id: Text | None = None


class TelemetryDaily(_Data):
    device_id: Text
    measured_on: date
    plaque_index: float = Field(ge=0, le=3)
    brushing_seconds: int | None = Field(None, ge=0, le=86_400)
    sessions: int | None = Field(None, ge=0, le=100)
    brushing_sessions: int | None = Field(None, ge=0, le=100)
    pressure_alerts: int | None = Field(None, ge=0, le=10_000)


class ConsentChanged(_Data):
    channel: Literal["sms", "wechat", "app"]
    purpose: Literal["care", "marketing"]
    granted: StrictBool


class FollowupReply(_Data):
    status: Literal["good", "concern"]
    text: LongText | None = None
    followup_id: Text | None = None


DATA_MODELS: dict[str, type[_Data]] = {
    "appointment.booked": AppointmentBooked,
    "appointment.cancelled": AppointmentCancelled,
    "appointment.no_show": AppointmentNoShow,
    "visit.completed": VisitCompleted,
    "charge.paid": ChargePaid,
    "app.action": AppAction_,
    "consult.message": ConsultMessage,
    "review.posted": ReviewPosted,
    "telemetry.daily": TelemetryDaily,
    "consent.changed": ConsentChanged,
    "followup.reply": FollowupReply,
}
assert set(DATA_MODELS) == set(INBOUND_EVENT_TYPES), "every inbound event type needs a data model"
for _type, _model in DATA_MODELS.items():
    missing = set(INBOUND_EVENT_TYPES[_type]) - {
        name for name, f in _model.model_fields.items() if f.is_required()
    }
    assert not missing, f"{_type}: data model does not require {missing}"



def data_fields(event_type: str) -> frozenset[str]:
    """The data fields an event type's contract declares (what may be shown back)."""
    model = DATA_MODELS.get(event_type)
    if model is not None:
        return frozenset(model.model_fields)
    return frozenset(DERIVED_EVENT_TYPES.get(event_type, ()))


# How a number field is described when it is wrong.
FIELD_HINTS: dict[str, str] = {
    "rating": "a whole number from 1 to 5",
    "plaque_index": "a number from 0 to 3",
    "quantity": "a whole number from 1 to 100",
    "amount_yuan": "an amount in yuan from 0 to 10,000,000",
    "brushing_seconds": "a whole number of seconds from 0 to 86,400",
    "sessions": "a whole number from 0 to 100",
}


# ---------------------------------------------------------------------- the envelope
class PatientRef(BaseModel):
    """Who the event is about: at least one of these keys."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)
    golden_id: Text | None = Field(None, description="Molar golden ID (G…) or provisional ID (PV…)")
    unionid: Text | None = Field(None, description="WeChat unionid")
    mobile: Annotated[str, AfterValidator(normalise_mobile)] | None = Field(
        None, description="Mainland mobile number, any common spelling (stored as +86…)"
    )
    source: Text | None = Field(
        None, description="Source system of source_patient_key (default: the API key's source)"
    )
    source_patient_key: Text | None = Field(
        None, description="The patient's key in that system, e.g. HIS record number BL00010189"
    )


class EventIn(BaseModel):
    """One event as a source system sends it."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True, str_strip_whitespace=True)
    event_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="Your unique ID for the event; resending the same ID is safe (processed once). "
        "Default: a new UUID.",
    )
    type: Literal[tuple(INBOUND_EVENT_TYPES)] = Field(description="Event type")  # type: ignore[valid-type]
    occurred_at: datetime = Field(
        description="When it happened. Without a UTC offset it is clinic local time (Asia/Shanghai)."
    )
    patient: PatientRef
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="Type-specific fields; required per type: "
        + "; ".join(f"{t}: {', '.join(f)}" for t, f in INBOUND_EVENT_TYPES.items()),
    )


class BatchIn(BaseModel):
    events: list[EventIn]


class Problem(BaseModel):
    index: int = Field(description="Position of the event in the request (0 for a single event)")
    field: str = Field(description="The field, e.g. data.rating or patient.mobile")
    message: str


@dataclass(frozen=True, slots=True)
class ValidEvent:
    """An event that passed every check (times local, mobile E.164, data normalised)."""

    event_id: str | None
    type: str
    occurred_at: datetime
    patient: PatientRef
    data: dict[str, Any]


# ---------------------------------------------------------------------- messages
def _loc(prefix: str, loc: tuple[Any, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(err: dict[str, Any], event_type: str | None) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    name = next((p for p in reversed(err["loc"]) if isinstance(p, str)), "")
    hint = FIELD_HINTS.get(name)
    if kind == "missing":
        return f"is required for {event_type} events" if event_type else "is required"
    if kind == "extra_forbidden":
        return "is not a field Molar knows here; remove it or check the spelling"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if hint and kind.startswith(("int_", "float_", "greater_", "less_")):
        return f"must be {hint} (got {_show(value)})"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {_show(value)})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {_show(value)})"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number (got {_show(value)})"
    if kind in ("float_type", "float_parsing", "finite_number"):
        return f"must be a number (got {_show(value)})"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))} (got {_show(value)})"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))} (got {_show(value)})"
    if kind.startswith("datetime_"):
        return f"must be a date and time like 2026-11-23T14:30:00 or 2026-11-23 14:30:00+08:00 (got {_show(value)})"
    if kind.startswith("date_"):
        return f"must be a date like 2026-11-23 (got {_show(value)})"
    if kind == "string_type":
        return f"must be text (got {_show(value)})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {ctx.get('max_length')} characters)"
    if kind == "list_type":
        return f"must be a list [ … ] (got {_show(value)})"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length', 1)} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be an object {{ … }} (got {_show(value)})"
    return err["msg"]


def _problems(index: int, prefix: str, exc: ValidationError, event_type: str | None) -> list[Problem]:
    return [
        Problem(index=index, field=_loc(prefix, e["loc"]), message=_message(e, event_type))
        for e in exc.errors(include_url=False)
    ]


_EVENT_ID = TypeAdapter(Annotated[str, Field(min_length=1, max_length=128)], config=ConfigDict(coerce_numbers_to_str=True))
_DATETIME = TypeAdapter(datetime)
_ENVELOPE_FIELDS = frozenset(EventIn.model_fields)


def _check(adapter: TypeAdapter, value: Any, index: int, field: str, problems: list[Problem]) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        problems.extend(_problems(index, field, exc, None))
        return None


def validate_event(
    raw: Any, index: int, *, now: datetime | None = None
) -> tuple[ValidEvent | None, list[Problem]]:
    """Check one event; returns it normalised, or every problem found in it."""
    if not isinstance(raw, dict):
        return None, [Problem(index=index, field="", message=f"each event must be a JSON object {{ … }} (got {_show(raw)})")]
    problems: list[Problem] = []
    for extra in raw.keys() - _ENVELOPE_FIELDS:
        problems.append(Problem(index=index, field=str(extra), message=(
            "is not a field Molar knows here; the envelope has event_id, type, occurred_at, "
            "patient and data (put type-specific fields inside data)")))

    event_id = raw.get("event_id")
    if event_id is not None:
        event_id = _check(_EVENT_ID, event_id, index, "event_id", problems)

    event_type = raw.get("type")
    if not isinstance(event_type, str) or event_type not in INBOUND_EVENT_TYPES:
        if isinstance(event_type, str) and event_type in DERIVED_EVENT_TYPES:
            msg = f"{event_type!r} events are derived by Molar itself and cannot be sent"
        elif event_type is None:
            msg = "is required; one of: " + ", ".join(INBOUND_EVENT_TYPES)
        else:
            msg = f"{_show(event_type)} is not an event type Molar accepts; use one of: " + ", ".join(INBOUND_EVENT_TYPES)
        problems.append(Problem(index=index, field="type", message=msg))
        event_type = None

    occurred_at = None
    if "occurred_at" not in raw:
        problems.append(Problem(index=index, field="occurred_at", message="is required"))
    else:
        occurred_at = _check(_DATETIME, raw["occurred_at"], index, "occurred_at", problems)
    if occurred_at is not None:
        try:
            occurred_at = to_local(occurred_at)
        except ValueError as exc:
            problems.append(Problem(index=index, field="occurred_at", message=str(exc)))
            occurred_at = None
    if occurred_at is not None:
        now = now or local_now()
        if occurred_at > now + FUTURE_SLACK:
            problems.append(Problem(index=index, field="occurred_at", message=(
                f"is in the future ({occurred_at:%Y-%m-%d %H:%M} clinic time); send clinic local "
                "time, or include the UTC offset (e.g. +08:00)")))

    patient = None
    if "patient" not in raw:
        problems.append(Problem(index=index, field="patient", message=(
            "is required: say who the event is about with golden_id, unionid, mobile or "
            "source_patient_key")))
    else:
        try:
            patient = PatientRef.model_validate(raw["patient"])
        except ValidationError as exc:
            problems.extend(_problems(index, "patient", exc, None))
    if patient is not None and not (
        patient.golden_id or patient.unionid or patient.mobile or patient.source_patient_key
    ):
        problems.append(Problem(index=index, field="patient", message=(
            "says nothing about who the patient is; send at least one of golden_id, "
            "unionid, mobile or source_patient_key")))

    data: dict[str, Any] | None = None
    raw_data = raw.get("data", {})
    if not isinstance(raw_data, dict):
        problems.append(Problem(index=index, field="data", message=f"must be an object {{ … }} (got {_show(raw_data)})"))
    elif event_type:
        try:
            data = DATA_MODELS[event_type].model_validate(raw_data).model_dump(
                mode="json", exclude_none=True
            )
        except ValidationError as exc:
            problems.extend(_problems(index, "data", exc, event_type))

    if problems or data is None or event_type is None or occurred_at is None or patient is None:
        return None, problems
    return ValidEvent(
        event_id=event_id, type=event_type, occurred_at=occurred_at, patient=patient, data=data
    ), []
