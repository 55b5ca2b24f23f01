"""Segments against hand-built patients in a real warehouse: each expected member list is
worked out by hand from the patient's story and the shipped segment's condition; a second
refresh after a patient changes stores the entry and exit and hands them to a rule."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from molar.automation import Automation, ManualClock, load_catalogue, load_policy
from molar.automation.yamlio import CatalogueError
from molar.delivery.channels import LocalSink
from molar.segments import catalogue, members
from unit.profile.crafted import AS_OF, Chain, Patient, Visit, ago, fresh_warehouse
from unit.segments.story import EXPECTED, NOW, build


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def test_shipped_segments_hold_the_patients_worked_out_by_hand(warehouse):
    c = build(warehouse)
    shipped = catalogue.load_catalogue(warehouse)
    assert set(shipped) == set(EXPECTED)
    names = {c[p.key]: p.key for p in c.patients}
    for key, want in EXPECTED.items():
        assert {names[g] for g in members.members(warehouse, shipped[key], AS_OF)} == want, key


def test_a_second_refresh_stores_entries_and_exits_and_a_rule_starts_on_them(warehouse, tmp_path):
    c = build(warehouse)
    segments = catalogue.load_catalogue(warehouse)
    events, summary = members.refresh(warehouse, segments.values(), AS_OF, NOW)
    assert events == []                               # the first refresh only stores the members
    assert {s.key: (s.members, s.first) for s in summary}["lapsed_cleaning"] == (2, True)
    assert members.stored(warehouse, "lapsed_cleaning") == sorted([c["A"], c["D"]])
    # A is seen for a cleaning (no longer lapsed); E's last cleaning is now 241 days ago.
    warehouse.execute("INSERT INTO std.visit (source, visit_id, source_patient_key, clinic_id, doctor_id, department, "
                      "visit_date, _load_id, _row_number) VALUES ('his', 'V-A-9', 'H-A', 'C01', 'D001', 'general', ?, "
                      "'L-test', 1)", [AS_OF])
    warehouse.execute("INSERT INTO std.treatment (source, visit_id, line_no, item_code, quantity, _load_id, _row_number) "
                      "VALUES ('his', 'V-A-9', 1, 'CLN', 1, 'L-test', 2)")
    later = AS_OF + timedelta(days=1)
    events, summary = members.refresh(warehouse, [segments["lapsed_cleaning"]], later, NOW + timedelta(days=1))
    assert [(e.type, e.golden_id, e.data["segment"], e.data["version"]) for e in events] == [
        ("segment.entered", c["E"], "lapsed_cleaning", 1), ("segment.exited", c["A"], "lapsed_cleaning", 1)]
    assert members.stored(warehouse, "lapsed_cleaning") == sorted([c["D"], c["E"]])
    assert warehouse.rows("SELECT golden_id, change FROM profile.segment_change ORDER BY change") == [
        (c["E"], "entered"), (c["A"], "exited")]
    assert [row[2:] for row in members.size_history(warehouse, "lapsed_cleaning")] == [(2, 0, 0), (2, 1, 1)]
    # Nothing changed: a third refresh emits nothing.
    assert members.refresh(warehouse, [segments["lapsed_cleaning"]], later, NOW + timedelta(days=2))[0] == []

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "back.yaml").write_text(
        "key: cleaning_winback\nname: {zh: 洁牙召回, en: Cleaning win-back}\npurpose: care\nenabled: true\n"
        "holdout_percent: 0\ntrigger: {segment: {name: lapsed_cleaning, on: enter}}\n"
        "steps:\n  - set_tag: {tag: winback, value: started}\n", encoding="utf-8")
    engine = Automation(load_catalogue(rules), load_policy(), clock=ManualClock(NOW),
                        channels={ch: LocalSink(ch) for ch in ("sms", "wechat", "app")})
    engine.on_events(warehouse, events)
    assert warehouse.rows("SELECT golden_id, rule_key FROM ops.journey") == [(c["E"], "cleaning_winback")]


def test_a_saved_version_replaces_the_file_and_errors_name_the_place(warehouse, tmp_path):
    build(warehouse)
    shipped = catalogue.load_catalogue(warehouse)
    definition = {"name": {"zh": "洁牙久未复诊", "en": "Lapsed cleaning"}, "description": {"zh": "一年", "en": "a year"},
                  "condition": [{"fact": "days_since_item.CLN", "op": ">", "value": 365}]}
    saved = catalogue.save_version(warehouse, shipped, "lapsed_cleaning", definition, "mark", NOW)
    assert saved.version == 2
    again = catalogue.load_catalogue(warehouse)["lapsed_cleaning"]
    assert (again.version, again.in_words("en")) == (2, "Days since the last cleaning / scaling is above 365")
    assert catalogue.save_version(warehouse, shipped, "brand_new", definition, "mark", NOW).version == 1
    # A saved version that no longer checks (its tag was removed) gives way to the one before it.
    warehouse.execute("INSERT INTO ops.segment_version VALUES ('lapsed_cleaning', 3, ?, 'mark', ?)",
                      [json.dumps({**definition, "condition": [{"fact": "tags.gone", "op": "==", "value": 1}]}), NOW])
    assert catalogue.load_catalogue(warehouse)["lapsed_cleaning"].version == 2
    with pytest.raises(CatalogueError, match="tags.age is not a tag.*age_band"):
        catalogue.save_version(warehouse, shipped, "x_bad", {**definition, "condition": [
            {"fact": "tags.age", "op": "==", "value": 1}]}, "mark", NOW)
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "bad.yaml").write_text(
        "key: bad\nversion: 1\nname: {zh: 坏, en: Bad}\ndescription: {zh: 坏, en: Bad}\n"
        "condition:\n  - {fact: visits.days_since_lats, op: '>', value: 3}\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"bad.yaml:6: 'visits.days_since_lats' is not a fact"):
        catalogue.load_files(tmp_path / "seg")


def test_the_nightly_job_refreshes_segments_and_a_rule_starts_on_an_entry(warehouse, tmp_path):
    from molar.serve import nightly

    c = Chain([Patient("new", visits=[Visit(AS_OF, ["CHK"])]), Patient("old", visits=[Visit(ago(400), ["CHK"])])]
              ).build(warehouse)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "welcome.yaml").write_text(
        "key: welcome_call\nname: {zh: 新患者回访, en: Welcome call}\npurpose: care\n"
        "trigger: {segment: {name: new_patients_30d, on: enter}}\nsteps:\n  - task: {kind: recall_call, due: 1d}\n",
        encoding="utf-8")
    automation = Automation(load_catalogue(tmp_path / "rules"), clock=ManualClock(NOW))
    nightly(warehouse, automation, AS_OF - timedelta(days=1))     # the visit is tomorrow: nobody is new yet
    assert members.stored(warehouse, "new_patients_30d") == [] and warehouse.count("ops.task") == 0
    nightly(warehouse, automation, AS_OF)
    assert members.stored(warehouse, "new_patients_30d") == [c["new"]]
    assert warehouse.rows("SELECT golden_id, rule_key FROM ops.task") == [(c["new"], "welcome_call")]
    nightly(warehouse, automation, AS_OF)                         # the same night again: no new entry, no new task
    assert warehouse.count("ops.task") == 1


def test_the_live_stage_recomputes_only_the_patients_of_the_events(warehouse):
    from molar.model.events import Event
    from molar.segments.live import LiveSegments

    c = build(warehouse)
    stage = LiveSegments(today=lambda: AS_OF)
    at = NOW + timedelta(hours=1)
    review = [Event("e1", "review.posted", c["I"], at, {"review_id": "R1", "rating": 5})]
    assert stage(warehouse, review) == []                          # never refreshed: nothing to compare with
    members.refresh(warehouse, catalogue.load_catalogue(warehouse).values(), AS_OF, NOW)
    # A journey sets I's plan to orthodontics (I is 13-17) and takes H's away; J changes nothing.
    warehouse.execute("INSERT INTO ops.automation_tag VALUES (?, 'active_treatment_plan', 'ortho_in_progress', NULL, ?, "
                      "'test'), (?, 'active_treatment_plan', 'none', NULL, ?, 'test')", [c["I"], at, c["H"], at])
    out = stage(warehouse, review + [Event("e2", "review.posted", c["J"], at, {"review_id": "R2", "rating": 4})])
    assert [(e.type, e.golden_id, e.data["segment"]) for e in out] == [
        ("segment.entered", c["I"], "teens_in_orthodontics")]      # H changed too, but had no event in the batch
    assert members.stored(warehouse, "teens_in_orthodontics") == sorted([c["H"], c["I"], c["L"]])
    assert stage(warehouse, out) == []                             # its own events start nothing
    later = stage(warehouse, [Event("e3", "review.posted", c["H"], at, {"review_id": "R3", "rating": 2})])
    assert [(e.type, e.golden_id) for e in later] == [("segment.exited", c["H"])]
    assert warehouse.count("profile.segment_size") == 5            # one row per segment, from the full refresh
