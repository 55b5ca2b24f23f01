"""Fault test: kill -9 `molar serve` under load, restart, and every acknowledged event is
in ops.rt_event exactly once. Also: graceful SIGTERM drains, the warehouse is locked
while the server runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import API_KEYS, HIS_KEY, free_port, seed_identity, start_serve  # noqa: E402

from molar.warehouse import WarehouseError, open_warehouse  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
KILL_AFTER = 3000  # acknowledged events before the kill; posting goes on while it lands


def _start(db: Path, port: int, log_file: Path) -> subprocess.Popen:
    return start_serve(db, port, log_file, {"MOLAR_API_KEYS": json.dumps(API_KEYS)})


def _event(event_id: str, i: int) -> dict:
    patients = [{"source_patient_key": "BL00010001"}, {"mobile": "13700000004", "source": "member"},
                {"unionid": f"oLOAD{i % 50:023d}"}]
    return {"event_id": event_id, "type": "review.posted", "occurred_at": "2026-11-23T09:30:00",
            "patient": patients[i % 3], "data": {"review_id": event_id, "rating": 1 + i % 5}}


class Load:
    """Threads posting batches (and single events, and resends) until stopped."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.acked: set[str] = set()
        self.sent: set[str] = set()
        self.mismatched: list[tuple[list[str], list[str]]] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, n: int) -> None:
        i = 0
        with httpx.Client(base_url=self.url, headers={"X-API-Key": HIS_KEY}, timeout=5) as client:
            while not self.stop.is_set():
                i += 1
                ids = [f"t{n}-{i}-{j}" for j in range(20 if i % 4 else 1)]
                body = [_event(e, i + j) for j, e in enumerate(ids)]
                with self.lock:
                    self.sent.update(ids)
                    if i % 7 == 0 and self.acked:       # resend something already acknowledged
                        again = next(iter(self.acked))
                        body.append(_event(again, i))
                        ids.append(again)
                try:
                    if len(body) == 1:
                        r = client.post("/v1/events", json=body[0])
                    else:
                        r = client.post("/v1/events/batch", json={"events": body})
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if r.status_code == 202:
                    got = [a["event_id"] for a in r.json()["accepted"]]
                    with self.lock:
                        if got != ids:
                            self.mismatched.append((ids, got))
                        self.acked.update(got)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)


def _stored(db: Path) -> tuple[list[str], int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        ids = [r[0].removeprefix("his:") for r in con.execute("SELECT event_id FROM ops.rt_event WHERE NOT derived").fetchall()]
        checkpoint = con.execute("SELECT seq FROM ops.rt_checkpoint").fetchall()[0][0]
        return ids, checkpoint
    finally:
        con.close()


def test_kill_9_under_load_loses_no_acknowledged_event(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = open_warehouse(path=db)
    seed_identity(engine)
    engine.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "serve.log"

    servers: list[subprocess.Popen] = []
    try:
        server = _start(db, port, log_file)
        servers.append(server)
        # While the server runs, other commands are told the warehouse is in use (same call
        # as every command's open_engine; a CLI subprocess would only add its start-up time).
        with pytest.raises(WarehouseError, match="in use by another Molar process"):
            open_warehouse(path=db)

        with Load(url) as load:
            # Kill once KILL_AFTER events are acknowledged, however long that takes here;
            # the deadline only stops a hung server from hanging the test.
            deadline = time.monotonic() + 240
            while len(load.acked) < KILL_AFTER:
                assert time.monotonic() < deadline and server.poll() is None, (
                    f"only {len(load.acked)} events acknowledged; see {log_file}")
                time.sleep(0.02)
            os.kill(server.pid, signal.SIGKILL)
            server.wait(10)
            acked_before_kill = set(load.acked)
        assert not load.mismatched, load.mismatched[:3]

        server = _start(db, port, log_file)
        servers.append(server)
        with httpx.Client(base_url=url, headers={"X-API-Key": HIS_KEY}, timeout=10) as client:
            h = client.get("/v1/health").json()
            # Acknowledged events that were not applied before the kill are applied now.
            deadline = time.monotonic() + 120  # a hang guard, not a speed requirement
            while h["lag"] and time.monotonic() < deadline:
                time.sleep(0.05)
                h = client.get("/v1/health").json()
            assert h["lag"] == 0 and h["log_seq"] >= len(acked_before_kill)
            # Numbering continues after the crash.
            r = client.post("/v1/events", json=_event("after-restart", 0))
            assert r.status_code == 202 and r.json()["accepted"][0]["seq"] > h["log_seq"] - 1
            # Graceful stop: events acknowledged just before SIGTERM are applied too.
            last = client.post("/v1/events/batch", json={"events": [_event(f"last-{i}", i) for i in range(50)]})
            assert last.status_code == 202
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) in (0, -signal.SIGTERM)
    finally:
        for proc in servers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    stored, checkpoint = _stored(db)
    assert len(stored) == len(set(stored)), "an event was applied twice"
    stored_set = set(stored)
    missing = acked_before_kill - stored_set
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert {"after-restart", *(f"last-{i}" for i in range(50))} <= stored_set
    assert stored_set <= load.sent | {"after-restart"} | {f"last-{i}" for i in range(50)}
    assert checkpoint >= len(stored)
