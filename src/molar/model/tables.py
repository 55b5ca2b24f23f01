"""Canonical dental data model: one contract per table in the ``std`` layer.

Every source system is mapped onto these contracts by ingest; identity, profile and
everything to their right read only these shapes.
"""

from __future__ import annotations

from molar.model import codes
from molar.model.contract import Column, Contract

SOURCE = Column("source", "text", "source system the row came from (his, booking, member, wechat, …)", required=True)
PATIENT_KEY = Column("source_patient_key", "text", "the patient's key inside its source system", required=True)
CLINIC_ID = Column("clinic_id", "text", "canonical clinic ID (see clinic)")
DOCTOR_ID = Column("doctor_id", "text", "canonical doctor ID (see doctor)")
DEPARTMENT = Column("department", "text", "clinical department", allowed=codes.DEPARTMENTS)

CLINIC = Contract(
    "clinic",
    "A clinic of the chain.",
    (
        Column("clinic_id", "text", "canonical clinic ID", required=True),
        Column("name", "text", "clinic name as patients know it", required=True),
        Column("district", "text", "administrative district (区/县)", required=True),
        Column("address", "text", "street address"),
        Column("latitude", "float", "WGS-84 latitude", unit="degree", minimum=-90, maximum=90),
        Column("longitude", "float", "WGS-84 longitude", unit="degree", minimum=-180, maximum=180),
        Column("opened_on", "date", "date the clinic opened"),
        Column("chairs", "int", "dental chairs in service", unit="chair", minimum=0),
    ),
    key=("clinic_id",),
)

DOCTOR = Contract(
    "doctor",
    "A dentist or hygienist working at a clinic.",
    (
        Column("doctor_id", "text", "canonical doctor ID", required=True),
        Column("name", "text", "doctor's name", required=True),
        CLINIC_ID,
        DEPARTMENT,
        Column("title", "text", "professional title (主任医师, 主治医师, 医师, 洁牙师 …)"),
    ),
    key=("doctor_id",),
)

PATIENT = Contract(
    "patient",
    "A person as one source system knows them (one row per source record, before identity resolution).",
    (
        SOURCE,
        PATIENT_KEY,
        Column("name", "text", "full name, simplified characters, trimmed", pii=True),
        Column("name_pinyin", "text", "toneless pinyin of the name, space separated", pii=True),
        Column("sex", "text", "sex", allowed=codes.SEXES),
        Column("birth_date", "date", "date of birth as stated by the source"),
        Column("mobile", "text", "mobile in E.164 (+8613812345678)", pii=True),
        Column("id_number", "text", "18-character resident ID number (checksum verified)", pii=True),
        Column("district", "text", "home district (区/县)"),
        Column("address", "text", "home address", pii=True),
        Column("wechat_unionid", "text", "WeChat unionid (stable across the chain's official accounts)", pii=True),
        Column("wechat_openid", "text", "WeChat openid (per official account)", pii=True),
        Column("nickname", "text", "WeChat/app nickname", pii=True),
        Column("registered_on", "date", "first registration in the source system"),
        CLINIC_ID,
    ),
    key=("source", "source_patient_key"),
)

VISIT = Contract(
    "visit",
    "One clinical encounter (挂号/就诊) recorded by the HIS.",
    (
        SOURCE,
        Column("visit_id", "text", "visit number in the HIS", required=True),
        PATIENT_KEY,
        CLINIC_ID,
        DOCTOR_ID,
        DEPARTMENT,
        Column("visit_date", "date", "date of the visit", required=True),
        Column("visit_at", "timestamp", "date and time of the visit (clinic local time), when the source has the time"),
        Column("diagnosis", "text", "free-text diagnosis (e.g. 牙列轻度拥挤, 慢性牙周炎)"),
    ),
    key=("source", "visit_id"),
)

TREATMENT = Contract(
    "treatment",
    "One treatment item performed in a visit.",
    (
        SOURCE,
        Column("visit_id", "text", "visit the item belongs to", required=True),
        Column("line_no", "int", "line number within the visit", required=True, minimum=1),
        Column("item_code", "text", "treatment item code (OTHER: not in the catalogue, see item_name)", required=True,
               allowed=codes.TREATMENT_CODES),
        Column("item_name", "text", "treatment item name as the source wrote it"),
        Column("tooth", "text", "FDI tooth number(s), e.g. 36 or 11-21"),
        Column("quantity", "int", "units performed", unit="unit", minimum=1),
    ),
    key=("source", "visit_id", "line_no"),
)

CHARGE = Contract(
    "charge",
    "Money charged for a visit and how much was paid.",
    (
        SOURCE,
        Column("charge_id", "text", "charge number", required=True),
        Column("visit_id", "text", "visit charged"),
        PATIENT_KEY,
        Column("charged_on", "date", "date of the charge", required=True),
        Column("amount_yuan", "money", "amount charged", unit="CNY", required=True, minimum=0),
        Column("paid_yuan", "money", "amount paid so far", unit="CNY", minimum=0),
        Column("payment_method", "text", "how it was paid", allowed=codes.PAYMENT_METHODS),
        Column("coupon_id", "text", "coupon redeemed against this charge"),
    ),
    key=("source", "charge_id"),
)

APPOINTMENT = Contract(
    "appointment",
    "A booking for a time slot at a clinic.",
    (
        SOURCE,
        Column("appointment_id", "text", "booking number", required=True),
        PATIENT_KEY,
        CLINIC_ID,
        DEPARTMENT,
        DOCTOR_ID,
        Column("booked_at", "timestamp", "when the booking was made (clinic local time)"),
        Column("slot_start", "timestamp", "start of the booked slot (clinic local time)", required=True),
        Column("channel", "text", "how the booking was made", allowed=codes.APPOINTMENT_CHANNELS),
        Column("status", "text", "outcome of the booking", required=True, allowed=codes.APPOINTMENT_STATUSES),
    ),
    key=("source", "appointment_id"),
)

MEMBER_CARD = Contract(
    "member_card",
    "A membership card (会员卡) with its level and stored value.",
    (
        SOURCE,
        Column("card_no", "text", "card number", required=True),
        PATIENT_KEY,
        Column("level", "text", "membership level", allowed=codes.MEMBER_LEVELS),
        Column("opened_on", "date", "date the card was issued"),
        Column("balance_yuan", "money", "stored value left on the card", unit="CNY", minimum=0),
        Column("points", "int", "loyalty points", unit="point", minimum=0),
        Column("package", "text", "prepaid package bought with the card (e.g. 洁牙套餐)"),
        CLINIC_ID,
    ),
    key=("source", "card_no"),
)

EVENT = Contract(
    "event",
    "A WeChat or app behaviour event.",
    (
        Column("event_id", "text", "event ID assigned by the platform", required=True),
        Column("platform", "text", "where it happened", required=True, allowed=codes.EVENT_PLATFORMS),
        Column("event_type", "text", "what happened", required=True, allowed=codes.EVENT_TYPES),
        Column("occurred_at", "timestamp", "when it happened (clinic local time)", required=True),
        Column("openid", "text", "WeChat openid / app user ID", pii=True),
        Column("unionid", "text", "WeChat unionid", pii=True),
        Column("article_id", "text", "article read or shared"),
        Column("coupon_id", "text", "coupon received or used"),
        Column("referrer_unionid", "text", "unionid of the person who referred this one", pii=True),
    ),
    key=("event_id",),
)

CONSULT = Contract(
    "consult",
    "A consultation message or call transcript between a patient and the chain.",
    (
        Column("consult_id", "text", "consult record ID", required=True),
        SOURCE,
        PATIENT_KEY,
        Column("channel", "text", "chat or call", allowed=codes.CONSULT_CHANNELS),
        Column("occurred_at", "timestamp", "when it was sent (clinic local time)", required=True),
        Column("text", "text", "message text (Chinese)", required=True),
    ),
    key=("consult_id",),
)

REVIEW = Contract(
    "review",
    "A patient review of a visit.",
    (
        Column("review_id", "text", "review ID", required=True),
        SOURCE,
        PATIENT_KEY,
        CLINIC_ID,
        DOCTOR_ID,
        Column("posted_on", "date", "date posted", required=True),
        Column("rating", "int", "star rating", unit="star", minimum=1, maximum=5, required=True),
        Column("text", "text", "review text (Chinese)"),
    ),
    key=("review_id",),
)

TELEMETRY = Contract(
    "telemetry",
    "Daily summary from a smart toothbrush.",
    (
        Column("device_id", "text", "toothbrush serial number", required=True),
        Column("unionid", "text", "WeChat unionid the device is bound to", pii=True),
        Column("measured_on", "date", "day summarised", required=True),
        Column("brushing_sessions", "int", "brushing sessions that day", unit="session", minimum=0),
        Column("brushing_seconds", "int", "total brushing time that day", unit="second", minimum=0, maximum=7200),
        Column("pressure_alerts", "int", "over-pressure warnings that day", unit="alert", minimum=0),
        Column("plaque_index", "float", "estimated plaque index (Silness-Löe scale)", unit="index 0-3", minimum=0, maximum=3),
    ),
    key=("device_id", "measured_on"),
)

DISTRICT_POPULATION = Contract(
    "district_population",
    "Resident population of a district by age band (regional reference data).",
    (
        Column("district", "text", "administrative district", required=True),
        Column("year", "int", "census / estimate year", required=True),
        Column("age_band", "text", "age band", required=True, allowed=codes.AGE_BANDS),
        Column("population", "int", "residents", unit="person", minimum=0, required=True),
    ),
    key=("district", "year", "age_band"),
)

# Marketing: `source` and `source_patient_key` name the patient record a lead became or a
# plan was written for (the HIS 病历号), as in consult.
LEAD = Contract(
    "lead",
    "A marketing lead (线索) and how far it got: consult, booking, arrival.",
    (
        Column("lead_id", "text", "lead number in the CRM", required=True),
        Column("channel", "text", "platform or route the lead came from (its last touch)", required=True,
               allowed=codes.LEAD_CHANNELS),
        Column("campaign", "text", "campaign the lead answered (none for referrals and walk-ins)"),
        CLINIC_ID,
        Column("consultant", "text", "consultant (咨询师) who took the lead"),
        Column("created_at", "timestamp", "when the lead came in (clinic local time)", required=True),
        Column("consulted_at", "timestamp", "first consultation, if any"),
        Column("booked_at", "timestamp", "when the first appointment was booked, if any"),
        Column("arrived_at", "timestamp", "when the person first arrived at the clinic, if they did"),
        SOURCE,
        Column("source_patient_key", "text", "the patient record the lead became, once it arrived"),
    ),
    key=("lead_id",),
)

LEAD_TOUCH = Contract(
    "lead_touch",
    "One marketing touch on a lead's path (an ad seen, a post read, a coupon bought), in order.",
    (
        Column("lead_id", "text", "the lead", required=True),
        Column("touch_no", "int", "position on the path, 1 = first", required=True, minimum=1),
        Column("channel", "text", "platform of the touch", required=True, allowed=codes.LEAD_CHANNELS),
        Column("campaign", "text", "campaign of the touch"),
        Column("touched_at", "timestamp", "when it happened (clinic local time)", required=True),
    ),
    key=("lead_id", "touch_no"),
)

TREATMENT_PLAN = Contract(
    "treatment_plan",
    "A treatment plan (治疗方案) proposed to a patient, with its quote and whether it was accepted.",
    (
        Column("plan_id", "text", "plan number", required=True),
        SOURCE,
        PATIENT_KEY,
        Column("visit_id", "text", "visit at which it was proposed"),
        CLINIC_ID,
        DOCTOR_ID,
        Column("consultant", "text", "consultant who presented it"),
        Column("proposed_on", "date", "date proposed", required=True),
        Column("items", "text", "treatment item codes, joined by + (IMP+CRN)"),
        Column("quoted_yuan", "money", "quoted amount", unit="CNY", minimum=0),
        Column("status", "text", "where the plan stands", required=True, allowed=codes.PLAN_STATUSES),
        Column("accepted_on", "date", "date accepted"),
        Column("expires_on", "date", "date the quote expires"),
    ),
    key=("plan_id",),
)

MARKETING_SPEND = Contract(
    "marketing_spend",
    "Money spent on a campaign of a channel for a clinic in a month.",
    (
        Column("month", "date", "first day of the month", required=True),
        Column("clinic_id", "text", "canonical clinic ID", required=True),
        Column("channel", "text", "platform paid", required=True, allowed=codes.LEAD_CHANNELS),
        Column("campaign", "text", "campaign paid for", required=True),
        Column("spend_yuan", "money", "amount spent", unit="CNY", required=True, minimum=0),
    ),
    key=("month", "clinic_id", "channel", "campaign"),
)

POSTOP_CASE = Contract(
    "postop_case",
    "A surgery as the nursing follow-up system records it, with any complication within 30 days.",
    (
        Column("case_id", "text", "follow-up case number", required=True),
        SOURCE,
        PATIENT_KEY,
        Column("visit_id", "text", "visit of the surgery"),
        CLINIC_ID,
        DOCTOR_ID,
        Column("surgery_on", "date", "date of the surgery", required=True),
        Column("procedure", "text", "surgery", required=True, allowed=codes.POSTOP_PROCEDURES),
        Column("tooth", "text", "FDI tooth number(s)"),
        Column("difficulty", "text", "difficulty judged at surgery", allowed=codes.POSTOP_DIFFICULTIES),
        Column("smoker", "text", "smokes, as asked at intake", allowed=codes.YES_NO),
        Column("diabetic", "text", "has diabetes, as asked at intake", allowed=codes.YES_NO),
        Column("complication", "text", "complication found within 30 days", allowed=codes.POSTOP_COMPLICATIONS),
        Column("complication_on", "date", "date the complication was found"),
    ),
    key=("case_id",),
)

POSTOP_CHECK = Contract(
    "postop_check",
    "A nurse's follow-up call after a surgery (day 1, 3, 7 …).",
    (
        Column("case_id", "text", "follow-up case number", required=True),
        Column("check_day", "int", "planned day after surgery", unit="day", required=True, minimum=0, maximum=90),
        Column("checked_on", "date", "date the call happened", required=True),
        Column("pain", "int", "pain score 0-10", minimum=0, maximum=10),
        Column("swelling", "text", "swelling", allowed=codes.SWELLING_LEVELS),
        Column("bleeding", "text", "bleeding reported", allowed=codes.YES_NO),
        Column("fever", "text", "fever reported", allowed=codes.YES_NO),
        Column("adherence", "text", "follows the aftercare instructions", allowed=codes.ADHERENCE_LEVELS),
    ),
    key=("case_id", "check_day"),
)

CONTRACTS: dict[str, Contract] = {
    c.name: c
    for c in (
        CLINIC,
        DOCTOR,
        PATIENT,
        VISIT,
        TREATMENT,
        CHARGE,
        APPOINTMENT,
        MEMBER_CARD,
        EVENT,
        CONSULT,
        REVIEW,
        TELEMETRY,
        DISTRICT_POPULATION,
        LEAD,
        LEAD_TOUCH,
        TREATMENT_PLAN,
        MARKETING_SPEND,
        POSTOP_CASE,
        POSTOP_CHECK,
    )
}


def get_contract(name: str) -> Contract:
    try:
        return CONTRACTS[name]
    except KeyError:
        raise KeyError(
            f"no canonical table {name!r}; known tables: {', '.join(sorted(CONTRACTS))}"
        ) from None
