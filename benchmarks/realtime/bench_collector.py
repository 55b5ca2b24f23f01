"""Real-time collector benchmark: durable-acknowledged events/s and ack latency.

    uv run python benchmarks/realtime/bench_collector.py            # 3 runs of each mode
    uv run python benchmarks/realtime/bench_collector.py --runs 1 --seconds 5

For every run a fresh `molar serve` subprocess is started on a warehouse holding a
synthetic identity index (100,000 golden IDs), and a separate load-generator process
(httpx: one keep-alive client per thread, several threads) drives it:

* ``single``   — back-to-back single-event POSTs (`POST /v1/events`), max throughput;
* ``batch100`` — back-to-back batches of 100 (`POST /v1/events/batch`), max throughput;
* ``rate1000`` — a fixed 1,000 events/s as 100 requests/s of 10 events (open loop:
  latency is measured from each request's scheduled send time, so a stall is not hidden);
* ``rate1000x1`` — a fixed 1,000 events/s as single-event POSTs (same open loop);
* ``ceiling`` — the same single-event load against a no-op ASGI app on Uvicorn: what the
  HTTP stack and the load generator allow on this machine before any Molar code runs.

An event counts only when its 202 arrived, i.e. after the event log's fsync. After each
run the server's own figures are read from `/v1/health?stats=true`: the time from a
record becoming durable to the worker committing it (ack→applied) and the group-commit
sizes. Medians of the runs are printed; raw results go to benchmarks/out/realtime-<event>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "out"
KEY = "bench-key-0123456789abcdef"
PEOPLE = 100_000
HEADERS = {"X-API-Key": KEY, "Content-Type": "application/json"}


# ---------------------------------------------------------------------- load generator
EVENT = "MOLAR_BENCH_EVENT"   # app (default) | consult: set by --event, read by the load generator


def _payload(event_id: str, i: int) -> dict:
    k = i % PEOPLE
    patient = ({"source": "his", "source_patient_key": f"BL{k:08d}"} if i % 3 == 0 else
               {"unionid": f"oBENCH{k:022d}"} if i % 3 == 1 else
               {"mobile": f"139{k:08d}"})
    if os.environ.get(EVENT) == "consult":   # free text with a name and a mobile: sealed on arrival
        return {"event_id": event_id, "type": "consult.message", "occurred_at": "2026-11-23T09:30:00",
                "patient": patient, "data": {"consult_id": f"Q{i}", "channel": "chat",
                                             "text": f"我是欧阳明华，种植牙术后第{i % 9 + 1}天有点肿，电话139{k:08d}"}}
    return {"event_id": event_id, "type": "app.action", "occurred_at": "2026-11-23T09:30:00",
            "patient": patient, "data": {"platform": "app", "action": "article_read", "target": f"A{i % 97}"}}


def _throughput(url: str, seconds: float, connections: int, batch: int, tag: str) -> dict:
    """``connections`` threads, each with its own keep-alive httpx client, posting back to back."""
    import httpx

    latencies: list[list[float]] = [[] for _ in range(connections)]
    acked = [0] * connections
    errors = [0] * connections
    start = threading.Barrier(connections + 1)
    stop_at = [0.0]

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
            client.get("/v1/health")                       # open the connection first
            start.wait()
            i = 0
            while time.perf_counter() < stop_at[0]:
                i += 1
                if batch == 1:
                    path, body = "/v1/events", _payload(f"{tag}-{n}-{i}", i * connections + n)
                else:
                    path = "/v1/events/batch"
                    body = {"events": [_payload(f"{tag}-{n}-{i}-{j}", (i * connections + n) * batch + j)
                                       for j in range(batch)]}
                content = json.dumps(body)
                t = time.perf_counter()
                r = client.post(path, content=content)
                if r.status_code == 202:
                    acked[n] += batch
                    latencies[n].append(time.perf_counter() - t)
                else:
                    errors[n] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    total = sum(acked)
    return {"events": total, "seconds": elapsed, "events_per_s": total / elapsed, "errors": sum(errors),
            "request_latency_ms": _percentiles([x for lat in latencies for x in lat])}


def _fixed_rate(url: str, seconds: float, rate: float, per_request: int, tag: str,
                connections: int = 32) -> dict:
    """Open loop at ``rate`` events/s, ``per_request`` events per POST: request i is due at
    t0 + i·per_request/rate and its latency counts from that moment (a stall is not hidden)."""
    import httpx

    requests_total = int(seconds * rate / per_request)
    due: queue.Queue = queue.Queue()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client:
            client.get("/v1/health")
            while (item := due.get()) is not None:
                i, scheduled = item
                if per_request == 1:
                    path, body = "/v1/events", _payload(f"{tag}-{i}", i)
                else:
                    path = "/v1/events/batch"
                    body = {"events": [_payload(f"{tag}-{i}-{j}", i * per_request + j) for j in range(per_request)]}
                r = client.post(path, content=json.dumps(body))
                done = time.perf_counter()
                with lock:
                    if r.status_code == 202:
                        latencies.append(done - scheduled)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    for i in range(requests_total):
        scheduled = t0 + i * per_request / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        due.put((i, scheduled))
    for _ in threads:
        due.put(None)
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    events = len(latencies) * per_request
    return {"events": events, "seconds": elapsed, "events_per_s": events / elapsed,
            "errors": errors[0], "ack_latency_ms": _percentiles(latencies)}


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    v = sorted(values)

    def pct(p: float) -> float:
        return round(v[min(int(p * len(v)), len(v) - 1)] * 1000, 2)

    return {"n": len(v), "p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99), "max": round(v[-1] * 1000, 2)}


def loadgen_main(argv: list[str]) -> None:
    url, mode, seconds, connections, tag = argv[0], argv[1], float(argv[2]), int(argv[3]), argv[4]
    if mode in ("single", "ceiling"):
        result = _throughput(url, seconds, connections, 1, tag)
    elif mode == "batch100":
        result = _throughput(url, seconds, connections, 100, tag)
    elif mode == "rate1000":
        result = _fixed_rate(url, seconds, 1000.0, 10, tag)
    elif mode == "rate1000x1":
        result = _fixed_rate(url, seconds, 1000.0, 1, tag)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result))


# ---------------------------------------------------------------------- the harness ceiling
async def _noop_app(scope, receive, send) -> None:
    """The cheapest ASGI answer: read the body, parse it, answer 202. Measures what
    Uvicorn + the load generator allow on this machine, before any Molar code."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if body:
        json.loads(body)
    out = b'{"accepted":[{"event_id":"x","seq":1}],"count":1,"log_seq":1}'
    await send({"type": "http.response.start", "status": 202 if body else 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


def noop_server_main(port: int) -> None:
    import uvicorn

    uvicorn.run(_noop_app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# ---------------------------------------------------------------------- the driver
def seed_warehouse(db: Path) -> None:
    """A warehouse whose identity index holds PEOPLE golden IDs (HIS key, unionid, mobile)."""
    sys.path.insert(0, str(ROOT / "src"))
    import pyarrow as pa

    from molar.privacy.blind_index import BlindIndexer
    from molar.privacy.keys import open_keyring_from
    from molar.warehouse import open_warehouse

    engine = open_warehouse(path=db)
    bi = BlindIndexer.from_keyring(open_keyring_from(None, engine))
    his = [f"BL{i:08d}" for i in range(PEOPLE)]
    wechat = [f"oBENCH{i:022d}" for i in range(PEOPLE)]
    rows = pa.table({   # as identity stores its link input: blind indexes, no plaintext
        "idx": [i * 2 for i in range(PEOPLE)] + [i * 2 + 1 for i in range(PEOPLE)],
        "unique_id": [f"his:{k}" for k in his] + [f"wechat:{k}" for k in wechat],
        "source": ["his"] * PEOPLE + ["wechat"] * PEOPLE,
        "source_patient_key": his + wechat,
        "mobile_bi": bi.column("mobile", [f"+86139{i:08d}" for i in range(PEOPLE)]) + [None] * PEOPLE,
        "unionid_bi": [None] * PEOPLE + bi.column("unionid", wechat),
    })
    with engine.transaction():
        engine.append("identity.link_input", rows)
        engine.execute("""
            INSERT INTO identity.cluster
            SELECT unique_id, source, source_patient_key,
                   'G' || lpad((idx // 2)::VARCHAR, 10, '0'), 'bench' FROM identity.link_input
        """)
    engine.close()


def start_server(db: Path, port: int, log: Path, *, noop: bool = False) -> subprocess.Popen:
    import httpx

    env = {**os.environ, "MOLAR_API_KEYS": json.dumps({"bench": {"key": KEY, "role": "admin", "source": "app"}}),
           "MOLAR_API_RATE_PER_MINUTE": "100000000",
           "MOLAR_MAX_BATCH_EVENTS": "1000"}
    command = ([sys.executable, __file__, "--noop-server", str(port)] if noop else
               [sys.executable, "-m", "molar", "serve", "-w", str(db), "--port", str(port), "--log-level", "warning"])
    proc = subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"molar serve exited; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("molar serve did not start")


def cpu_seconds(pid: int) -> float:
    import psutil

    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def one_run(db: Path, mode: str, seconds: float, connections: int, run: int, port: int, log: Path) -> dict:
    import httpx

    server = start_server(db, port, log, noop=mode == "ceiling")
    url = f"http://127.0.0.1:{port}"
    try:
        cpu0 = cpu_seconds(server.pid)
        gen = subprocess.run(
            [sys.executable, __file__, "--loadgen", url, mode, str(seconds), str(connections), f"{mode}{run}"],
            capture_output=True, text=True, cwd=ROOT,
        )
        if gen.returncode:
            raise SystemExit(gen.stderr)
        result = json.loads(gen.stdout)
        result["server_cpu_seconds"] = round(cpu_seconds(server.pid) - cpu0, 2)
        if mode == "ceiling":
            return result
        # Wait for the worker to apply everything, then read the server's own figures.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = httpx.get(f"{url}/v1/health", params={"stats": "true"}, headers=HEADERS, timeout=10).json()
            if health["lag"] == 0:
                break
            time.sleep(0.1)
        result["ack_to_applied_ms"] = health["ack_to_applied_ms"]
        log_stats = health["event_log"]
        result["group_commit"] = {
            "fsyncs": log_stats["batches"],
            "records_per_fsync": round(log_stats["records"] / max(log_stats["batches"], 1), 1),
            "fsync_ms_avg": round(log_stats["sync_seconds"] * 1000 / max(log_stats["batches"], 1), 3),
        }
        result["worker"] = {k: health["pipeline"][k] for k in ("batches", "events_applied", "failures")}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(120)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--modes", default="ceiling,single,batch100,rate1000,rate1000x1")
    parser.add_argument("--event", choices=("app", "consult"), default="app",
                        help="app.action (no personal data) or consult.message (free text, sealed)")
    args = parser.parse_args()
    os.environ[EVENT] = args.event   # the load-generator processes inherit it

    import molar.serve  # noqa: F401  (what `molar serve` imports: fail early if the package is broken)
    sys.path[:0] = [str(ROOT / "tests" / "unit" / "realtime"), str(ROOT / "tests")]   # rtsupport needs support
    from rtsupport import free_port

    work = OUT / "realtime-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "molar.duckdb"
    seed_warehouse(db)
    log = work / "serve.log"
    results: dict[str, list[dict]] = {}
    for mode in args.modes.split(","):
        results[mode] = []
        for run in range(args.runs):
            r = one_run(db, mode, args.seconds, args.connections, run, free_port(), log)
            results[mode].append(r)
            lat = r.get("ack_latency_ms") or r.get("request_latency_ms")
            applied = r.get("ack_to_applied_ms", {})
            print(f"{mode:10s} run {run + 1}: {r['events_per_s']:8,.0f} events/s  "
                  f"latency p50/p95/p99 {lat.get('p50')}/{lat.get('p95')}/{lat.get('p99')} ms  "
                  f"ack→applied p50/p95 {applied.get('p50')}/{applied.get('p95')} ms  "
                  f"records/fsync {r.get('group_commit', {}).get('records_per_fsync')}  "
                  f"server CPU {r['server_cpu_seconds']} s  errors {r['errors']}", flush=True)

    summary = {}
    for mode, runs in results.items():
        key = "ack_latency_ms" if mode.startswith("rate") else "request_latency_ms"
        summary[mode] = {
            "events_per_s": statistics.median(r["events_per_s"] for r in runs),
            key: {p: statistics.median(r[key][p] for r in runs) for p in ("p50", "p95", "p99")},
            "server_cpu_ms_per_event": statistics.median(
                r["server_cpu_seconds"] * 1000 / max(r["events"], 1) for r in runs),
        }
        if mode != "ceiling":
            summary[mode]["ack_to_applied_ms"] = {
                p: statistics.median(r["ack_to_applied_ms"][p] for r in runs) for p in ("p50", "p95", "p99")}
            summary[mode]["records_per_fsync"] = statistics.median(
                r["group_commit"]["records_per_fsync"] for r in runs)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    meta = {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "seconds": args.seconds, "event": args.event,
            "connections": args.connections, "people": PEOPLE, "when": time.strftime("%Y-%m-%d %H:%M")}
    (OUT / f"realtime-{args.event}.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": results},
                                                  indent=2, ensure_ascii=False))
    print(f"raw results: {OUT / f'realtime-{args.event}.json'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--loadgen":
        loadgen_main(sys.argv[2:])
    elif len(sys.argv) > 1 and sys.argv[1] == "--noop-server":
        noop_server_main(int(sys.argv[2]))
    else:
        main()
