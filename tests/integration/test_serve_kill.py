"""Fault test for actions: kill -9 the fully wired `molar serve` while a load generator
sends events that start a delayed journey; restart; every acknowledged event starts its
journey once, no delayed step is lost and the gateway receives each message once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time

import duckdb
import httpx
import pytest

from molar.automation.catalogue import RULES_DIR
from molar.warehouse import open_warehouse
from unit.delivery.gateway import Gateway
from unit.realtime.rtsupport import API_KEYS, HIS_KEY, free_port, seed_identity, start_serve

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

RULE = """
key: visit_thank_you
name: {zh: 就诊感谢, en: Thank-you after a visit}
description: Two seconds after any visit, a thank-you message (fault-test rule).
purpose: care
enabled: true
holdout_percent: 0
trigger:
  event:
    type: visit.completed
steps:
  - wait: 2s
  - send: {channel: sms, template: oral_care_article, vars: {article_url: "https://m.molar.example/a/x"}}
"""
POLICY = """
timezone: Asia/Shanghai
language: zh
channel_order: [sms]
consent:
  default: {care: reachable, marketing: denied}
quiet_hours: false
caps: []
complaint: {window: 30d, suppress: [marketing], resolved_by_task: service_recovery}
stale_after: 3650d
"""


def _visit(n: int) -> dict:
    return {"event_id": f"v{n}", "type": "visit.completed", "occurred_at": "2026-11-23T09:30:00",
            "patient": {"source_patient_key": ("BL00010001", "BL00010002", "BL00010003")[n % 3]},
            "data": {"visit_id": f"V{n}", "clinic_id": "C01", "department": "general", "items": [{"item_code": "CHK"}]}}


def test_kill_9_loses_no_delayed_action_and_sends_nothing_twice(tmp_path):
    db = tmp_path / "molar.duckdb"
    engine = open_warehouse(path=db)
    seed_identity(engine)
    engine.close()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "visit_thank_you.yaml").write_text(RULE, encoding="utf-8")
    shutil.copy(RULES_DIR / "templates.yaml", rules / "templates.yaml")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    gateway = Gateway().start()
    env = {"MOLAR_API_KEYS": json.dumps(API_KEYS), "MOLAR_RULES_DIR": str(rules),
           "MOLAR_AUTOMATION_POLICY": str(policy),
           "MOLAR_CHANNELS": json.dumps({"sms": {"url": gateway.url, "secret": gateway.secret}})}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "serve.log"
    acked: set[str] = set()
    stop = threading.Event()

    def load() -> None:
        n = 0
        with httpx.Client(base_url=url, headers={"X-API-Key": HIS_KEY}, timeout=5) as client:
            while not stop.is_set():
                n += 1
                try:
                    r = client.post("/v1/events", json=_visit(n))
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if r.status_code == 202:
                    acked.add(f"v{n}")

    server = start_serve(db, port, log_file, env)
    try:
        thread = threading.Thread(target=load, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while len(acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Some journeys are waiting, some messages were sent, others are due: kill now.
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        stop.set()
        thread.join(10)
        acked_before_kill = set(acked)
        assert len(acked_before_kill) >= 60
        server = start_serve(db, port, log_file, env)
        # Every delayed step comes due 2 s after its visit; give the worker time to send.
        deadline = time.monotonic() + 60
        while len(gateway.delivered) < len(acked_before_kill) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
        gateway.stop()

    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = {r[0].removeprefix("his:") for r in con.execute(
            "SELECT event_id FROM ops.rt_event WHERE type = 'visit.completed'").fetchall()}
        sent = con.execute("SELECT idempotency_key, status FROM ops.outbox").fetchall()
    finally:
        con.close()
    assert acked_before_kill <= stored, "an acknowledged event was lost"
    keys = [k for k, _ in sent]
    assert len(keys) == len(set(keys))
    assert len(sent) == len(stored), "a journey's delayed step was lost (or doubled)"
    assert {s for _, s in sent} == {"sent"}
    # The gateway saw every message, once per idempotency key (a resend after the kill
    # carries the same key and is dropped there).
    assert set(gateway.delivered) == set(keys)
    for received in gateway.delivered.values():
        assert received.key in keys
