"""What every export shares: the chain, its people, the row record and the value helpers."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

# The day the exports were made (the title row of the patient sheet says so). Rows dated
# after it are in the future; pass it to ingest as the reference date.
EXPORT_DATE = date(2026, 11, 30)
CHAIN = "禾悦口腔"

# (clinic_id, name, district, address, opened_on, chairs) — the chain's own clinic list.
CLINICS: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("HY01", "西湖门诊", "西湖区", "杭州市西湖区文三路88号", "2012-05-01", 10),
    ("HY02", "滨江门诊", "滨江区", "杭州市滨江区江南大道1200号", "2016-09-18", 8),
    ("HY03", "拱墅门诊", "拱墅区", "杭州市拱墅区湖墅南路316号", "2019-03-08", 6),
    ("HY04", "余杭门诊", "余杭区", "杭州市余杭区文一西路998号", "2021-06-01", 7),
)
CLINIC_ID_BY_NAME = {name: cid for cid, name, *_ in CLINICS}
# Clinic names a row may carry that are not in the chain's list (closed or mistyped).
UNKNOWN_CLINICS = ("临平门诊", "下沙门诊", "西湖分院")

SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡"
    "贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官")
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉晨宇轩浩然子涵"
    "欣怡梓萱一诺雨桐可馨思远嘉怡俊杰博文天佑昊然雅婷佳琪瑞泽"
)
# Mainland mobile prefixes in use; every generated number is valid.
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
)
# Region codes of Hangzhou districts and nearby counties (first six ID digits).
ID_REGIONS = ("330102", "330105", "330106", "330108", "330109", "330110", "330122", "330183")
ADDRESS_STREETS = (
    "文三路",
    "教工路",
    "莫干山路",
    "江南大道",
    "滨盛路",
    "湖墅南路",
    "文一西路",
    "余杭塘路",
    "天目山路",
    "古墩路",
    "丰潭路",
    "解放路",
    "凤起路",
    "庆春路",
    "钱江路",
    "学院路",
)

OUTCOMES = ("load", "load_with_warning", "reject", "ignore")


@dataclass(eq=False)
class Record:
    """One data row of an export: its cells and what ingest must make of it."""

    cells: list
    outcome: str
    reason: str = ""
    expected: dict = field(default_factory=dict)
    duplicate_of: Record | None = None  # the earlier row this one repeats exactly
    physical_row: int = 0  # set when the file is written

    def copy(self) -> Record:
        """An exact repeat of this row, rejected as a duplicate of it."""
        return Record(list(self.cells), "reject", "duplicate", {}, duplicate_of=self)


@dataclass
class Person:
    name: str
    sex: str  # 'M' or 'F'
    birth: date
    mobile: str | None  # 11 digits
    id_number: str


def id_check_digit(prefix17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a resident ID number."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * w for c, w in zip(prefix17, weights, strict=True)) % 11]


def excel_serial(day: date) -> int:
    """Excel's 1900-system serial number of a day on or after 1900-03-01.

    Excel counts 1900-01-01 as 1 and, copying Lotus 1-2-3, has a 1900-02-29 (serial 60),
    so from 1900-03-01 on the serial is the day count since 1899-12-30, not 1899-12-31.
    """
    if day < date(1900, 3, 1):
        raise ValueError("serials before 1900-03-01 are not needed here")
    return (day - date(1899, 12, 30)).days


def mobile_e164(digits: str | None) -> str | None:
    return None if digits is None else "+86" + digits


def iso(day: date) -> str:
    return day.isoformat()


def random_day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


class People:
    """Draws distinct people: names, mobiles and ID numbers never repeat."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._mobiles: set[str] = set()
        self._ids: set[str] = set()
        self._names: set[str] = set()

    def name(self) -> str:
        rng = self.rng
        while True:
            surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.02 else rng.choice(SURNAMES)
            given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2, 2))))
            if surname + given not in self._names:
                self._names.add(surname + given)
                return surname + given

    def mobile(self) -> str:
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self._mobiles:
                self._mobiles.add(number)
                return number

    def id_number(self, birth: date, sex: str) -> str:
        while True:
            sequence = self.rng.randrange(500) * 2 + (sex == "M")  # 17th digit odd for men
            prefix = f"{self.rng.choice(ID_REGIONS)}{birth:%Y%m%d}{sequence:03d}"
            number = prefix + id_check_digit(prefix)
            if number not in self._ids:
                self._ids.add(number)
                return number

    def person(self, born_from: date, born_to: date, mobile_share: float = 1.0) -> Person:
        sex = self.rng.choice("MF")
        birth = random_day(self.rng, born_from, born_to)
        mobile = self.mobile() if self.rng.random() < mobile_share else None
        return Person(self.name(), sex, birth, mobile, self.id_number(birth, sex))


def write_csv(path: Path, header: tuple[str, ...], records: list[Record], encoding: str) -> None:
    """Write rows with CRLF line ends; each record learns the physical line it starts on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    chunk = io.StringIO()
    writer = csv.writer(chunk, lineterminator="\r\n")
    writer.writerow(header)
    parts = [chunk.getvalue()]
    line = 1 + parts[0].count("\n")
    for record in records:
        chunk.seek(0)
        chunk.truncate()
        writer.writerow(record.cells)
        record.physical_row = line
        line += chunk.getvalue().count("\n")
        parts.append(chunk.getvalue())
    path.write_bytes("".join(parts).encode(encoding))


def problem(column: str, field: str, raw) -> dict:
    """Where a row goes wrong: the source column, the canonical field and the raw value."""
    return {"column": column, "field": field, "raw": raw}
