"""Helpers for the real-time tests: identity fixtures, a real server in a thread."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime

import uvicorn

from molar.privacy import keys
from molar.privacy.blind_index import BlindIndexer
from support import add_golden

NOW = datetime(2026, 11, 23, 10, 0, 0)
HIS_KEY = "his-key-0123456789abcdef"
WECHAT_KEY = "wechat-key-0123456789abcdef"
BOOKING_KEY = "booking-key-0123456789abcdef"
ADMIN_KEY = "admin-key-0123456789abcdef"
# Keys of the real-time tests. "his" has the admin role (it sends every event type and names
# patients by any key, as these identity and pipeline tests need); the others have their
# system's role. What each role may do is tested in tests/integration/test_access.py.
API_KEYS = {
    "his": {"key": HIS_KEY, "role": "admin", "source": "his"},
    "wechat": {"key": WECHAT_KEY, "role": "wechat"},
    "booking": {"key": BOOKING_KEY, "role": "booking"},
    "ops": {"key": ADMIN_KEY, "role": "admin", "source": "ops"},
}


@dataclass(frozen=True)
class Record:
    golden_id: str
    source: str
    key: str
    name: str
    mobile: str | None = None
    unionid: str | None = None


# G1 has HIS, WeChat and booking records and their own phone; G2 and G3 (mother and son)
# share a family phone; G4 is a member-card customer; G9 was merged into G1.
PEOPLE = (
    Record("G0000000001", "his", "BL00010001", "张伟", "+8613800000001"),
    Record("G0000000001", "wechat", "oUNION0000000000000000000001", "张伟", "+8613800000001",
           "oUNION0000000000000000000001"),
    Record("G0000000001", "booking", "10000001", "张伟", "+8613800000001"),
    Record("G0000000002", "his", "BL00010002", "李娜", "+8613900000002"),
    Record("G0000000003", "his", "BL00010003", "李明", "+8613900000002"),
    Record("G0000000004", "member", "886000000004", "王芳", "+8613700000004"),
)


def seed_identity(engine, people=PEOPLE, *, run_id: str = "run1", retired=(("G0000000009", "G0000000001"),)) -> None:
    """Write identity.link_input / cluster / patient / golden rows for these records."""
    indexer = BlindIndexer.from_keyring(keys.open_keyring_from(None, engine))
    with engine.transaction():
        start = int(engine.scalar("SELECT count(*) FROM identity.link_input"))
        for i, r in enumerate(people):
            uid = f"{r.source}:{r.key}"
            engine.execute(   # as identity stores it: blind indexes, no plaintext
                "INSERT INTO identity.link_input (idx, unique_id, source, source_patient_key, name_bi, "
                "mobile_bi, unionid_bi) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [start + i, uid, r.source, r.key, indexer.column("name", [r.name])[0], indexer.mobile(r.mobile),
                 indexer.unionid(r.unionid)],
            )
            engine.execute(
                "INSERT INTO identity.cluster VALUES (?, ?, ?, ?, ?)",
                [uid, r.source, r.key, r.golden_id, run_id],
            )
        goldens: dict[str, list[Record]] = {}
        for r in people:
            goldens.setdefault(r.golden_id, []).append(r)
        for g, recs in goldens.items():
            first = recs[0]
            unionid = next((r.unionid for r in recs if r.unionid), None)
            add_golden(engine, golden_id=g, name=first.name, sex="M", birth_date=date(1990, 1, 1),
                       mobile=first.mobile, id_number="510104199001011234", district="锦江区", address="红星路1号",
                       wechat_unionid=unionid, home_clinic_id="C01", member_count=len(recs),
                       sources=sorted({r.source for r in recs}), updated_at=NOW)
            engine.execute(
                "INSERT INTO identity.golden VALUES (?, 'active', ?, ?, ?, NULL, NULL, ?)",
                [g, NOW, run_id, NOW, len(recs)],
            )
        for old, new in retired:
            engine.execute(
                "INSERT INTO identity.golden VALUES (?, 'retired', ?, ?, ?, ?, ?, 0)",
                [old, NOW, run_id, NOW, NOW, new],
            )


def seed_profile(engine, golden_id: str = "G0000000001") -> None:
    with engine.transaction():
        engine.execute(
            "INSERT INTO profile.tag_value VALUES (?, 'perio_risk', 'high', 1, '{\"bleeding\": true}', ?, 'p1')",
            [golden_id, NOW])
        engine.execute("INSERT INTO profile.tier VALUES (?, 'growth', 2, 0.5, 'p1')", [golden_id])
        engine.execute(
            "INSERT INTO profile.lifecycle VALUES (?, 'mature', ?, 180, 30, 0.2, 0.1, 'regular visits', 'p1')",
            [golden_id, date(2025, 1, 1)])
        engine.execute(
            "INSERT INTO profile.value_score VALUES (?, 30, 2, 3000, 0.4, 0.9, 0.8, 0.7, 0.6, 0.5, 72.5, 'p1')",
            [golden_id])


def start_serve(db, port: int, log_file, env: dict[str, str] | None = None, timeout: float = 240.0) -> subprocess.Popen:
    """`molar serve` as a subprocess on 127.0.0.1:port; returns once /v1/health answers.

    The timeout only stops a hung server from hanging the suite: a restart replays its log,
    which on a loaded machine can take minutes."""
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "molar", "serve", "-w", str(db), "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **(env or {})}, stdout=log_file.open("ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"molar serve exited: {log_file.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"molar serve did not start in {timeout:.0f} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """Uvicorn serving ``app`` on a free port of 127.0.0.1 in a background thread."""

    def __init__(self, app) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def event(type_: str = "review.posted", patient=None, data=None, **extra):
    body = {
        "type": type_,
        "occurred_at": "2026-11-23T09:30:00",
        "patient": patient or {"source_patient_key": "BL00010001"},
        "data": data if data is not None else {"review_id": "R1", "rating": 5},
    }
    body.update(extra)
    return body
