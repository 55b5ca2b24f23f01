"""Outbox dispatch against a real HTTP gateway on 127.0.0.1: retries, backoff, failure,
exactly-once per idempotency key (also across a crash), addresses resolved at send time."""

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta

from molar.delivery import DispatchPolicy, LocalSink, WebhookChannel, dispatch, enqueue, get_message
from molar.privacy import fields
from molar.warehouse import open_warehouse
from support import add_golden

T0 = datetime(2026, 10, 5, 10, 0)
POLICY = DispatchPolicy(max_attempts=4, backoff=timedelta(seconds=30), backoff_max=timedelta(minutes=5))


def setup(engine, key="rule|G1|e1|0", channel="sms"):
    add_golden(engine, golden_id="G1", mobile="+8613800000001")
    message_id, created = enqueue(engine, idempotency_key=key, golden_id="G1", channel=channel, purpose="care",
                                  text="您好", now=T0, rule_key="rule", occurrence="e1", step="0")
    assert created
    return message_id


def channels(gateway):
    return {"sms": WebhookChannel(gateway.url, gateway.secret, name="sms", timeout=2)}


def test_sent_once_with_signature_idempotency_key_and_address_resolved_at_send_time(warehouse, gateway):
    message_id = setup(warehouse)
    assert "+86138" not in str(warehouse.rows("SELECT * FROM ops.outbox"))  # no phone number stored
    [result] = dispatch(warehouse, channels(gateway), T0, policy=POLICY)
    assert result.outcome == "sent"
    [req] = gateway.requests
    assert req.headers["Idempotency-Key"] == "rule|G1|e1|0"
    assert req.json["to"] == {"golden_id": "G1", "mobile": "+8613800000001"}
    assert req.json["text"] == "您好" and req.json["message_id"] == message_id
    assert dispatch(warehouse, channels(gateway), T0 + timedelta(minutes=1), policy=POLICY) == []  # twice: nothing
    assert len(gateway.requests) == 1
    m = get_message(warehouse, message_id)
    assert (m.status, m.attempts, m.sent_at) == ("sent", 1, T0)
    # the same key again is not queued twice
    assert enqueue(warehouse, idempotency_key="rule|G1|e1|0", golden_id="G1", channel="sms", purpose="care",
                   text="again", now=T0) == (message_id, False)


def test_retries_with_exponential_backoff_then_success(warehouse, gateway):
    message_id = setup(warehouse)
    gateway.fail(2)
    now = T0
    [r1] = dispatch(warehouse, channels(gateway), now, policy=POLICY)
    assert (r1.outcome, r1.next_attempt_at) == ("retry", T0 + timedelta(seconds=30))
    assert dispatch(warehouse, channels(gateway), T0 + timedelta(seconds=29), policy=POLICY) == []  # not yet due
    [r2] = dispatch(warehouse, channels(gateway), T0 + timedelta(seconds=30), policy=POLICY)
    assert (r2.outcome, r2.next_attempt_at) == ("retry", T0 + timedelta(seconds=30 + 60))
    [r3] = dispatch(warehouse, channels(gateway), T0 + timedelta(seconds=90), policy=POLICY)
    assert r3.outcome == "sent"
    m = get_message(warehouse, message_id)
    assert (m.status, m.attempts, m.last_error) == ("sent", 3, None)
    assert [r.json["attempt"] for r in gateway.requests] == [1, 2, 3]
    assert len({r.key for r in gateway.requests}) == 1 and len(gateway.delivered) == 1


def test_gives_up_after_max_attempts_and_refusals_fail_at_once(warehouse, gateway):
    message_id = setup(warehouse)
    gateway.fail(10)
    at = T0
    for _ in range(4):
        [r] = dispatch(warehouse, channels(gateway), at, policy=POLICY)
        at = r.next_attempt_at or at
    m = get_message(warehouse, message_id)
    assert (m.status, m.attempts) == ("failed", 4)
    assert "gave up after 4 attempts" in m.last_error and "503" in m.last_error
    assert dispatch(warehouse, channels(gateway), at + timedelta(hours=1), policy=POLICY) == []

    other = enqueue(warehouse, idempotency_key="rule|G1|e2|0", golden_id="G1", channel="sms", purpose="care",
                    text="x", now=T0)[0]
    gateway.fail(1, status=422)
    [r] = dispatch(warehouse, channels(gateway), at + timedelta(hours=1), policy=POLICY)
    assert r.outcome == "failed" and get_message(warehouse, other).attempts == 1
    assert "HTTP 422" in get_message(warehouse, other).last_error


def test_a_bad_secret_is_refused_by_the_gateway(warehouse, gateway):
    setup(warehouse)
    [r] = dispatch(warehouse, {"sms": WebhookChannel(gateway.url, "wrong", name="sms")}, T0, policy=POLICY)
    assert r.outcome == "failed" and "401" in r.error


def test_missing_address_at_send_time_fails_visibly(warehouse):
    message_id, _ = enqueue(warehouse, idempotency_key="k", golden_id="G-unknown", channel="sms", purpose="care",
                            text="x", now=T0)
    [r] = dispatch(warehouse, {"sms": LocalSink("sms")}, T0)
    assert r.outcome == "failed" and r.code == "no_address"
    assert get_message(warehouse, message_id).status == "failed"


def test_text_and_variables_are_stored_sealed_and_read_in_clear(warehouse):
    message_id, _ = enqueue(warehouse, idempotency_key="k", golden_id="G1", channel="sms", purpose="care",
                            text="张三您好，请回电 13812345678", payload={"variables": {"name": "张三"}}, now=T0)
    [(text, payload)] = warehouse.rows("SELECT rendered_text, payload FROM ops.outbox")
    assert "张三" not in text + payload and "13812345678" not in text
    message = get_message(warehouse, message_id)
    assert message.rendered_text == "张三您好，请回电 13812345678" and message.payload == {"variables": {"name": "张三"}}


def test_local_sink_keeps_one_row_per_key(warehouse, tmp_path):
    setup(warehouse)
    dispatch(warehouse, {"sms": LocalSink("sms")}, T0)
    [(key, message_id, token, at)] = warehouse.rows(
        "SELECT idempotency_key, message_id, body, delivered_at FROM ops.delivered_local")
    assert key == "rule|G1|e1|0" and at == T0
    assert "您好" not in token and "13800000001" not in token   # the request, address included, is sealed
    body = fields.cipher_for(warehouse).decrypt(token, "ops.delivered_local", "body", message_id)
    assert '"text":"您好"' in body and '"mobile":"+8613800000001"' in body
    sink = LocalSink("sms", path=tmp_path / "out.jsonl")
    enqueue(warehouse, idempotency_key="k2", golden_id="G1", channel="sms", purpose="care", text="y", now=T0)
    dispatch(warehouse, {"sms": sink}, T0)
    assert '"text":"y"' in (tmp_path / "out.jsonl").read_text(encoding="utf-8")


CRASH = textwrap.dedent("""
    import os, sys
    from datetime import datetime
    from molar.delivery import WebhookChannel, dispatch
    from molar.warehouse import open_warehouse

    class CrashAfterSend(WebhookChannel):
        def send(self, request, engine):
            outcome = super().send(request, engine)   # the gateway answers 2xx ...
            assert outcome.ok, outcome
            os._exit(9)                                # ... and the process dies before the commit

    engine = open_warehouse(path=sys.argv[1])
    dispatch(engine, {"sms": CrashAfterSend(sys.argv[2], sys.argv[3], name="sms")}, datetime(2026, 10, 5, 10, 0))
""")


def test_crash_after_gateway_2xx_before_commit_is_deduplicated_by_the_key(tmp_path, gateway):
    path = tmp_path / "w.duckdb"
    engine = open_warehouse(path=path)
    message_id = setup(engine)
    engine.close()
    proc = subprocess.run([sys.executable, "-c", CRASH, str(path), gateway.url, gateway.secret],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    assert len(gateway.requests) == 1 and len(gateway.delivered) == 1

    engine = open_warehouse(path=path)  # a new engine on the same file, as after a restart
    m = get_message(engine, message_id)
    assert (m.status, m.attempts) == ("sending", 1)  # the send was recorded before the HTTP call
    assert dispatch(engine, channels(gateway), T0 + timedelta(seconds=30)) == []  # still within its lease
    [r] = dispatch(engine, channels(gateway), T0 + timedelta(minutes=2))
    assert r.outcome == "sent"
    assert [req.key for req in gateway.requests] == ["rule|G1|e1|0", "rule|G1|e1|0"]  # same key both times
    assert len(gateway.delivered) == 1  # the gateway dropped the duplicate: the patient got one message
    assert engine.rows("SELECT status, count(*) FROM ops.outbox GROUP BY 1") == [("sent", 1)]
    engine.close()


def test_a_failing_gateway_pauses_its_channel_not_the_others(warehouse, gateway):
    setup(warehouse)
    for n in range(2, 5):
        enqueue(warehouse, idempotency_key=f"rule|G1|e{n}|0", golden_id="G1", channel="sms", purpose="care",
                text="x", now=T0)
    enqueue(warehouse, idempotency_key="rule|G1|app|0", golden_id="G1", channel="app", purpose="care",
            text="x", now=T0)
    gateway.fail(100)
    paused: dict = {}
    chans = {**channels(gateway), "app": LocalSink("app")}
    results = dispatch(warehouse, chans, T0, policy=POLICY, paused=paused)
    assert sorted(r.outcome for r in results) == ["retry", "sent"]  # one sms try, then sms rests; app goes
    assert len(gateway.requests) == 1 and paused == {"sms": T0 + timedelta(seconds=30)}
    assert dispatch(warehouse, chans, T0 + timedelta(seconds=10), policy=POLICY, paused=paused) == []
    gateway.fail(0)
    later = dispatch(warehouse, chans, T0 + timedelta(seconds=30), policy=POLICY, paused=paused)
    assert [r.outcome for r in later] == ["sent"] * 4
