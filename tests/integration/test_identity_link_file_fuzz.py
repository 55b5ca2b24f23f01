"""`molar identity link-file` on random files of the documented columns: it links them
or stops with one clear message — never a traceback.

Files mix people seen several times (copies with some fields emptied, as sparse sources
hold them), honorifics, nicknames, shared phones and junk. Sizes run from 2 rows to
20,000; the large ones go through unsupervised training (≥ 5,000 records), the small
ones through the default model.
"""

from __future__ import annotations

import csv
import random

import typer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from molar.identity.cli import register
from molar.identity.link_file import COLUMNS

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰"
NICKNAMES = ("快乐小鱼", "momo", "追风少年", "Luna", "岁月静好", "🌸", "小可爱")
HONORIFICS = ("女士", "先生", "老师", "姐", "哥", "sir")
SEXES = ("男", "女", "M", "F", "1", "2", "未知", "x")
DISTRICTS = ("锦江区", "武侯区", "成华区", "成都", "")


def _person(rng: random.Random) -> dict[str, str]:
    surname = rng.choice(SURNAMES)
    return {
        "name": surname + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2))),
        "surname": surname,
        "sex": rng.choice(SEXES),
        "birth_date": f"{rng.randint(1930, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "mobile": "1" + rng.choice("3578") + "".join(rng.choice("0123456789") for _ in range(9)),
        "id_number": "".join(rng.choice("0123456789") for _ in range(17)) + rng.choice("0123456789X"),
        "district": rng.choice(DISTRICTS),
        "address": rng.choice(("", "人民南路1号", "xx")),
        "wechat_unionid": "o" + "".join(rng.choice("abcdef0123") for _ in range(10)),
    }


def _name_field(rng: random.Random, person: dict[str, str]) -> str:
    kind = rng.random()
    if kind < 0.6:
        return person["name"]
    if kind < 0.75:
        return person["surname"] + rng.choice(HONORIFICS)
    if kind < 0.9:
        return rng.choice(NICKNAMES)
    return rng.choice(("", "无名", "  ", "张 三(儿童)", "A" * 40))


def _file(n: int, fill: dict[str, float], seed: int, people_per_record: float) -> list[list[str]]:
    rng = random.Random(seed)
    pool = [_person(rng) for _ in range(max(1, int(n * people_per_record)))]
    family_phone = pool[0]["mobile"]
    rows = []
    for i in range(n):
        p = rng.choice(pool)
        row = {"record_id": str(i), "source": rng.choice(("his", "booking", "member", "wechat", "consult", "")),
               **p, "name": _name_field(rng, p)}
        if rng.random() < 0.05:
            row["mobile"] = family_phone
        if rng.random() < 0.02:
            row["mobile"] = rng.choice(("1.89E+10", "0000", "+1 415 555 0100", "16012345678"))
        rows.append([row["record_id"]] + [row[c] if rng.random() < fill[c] else "" for c in COLUMNS[1:]])
    return rows


runner = CliRunner()


def _app() -> typer.Typer:
    a = typer.Typer()

    @a.callback()
    def _main() -> None:
        pass

    register(a)
    return a


FILLS = st.fixed_dictionaries({c: st.sampled_from((0.0, 0.05, 0.5, 0.95, 1.0)) for c in COLUMNS[1:]})


@settings(max_examples=6, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(n=st.integers(2, 400), fill=FILLS, seed=st.integers(0, 2**16),
       people_per_record=st.sampled_from((0.05, 0.5, 1.0)))
@example(n=20_000, fill=dict.fromkeys(COLUMNS[1:], 1.0), seed=1, people_per_record=0.3)
@example(n=6_000, fill={**dict.fromkeys(COLUMNS[1:], 0.05), "name": 1.0, "mobile": 1.0}, seed=2,
         people_per_record=0.2)
@example(n=2, fill=dict.fromkeys(COLUMNS[1:], 0.0), seed=3, people_per_record=1.0)
def test_link_file_exits_cleanly_on_any_file(tmp_path_factory, n, fill, seed, people_per_record):
    tmp = tmp_path_factory.mktemp("fuzz")
    src, out = tmp / "people.csv", tmp / "links.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(_file(n, fill, seed, people_per_record))
    result = runner.invoke(_app(), ["identity", "link-file", str(src), "--out", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if result.exit_code == 0:
        with out.open(encoding="utf-8") as f:
            assert sum(1 for _ in f) == n + 1
    else:
        assert result.exit_code == 2
        assert "error:" in result.output and "Traceback" not in result.output


def test_link_file_that_cannot_write_its_output_says_so_in_one_line(tmp_path):
    src = tmp_path / "people.csv"
    src.write_text("record_id,name,mobile\n1,张伟,13812345678\n2,张伟,13812345678\n", encoding="utf-8")
    out = tmp_path / "a_folder"
    out.mkdir()
    result = runner.invoke(_app(), ["identity", "link-file", str(src), "--out", str(out)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    message = " ".join(result.output.split())  # the console wraps long lines
    assert "link-file" in message and "was not written" in message and "Traceback" not in message
