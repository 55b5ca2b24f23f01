"""Envelope encryption, field tokens and key rotation against a real warehouse."""

from __future__ import annotations

import base64
from datetime import datetime

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from molar.config import Settings
from molar.privacy import crypto, keys
from molar.privacy.crypto import DecryptionError, FieldCipher

MASTER = bytes(range(32))
OTHER = bytes(range(1, 33))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
def cipher(warehouse) -> FieldCipher:
    return FieldCipher(keys.open_keyring(warehouse, MASTER))


def test_master_key_parsing_names_the_fix():
    assert keys.parse_master_key(b64(MASTER)) == MASTER
    assert keys.master_key_from(Settings(master_key=b64(MASTER))) == MASTER
    for bad, words in ((None, "no master key"), ("", "no master key"), ("not base64!", "not valid base64"),
                       (b64(b"short"), "decodes to 5 bytes")):
        with pytest.raises(keys.KeyConfigError, match=words) as err:
            keys.parse_master_key(bad)
        assert "molar privacy keygen" in str(err.value)


def test_keygen_keys_are_random_and_valid():
    a, b = keys.new_master_key(), keys.new_master_key()
    assert a != b and len(keys.parse_master_key(a)) == 32


def test_round_trip_and_nulls(cipher):
    values = ["13812345678", None, "张伟", ""]
    tokens = cipher.encrypt_column(values, "std.patient", "mobile", ["his:P1", "his:P2", "his:P3", "his:P4"])
    assert tokens[1] is None
    assert all(t.startswith(f"v1.{cipher.key_id}.") for t in tokens if t is not None)
    assert "13812345678" not in tokens[0] and tokens[0] != tokens[2]
    assert cipher.decrypt_column(tokens, "std.patient", "mobile", ["his:P1", "his:P2", "his:P3", "his:P4"]) == values


def test_arrow_and_pandas_columns(cipher):
    values = pa.chunked_array([["a", "b"], [None, "c"]])
    record_keys = pa.array(["1", "2", "3", "4"])
    tokens = cipher.encrypt_arrow(values, "t", "c", record_keys)
    assert tokens.type == pa.string() and tokens.null_count == 1
    assert cipher.decrypt_arrow(tokens, "t", "c", record_keys).to_pylist() == ["a", "b", None, "c"]
    series = tokens.to_pandas()
    assert cipher.decrypt_column(series, "t", "c", record_keys.to_pandas()) == ["a", "b", None, "c"]


def test_sparse_arrow_column_binds_each_value_to_its_own_row(cipher):
    """Only the non-NULL values are encrypted; each token must still be bound to its row."""
    values = pa.chunked_array([[None, "13812345678", None], [None, None, "张伟", None]])
    record_keys = pa.chunked_array([["r0", "r1"], ["r2", "r3", "r4", "r5", "r6"]])
    tokens = cipher.encrypt_arrow(values, "raw.t", "手机", record_keys).to_pylist()
    assert [t is None for t in tokens] == [True, False, True, True, True, False, True]
    assert cipher.decrypt(tokens[1], "raw.t", "手机", "r1") == "13812345678"
    assert cipher.decrypt(tokens[5], "raw.t", "手机", "r5") == "张伟"
    with pytest.raises(DecryptionError, match="record 'r2'"):
        cipher.decrypt(tokens[1], "raw.t", "手机", "r2")
    opened = cipher.decrypt_arrow(pa.array(tokens, pa.string()), "raw.t", "手机", record_keys)
    assert opened.to_pylist() == [None, "13812345678", None, None, None, "张伟", None]
    assert cipher.encrypt_arrow(pa.nulls(3, pa.string()), "raw.t", "手机", pa.array(["a", "b", "c"])).null_count == 3
    with pytest.raises(ValueError, match="2 values but 3 record keys"):
        cipher.encrypt_arrow(pa.array(["a", None]), "raw.t", "手机", pa.array(["a", "b", "c"]))


def test_same_value_encrypts_differently(cipher):
    a, b = cipher.encrypt_column(["x", "x"], "t", "c", ["1", "1"])
    assert a != b


def test_swapped_between_rows_or_columns_does_not_decrypt(cipher):
    t1, t2 = cipher.encrypt_column(["13812345678", "13900001111"], "std.patient", "mobile", ["his:P1", "his:P2"])
    with pytest.raises(DecryptionError, match="record 'his:P2'.*copied from another record or column"):
        cipher.decrypt(t1, "std.patient", "mobile", "his:P2")
    with pytest.raises(DecryptionError, match="std.patient.id_number"):
        cipher.decrypt(t1, "std.patient", "id_number", "his:P1")
    with pytest.raises(DecryptionError):
        cipher.decrypt(t1, "std.visit", "mobile", "his:P1")
    assert cipher.decrypt(t2, "std.patient", "mobile", "his:P2") == "13900001111"


def test_altered_or_foreign_tokens_fail_clearly(cipher, tmp_path):
    token = cipher.encrypt("secret", "t", "c", "1")
    head, body = token.rsplit(".", 1)
    # a character in the middle carries six bits of ciphertext (the last ones may be padding)
    mid = len(body) // 2
    flipped = body[:mid] + ("A" if body[mid] != "A" else "B") + body[mid + 1:]
    with pytest.raises(DecryptionError, match="altered"):
        cipher.decrypt(f"{head}.{flipped}", "t", "c", "1")
    with pytest.raises(DecryptionError, match="not a token of this warehouse"):
        cipher.decrypt("13812345678", "t", "c", "1")
    # a token from another warehouse names a key this one does not have
    from molar.warehouse import open_warehouse

    with open_warehouse(path=tmp_path / "other.duckdb") as other:
        foreign = FieldCipher(keys.open_keyring(other, MASTER)).encrypt("secret", "t", "c", "1")
    with pytest.raises(DecryptionError, match="unknown"):
        cipher.decrypt(foreign, "t", "c", "1")


def test_wrong_master_key_is_refused_with_both_fingerprints(warehouse):
    keys.open_keyring(warehouse, MASTER)
    with pytest.raises(keys.KeyConfigError, match=keys.fingerprint(MASTER)) as err:
        keys.open_keyring(warehouse, OTHER)
    assert keys.fingerprint(OTHER) in str(err.value)


def test_tampered_wrapped_key_is_detected(warehouse):
    keys.open_keyring(warehouse, MASTER)
    warehouse.execute("UPDATE privacy.data_key SET wrapped = ? WHERE kind = 'data'", [bytes(60)])
    with pytest.raises(keys.KeyConfigError, match="cannot be unwrapped"):
        keys.open_keyring(warehouse, MASTER)


def _consent_row(warehouse, cipher, event_id: str, evidence: str) -> None:
    token = cipher.encrypt(evidence, "privacy.consent_event", "evidence", event_id)
    warehouse.execute("INSERT INTO privacy.consent_event VALUES (?, 'G1', 'marketing', 'sms', false, ?, ?, 'test', ?)",
                      [event_id, datetime(2026, 1, 1), datetime(2026, 1, 1), token])


def test_master_rotation_keeps_old_ciphertext_readable(warehouse, cipher):
    _consent_row(warehouse, cipher, "e1", "签字表 #17")
    before = warehouse.scalar("SELECT evidence FROM privacy.consent_event")
    assert keys.rewrap(warehouse, MASTER, OTHER) == 2   # the data key and the blind-index key
    assert warehouse.scalar("SELECT evidence FROM privacy.consent_event") == before   # no data rewrite
    with pytest.raises(keys.KeyConfigError):
        keys.open_keyring(warehouse, MASTER)
    after = FieldCipher(keys.open_keyring(warehouse, OTHER))
    assert after.decrypt(before, "privacy.consent_event", "evidence", "e1") == "签字表 #17"


def test_reencrypt_moves_values_to_the_new_data_key(warehouse, cipher):
    for i in range(5):
        _consent_row(warehouse, cipher, f"e{i}", f"evidence {i}")
    old_key = cipher.key_id
    warehouse.execute("UPDATE privacy.data_key SET retired_at = now() WHERE kind = 'data'")
    new_key = keys.add_data_key(warehouse, MASTER)
    fresh = FieldCipher(keys.open_keyring(warehouse, MASTER))
    assert fresh.key_id == new_key != old_key
    moved = crypto.reencrypt(warehouse, fresh, batch=2)
    assert moved["privacy.consent_event.evidence"] == 5 and sum(moved.values()) == 5   # no patients loaded
    rows = warehouse.rows("SELECT event_id, evidence FROM privacy.consent_event ORDER BY event_id")
    assert all(t.split(".")[1] == new_key for _, t in rows)
    assert [fresh.decrypt(t, "privacy.consent_event", "evidence", e) for e, t in rows] == [
        f"evidence {i}" for i in range(5)]
    assert not any(crypto.reencrypt(warehouse, fresh).values())   # a second pass finds nothing left


@settings(max_examples=30, deadline=None, derandomize=True)
@given(value=st.text(), table=st.text(min_size=1), column=st.text(min_size=1), record=st.text())
def test_round_trip_any_text(value, table, column, record):
    ring = keys.Keyring("m", {"d1": MASTER}, {"d1": "data"}, {"data": "d1"})
    c = FieldCipher(ring)
    assert c.decrypt(c.encrypt(value, table, column, record), table, column, record) == value
