"""The consent registry against a real warehouse, and its drop-in compatibility with the
automation guard it replaces."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from molar.privacy import consent, keys
from molar.privacy.crypto import FieldCipher
from molar.warehouse import DuckDBEngine
from molar.warehouse.migrations import available_migrations, migrate

T0 = datetime(2026, 5, 1, 9, 0)


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def set_(engine, granted, at, subject="G1", purpose="marketing", channel="sms", **kw):
    return consent.record(engine, subject=subject, purpose=purpose, channel=channel, granted=granted,
                          occurred_at=at, source="test", **kw)


@pytest.fixture
def cluster(warehouse):
    warehouse.execute("INSERT INTO identity.cluster VALUES ('his:P1', 'his', 'P1', 'G1', 'r'), "
                      "('member:M1', 'member', 'M1', 'G1', 'r'), ('his:P2', 'his', 'P2', 'G2', 'r')")
    return warehouse


def test_newest_by_event_time_wins_never_by_arrival(cluster):
    set_(cluster, False, hours(2))
    set_(cluster, True, hours(1))            # arrives later, happened earlier: no effect
    assert consent.allows(cluster, "G1", "marketing", "sms") is False
    assert consent.allows(cluster, "G1", "marketing", "sms", at=hours(1.5)) is True   # as it stood then
    assert cluster.rows("SELECT granted FROM privacy.consent_current WHERE subject = 'G1'") == [(False,)]
    set_(cluster, True, hours(3))
    assert consent.allows(cluster, "G1", "marketing", "sms") is True
    assert cluster.rows("SELECT granted, occurred_at FROM privacy.consent_current WHERE subject = 'G1'") == [
        (True, hours(3))]
    assert cluster.count("privacy.consent_event") == 3   # history kept


def test_refusal_wins_a_tie(cluster):
    set_(cluster, True, hours(1), event_id="z-grant")
    set_(cluster, False, hours(1), event_id="a-refuse")
    assert consent.allows(cluster, "G1", "marketing", "sms") is False


def test_one_click_refusal_covers_every_channel_until_a_newer_grant(cluster):
    for channel in consent.CHANNELS:
        set_(cluster, True, hours(1), channel=channel)
    consent.refuse_marketing(cluster, "G1", source="app", at=hours(2))
    assert not any(consent.allows(cluster, "G1", "marketing", c) for c in consent.CHANNELS)
    assert consent.allows(cluster, "G1", "care", "sms", default=True) is True   # care untouched
    set_(cluster, True, hours(3), channel="wechat")
    assert [consent.allows(cluster, "G1", "marketing", c) for c in consent.CHANNELS] == [
        c == "wechat" for c in consent.CHANNELS]


def test_statements_on_member_records_and_provisional_ids_count_for_the_patient(cluster):
    set_(cluster, False, hours(1), subject="member:M1")
    assert consent.allows(cluster, "G1", "marketing", "sms") is False
    assert consent.current(cluster, "G2", "marketing", "sms") is None
    cluster.execute("INSERT INTO ops.provisional_identity (provisional_id, created_at, resolved_golden_id) "
                    "VALUES ('PV1', ?, 'G2')", [T0])
    set_(cluster, True, hours(1), subject="PV1", purpose="research", channel="any")
    assert consent.allows(cluster, "G2", "research", "any") is True
    assert consent.allows(cluster, "G1", "research", "any") is False


def test_sensitive_data_consent_is_separate(cluster):
    set_(cluster, True, hours(1), purpose="care", channel="any")
    assert consent.allows(cluster, "G1", "sensitive_data", "any") is False
    set_(cluster, True, hours(2), purpose="sensitive_data", channel="any")
    assert consent.allows(cluster, "G1", "sensitive_data", "any") is True


def test_default_applies_only_when_nothing_was_said(cluster):
    assert consent.allows(cluster, "G1", "care", "sms", default=True) is True
    set_(cluster, False, hours(1), purpose="care")
    assert consent.allows(cluster, "G1", "care", "sms", default=True) is False


def test_bad_purpose_or_channel_says_what_is_allowed(cluster):
    with pytest.raises(consent.ConsentError, match="purpose 'ads'.*marketing"):
        set_(cluster, True, hours(1), purpose="ads")
    with pytest.raises(consent.ConsentError, match="channel 'fax'.*email"):
        consent.allows(cluster, "G1", "care", "fax")


def test_same_event_id_is_stored_once_and_history_is_append_only(cluster):
    set_(cluster, False, hours(1), event_id="e1")
    set_(cluster, True, hours(5), event_id="e1")      # a re-send: ignored
    set_(cluster, True, hours(2))
    assert cluster.count("privacy.consent_event") == 2
    assert consent.allows(cluster, "G1", "marketing", "sms") is True
    assert [h["granted"] for h in consent.history(cluster, "G1")] == [False, True]


def test_evidence_is_stored_encrypted(cluster):
    cipher = FieldCipher(keys.open_keyring(cluster, bytes(32)))
    with pytest.raises(consent.ConsentError, match="encrypted"):
        set_(cluster, False, hours(1), evidence="短信回复 TD")
    set_(cluster, False, hours(1), evidence="短信回复 TD", cipher=cipher, event_id="e9")
    stored = cluster.scalar("SELECT evidence FROM privacy.consent_event WHERE event_id = 'e9'")
    assert "TD" not in stored and stored.startswith("v1.")
    assert consent.history(cluster, "G1", cipher)[0]["evidence"] == "短信回复 TD"
    assert "evidence" not in consent.history(cluster, "G1")[0]


def test_migration_carries_over_the_existing_consent_history(tmp_path):
    engine = DuckDBEngine(tmp_path / "old.duckdb")
    try:
        for m in available_migrations():
            if m.version < 11:
                m.apply(engine)
        engine.execute("CREATE TABLE main.schema_version (version INTEGER PRIMARY KEY, name VARCHAR, "
                       "applied_at TIMESTAMP DEFAULT current_timestamp)")
        engine.execute("INSERT INTO main.schema_version (version, name) SELECT v, 'x' FROM range(1, 11) t(v)")
        engine.execute("INSERT INTO ops.consent_history VALUES ('e1', 'G1', 'sms', 'marketing', false, ?, 'app', true),"
                       " ('e2', 'G1', 'sms', 'marketing', true, ?, 'app', false)", [hours(2), hours(1)])
        migrate(engine)
        assert engine.count("privacy.consent_event") == 2
        assert consent.allows(engine, "G1", "marketing", "sms") is False
    finally:
        engine.close()
