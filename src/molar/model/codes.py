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
# Items outside the catalogue (舌系带修整术, 夜磨牙垫 …): the source's name is kept in item_name.
OTHER_TREATMENT = TreatmentItem("OTHER", "其他项目", "other item", "general", 0)
TREATMENT_CODES: tuple[str, ...] = (*(t.code for t in TREATMENTS), OTHER_TREATMENT.code)
TREATMENT_BY_CODE: dict[str, TreatmentItem] = {t.code: t for t in (*TREATMENTS, OTHER_TREATMENT)}
DEPARTMENTS: tuple[str, ...] = tuple(dict.fromkeys(t.department for t in TREATMENTS))
# How patients and staff read a department's name.
DEPARTMENT_NAMES: dict[str, tuple[str, str]] = {
    "general": ("综合科", "general dentistry"), "periodontics": ("牙周科", "periodontics"),
    "endodontics": ("牙体牙髓科", "endodontics"), "surgery": ("口腔外科", "oral surgery"),
    "implant": ("种植科", "implants"), "orthodontics": ("正畸科", "orthodontics"),
    "prosthodontics": ("修复科", "prosthodontics"), "paediatrics": ("儿童口腔科", "children's dentistry"),
    "cosmetic": ("美容牙科", "cosmetic dentistry"),
}

SEXES: tuple[str, ...] = ("F", "M")
APPOINTMENT_CHANNELS: tuple[str, ...] = (
    "online", "app", "wechat", "phone", "walk_in",
    # Chinese platforms that take bookings for clinics; a mapping adds more with `add_codes:`.
    "meituan", "dianping", "douyin", "xiaohongshu", "mini_program", "wecom",
)
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
# Where a marketing lead came from; a mapping adds more (a new platform, offline events) with `add_codes:`.
LEAD_CHANNELS: tuple[str, ...] = ("meituan", "dianping", "douyin", "xiaohongshu", "referral", "walk_in")
PLAN_STATUSES: tuple[str, ...] = ("proposed", "accepted", "partially_done", "declined")
# Post-op follow-up (the nursing system's surgery records and check calls).
POSTOP_PROCEDURES: tuple[str, ...] = ("extraction", "wisdom_extraction", "implant", "periodontal_surgery")
POSTOP_COMPLICATIONS: tuple[str, ...] = ("dry_socket", "infection", "implant_failure", "bleeding")
POSTOP_DIFFICULTIES: tuple[str, ...] = ("simple", "moderate", "complex")
SWELLING_LEVELS: tuple[str, ...] = ("none", "mild", "moderate", "severe")
ADHERENCE_LEVELS: tuple[str, ...] = ("good", "fair", "poor")
YES_NO: tuple[str, ...] = ("yes", "no")
SENTIMENTS: tuple[str, ...] = ("satisfied", "doubt", "complaint", "neutral")
AGE_BANDS: tuple[str, ...] = ("0-6", "7-12", "13-17", "18-29", "30-44", "45-59", "60-74", "75+")

# Common Chinese (and English) spellings of coded values, as source systems export them.
# Source mappings refer to these by name (`values: department`) so every system shares
# one vocabulary; a mapping can still give its own table for unusual spellings.
VOCABULARIES: dict[str, dict[str, str]] = {
    "department": {
        "综合科": "general", "全科": "general", "口腔综合科": "general",
        "牙周科": "periodontics", "牙体牙髓科": "endodontics", "牙髓科": "endodontics",
        "口腔外科": "surgery", "颌面外科": "surgery", "种植科": "implant", "种植中心": "implant",
        "正畸科": "orthodontics", "修复科": "prosthodontics", "儿童口腔科": "paediatrics",
        "儿牙科": "paediatrics", "美学科": "cosmetic", "美容科": "cosmetic", "口腔美学科": "cosmetic",
    },
    "payment_method": {
        "现金": "cash", "银行卡": "card", "刷卡": "card", "信用卡": "card", "微信": "wechat_pay",
        "微信支付": "wechat_pay", "支付宝": "alipay", "医保": "insurance", "商保": "insurance",
        "保险": "insurance", "会员卡": "member_balance", "会员卡余额": "member_balance",
        "储值卡": "member_balance", "储值": "member_balance",
    },
    "member_level": {
        "普通": "regular", "普卡": "regular", "普通会员": "regular", "银卡": "silver",
        "银卡会员": "silver", "金卡": "gold", "金卡会员": "gold", "白金": "platinum",
        "白金卡": "platinum", "铂金": "platinum", "铂金会员": "platinum", "钻石卡": "platinum",
    },
    "appointment_channel": {
        "官网": "online", "网站": "online", "网页": "online", "App": "app", "APP": "app",
        "微信": "wechat", "公众号": "wechat", "服务号": "wechat", "电话": "phone", "400电话": "phone",
        "到店": "walk_in", "现场": "walk_in", "前台": "walk_in", "自然到店": "walk_in",
        "美团": "meituan", "美团点评": "meituan", "大众点评": "dianping", "点评": "dianping",
        "抖音": "douyin", "抖音团购": "douyin", "小红书": "xiaohongshu",
        "小程序": "mini_program", "微信小程序": "mini_program",
        "企业微信": "wecom", "企微": "wecom",
    },
    "treatment": {
        **{t.name_zh: t.code for t in TREATMENTS},
        "检查": "CHK", "初诊检查": "CHK", "口腔常规检查": "CHK", "复诊检查": "CHK",
        "超声波洁牙": "CLN", "洗牙": "CLN", "龈上洁治": "CLN", "龈上洁治术": "CLN", "全口洁治": "CLN",
        "龈下刮治": "PERIO", "龈下刮治术": "PERIO", "牙周刮治": "PERIO", "牙周基础治疗": "PERIO",
        "充填": "FILL", "树脂充填": "FILL", "光固化树脂充填": "FILL", "补牙(树脂)": "FILL",
        "根管治疗术": "RCT", "根管预备": "RCT", "根充": "RCT",
        "拔牙术": "EXT", "阻生齿拔除": "EXT", "智齿拔除": "EXT", "智齿拔除术": "EXT", "牙拔除术": "EXT",
        "种植": "IMP", "种植体植入": "IMP", "种植体植入术": "IMP", "种植牙手术": "IMP",
        "种植复诊": "IMPF", "种植体复查": "IMPF",
        "正畸": "ORTHO", "固定矫治": "ORTHO", "托槽矫正": "ORTHO", "金属托槽矫正": "ORTHO",
        "隐适美": "ALIGN", "无托槽隐形矫治": "ALIGN", "隐形矫治": "ALIGN",
        "正畸复查": "ORTHF", "矫正复诊": "ORTHF",
        "美白": "WHT", "冷光美白": "WHT", "牙齿漂白": "WHT",
        "全瓷冠": "CRN", "烤瓷冠": "CRN", "冠修复": "CRN", "牙冠": "CRN",
        "窝沟封闭术": "SEAL", "涂氟防龋": "FLUO", "局部涂氟": "FLUO", "氟化物涂布": "FLUO",
        "活动义齿修复": "DENT", "全口义齿": "DENT", "假牙": "DENT",
    },
    "appointment_status": {
        "已预约": "booked", "待到诊": "booked", "已到诊": "arrived", "已到店": "arrived",
        "已完成": "arrived", "爽约": "no_show", "未到": "no_show", "未到诊": "no_show",
        "已取消": "cancelled", "取消": "cancelled",
    },
    "consult_channel": {"在线": "chat", "微信": "chat", "聊天": "chat", "电话": "call"},
    "lead_channel": {
        "美团": "meituan", "美团点评": "meituan", "大众点评": "dianping", "点评": "dianping", "抖音": "douyin",
        "抖音团购": "douyin", "小红书": "xiaohongshu", "老带新": "referral", "转介绍": "referral", "朋友推荐": "referral",
        "自然到店": "walk_in", "到店": "walk_in", "路过": "walk_in",
    },
    "plan_status": {
        "待确认": "proposed", "已提出": "proposed", "已接受": "accepted", "已同意": "accepted", "已完成": "accepted",
        "部分完成": "partially_done", "治疗中": "partially_done", "已拒绝": "declined", "未接受": "declined",
    },
    "postop_procedure": {
        "拔牙术": "extraction", "拔牙": "extraction", "牙拔除术": "extraction", "智齿拔除术": "wisdom_extraction",
        "智齿拔除": "wisdom_extraction", "阻生齿拔除": "wisdom_extraction", "种植体植入术": "implant",
        "种植体植入": "implant", "种植牙手术": "implant", "牙周翻瓣术": "periodontal_surgery", "牙周手术": "periodontal_surgery",
    },
    "postop_complication": {
        "干槽症": "dry_socket", "术后感染": "infection", "感染": "infection", "种植体早期失败": "implant_failure",
        "种植体脱落": "implant_failure", "术后出血": "bleeding", "出血": "bleeding",
    },
    "postop_difficulty": {"简单": "simple", "中等": "moderate", "复杂": "complex", "低": "simple", "中": "moderate",
                          "高": "complex"},
    "swelling": {"无": "none", "轻度": "mild", "轻": "mild", "中度": "moderate", "中": "moderate", "重度": "severe",
                 "重": "severe"},
    "adherence": {"好": "good", "良好": "good", "一般": "fair", "差": "poor", "较差": "poor"},
    "yes_no": {"是": "yes", "有": "yes", "Y": "yes", "否": "no", "无": "no", "N": "no"},
}
