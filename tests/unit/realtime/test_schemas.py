"""Inbound event validation: what is accepted, and the messages for what is not."""

from __future__ import annotations

from datetime import datetime

import pytest
from rtsupport import NOW, event

from molar.config import ConfigError
from molar.model.events import INBOUND_EVENT_TYPES
from molar.realtime.auth import DEV_KEY, KeyRing, parse_api_keys, presented_key
from molar.realtime.schemas import DATA_MODELS, normalise_mobile, validate_event


def problems(raw, index=0):
    valid, found = validate_event(raw, index, now=NOW)
    assert valid is None
    return {p.field: p.message for p in found}


@pytest.mark.parametrize("raw", [
    "13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "008613812345678",
    "8613812345678", "013812345678", "１３８１２３４５６７８", "(138)1234.5678",
])
def test_mobile_spellings(raw):
    assert normalise_mobile(raw) == "+8613812345678"


def test_unallocated_prefix_is_kept_for_matching():
    # 154 and 160 are not allocated to subscribers, but the digits still identify a person
    assert normalise_mobile("154 0000 0005") == "+8615400000005"
    assert normalise_mobile("16012345678") == "+8616012345678"


@pytest.mark.parametrize("raw,message", [
    ("+1 415 555 0100", "not a mainland China mobile"),
    ("1381234567", "must have 11 digits after +86 (this one has 10)"),
    ("12012345678", "does not start with a mobile prefix (13x–19x; 120 is not one)"),
    ("138abc45678", "must contain only digits"),
])
def test_mobile_problems(raw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        normalise_mobile(raw)


def test_valid_event_is_normalised():
    raw = event("visit.completed", patient={"mobile": "138 0000 0001"}, data={
        "visit_id": 12345, "clinic_id": "C01", "department": "牙周科",
        "items": [{"item_code": "cln", "tooth": 36}], "doctor_id": "D001",
    }, occurred_at="2026-11-23T01:30:00Z")
    valid, found = validate_event(raw, 0, now=NOW)
    assert found == []
    assert valid.occurred_at == datetime(2026, 11, 23, 9, 30)      # UTC → clinic time
    assert valid.patient.mobile == "+8613800000001"
    assert valid.data == {
        "visit_id": "12345", "clinic_id": "C01", "department": "periodontics",
        "items": [{"item_code": "CLN", "tooth": "36", "quantity": 1}], "doctor_id": "D001",
    }


def test_unknown_data_fields_are_refused_not_kept():
    raw = event("charge.paid", data={"charge_id": "F1", "amount_yuan": 10, "payer_mobile": "13800000001",
                                     "id_card": "510104199001011234"})
    valid, found = validate_event(raw, 0, now=NOW)
    assert valid is None
    assert sorted(p.field for p in found) == ["data.id_card", "data.payer_mobile"]


def test_event_codes_are_translated_like_files():
    valid, found = validate_event(event("charge.paid", data={"charge_id": "F1", "amount_yuan": 10,
                                                              "payment_method": "微信"}), 0, now=NOW)
    assert found == [] and valid.data["payment_method"] == "wechat_pay"


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59+00:00", "0001-01-01T00:01:02+01:00",
                                  "0001-01-01T00:00:00", "2150-01-01T00:00:00"])
def test_times_outside_a_sane_range_are_problems_not_errors(when):
    valid, found = validate_event(event(occurred_at=when), 0, now=NOW)
    assert valid is None
    assert [(p.field, p.message) for p in found] == [
        ("occurred_at", "is outside the years 2000–2099; check the date")]
    slot = event("appointment.booked", data={"appointment_id": "A1", "clinic_id": "C01", "department": "牙周科",
                                             "slot_start": when, "channel": "电话"})
    valid, found = validate_event(slot, 0, now=NOW)
    assert valid is None and [p.field for p in found] == ["data.slot_start"]


def test_naive_times_are_clinic_local():
    valid, _ = validate_event(event(occurred_at="2026-11-23 09:30"), 0, now=NOW)
    assert valid.occurred_at == datetime(2026, 11, 23, 9, 30)


def test_every_inbound_type_requires_its_fields():
    for event_type, fields in INBOUND_EVENT_TYPES.items():
        found = problems(event(event_type, data={}))
        assert {f"data.{f}" for f in fields} <= set(found), event_type
        assert all(found[f"data.{f}"] == f"is required for {event_type} events" for f in fields)
    assert set(DATA_MODELS) == set(INBOUND_EVENT_TYPES)


def test_messages_a_clinic_admin_understands():
    found = problems(event("review.posted", data={"review_id": "R1", "rating": 7}, patient={"mobile": "12345"}))
    assert found == {
        "data.rating": "must be a whole number from 1 to 5 (got 7)",
        "patient.mobile": "must have 11 digits after +86 (this one has 5)",
    }
    found = problems(event("telemetry.daily", data={"device_id": "B1", "measured_on": "2026-11-22", "plaque_index": 3.5}))
    assert found == {"data.plaque_index": "must be a number from 0 to 3 (got 3.5)"}
    found = problems(event("consent.changed", data={"channel": "email", "purpose": "ads", "granted": "yes"}))
    assert found == {
        "data.channel": "must be one of 'sms', 'wechat' or 'app' (got 'email')",
        "data.purpose": "must be one of 'care' or 'marketing' (got 'ads')",
        "data.granted": "must be true or false (got 'yes')",
    }
    found = problems(event("visit.completed", data={"visit_id": "V1", "clinic_id": "C01", "department": "general",
                                                    "items": [{"item_code": "XYZ"}, {"item_code": "CLN", "quantity": 0}]}))
    assert found["data.items[0].item_code"].startswith("must be one of the treatment codes: CHK, CLN,")
    assert found["data.items[0].item_code"].endswith("(got 'XYZ')")
    assert found["data.items[1].quantity"] == "must be a whole number from 1 to 100 (got 0)"
    found = problems(event("visit.completed", data={"visit_id": "V1", "clinic_id": "C01", "department": "general", "items": []}))
    assert found == {"data.items": "must have at least 1 item(s)"}


def test_envelope_problems():
    found = problems({"type": "lifecycle.changed", "occurred_at": "yesterday", "patient": {}, "colour": "red"})
    assert found == {
        "colour": "is not a field Molar knows here; the envelope has event_id, type, occurred_at, "
                  "patient and data (put type-specific fields inside data)",
        "type": "'lifecycle.changed' events are derived by Molar itself and cannot be sent",
        "occurred_at": "must be a date and time like 2026-11-23T14:30:00 or 2026-11-23 14:30:00+08:00 (got 'yesterday')",
        "patient": "says nothing about who the patient is; send at least one of golden_id, unionid, mobile or source_patient_key",
    }
    assert problems({"type": "visit.done"})["type"].startswith("'visit.done' is not an event type Molar accepts; use one of: appointment.booked,")
    assert problems(event(occurred_at="2026-11-30T10:00:00"))["occurred_at"].startswith("is in the future (2026-11-30 10:00 clinic time)")
    assert problems(event(patient={"nickname": "x"}))["patient.nickname"].startswith("is not a field Molar knows")
    assert problems([1, 2]) == {"": "each event must be a JSON object { … } (got [1, 2])"}


def test_problem_index_is_kept():
    _, found = validate_event(event(data={"review_id": "R1", "rating": 0}), 7, now=NOW)
    assert [(p.index, p.field) for p in found] == [(7, "data.rating")]


def test_api_keys_from_config():
    keys = parse_api_keys({"his": {"key": "k" * 20, "role": "his", "types": ["visit.completed"]}}, dev_key=True)
    ring = KeyRing(keys)
    his = ring.lookup("k" * 20)
    assert his.source == "his" and his.role == "his" and his.types == {"visit.completed"}
    assert ring.lookup(DEV_KEY).role == "admin" and "review.posted" in ring.lookup(DEV_KEY).types
    assert ring.lookup("nope") is None and ring.lookup(None) is None
    assert presented_key({"authorization": "Bearer abc"}) == "abc"
    assert presented_key({"x-api-key": " abc "}) == "abc"
    with pytest.raises(ConfigError, match="api_keys.his.types: \\['review.posted'\\] are not event types the role his"):
        parse_api_keys({"his": {"key": "k" * 20, "role": "his", "types": ["review.posted"]}})
    with pytest.raises(ConfigError, match="scopes were replaced by role"):
        parse_api_keys({"his": {"key": "k" * 20, "source": "his", "scopes": ["events"]}})
    with pytest.raises(ConfigError, match="at least 16 characters"):
        parse_api_keys({"his": {"key": "short", "source": "his"}})
    with pytest.raises(ConfigError, match="api_keys.his.role must be one of"):
        parse_api_keys({"his": {"key": "k" * 20}})
    assert KeyRing(parse_api_keys({})).lookup(DEV_KEY) is None


def test_settings_read_api_keys_from_toml_and_env(tmp_path, monkeypatch):
    from molar.config import load_settings

    toml = tmp_path / "molar.toml"
    toml.write_text('[molar]\nwarehouse_path = "x.duckdb"\n\n[api_keys.his]\nkey = "0123456789abcdef0"\nsource = "his"\n',
                    encoding="utf-8")
    settings = load_settings(toml)
    assert settings.api_keys == {"his": {"key": "0123456789abcdef0", "source": "his"}}
    monkeypatch.setenv("MOLAR_API_KEYS", '{"app": {"key": "0123456789abcdef1", "source": "app"}}')
    monkeypatch.setenv("MOLAR_API_DEV_KEY", "1")
    monkeypatch.setenv("MOLAR_MAX_BATCH_EVENTS", "50")
    settings = load_settings(toml)
    assert list(settings.api_keys) == ["app"] and settings.api_dev_key and settings.max_batch_events == 50
