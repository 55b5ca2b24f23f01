"""The real-time part of `molar demo`: replay one day of the synthetic chain through the real
collector of a `molar serve` app on 127.0.0.1, then fast-forward the clinic clock a week so
delayed journey steps fire, and summarise actions fired, suppressed and latency.

The day's rows are already in the warehouse from the nightly exports; replayed as live
events they are not counted twice by the profile (same visit/charge/booking/consult IDs),
but every rule sees them as they happen.
"""

from __future__ import annotations

import statistics
import threading
import time
from datetime import date, datetime, timedelta
from typing import Any

from molar.config import Settings
from molar.privacy import fields
from molar.warehouse import Engine

DEV_KEY = "molar-dev-key"


def _patient(source: str, key: str) -> dict[str, str]:
    return {"unionid": key} if source == "wechat" else {"source": source, "source_patient_key": key}


def day_events(engine: Engine, day: date) -> list[dict[str, Any]]:
    """The day's visits, charges, bookings, consults, app actions and telemetry as API events."""
    d = f"DATE '{day.isoformat()}'"
    events: list[dict[str, Any]] = []
    for visit_id, source, key, clinic, dept, doctor, diagnosis, items in engine.rows(
        f"""SELECT v.visit_id, v.source, v.source_patient_key, v.clinic_id, v.department, v.doctor_id, v.diagnosis,
                   list(t.item_code ORDER BY t.line_no)
            FROM std.visit v JOIN std.treatment t ON t.source = v.source AND t.visit_id = v.visit_id
            WHERE v.visit_date = {d} AND v.clinic_id IS NOT NULL AND v.department IS NOT NULL GROUP BY ALL"""
    ):
        at = datetime.combine(day, datetime.min.time()) + timedelta(hours=9 + hash(visit_id) % 10, minutes=hash(visit_id) % 60)
        events.append({"event_id": f"demo-{visit_id}", "type": "visit.completed", "occurred_at": at,
                       "patient": _patient(source, key),
                       "data": {"visit_id": visit_id, "clinic_id": clinic, "department": dept, "doctor_id": doctor,
                                "diagnosis": diagnosis, "items": [{"item_code": c} for c in items]}})
    cipher = fields.cipher_for(engine)
    for consult_id, source, key, channel, at, text in engine.rows(
        f"SELECT consult_id, source, source_patient_key, channel, occurred_at, text FROM std.consult "
        f"WHERE occurred_at::DATE = {d} AND channel IS NOT NULL"
    ):
        events.append({"event_id": f"demo-{consult_id}", "type": "consult.message", "occurred_at": at,
                       "patient": _patient(source, key),
                       "data": {"consult_id": consult_id, "channel": channel,
                                "text": cipher.decrypt(text, "std.consult", "text", consult_id)}})
    for event_id, platform, kind, at, unionid, article, coupon, referrer in engine.rows(
        f"SELECT event_id, platform, event_type, occurred_at, unionid, article_id, coupon_id, referrer_unionid "
        f"FROM std.event WHERE occurred_at::DATE = {d} AND unionid IS NOT NULL AND event_type IN ('share', 'referral', 'coupon_used', 'article_read')"
    ):
        data = {"platform": platform, "action": kind}
        data.update({k: v for k, v in (("article_id", article), ("coupon_id", coupon), ("referrer_unionid", referrer)) if v})
        events.append({"event_id": f"demo-{event_id}", "type": "app.action", "occurred_at": at,
                       "patient": {"unionid": unionid}, "data": data})
    for device, unionid, sessions, seconds, alerts, plaque in engine.rows(
        f"SELECT device_id, unionid, brushing_sessions, brushing_seconds, pressure_alerts, plaque_index FROM std.telemetry "
        f"WHERE measured_on = {d} AND unionid IS NOT NULL AND plaque_index IS NOT NULL"
    ):
        events.append({"event_id": f"demo-tb-{device}-{day}", "type": "telemetry.daily",
                       "occurred_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=21),
                       "patient": {"unionid": unionid},
                       "data": {"device_id": device, "measured_on": day.isoformat(), "plaque_index": plaque,
                                "brushing_sessions": sessions, "brushing_seconds": seconds, "pressure_alerts": alerts}})
    events.sort(key=lambda e: e["occurred_at"])
    for e in events:
        e["occurred_at"] = e["occurred_at"].isoformat()
    return events


class _Clock:
    """The clinic clock of the replay: jumps to each event's time, then fast-forwards."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def set(self, when: datetime) -> None:
        with self.lock:
            self.now = max(self.now, when)


def _by_window(events: list[dict[str, Any]], minutes: int) -> list[list[dict[str, Any]]]:
    groups: list[list[dict[str, Any]]] = []
    for e in events:
        at = datetime.fromisoformat(e["occurred_at"])
        if groups and at - datetime.fromisoformat(groups[-1][0]["occurred_at"]) < timedelta(minutes=minutes) \
                and len(groups[-1]) < 200:
            groups[-1].append(e)
        else:
            groups.append([e])
    return groups


def _drain(runtime, now: datetime, timeout: float = 60.0) -> None:
    """Wait until the worker's ticks have fired every due timer and sent every due message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runtime.wait_applied(30)
        engine = runtime.read_engine()
        due = engine.scalar("SELECT count(*) FROM ops.timer WHERE state = 'pending' AND due_at <= ?", [now])
        queued = engine.scalar(
            "SELECT count(*) FROM ops.outbox WHERE status IN ('queued', 'sending') AND coalesce(next_attempt_at, ?) <= ?", [now, now])
        if not due and not queued:
            return
        time.sleep(0.2)


def replay_day(settings: Settings, events: list[dict[str, Any]], day: date, fast_forward_days: int = 8,
               progress=None) -> dict[str, Any]:
    """Serve the warehouse, post ``events`` in time order, fast-forward, and summarise."""
    import httpx
    import uvicorn

    from molar.serve import build_server

    clock = _Clock(datetime.combine(day, datetime.min.time()) + timedelta(hours=7))
    settings = settings.with_overrides(api_dev_key=True)
    app = build_server(settings, clock=clock, profile_first_after=timedelta(days=3650))
    runtime = app.state.realtime
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the demo server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    latencies: list[float] = []
    rejected = 0
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                          headers={"Authorization": f"Bearer {DEV_KEY}"}) as http:
            done = 0
            for group in _by_window(events, minutes=10):
                # The clinic clock moves to the window's last event, as if it had just happened.
                clock.set(datetime.fromisoformat(group[-1]["occurred_at"]))
                started = time.perf_counter()
                r = http.post("/v1/events/batch", json={"events": group})
                if r.status_code != 202:
                    rejected += len(group)
                    continue
                runtime.wait_applied(30)  # stages (profile, rules) ran in the same transaction
                latencies.extend([time.perf_counter() - started] * len(group))
                done += len(group)
                if progress:
                    progress(done, len(events))
            end_of_day = datetime.combine(day, datetime.min.time()) + timedelta(hours=23, minutes=59)
            clock.set(end_of_day)
            for d in range(1, fast_forward_days + 1):  # a week on: the delayed steps come due
                clock.set(end_of_day + timedelta(days=d, hours=-14))  # 09:59 each morning
                _drain(runtime, clock())
            engine = runtime.read_engine()
            decisions = engine.rows(
                "SELECT rule_key, outcome, coalesce(reason_code, ''), count(*) FROM ops.rule_decision GROUP BY ALL ORDER BY 1, 2, 3")
            outbox = dict(engine.rows("SELECT status, count(*) FROM ops.outbox GROUP BY 1"))
            tasks = dict(engine.rows("SELECT kind, count(*) FROM ops.task GROUP BY 1"))
    finally:
        server.should_exit = True
        thread.join(30)
    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else None

    return {
        "day": day.isoformat(),
        "events_posted": len(events),
        "events_rejected": rejected,
        "decisions": [{"rule": r, "outcome": o, "reason": c, "count": n} for r, o, c, n in decisions],
        "outbox": outbox,
        "tasks": tasks,
        # per event: from the POST of its 10-minute window's batch to the rules' decisions
        "event_to_decision_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
                                 "mean": round(1000 * statistics.fmean(ordered), 1) if ordered else None},
    }
