"""Throughput of the SQL standardisers in DuckDB on synthetic messy rows.

    uv run python benchmarks/standardise/bench_standardise.py [--rows 1000000] [--repeat 3]

Builds a table of raw VARCHAR columns (one per standardiser, values in the messy forms
the standardisers accept plus ~5% junk, ~2% traditional-character names, ~3% full-width
text), then times ``CREATE TABLE … AS SELECT <value and problem of every column>``
(all standardisers together, and each alone). Prints the median of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import time

import duckdb
import pyarrow as pa

from molar.ingest.standardise import get_standardiser
from molar.ingest.standardise.reference import id_check_char

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉丹梅琳晨宇浩然子轩欣怡思雨佳一诺梓涵"
TRADITIONAL = {"陈": "陳", "张": "張", "刘": "劉", "杨": "楊", "黄": "黃", "赵": "趙", "吴": "吳", "郑": "鄭", "华": "華", "伟": "偉"}


def _fw(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def synth(rows: int, seed: int = 7) -> pa.Table:
    rnd = random.Random(seed)
    base = dt.date(1940, 1, 1)
    cols: dict[str, list[str | None]] = {k: [] for k in
        ("d", "ts", "mobile", "id_number", "name", "sex", "amount", "qty", "score", "note", "channel")}
    prefixes = ["138", "139", "135", "186", "189", "177", "150", "199"]
    for _ in range(rows):
        day = base + dt.timedelta(days=rnd.randrange(30000))
        r = rnd.random()
        cols["d"].append(
            None if r < 0.03 else
            f"{day:%Y-%m-%d}" if r < 0.5 else f"{day.year}/{day.month}/{day.day}" if r < 0.7 else
            f"{day.year}年{day.month}月{day.day}日" if r < 0.8 else f"{day:%Y%m%d}" if r < 0.9 else
            _fw(f"{day:%Y-%m-%d}") if r < 0.93 else f"{day.year}-{rnd.randint(1, 14)}-{rnd.randint(1, 33)}"
        )
        when = f"{day:%Y-%m-%d} {rnd.randrange(24):02d}:{rnd.randrange(60):02d}"
        cols["ts"].append(when + (f":{rnd.randrange(60):02d}" if r < 0.5 else "") if r > 0.02 else "2024-01-05 25:61")
        phone = rnd.choice(prefixes) + f"{rnd.randrange(10**8):08d}"
        r = rnd.random()
        cols["mobile"].append(
            phone if r < 0.6 else f"{phone[:3]} {phone[3:7]} {phone[7:]}" if r < 0.75 else
            f"+86-{phone}" if r < 0.85 else _fw(phone) if r < 0.88 else phone[:-1] if r < 0.95 else "无"
        )
        body = f"{rnd.choice(['110105', '310101', '440305', '510104'])}{day:%Y%m%d}{rnd.randrange(1000):03d}"
        r = rnd.random()
        cols["id_number"].append(
            None if r < 0.3 else body + id_check_char(body) if r < 0.95 else body + "0" if r < 0.98 else body[:-2]
        )
        given = "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))
        nm = rnd.choice(SURNAMES) + given
        r = rnd.random()
        cols["name"].append(
            "".join(TRADITIONAL.get(c, c) for c in nm) if r < 0.02 else f" {nm[0]} {nm[1:]} " if r < 0.05 else
            nm + "(儿童)" if r < 0.06 else _fw("Zhang Wei") if r < 0.07 else "未知" if r < 0.08 else nm
        )
        cols["sex"].append(rnd.choice(["男", "女", "M", "F", "1", "2", "男性", "未知", "x", None]))
        yuan = rnd.randrange(100, 5_000_000) / 100
        r = rnd.random()
        cols["amount"].append(
            f"{yuan:.2f}" if r < 0.5 else f"{yuan:,.2f}" if r < 0.7 else f"￥{yuan:g}" if r < 0.8 else
            f"{yuan:g}元" if r < 0.9 else f"{yuan / 10000:.2f}万" if r < 0.93 else f"-{yuan}" if r < 0.96 else "免费"
        )
        cols["qty"].append(str(rnd.randrange(1, 5)) if rnd.random() < 0.95 else rnd.choice(["1.0", "2.5", "两", "1,000"]))
        cols["score"].append(f"{rnd.random() * 3:.2f}" if rnd.random() < 0.97 else "n/a")
        cols["note"].append(rnd.choice(["  牙龈出血 ", "复查", "", None, "洁牙后敏感\u3000", "正畸咨询"]))
        cols["channel"].append(rnd.choice(["微信", "电话", "到店", "App", "小程序", "官网", "微博"]))
    return pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})


def standardisers(today: dt.date) -> dict[str, object]:
    return {
        "d": get_standardiser("date", not_after=today),
        "ts": get_standardiser("timestamp", not_after=today),
        "mobile": get_standardiser("mobile"),
        "id_number": get_standardiser("id_number", not_after=today),
        "name": get_standardiser("name"),
        "sex": get_standardiser("sex"),
        "amount": get_standardiser("amount"),
        "qty": get_standardiser("integer", minimum=1),
        "score": get_standardiser("decimal", minimum=0, maximum=3),
        "note": get_standardiser("text"),
        "channel": get_standardiser("code", mapping={"微信": "wechat", "小程序": "wechat", "电话": "phone", "到店": "walk_in", "App": "app", "官网": "online"}),
    }


def time_query(con: duckdb.DuckDBPyConnection, select: str, repeat: int) -> tuple[float, float]:
    """Median wall-clock and CPU seconds (CPU summed over DuckDB's threads)."""
    walls, cpus = [], []
    for _ in range(repeat):
        con.execute("DROP TABLE IF EXISTS out")
        start, cpu = time.perf_counter(), time.process_time()
        con.execute(f"CREATE TABLE out AS SELECT {select} FROM raw")
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--each", action=argparse.BooleanOptionalAction, default=True, help="also time each standardiser alone")
    args = ap.parse_args()

    t0 = time.perf_counter()
    table = synth(args.rows)
    print(f"synthesised {args.rows:,} rows in {time.perf_counter() - t0:.1f} s")
    con = duckdb.connect()
    con.register("raw_arrow", table)
    con.execute("CREATE TABLE raw AS SELECT * FROM raw_arrow")
    con.unregister("raw_arrow")
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    print(f"DuckDB {duckdb.__version__}, {threads} threads, {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")

    stds = standardisers(dt.date(2026, 11, 23))
    everything = ",\n".join(s.select_sql(f"raw.{col}", col) for col, s in stds.items())
    print(f"SQL for all columns: {len(everything):,} characters; load average before: {os.getloadavg()[0]:.2f}")
    total, cpu = time_query(con, everything, args.repeat)
    print(
        f"all {len(stds)} standardisers: {total:.2f} s wall ({cpu:.2f} s CPU), median of {args.repeat}"
        f" → {args.rows / total:,.0f} rows/s"
    )
    problems = con.execute("SELECT " + ", ".join(f"count({c}__problem)" for c in stds) + " FROM out").fetchall()[0]
    print("problems per column:", dict(zip(stds, problems, strict=True)))
    if args.each:
        baseline, _ = time_query(con, ", ".join(f"raw.{c}" for c in stds), args.repeat)
        print(f"  (copying the raw columns alone: {baseline:.2f} s)")
        for col, s in stds.items():
            secs, cpu = time_query(con, s.select_sql(f"raw.{col}", col), args.repeat)
            print(f"  {s.name:<10} {secs:6.2f} s wall {cpu:6.2f} s CPU {args.rows / secs:>14,.0f} rows/s")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes on the machine skew wall-clock times)")


if __name__ == "__main__":
    main()
