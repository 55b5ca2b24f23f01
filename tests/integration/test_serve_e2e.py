"""`molar serve` end to end: the fully wired server (collector → profile stage → rules →
outbox) on 127.0.0.1, a real DuckDB file, the real sentiment model, and a real HMAC webhook
gateway. The clinic clock is a manual clock so "7 days later" takes no time."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import httpx
import pytest

from molar.automation.clock import ManualClock
from molar.config import Settings
from molar.delivery.channels import verify_signature
from molar.serve import build_server
from molar.warehouse import open_warehouse
from unit.delivery.gateway import Gateway
from unit.realtime.rtsupport import API_KEYS, HIS_KEY, WECHAT_KEY, ThreadServer, seed_identity

pytestmark = pytest.mark.timeout(300)

START = datetime(2026, 11, 23, 10, 0, 0)
G1, G2, G4 = "G0000000001", "G0000000002", "G0000000004"
HIS = {"source_patient_key": "BL00010001"}  # G1's HIS record
UNION = {"unionid": "oUNION0000000000000000000001"}  # G1 on WeChat


class Live:
    """A running server plus helpers to post events and look at what happened."""

    def __init__(self, app, server: ThreadServer, clock: ManualClock, gateway: Gateway) -> None:
        self.app, self.server, self.clock, self.gateway = app, server, clock, gateway
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self._n = 0

    def post(self, type_: str, data: dict, patient: dict | None = None, key: str = HIS_KEY,
             at: datetime | None = None) -> dict:
        self._n += 1
        body = {"event_id": f"e2e-{self._n}-{type_}", "type": type_,
                "occurred_at": (at or self.clock.now).isoformat(), "patient": patient or HIS, "data": data}
        r = self.http.post("/v1/events", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 202, r.text
        self.settle()
        return r.json()

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the worker has applied everything acknowledged and then run whole
        ticks at the clock's current time (a tick reads the clock before it counts itself,
        so the third tick counted after now is the first known to have started after it)."""
        runtime = self.app.state.realtime
        ok, _ = runtime.wait_applied(timeout)
        assert ok
        stats = runtime.pipeline.stats
        target = stats["ticks"] + 3
        deadline = time.monotonic() + timeout
        while stats["ticks"] < target:
            assert time.monotonic() < deadline, f"the worker ran no tick in {timeout:.0f} s"
            time.sleep(0.01)
        assert stats["tick_errors"] == 0, stats["last_error"]

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.settle()

    def rows(self, sql: str, params=None) -> list[tuple]:
        return self.app.state.realtime.read_engine().rows(sql, params)

    def tasks(self, golden_id: str) -> list[tuple]:
        return self.rows("SELECT kind, rule_key, due_at FROM ops.task WHERE golden_id = ? ORDER BY created_at", [golden_id])

    def decisions(self, rule: str, golden_id: str) -> list[tuple]:
        return self.rows("SELECT step, outcome, reason_code FROM ops.rule_decision WHERE rule_key = ? AND golden_id = ? "
                         "ORDER BY seq", [rule, golden_id])


def _parts(tmp_path) -> tuple[Settings, Gateway, ManualClock]:
    """A warehouse with G1…G4, a signed-webhook gateway for every channel, a clinic clock."""
    db = tmp_path / "molar.duckdb"
    engine = open_warehouse(path=db)
    seed_identity(engine)
    engine.close()
    gateway = Gateway().start()
    channels = {c: {"url": gateway.url, "secret": gateway.secret} for c in ("sms", "wechat", "app")}
    return Settings(warehouse_path=db, api_keys=API_KEYS, channels=channels), gateway, ManualClock(START)


def _app(settings: Settings, clock: ManualClock):
    return build_server(settings, clock=clock, profile_first_after=timedelta(days=365))


@pytest.fixture
def live(tmp_path):
    settings, gateway, clock = _parts(tmp_path)
    app = _app(settings, clock)
    with ThreadServer(app) as server:
        yield Live(app, server, clock, gateway)
    gateway.stop()


def visit(items: list[str], visit_id: str, department: str = "general") -> dict:
    return {"visit_id": visit_id, "clinic_id": "C01", "department": department,
            "items": [{"item_code": c} for c in items]}


def test_cleaning_sends_the_article_seven_days_later_signed_and_once(live):
    live.post("visit.completed", visit(["CLN"], "V-CLN-1", "periodontics"))
    assert live.decisions("cleaning_oral_care_article", G1)[0][1] == "started"
    assert not live.gateway.delivered
    live.advance(timedelta(days=6, hours=23))
    assert not live.gateway.delivered
    live.advance(timedelta(hours=2))
    [sent] = live.gateway.delivered.values()
    assert verify_signature(sent.body, sent.headers, live.gateway.secret)
    assert "after-cleaning" in sent.body.decode()
    live.advance(timedelta(days=1))
    assert len(live.gateway.requests) == 1


def test_a_filling_does_not_send_the_cleaning_article(live):
    live.post("visit.completed", visit(["FILL"], "V-FILL-1"))
    live.advance(timedelta(days=8))
    assert live.decisions("cleaning_oral_care_article", G1) == []
    assert not live.gateway.delivered


def test_complaint_message_opens_a_service_recovery_task_within_an_hour(live):
    live.post("consult.message", {"consult_id": "K-1", "channel": "chat",
                                  "text": "预约了还等了一个多小时，前台态度很差，我要投诉"}, patient=UNION, key=WECHAT_KEY)
    [(kind, rule, due)] = live.tasks(G1)
    assert (kind, rule) == ("service_recovery", "complaint_service_recovery")
    assert due <= START + timedelta(hours=1)
    # The profile saw it too, per event: latest sentiment and the complaint count.
    tags = dict(live.rows("SELECT tag_key, value FROM profile.tag_value WHERE golden_id = ?", [G1]))
    assert tags["latest_sentiment"] == "complaint" and tags["complaints_90d"] == "1"
    # What went wrong, for the recovery call.
    assert live.rows("SELECT aspects FROM profile.text_sentiment WHERE text_id = 'K-1'") == [
        (["attitude", "waiting", "booking"],)]


def test_a_question_opens_no_task(live):
    live.post("consult.message", {"consult_id": "K-2", "channel": "chat", "text": "请问周六上午几点开门？"},
              patient=UNION, key=WECHAT_KEY)
    assert live.tasks(G1) == []


def telemetry(day: datetime, plaque: float) -> dict:
    return {"device_id": "TB-1", "measured_on": day.date().isoformat(), "plaque_index": plaque,
            "brushing_seconds": 90, "brushing_sessions": 2, "pressure_alerts": 0}


def test_plaque_over_threshold_three_days_running_opens_a_nurse_task(live):
    def day(i: int, plaque: float) -> None:
        live.clock.set(START + timedelta(days=i))
        live.post("telemetry.daily", telemetry(live.clock.now, plaque), patient=UNION)

    day(0, 2.1)
    day(1, 2.2)
    day(2, 0.8)
    assert live.tasks(G1) == []  # two days over, then normal: no task
    for i in (3, 4, 5):
        day(i, 1.9)
    assert [t[0] for t in live.tasks(G1)] == ["nurse_follow_up"]


def test_consent_withdrawal_stops_a_queued_message(live):
    live.clock.set(datetime(2026, 11, 23, 21, 30))
    live.post("visit.completed", visit(["CLN"], "V-CLN-2", "periodontics"))
    live.advance(timedelta(days=7, minutes=5))  # due inside quiet hours: decided, queued for 08:00
    [(status, reason, next_at)] = live.rows(
        "SELECT status, reason_code, next_attempt_at FROM ops.outbox WHERE golden_id = ?", [G1])
    assert (status, reason, next_at) == ("queued", "quiet_hours", datetime(2026, 12, 1, 8, 0))
    # Now the patient opts out of care messages on every channel, before the morning.
    for channel in ("sms", "wechat", "app"):
        live.post("consent.changed", {"channel": channel, "purpose": "care", "granted": False}, patient=UNION,
                  key=WECHAT_KEY)
    live.clock.set(datetime(2026, 12, 1, 8, 1))
    live.settle()
    assert not live.gateway.requests
    assert live.rows("SELECT status, reason_code FROM ops.outbox WHERE golden_id = ?", [G1]) == [
        ("suppressed", "consent_withdrawn")]
    assert live.decisions("cleaning_oral_care_article", G1)[-1][1:] == ("suppressed", "consent_withdrawn")


def test_quiet_hours_defer_the_message_to_the_morning(live):
    live.clock.set(datetime(2026, 11, 23, 21, 30))
    live.post("visit.completed", visit(["CLN"], "V-CLN-3", "periodontics"))
    live.advance(timedelta(days=7, minutes=5))  # due at 21:30 a week later: inside quiet hours
    assert not live.gateway.delivered
    live.clock.set(datetime(2026, 12, 1, 8, 1))
    live.settle()
    assert len(live.gateway.delivered) == 1


def test_a_delayed_step_survives_a_restart(tmp_path):
    settings, gateway, clock = _parts(tmp_path)
    app = _app(settings, clock)
    with ThreadServer(app) as server:
        Live(app, server, clock, gateway).post("visit.completed", visit(["CLN"], "V-CLN-4", "periodontics"))
    assert not gateway.delivered
    # A new server on the same warehouse, a week later: the timer is still there and fires.
    clock.advance(timedelta(days=7, hours=1))
    app = _app(settings, clock)
    with ThreadServer(app) as server:
        Live(app, server, clock, gateway).settle()
    assert len(gateway.delivered) == 1
    gateway.stop()


def test_live_tags_equal_a_batch_recompute_after_the_same_events(live):
    from datetime import date

    from molar.profile.catalogue import load_catalogue
    from molar.profile.inputs import build_inputs
    from molar.profile.tagging import compute_tags

    live.post("visit.completed", visit(["CLN", "CHK"], "V-1", "periodontics"))
    live.post("charge.paid", {"charge_id": "CH-1", "amount_yuan": 320, "visit_id": "V-1"})
    live.post("appointment.booked", {"appointment_id": "A-1", "clinic_id": "C01", "department": "general",
                                     "slot_start": "2026-11-20T09:00:00", "channel": "app"},
              patient={"source_patient_key": "10000001"}, key="booking-key-0123456789abcdef")
    live.post("appointment.no_show", {"appointment_id": "A-1"}, patient={"source_patient_key": "10000001"},
              key="booking-key-0123456789abcdef")
    live.post("app.action", {"platform": "wechat", "action": "share", "article_id": "art-1"}, patient=UNION,
              key=WECHAT_KEY)
    live.post("consult.message", {"consult_id": "K-9", "channel": "chat", "text": "洗完牙还有点出血，正常吗？"},
              patient=UNION, key=WECHAT_KEY)
    event_tags = [t for t in load_catalogue() if t.refresh == "event" and t.dimension != "value"]
    live_values = {k: v for k, v in live.rows(
        "SELECT tag_key, value FROM profile.tag_value WHERE golden_id = ?", [G1]) if k in {t.key for t in event_tags}}
    assert live_values["recall_status"] == "not_due" and live_values["total_spend_24m"] == "320.00"
    assert live_values["no_show_rate"] == "1.0" and live_values["article_shares_365d"] == "1"
    # The same definitions computed in batch over the same warehouse give the same values.
    batch = live.app.state.realtime.read_engine()
    build_inputs(batch, date(2026, 11, 23))
    compute_tags(batch, event_tags, date(2026, 11, 23))
    batch_values = dict(batch.rows("SELECT tag_key, value FROM new_tag WHERE golden_id = ?", [G1]))
    assert batch_values == live_values


def test_implant_follow_up_adapts_to_a_reported_concern(live):
    live.post("visit.completed", visit(["IMP"], "V-IMP-1", "implant"))
    live.advance(timedelta(days=1, minutes=1))
    assert len(live.gateway.delivered) == 1  # day 1: "how do you feel?"
    live.post("followup.reply", {"status": "concern"}, patient=UNION, key=WECHAT_KEY)
    live.advance(timedelta(minutes=5))
    assert [t[0] for t in live.tasks(G1)] == ["nurse_follow_up"]
    assert len(live.gateway.requests) == 2  # and the early check-up message


def test_implant_follow_up_without_concern_opens_no_task(live):
    live.post("visit.completed", visit(["IMP"], "V-IMP-2", "implant"))
    live.advance(timedelta(days=1, minutes=1))
    live.post("followup.reply", {"status": "good"}, patient=UNION, key=WECHAT_KEY)
    live.advance(timedelta(days=1))
    assert live.tasks(G1) == []
    assert len(live.gateway.delivered) == 1
