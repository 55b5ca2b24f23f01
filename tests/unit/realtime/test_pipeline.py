"""The worker: one transaction per batch, idempotent by event_id, stages and derived
events, failures set aside, ticks, jobs and restarts from the checkpoint."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import pytest

from molar.model.events import Event
from molar.privacy import fields
from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import FieldCipher
from molar.realtime import records
from molar.realtime.pipeline import IntervalJob, Pipeline
from molar.realtime.wal import EventLog

T0 = datetime(2026, 11, 23, 9, 0)


def ev(event_id: str, golden_id: str = "G0000000001", type_: str = "review.posted", **data) -> Event:
    return Event(event_id=event_id, type=type_, golden_id=golden_id, occurred_at=T0,
                 data=data or {"review_id": event_id, "rating": 5}, source="his", received_at=T0)


SEAL: dict[str, FieldCipher] = {}


@pytest.fixture(autouse=True)
def _cipher(warehouse):
    SEAL["cipher"] = fields.cipher_for(warehouse)   # records seal personal data as the collector does


@pytest.fixture
def log(tmp_path):
    event_log = EventLog(tmp_path / "events")
    yield event_log
    event_log.close()


def append(log, *events: Event, keys=None) -> int:
    return log.append_many([records.encode_event(e, SEAL["cipher"], keys) for e in events]).result()[-1]


def run(warehouse, log, **kwargs) -> Pipeline:
    pipeline = Pipeline(warehouse, log, clock=lambda: T0, tick_seconds=0.02, **kwargs)
    pipeline.start()
    return pipeline


def test_zero_stages_applies_events_once(warehouse, log):
    pipeline = run(warehouse, log)
    try:
        last = append(log, ev("e1"), ev("e2"), ev("e1"))
        assert pipeline.wait_applied(last, 5)
        last = append(log, ev("e2"), ev("e3"))
        assert pipeline.wait_applied(last, 5)
    finally:
        pipeline.stop()
    assert warehouse.rows("SELECT seq, event_id, derived FROM ops.rt_event ORDER BY seq") == [
        (1, "e1", False), (2, "e2", False), (5, "e3", False)]
    assert warehouse.scalar("SELECT seq FROM ops.rt_checkpoint WHERE name = 'pipeline'") == 5
    assert pipeline.stats["duplicates_skipped"] == 2
    assert warehouse.scalar("SELECT data->>'rating' FROM ops.rt_event WHERE event_id = 'e1'") == "5"


def test_stages_see_inbound_then_derived_events(warehouse, log):
    seen: dict[str, list[str]] = {"first": [], "second": []}

    def first(engine, events):
        seen["first"].extend(e.event_id for e in events)
        return [Event(event_id=f"{e.event_id}:tag", type="tag.changed", golden_id=e.golden_id,
                      occurred_at=e.occurred_at, data={"tag_key": "happy", "old": None, "new": "yes"})
                for e in events if e.type == "review.posted"]

    def second(engine, events):
        seen["second"].extend(f"{e.event_id}/{e.type}" for e in events)
        engine.execute("CREATE TABLE IF NOT EXISTS main.seen_by_second (event_id VARCHAR)")
        for e in events:
            engine.execute("INSERT INTO main.seen_by_second VALUES (?)", [e.event_id])
        return None

    pipeline = run(warehouse, log, stages=[first, second])
    try:
        assert pipeline.wait_applied(append(log, ev("e1"), ev("e2")), 5)
    finally:
        pipeline.stop()
    assert seen["first"] == ["e1", "e2"]
    assert seen["second"] == ["e1/review.posted", "e2/review.posted", "e1:tag/tag.changed", "e2:tag/tag.changed"]
    assert warehouse.rows("SELECT event_id, seq, derived, source FROM ops.rt_event ORDER BY event_id") == [
        ("e1", 1, False, "his"), ("e1:tag", 2, True, "internal"), ("e2", 2, False, "his"),
        ("e2:tag", 2, True, "internal")]
    assert warehouse.count("main.seen_by_second") == 4
    assert [name for name, _ in pipeline.stages] == [
        "test_stages_see_inbound_then_derived_events.<locals>.first",
        "test_stages_see_inbound_then_derived_events.<locals>.second"]


def test_a_failing_event_is_set_aside_and_the_rest_applied(warehouse, log):
    warehouse.execute("CREATE TABLE main.effect (event_id VARCHAR)")

    def stage(engine, events):
        for e in events:
            engine.execute("INSERT INTO main.effect VALUES (?)", [e.event_id])
            if e.data.get("rating") == 1:
                raise ValueError("cannot handle a one-star review")
        return []

    pipeline = run(warehouse, log, stages=[stage])
    try:
        bad = ev("bad", review_id="R9", rating=1)
        assert pipeline.wait_applied(append(log, ev("ok1"), bad, ev("ok2")), 10)
    finally:
        pipeline.stop()
    assert sorted(r[0] for r in warehouse.rows("SELECT event_id FROM main.effect")) == ["ok1", "ok2"]
    assert warehouse.count("ops.rt_event") == 3       # the bad event is stored, without effects
    failure = warehouse.rows("SELECT seq, event_id, stage, error FROM ops.rt_failure")
    assert failure == [(2, "bad", "test_a_failing_event_is_set_aside_and_the_rest_applied.<locals>.stage",
                        "StageError: stage test_a_failing_event_is_set_aside_and_the_rest_applied.<locals>.stage "
                        "failed: ValueError: cannot handle a one-star review")]
    assert warehouse.scalar("SELECT seq FROM ops.rt_checkpoint") == 3


def test_restart_continues_from_the_checkpoint_and_replays_idempotently(warehouse, tmp_path):
    calls: list[str] = []

    def stage(engine, events):
        calls.extend(e.event_id for e in events)

    with EventLog(tmp_path / "ev") as log:
        pipeline = run(warehouse, log, stages=[stage])
        assert pipeline.wait_applied(append(log, ev("a"), ev("b")), 5)
        pipeline.stop()
        append(log, ev("c"))         # acknowledged while no worker runs (e.g. it crashed)
    with EventLog(tmp_path / "ev", start_seq=3) as log:
        pipeline = run(warehouse, log, stages=[stage])
        assert pipeline.applied_seq == 2
        assert pipeline.wait_applied(3, 5)
        pipeline.stop()
    assert calls == ["a", "b", "c"]
    # A checkpoint behind the data (e.g. a restored warehouse): replay skips known IDs.
    warehouse.execute("UPDATE ops.rt_checkpoint SET seq = 0")
    with EventLog(tmp_path / "ev") as log:
        pipeline = run(warehouse, log, stages=[stage])
        assert pipeline.wait_applied(3, 5)
        pipeline.stop()
    assert calls == ["a", "b", "c"]
    assert warehouse.count("ops.rt_event") == 3


def test_provisional_identities_are_stored(warehouse, log):
    pipeline = run(warehouse, log)
    try:
        a = ev("p1", golden_id="PV00000000aa").with_(provisional=True)
        b = ev("p2", golden_id="PV00000000aa").with_(provisional=True)
        append(log, a, keys={"unionid": "oX"})
        assert pipeline.wait_applied(append(log, b, keys={"mobile": "+8613500000005"}), 5)
    finally:
        pipeline.stop()
    row = warehouse.arrow("SELECT provisional_id, unionid, mobile, unionid_bi, mobile_bi FROM ops.provisional_identity")
    assert row.num_rows == 1 and "+8613500000005" not in str(row.to_pylist()) and "oX" not in row["unionid"][0].as_py()
    opened = fields.open_rows("ops.provisional_identity", row, SEAL["cipher"]).to_pylist()[0]
    indexer = BlindIndexer.from_keyring(SEAL["cipher"].keyring)
    assert opened == {"provisional_id": "PV00000000aa", "unionid": "oX", "mobile": "+8613500000005",
                      "unionid_bi": indexer.unionid("oX"), "mobile_bi": indexer.mobile("13500000005")}


def test_personal_data_is_stored_sealed_and_stages_read_it(warehouse, log):
    seen = []
    pipeline = run(warehouse, log, stages=[lambda engine, events: seen.extend(e.data for e in events)])
    text = "我是欧阳明华，电话13812345678"
    try:
        assert pipeline.wait_applied(append(log, ev("m1", type_="consult.message", consult_id="C1",
                                                    channel="wechat", text=text)), 5)
    finally:
        pipeline.stop()
    assert seen == [{"consult_id": "C1", "channel": "wechat", "text": text}]
    data, token = warehouse.rows("SELECT data, sealed FROM ops.rt_event WHERE event_id = 'm1'")[0]
    assert json.loads(data) == {"consult_id": "C1", "channel": "wechat"} and "1381234" not in token
    assert SEAL["cipher"].decrypt(token, "ops.rt_event", "sealed", "m1") == json.dumps({"text": text}, ensure_ascii=False,
                                                                                      separators=(",", ":"))


def test_tick_hooks_and_their_events(warehouse, log):
    ticks: list[datetime] = []
    stage_saw: list[str] = []
    fired = threading.Event()

    def timers(engine, now):
        ticks.append(now)
        if len(ticks) == 3:
            fired.set()
            return [Event(event_id="timer-1", type="segment.entered", golden_id="G0000000001",
                          occurred_at=now, data={"segment": "overdue_recall"})]
        return None

    one_arg_calls: list[int] = []
    pipeline = run(warehouse, log, stages=[lambda engine, events: stage_saw.extend(e.event_id for e in events)],
                   tick_hooks=[timers, lambda engine: one_arg_calls.append(1)])
    try:
        assert fired.wait(5)
        pipeline.call(lambda engine: None).result(5)   # let that tick finish
    finally:
        pipeline.stop()
    assert ticks[0] == T0 and one_arg_calls
    assert stage_saw == ["timer-1"]
    assert warehouse.rows("SELECT event_id, derived FROM ops.rt_event") == [("timer-1", True)]


def test_interval_jobs_run_and_are_recorded(warehouse, log):
    runs: list[str] = []
    ran = threading.Event()

    def recompute(engine):
        runs.append(threading.current_thread().name)
        ran.set()

    pipeline = run(warehouse, log, jobs=[IntervalJob("profile", timedelta(hours=24), recompute)])
    try:
        assert ran.wait(5)
        assert pipeline.call(lambda engine: threading.current_thread().name).result(5) == "molar-worker"
    finally:
        pipeline.stop()
    assert runs == ["molar-worker"]
    assert warehouse.rows("SELECT name, last_status, runs FROM ops.rt_job") == [("profile", "ok", 1)]
    # Not due again within its interval after a restart.
    with pytest.raises(RuntimeError, match="before the server starts"):
        pipeline.add_stage(lambda e, x: None)
