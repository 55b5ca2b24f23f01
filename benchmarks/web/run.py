"""Console page and monthly report timings on a demo warehouse.

Starts `molar serve` on the warehouse (a free port of 127.0.0.1), signs in as the demo
user, and times each page over HTTP (server time plus transfer; the browser's drawing of the
charts is not included), then times `molar report monthly` as a user runs it (a new process
each time: imports, queries, and for the PDF chromium). Every figure is the median of
``--repeat`` runs after one warm-up request per page. Raw JSON goes to benchmarks/out/.

    uv run molar demo --out /tmp/demo20k                       # the 20K chain, once
    uv run python benchmarks/web/run.py /tmp/demo20k/molar.duckdb --month 2026-10
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

USER, PASSWORD = "demo", "molar-demo-only"     # the login `molar demo` creates


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(warehouse: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "molar", "serve", "-w", str(warehouse), "--port", str(port),
                             "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("molar serve did not start within 5 minutes")


def timed(client: httpx.Client, path: str, repeat: int) -> dict:
    first = client.get(path)
    assert first.status_code == 200, (path, first.status_code, first.text[:300])
    walls = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = client.get(path)
        walls.append(time.perf_counter() - t)
        assert r.status_code == 200, (path, r.status_code)
    return {"path": path, "median_s": statistics.median(walls), "runs_s": walls, "bytes": len(first.content)}


def pages(warehouse: Path, month: str, repeat: int, only: list[str]) -> list[dict]:
    proc, url = serve(warehouse)
    try:
        client = httpx.Client(base_url=url, timeout=600)
        login = client.post("/console/login", data={"username": USER, "password": PASSWORD, "next": "/console/"})
        assert login.status_code == 303, login.text[:300]
        paths = [f"/console/dashboard?month={month}",
                 f"/console/dashboard?month={month}&clinic=C01",
                 f"/console/dashboard/patients?kpi=active_patients&month={month}",
                 f"/console/dashboard/patients?kpi=active_patients&month={month}&page=20",
                 f"/console/dashboard/patients?kpi=revenue&month={month}",
                 "/console/patients/G0000000001",
                 f"/console/report?month={month}",
                 f"/console/report/download?month={month}&format=html",
                 f"/console/report/download?month={month}&format=pdf",
                 "/console/queues", "/console/queues?status=all&clinic=C01", "/console/quarantine",
                 "/console/outbox", "/console/journeys", "/console/journeys/implant_follow_up",
                 "/console/journeys/implant_follow_up/why?patient=G0000000001",
                 "/console/segments", "/console/segments/high_value_churn_risk", "/console/segments/lapsed_cleaning",
                 "/console/segments/lapsed_cleaning/export",
                 "/console/segments/builder?field0=tier&op0=in&value0=strategic,growth"
                 "&field1=visits.days_since_last&op1=%3E&value1=180"]
        return [timed(client, p, repeat) for p in paths if not only or any(p.startswith(o) for o in only)]
    finally:
        proc.terminate()
        proc.wait(60)


def cli(warehouse: Path, month: str, repeat: int) -> list[dict]:
    env = {**os.environ, "MOLAR_USER": USER, "MOLAR_PASSWORD": PASSWORD}
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for suffix in ("html", "pdf"):
            walls = []
            for _ in range(repeat):
                t = time.perf_counter()
                subprocess.run([sys.executable, "-m", "molar", "report", "monthly", "--month", month, "-w",
                                str(warehouse), "--out", f"{folder}/report.{suffix}"], env=env, check=True,
                               capture_output=True)
                walls.append(time.perf_counter() - t)
            out.append({"command": f"molar report monthly --month {month} --out report.{suffix}",
                        "median_s": statistics.median(walls), "runs_s": walls})
    return out


def seed_tasks(warehouse: Path, n: int) -> None:
    """Open ``n`` staff tasks on patients spread over the chain, due from a day ago to two days
    ahead (the demo runs journeys for days, not weeks, so it opens few). Changes the warehouse."""
    from datetime import timedelta

    from molar.delivery.tasks import create_task
    from molar.realtime.schemas import local_now
    from molar.warehouse import open_warehouse

    now = local_now()
    kinds = ["nurse_follow_up", "service_recovery", "vip_advisor", "recall_call"]
    with open_warehouse(path=warehouse) as engine:
        patients = [g for (g,) in engine.rows("SELECT golden_id FROM identity.patient ORDER BY hash(golden_id) LIMIT ?",
                                              [n])]
        with engine.transaction():
            for i, golden in enumerate(patients):
                create_task(engine, idempotency_key=f"benchmark-{i}", kind=kinds[i % 4], golden_id=golden,
                            due_at=now + timedelta(minutes=(i * 37) % 4320 - 1440), now=now, role="nurse",
                            title_zh="基准测试任务", title_en="benchmark task")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", action="append", default=[], help="Only pages whose path starts with this.")
    parser.add_argument("--no-cli", action="store_true", help="Skip timing `molar report monthly`.")
    parser.add_argument("--seed-tasks", type=int, default=0, help="First open this many staff tasks (on a copy!).")
    args = parser.parse_args()
    if args.seed_tasks:
        seed_tasks(args.warehouse, args.seed_tasks)
    result = {"warehouse": str(args.warehouse), "month": args.month, "load": os.getloadavg(),
              "pages": pages(args.warehouse, args.month, args.repeat, args.only),
              "cli": [] if args.no_cli else cli(args.warehouse, args.month, args.repeat)}
    out = Path(__file__).parents[1] / "out"
    out.mkdir(exist_ok=True)
    (out / "web.json").write_text(json.dumps(result, indent=2))
    for row in result["pages"]:
        print(f"{row['median_s']:8.3f} s  {row['bytes']:>9,} B  GET {row['path']}")
    for row in result["cli"]:
        print(f"{row['median_s']:8.3f} s  {row['command']}")


if __name__ == "__main__":
    main()
