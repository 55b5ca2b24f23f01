"""The live per-event refresh gives what a full batch recompute gives.

A crafted chain is profiled in batch as of AS_OF; then a fixed stream of live events, three
weeks later, goes through ``LiveProfile`` in batches (stored in ops.rt_event first, as the
worker does). After every batch, the reference is the batch path over the whole warehouse
(unscoped ``build_inputs`` + tags + lifecycle, as ``molar profile run`` computes them):
- the event-refreshed tag values and lifecycle stages of the touched patients equal it;
- the derived ``tag.changed`` / ``lifecycle.changed`` events are exactly the differences
  between the values stored before the batch and the reference after it;
- patients not in the batch keep their stored values, even where a recompute would differ.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from molar.model.events import Event
from molar.privacy import fields
from molar.profile.catalogue import Tag, load_catalogue
from molar.profile.inputs import build_inputs
from molar.profile.lifecycle import LifecycleConfig, compute_lifecycle
from molar.profile.live import LiveProfile
from molar.profile.tagging import compute_tags
from molar.realtime.event_table import store_events
from unit.profile.crafted import (
    AS_OF,
    Booking,
    Card,
    Chain,
    Charge,
    Patient,
    Text,
    Visit,
    ago,
    at,
    new_warehouse,
    run_profile,
)
from unit.profile.crafted import Event as AppEvent

DAY = AS_OF + timedelta(days=21)   # the live day: three weeks after the batch run
CATALOGUE = load_catalogue()
EVENT_TAGS = [t for t in CATALOGUE if t.refresh == "event" and t.dimension != "value"]
VALUE_TAGS = [t for t in CATALOGUE if t.refresh == "event" and t.dimension == "value"]
KEYS = {t.key for t in EVENT_TAGS + VALUE_TAGS}
# A charge inside the 24-month window on AS_OF and outside it on DAY: a recompute on DAY differs.
EDGE = DAY.replace(year=DAY.year - 2) - timedelta(days=3)


def _chain() -> Chain:
    return Chain([
        Patient("reg", visits=[Visit(ago(d), ["CLN"], amount=400) for d in (150, 330, 520)]),
        Patient("lapsed", visits=[Visit(ago(d), ["CHK"], amount=200) for d in (420, 700)]),
        Patient("newbie"),
        Patient("talker", visits=[Visit(ago(60), ["CLN"])],
                texts=[Text(at(ago(10)), "satisfied", "服务很好")]),
        Patient("sharer", events=[AppEvent("share", at(ago(30)), article="art-0")]),
        Patient("friend", events=[AppEvent("referral", at(ago(50)), referrer="sharer")]),
        Patient("friend2"),
        Patient("brusher", visits=[Visit(ago(90), ["CHK"])], charges=[Charge(EDGE, 900)]),
        Patient("bystander", visits=[Visit(ago(90), ["CHK"])], charges=[Charge(EDGE, 700)]),
        Patient("implant", visits=[Visit(ago(40), ["IMP"], amount=8000)],
                bookings=[Booking(at(ago(-5), 9), status="booked")]),
    ])


def _classify(texts: list[str]) -> tuple[list[str], list[float]]:
    return ["complaint" if "疼" in t else "satisfied" for t in texts], [0.9] * len(texts)


def _event(n: int, type_: str, golden_id: str, hour: int, **data) -> Event:
    return Event(event_id=f"live-{n}", type=type_, golden_id=golden_id, occurred_at=at(DAY, hour),
                 data=data, source="his", seq=n)


def _batches(chain: Chain) -> list[list[Event]]:
    g = chain.__getitem__
    return [
        [_event(1, "visit.completed", g("reg"), 9, visit_id="LV-1", clinic_id="C01", department="general",
                items=[{"item_code": "CLN"}, {"item_code": "RCT"}]),
         _event(2, "charge.paid", g("reg"), 9, charge_id="LC-1", visit_id="LV-1", amount_yuan=650),
         _event(3, "telemetry.daily", g("brusher"), 9, device_id="TB-brusher", measured_on=DAY.isoformat(),
                plaque_index=1.2, brushing_sessions=2, brushing_seconds=200, pressure_alerts=0)],
        [_event(4, "appointment.booked", g("newbie"), 10, appointment_id="LA-1", clinic_id="C02",
                department="general", slot_start=at(DAY, 8).isoformat(), channel="app"),
         _event(5, "consult.message", g("talker"), 10, consult_id="LK-1", channel="chat", text="补的牙还是疼"),
         _event(6, "app.action", g("sharer"), 10, platform="wechat", action="share", article_id="art-1"),
         _event(7, "app.action", g("friend2"), 10, platform="wechat", action="referral",
                referrer_golden_id=g("sharer"))],
        [_event(8, "appointment.no_show", g("newbie"), 11, appointment_id="LA-1"),
         _event(9, "review.posted", g("talker"), 11, review_id="LR-1", rating=1, text="等了很久，还是疼"),
         _event(10, "visit.completed", g("lapsed"), 11, visit_id="LV-2", clinic_id="C01", department="general",
                items=[{"item_code": "CHK"}]),
         _event(11, "appointment.cancelled", g("implant"), 11, appointment_id="AP-implant-1")],
        [_event(12, "telemetry.daily", g("brusher"), 21, device_id="TB-brusher",
                measured_on=DAY.isoformat(), plaque_index=0.4, brushing_sessions=2, brushing_seconds=240,
                pressure_alerts=0)],
    ]


def _stored(engine) -> dict[tuple[str, str], str]:
    return {(g, k): v for g, k, v in engine.rows("SELECT golden_id, tag_key, value FROM profile.tag_value")
            if k in KEYS}


def _reference(engine) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
    """Event-refreshed tags and stages of every patient, recomputed in batch as of DAY."""
    build_inputs(engine, DAY)
    compute_tags(engine, EVENT_TAGS, DAY)
    compute_lifecycle(engine, DAY, "reference", LifecycleConfig.load())
    compute_tags(engine, VALUE_TAGS, DAY, append=True)
    tags = {(g, k): v for g, k, v in engine.rows("SELECT golden_id, tag_key, value FROM new_tag")}
    return tags, dict(engine.rows("SELECT golden_id, stage FROM stages"))


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """Every batch: (touched IDs, values before, derived events, reference after, stored after)."""
    engine = new_warehouse(tmp_path_factory.mktemp("live_refresh") / "molar.duckdb")
    chain = _chain().build(engine)
    run_profile(engine, AS_OF)
    live = LiveProfile(today=lambda: DAY, classify=_classify)
    cipher = fields.cipher_for(engine)
    steps = []
    for batch in _batches(chain):
        before = _stored(engine)
        with engine.transaction():
            stored = store_events(engine, batch, derived=False, seq=None, now=at(DAY, 12), cipher=cipher)
            derived = live(engine, stored)
        reference = _reference(engine)
        steps.append((batch, before, derived, reference, _stored(engine),
                      dict(engine.rows("SELECT golden_id, stage FROM profile.lifecycle"))))
    engine.close()
    return chain, steps


def _touched(chain: Chain, batch: list[Event]) -> set[str]:
    ids = {e.golden_id for e in batch}
    if any(e.data.get("referrer_golden_id") for e in batch):
        ids.add(chain["sharer"])
    return ids


def test_touched_patients_equal_a_batch_recompute(replay):
    chain, steps = replay
    for batch, _, _, (ref_tags, ref_stages), stored, stages in steps:
        for g in _touched(chain, batch):
            assert {k: v for (p, k), v in stored.items() if p == g} == \
                   {k: v for (p, k), v in ref_tags.items() if p == g}, g
            assert stages[g] == ref_stages[g]


def test_derived_events_are_exactly_the_changes(replay):
    chain, steps = replay
    for batch, before, derived, (ref_tags, _), _, _ in steps:
        touched = _touched(chain, batch)
        expected = set()
        for g, k in {key for key in before.keys() | ref_tags.keys() if key[0] in touched}:
            if before.get((g, k)) != ref_tags.get((g, k)):
                expected.add((g, k, before.get((g, k)), ref_tags.get((g, k))))
        got = {(e.golden_id, e.data["tag_key"], e.data["old"], e.data["new"]) for e in derived if e.type == "tag.changed"}
        assert got == expected, batch[0].event_id
        stage_changes = {(g, old, new) for g, k, old, new in expected if k == "lifecycle_stage"}
        assert {(e.golden_id, e.data["from_stage"], e.data["to_stage"]) for e in derived
                if e.type == "lifecycle.changed"} == stage_changes


def test_the_stream_changes_what_it_should(replay):
    """Anchors for the reference itself, read off the crafted stories."""
    chain, steps = replay
    first, second, third, fourth = steps
    changed = {(e.golden_id, e.data["tag_key"]): e.data["new"] for e in first[2] if e.type == "tag.changed"}
    # the 900 yuan charge left the 24-month window between AS_OF and DAY: a telemetry event refreshes it
    assert first[1][(chain["brusher"], "total_spend_24m")] == "900.00"
    assert (chain["brusher"], "total_spend_24m") in changed and changed[(chain["brusher"], "total_spend_24m")] is None
    assert changed[(chain["reg"], "total_spend_24m")] == "1850.00"   # three visits at 400 + 650
    second_changed = {(e.golden_id, e.data["tag_key"]): e.data["new"] for e in second[2] if e.type == "tag.changed"}
    # the referral in the exports (friend) and the live one (friend2)
    assert first[1][(chain["sharer"], "referrals_made")] == "1"
    assert second_changed[(chain["sharer"], "referrals_made")] == "2"
    assert third[4][(chain["newbie"], "no_show_rate")] == "1.0"
    assert third[4][(chain["talker"], "complaints_90d")] == "2"
    assert third[5][chain["lapsed"]] != first[5][chain["lapsed"]]   # a visit after 420 days
    assert [e for e in fourth[2] if e.type == "tag.changed"] == []  # nothing new for the brusher


def test_patients_outside_the_batches_keep_their_values(replay):
    chain, steps = replay
    first_before, last_stored = steps[0][1], steps[-1][4]
    bystander = chain["bystander"]
    assert last_stored[(bystander, "total_spend_24m")] == first_before[(bystander, "total_spend_24m")] == "700.00"
    # … although a recompute on DAY would drop the charge from the window
    assert (bystander, "total_spend_24m") not in steps[-1][3][0]



def _tag(key: str, sql: str) -> Tag:
    return Tag(key=key, dimension="consumption", name_zh=key, name_en=key, description_zh=key,
               description_en=key, value_type="number", sql=sql, refresh="event")


def test_the_refresh_builds_the_inputs_its_tags_and_the_lifecycle_read():
    balance = _tag("card_balance", "SELECT golden_id, sum(balance_yuan) AS value FROM cards GROUP BY 1")
    brushing = _tag("brushing", "SELECT golden_id, count(*) AS value FROM telemetry GROUP BY 1")
    lifecycle = {"person", "visits", "charges", "texts", "appointments"}
    assert LiveProfile(tags=[balance]).inputs == lifecycle | {"cards"}
    assert LiveProfile(tags=[balance, brushing]).inputs == lifecycle | {"cards", "telemetry"}
    assert LiveProfile(tags=[]).inputs == lifecycle


def test_a_tag_reading_an_input_the_shipped_refresh_skips_still_gets_it(tmp_path):
    """cards is not read by any shipped event-refreshed tag; a clinic's own tag that reads it
    is refreshed from the real cards."""
    engine = new_warehouse(tmp_path / "molar.duckdb")
    chain = Chain([Patient("vip", cards=[Card(balance=1200.0)]), Patient("other", cards=[Card(balance=5.0)])]).build(engine)
    balance = _tag("card_balance", "SELECT golden_id, sum(balance_yuan) AS value FROM cards GROUP BY 1")
    derived = LiveProfile(tags=[balance], today=lambda: DAY)(engine, [
        _event(1, "telemetry.daily", chain["vip"], 9, device_id="TB-vip", measured_on=DAY.isoformat(), plaque_index=0.5)])
    assert [(e.golden_id, e.data["tag_key"], e.data["new"]) for e in derived if e.type == "tag.changed"
            and e.data["tag_key"] == "card_balance"] == [(chain["vip"], "card_balance", "1200.00")]
    engine.close()


def test_an_unknown_input_table_is_named(tmp_path):
    engine = new_warehouse(tmp_path / "molar.duckdb")
    with pytest.raises(ValueError, match="unknown input table.*nope"):
        build_inputs(engine, DAY, ["G1"], tables={"visits", "nope"})
    engine.close()
