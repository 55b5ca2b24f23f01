"""Coded values shared by every layer: treatments, channels, statuses, events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TreatmentItem:
    code: str
    name_zh: str
    name_en: str
    department: str
    typical_price_yuan: float


# Item codes of the canonical treatment catalogue. Departments follow common
# dental-chain practice: general, periodontics, endodontics, surgery, implant,
# orthodontics, prosthodontics, paediatrics, cosmetic.
TREATMENTS: tuple[TreatmentItem, ...] = (
    TreatmentItem("CHK", "口腔检查", "check-up", "general", 50),
    TreatmentItem("CLN", "洁牙", "cleaning / scaling", "periodontics", 280),
    TreatmentItem("PERIO", "牙周治疗", "periodontal therapy", "periodontics", 1200),
    TreatmentItem("FILL", "补牙", "filling", "general", 400),
    TreatmentItem("RCT", "根管治疗", "root canal treatment", "endodontics", 2200),
    TreatmentItem("EXT", "拔牙", "extraction", "surgery", 600),
    TreatmentItem("IMP", "种植牙", "implant", "implant", 12000),
    TreatmentItem("IMPF", "种植复查", "implant follow-up", "implant", 0),
    TreatmentItem("ORTHO", "正畸(托槽)", "orthodontics (brackets)", "orthodontics", 25000),
    TreatmentItem("ALIGN", "隐形矫正", "clear aligners", "orthodontics", 35000),
    TreatmentItem("ORTHF", "正畸复诊", "orthodontic follow-up", "orthodontics", 0),
    TreatmentItem("WHT", "牙齿美白", "whitening", "cosmetic", 1800),
    TreatmentItem("CRN", "牙冠修复", "crown", "prosthodontics", 3500),
    TreatmentItem("SEAL", "窝沟封闭", "children's pit and fissure sealant", "paediatrics", 200),
    TreatmentItem("FLUO", "涂氟", "children's fluoride varnish", "paediatrics", 150),
    TreatmentItem("DENT", "活动义齿", "dentures", "prosthodontics", 5000),
)
TREATMENT_CODES: tuple[str, ...] = tuple(t.code for t in TREATMENTS)
TREATMENT_BY_CODE: dict[str, TreatmentItem] = {t.code: t for t in TREATMENTS}
DEPARTMENTS: tuple[str, ...] = tuple(dict.fromkeys(t.department for t in TREATMENTS))

SEXES: tuple[str, ...] = ("F", "M")
APPOINTMENT_CHANNELS: tuple[str, ...] = ("online", "app", "wechat", "phone", "walk_in")
APPOINTMENT_STATUSES: tuple[str, ...] = ("booked", "arrived", "no_show", "cancelled")
PAYMENT_METHODS: tuple[str, ...] = ("cash", "card", "wechat_pay", "alipay", "insurance", "member_balance")
MEMBER_LEVELS: tuple[str, ...] = ("regular", "silver", "gold", "platinum")
EVENT_TYPES: tuple[str, ...] = (
    "follow",
    "unfollow",
    "page_view",
    "article_read",
    "share",
    "referral",
    "coupon_received",
    "coupon_used",
)
EVENT_PLATFORMS: tuple[str, ...] = ("wechat", "app")
CONSULT_CHANNELS: tuple[str, ...] = ("chat", "call")
SENTIMENTS: tuple[str, ...] = ("satisfied", "doubt", "complaint", "neutral")
AGE_BANDS: tuple[str, ...] = ("0-6", "7-12", "13-17", "18-29", "30-44", "45-59", "60-74", "75+")
