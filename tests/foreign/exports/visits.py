"""The old HIS's line-level visit export (就诊明细.csv, GB18030): one line per item, no visit number."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path

from foreign.exports.common import EXPORT_DATE, Record, problem, random_day, write_csv
from foreign.exports.patients import Patient

FILE = "old_his/就诊明细.csv"
ENCODING = "gb18030"
HEADER = ("病历号", "就诊时间", "科室", "项目名称", "医生", "实收金额")
GOOD_LINES = 4848
INVALID = {
    "bad_date": 30,
    "future_visit": 30,
    "unknown_patient": 30,
    "negative_amount": 30,
    "duplicate": 30,
}
FIRST_VISIT_DAY = date(2024, 1, 1)

DEPARTMENTS = {
    "综合科": "general",
    "牙周科": "periodontics",
    "牙体牙髓科": "endodontics",
    "口腔外科": "surgery",
    "种植科": "implant",
    "正畸科": "orthodontics",
    "修复科": "prosthodontics",
    "儿童口腔科": "paediatrics",
    "美学科": "cosmetic",
}
# 项目名称 -> (科室, canonical item code, prices in yuan). Rare items have no code: `other`.
ITEMS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "口腔检查": ("综合科", "CHK", (0, 0, 50)),
    "洁牙": ("牙周科", "CLN", (180, 280, 380)),
    "牙周刮治": ("牙周科", "PERIO", (800, 1200)),
    "补牙": ("牙体牙髓科", "FILL", (300, 400, 600)),
    "根管治疗": ("牙体牙髓科", "RCT", (1800, 2200, 2600)),
    "拔牙": ("口腔外科", "EXT", (300, 600)),
    "智齿拔除": ("口腔外科", "EXT", (800, 1200)),
    "种植": ("种植科", "IMP", (8800, 12000, 15800)),
    "种植复查": ("种植科", "IMPF", (0,)),
    "正畸复诊": ("正畸科", "ORTHF", (0,)),
    "隐形矫正": ("正畸科", "ALIGN", (28000, 35000)),
    "涂氟": ("儿童口腔科", "FLUO", (150,)),
    "窝沟封闭": ("儿童口腔科", "SEAL", (200, 320)),
    "冷光美白": ("美学科", "WHT", (1800,)),
    "全瓷冠": ("修复科", "CRN", (3500, 4800)),
    "活动义齿": ("修复科", "DENT", (5000,)),
    "舌系带修整术": ("口腔外科", "other", (800,)),
    "夜磨牙垫": ("修复科", "other", (1200,)),
    "牙周翻瓣术": ("牙周科", "other", (3000,)),
    "根尖切除术": ("口腔外科", "other", (2500,)),
    "牙龈切除术": ("牙周科", "other", (1500,)),
    "早期矫治器": ("正畸科", "other", (6800,)),
}
RARE_ITEMS = tuple(name for name, (_, code, _) in ITEMS.items() if code == "other")
# What one visit holds, with weights; kids' visits are drawn apart.
ADULT_VISITS = (
    (("口腔检查", "洁牙"), 18),
    (("洁牙",), 14),
    (("口腔检查",), 6),
    (("补牙",), 10),
    (("口腔检查", "补牙"), 6),
    (("根管治疗",), 6),
    (("根管治疗", "补牙"), 4),
    (("拔牙",), 4),
    (("智齿拔除",), 4),
    (("种植",), 3),
    (("种植复查",), 4),
    (("正畸复诊",), 12),
    (("隐形矫正",), 1),
    (("牙周刮治",), 3),
    (("洁牙", "牙周刮治"), 3),
    (("全瓷冠",), 2),
    (("活动义齿",), 1),
    (("冷光美白",), 1),
    (("洁牙", "冷光美白"), 1),
    (("RARE",), 3),
    (("口腔检查", "RARE"), 1),
)
CHILD_VISITS = (
    (("涂氟",), 5),
    (("窝沟封闭",), 4),
    (("涂氟", "窝沟封闭"), 4),
    (("口腔检查", "涂氟"), 4),
    (("补牙",), 2),
    (("正畸复诊",), 2),
    (("拔牙",), 1),
)
# Doctors as the HIS spells them; 刘䶮 and 𠮷祥云 need GB18030 (a GBK decoder fails on them).
DOCTORS = (
    "王建国",
    "李敏",
    "张晓东",
    "陈静",
    "刘䶮",
    "𠮷祥云",
    "周文斌",
    "吴雪",
    "徐立",
    "孙海燕",
    "胡子健",
    "朱琳",
)
FREE_SPELLINGS = ("—", "—", "0", "0.00")
STAMP = "%Y-%m-%d %H:%M"


def _amount_cell(rng: random.Random, amount: int) -> str:
    if amount == 0:
        return rng.choice(FREE_SPELLINGS)
    draw = rng.random()
    if amount >= 1000 and draw < 0.15:
        return f"{amount:,.2f}"
    return str(amount) if draw < 0.3 else f"{amount:.2f}"


def _line(key: str, at: datetime | str, item: str, doctor: str, amount_cell: str) -> list[str]:
    stamp = at if isinstance(at, str) else at.strftime(STAMP)
    return [key, stamp, ITEMS[item][0], item, doctor, amount_cell]


def _visit_items(rng: random.Random, child: bool) -> list[str]:
    kinds, weights = zip(*(CHILD_VISITS if child else ADULT_VISITS), strict=True)
    return [
        rng.choice(RARE_ITEMS) if item == "RARE" else item
        for item in rng.choices(kinds, weights)[0]
    ]


def _slot(rng: random.Random, day: date) -> datetime:
    minutes = rng.randrange(8 * 60 + 30, 20 * 60, 5)
    return datetime.combine(day, time(minutes // 60, minutes % 60))


def build_visits(rng: random.Random, patients: list[Patient]) -> list[Record]:
    """The file's lines in order: visits in time order, bad lines among them, totals at the end."""
    blocks = _good_visits(rng, patients)
    _spoil_some_visits(rng, blocks)
    for record in _stray_lines(rng, patients):
        blocks.insert(rng.randrange(len(blocks) + 1), [record])
    records = [record for block in blocks for record in block]
    records.insert(len(records) // 3, Record([], "ignore", "blank"))
    total = sum(int(r.expected["amount_yuan"][:-3]) for r in records if r.outcome == "load")
    records += [
        Record(["", "", "", "", "", ""], "ignore", "blank"),
        Record(["总计", "", "", "", "", f"{total:.2f}"], "ignore", "totals"),
    ]
    return records


def _good_visits(rng: random.Random, patients: list[Patient]) -> list[list[Record]]:
    """GOOD_LINES loading lines, one list per visit (patient + time), in time order."""
    blocks: list[list[Record]] = []
    seen: set[tuple[str, datetime]] = set()
    good = 0
    while good < GOOD_LINES:
        patient = rng.choice(patients)
        day = random_day(rng, max(patient.registered_on, FIRST_VISIT_DAY), EXPORT_DATE)
        at = _slot(rng, day)
        if (patient.key, at) in seen:
            continue
        seen.add((patient.key, at))
        child = (day - patient.person.birth).days < 13 * 365
        items = _visit_items(rng, child)[: GOOD_LINES - good]
        doctor = rng.choice(DOCTORS)
        block = []
        for line_no, item in enumerate(items, start=1):
            amount = rng.choice(ITEMS[item][2])
            expected = {
                "source_patient_key": patient.key,
                "visited_at": f"{at:%Y-%m-%d %H:%M}:00",
                "department": DEPARTMENTS[ITEMS[item][0]],
                "doctor": doctor,
                "item_name": item,
                "item_code": ITEMS[item][1],
                "amount_yuan": f"{amount}.00",
                "line_no": line_no,
            }
            cells = _line(patient.key, at, item, doctor, _amount_cell(rng, amount))
            block.append(Record(cells, "load", "", expected))
        blocks.append(block)
        good += len(items)
    blocks.sort(key=lambda b: (b[0].cells[1], b[0].cells[0]))
    return blocks


def _spoil_some_visits(rng: random.Random, blocks: list[list[Record]]) -> None:
    """Add a negative line to some visits and repeat one line of others just below it."""
    for block in rng.sample(blocks, INVALID["negative_amount"]):
        first = block[0].cells
        item = rng.choice([n for n in ITEMS if ITEMS[n][2][-1] > 0])
        raw = f"-{ITEMS[item][2][-1]}.00"
        where = problem("实收金额", "amount_yuan", raw)
        cells = _line(first[0], first[1], item, first[4], raw)
        block.append(
            Record(cells, "reject", "negative_amount", {"source_patient_key": first[0], **where})
        )
    for block in rng.sample(blocks, INVALID["duplicate"]):
        at = rng.randrange(len([r for r in block if r.outcome == "load"]))
        copy = block[at].copy()
        copy.expected = {"source_patient_key": block[at].expected["source_patient_key"]}
        block.insert(at + 1, copy)


def _stray_lines(rng: random.Random, patients: list[Patient]) -> list[Record]:
    """Lines that are a visit of their own and wrong: impossible or future times, unknown patients."""
    lines = []
    for _ in range(INVALID["bad_date"]):
        year = rng.choice((2024, 2025, 2026))
        day = rng.choice(
            (f"{year}-02-30", f"{year}-04-31", f"{year}-09-31", "2025-02-29", f"{year}-11-31")
        )
        stamp = f"{day} {rng.randrange(9, 20)}:{rng.choice(('00', '15', '30', '45'))}"
        lines.append(
            _invalid(rng, rng.choice(patients).key, stamp, "bad_date", ("就诊时间", "visited_at"))
        )
    for _ in range(INVALID["future_visit"]):
        day = random_day(rng, EXPORT_DATE + timedelta(days=1), date(2027, 2, 28))
        stamp = _slot(rng, day).strftime(STAMP)
        lines.append(
            _invalid(
                rng, rng.choice(patients).key, stamp, "future_visit", ("就诊时间", "visited_at")
            )
        )
    for key in rng.sample(range(900001, 999999), INVALID["unknown_patient"]):
        stamp = _slot(rng, random_day(rng, FIRST_VISIT_DAY, EXPORT_DATE)).strftime(STAMP)
        lines.append(
            _invalid(rng, str(key), stamp, "unknown_patient", ("病历号", "source_patient_key"))
        )
    return lines


def _invalid(
    rng: random.Random, key: str, stamp: str, reason: str, where: tuple[str, str]
) -> Record:
    item = rng.choice(list(ITEMS))
    amount = rng.choice(ITEMS[item][2])
    cells = _line(key, stamp, item, rng.choice(DOCTORS), _amount_cell(rng, amount))
    raw = key if where[1] == "source_patient_key" else stamp
    return Record(cells, "reject", reason, {"source_patient_key": key, **problem(*where, raw)})


def write_visits(path: Path, records: list[Record]) -> None:
    write_csv(path, HEADER, records, ENCODING)
