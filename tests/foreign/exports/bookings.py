"""The booking platform's export (预约记录.csv): UTF-8 with BOM, notes with line breaks."""

from __future__ import annotations

import random
from datetime import date, datetime, time
from pathlib import Path

from foreign.exports.common import (
    CLINICS,
    EXPORT_DATE,
    UNKNOWN_CLINICS,
    People,
    Record,
    mobile_e164,
    problem,
    random_day,
    write_csv,
)
from foreign.exports.patients import Patient

FILE = "booking/预约记录.csv"
ENCODING = "utf-8-sig"
HEADER = ("预约号", "客户姓名", "手机", "预约时间", "门诊", "项目", "渠道", "状态", "备注")
DISTINCT_BOOKINGS = 2980
INVALID = {"bad_date": 25, "phone_wrong_length": 25, "unknown_clinic": 20}
DUPLICATES = 20
FIRST_SLOT_DAY, LAST_SLOT_DAY = date(2026, 6, 1), date(2026, 12, 31)
KNOWN_PATIENT_SHARE = 0.4

# 渠道 -> channel code, with how often each appears.
CHANNELS = {
    "美团": ("meituan", 20),
    "大众点评": ("dianping", 15),
    "抖音": ("douyin", 10),
    "小红书": ("xiaohongshu", 8),
    "小程序": ("mini_program", 15),
    "企业微信": ("wecom", 10),
    "电话": ("phone", 10),
    "到店": ("walk_in", 7),
    "转介绍": ("referral", 5),
}
STATUSES = {"已到诊": "arrived", "爽约": "no_show", "已取消": "cancelled", "待到诊": "booked"}
PAST_STATUSES = (("已到诊", 70), ("爽约", 12), ("已取消", 18))
FUTURE_STATUSES = (("待到诊", 80), ("已取消", 20))
ITEMS = (
    "洁牙",
    "口腔检查",
    "种植咨询",
    "正畸咨询",
    "补牙",
    "拔智齿",
    "儿童涂氟",
    "牙齿美白",
    "牙周治疗",
    "复诊",
)
NOTES = (
    "首次到店",
    "需要停车位",
    "想要女医生",
    "美团团购券 99元洁牙",
    "孩子怕疼，请安抚",
    "已付定金200元",
    "老客户介绍",
    "请提前电话确认",
    "牙龈出血两周",
)
MULTILINE_NOTES = (
    "客户要求女医生\n上午优先",
    "团购券已核销\n到店后找前台小王",
    '顾客说"晚上牙疼"\n想先拍片',
    "第一次来,有点紧张\n需要安抚\n家属陪同",
    "改约过一次\n原时间为上周六",
)


def _mobile_cell(rng: random.Random, mobile: str) -> str:
    draw = rng.random()
    if draw < 0.1:
        return f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    if draw < 0.2:
        return f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"
    return f"+86 {mobile}" if draw < 0.25 else mobile


def _note(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.06:
        return rng.choice(MULTILINE_NOTES)
    return rng.choice(NOTES) if draw < 0.3 else ""


def build_bookings(rng: random.Random, people: People, patients: list[Patient]) -> list[Record]:
    callers = [p.person for p in patients if p.person.mobile is not None]
    rows = []
    for _ in range(DISTINCT_BOOKINGS):
        person = (
            rng.choice(callers)
            if rng.random() < KNOWN_PATIENT_SHARE
            else people.person(date(1950, 1, 1), date(2016, 12, 31))
        )
        minutes = rng.randrange(9 * 60, 19 * 60 + 1, 30)
        slot = datetime.combine(
            random_day(rng, FIRST_SLOT_DAY, LAST_SLOT_DAY), time(minutes // 60, minutes % 60)
        )
        rows.append((slot, person))
    rows.sort(key=lambda r: r[0])

    order = list(range(DISTINCT_BOOKINGS))
    rng.shuffle(order)
    role = {}
    start = 0
    for reason, count in INVALID.items():
        role.update(dict.fromkeys(order[start : start + count], reason))
        start += count

    channels, weights = zip(*((raw, w) for raw, (_, w) in CHANNELS.items()), strict=True)
    per_day: dict[date, int] = {}
    records = []
    for n, (slot, person) in enumerate(rows):
        per_day[slot.date()] = per_day.get(slot.date(), 0) + 1
        booking_id = f"YY{slot:%Y%m%d}{per_day[slot.date()]:03d}"
        what = role.get(n, "")
        statuses, status_weights = zip(
            *(PAST_STATUSES if slot.date() <= EXPORT_DATE else FUTURE_STATUSES), strict=True
        )
        status = rng.choices(statuses, status_weights)[0]
        channel = rng.choices(channels, weights)[0]
        clinic_id, clinic_name = rng.choice(CLINICS)[:2]
        item, note = rng.choice(ITEMS), _note(rng)
        slot_cell = slot.strftime(rng.choice(("%Y-%m-%d %H:%M",) * 7 + ("%Y/%-m/%-d %H:%M",) * 3))
        mobile_cell = _mobile_cell(rng, person.mobile)
        key = {"appointment_id": booking_id}
        if what == "bad_date":
            month = rng.choice((6, 9, 11))
            slot_cell = f"2026-{month:02d}-31 {slot:%H:%M}"
            expected = {**key, **problem("预约时间", "slot_start", slot_cell)}
        elif what == "phone_wrong_length":
            mobile_cell = person.mobile[:10]
            expected = {**key, **problem("手机", "mobile", mobile_cell)}
        elif what == "unknown_clinic":
            clinic_name = rng.choice(UNKNOWN_CLINICS)
            expected = {**key, **problem("门诊", "clinic_id", clinic_name)}
        else:
            expected = {
                **key,
                "name": person.name,
                "mobile": mobile_e164(person.mobile),
                "slot_start": f"{slot:%Y-%m-%d %H:%M}:00",
                "clinic_id": clinic_id,
                "item": item,
                "channel": CHANNELS[channel][0],
                "status": STATUSES[status],
                "note": note or None,
            }
        cells = [
            booking_id,
            person.name,
            mobile_cell,
            slot_cell,
            clinic_name,
            item,
            channel,
            status,
            note,
        ]
        records.append(Record(cells, "reject" if what else "load", what, expected))

    for original in rng.sample([r for r in records if r.outcome == "load"], DUPLICATES):
        copy = original.copy()
        copy.expected = {"appointment_id": original.expected["appointment_id"]}
        records.insert(records.index(original) + rng.randint(1, 6), copy)
    return records


def write_bookings(path: Path, records: list[Record]) -> None:
    write_csv(path, HEADER, records, ENCODING)
