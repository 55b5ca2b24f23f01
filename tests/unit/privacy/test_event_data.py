"""Live event data: personal fields sealed in one token, the rest plain; rows written
before migration 0020 are sealed by it."""

from __future__ import annotations

import json
from datetime import datetime

from molar.privacy import event_data, fields
from molar.privacy.blind_index import BlindIndexer
from molar.warehouse.migrations import migrate

AT = datetime(2026, 11, 23, 9, 30)
TEXT = "我是欧阳明华，电话13812345678"


def test_personal_and_undeclared_fields_are_sealed(warehouse):
    cipher = fields.cipher_for(warehouse)
    data = {"charge_id": "F1", "amount_yuan": 80.0, "payer_mobile": "13812345678", "text": TEXT}
    plain, token = event_data.seal(cipher, "his:e1", data, {"charge_id", "amount_yuan", "text"})
    assert plain == {"charge_id": "F1", "amount_yuan": 80.0}
    assert "1381234" not in token and "欧阳" not in token
    assert event_data.opened(cipher, "his:e1", plain, token) == data
    # what the real-time stages see: declared personal fields, never undeclared ones
    assert event_data.opened(cipher, "his:e1", plain, token, personal_only=True) == {
        "charge_id": "F1", "amount_yuan": 80.0, "text": TEXT}
    assert event_data.seal(cipher, "his:e2", {"charge_id": "F2"}) == ({"charge_id": "F2"}, None)


def test_migration_seals_rows_written_before_it(warehouse):
    # the state before 0020: personal fields and provisional keys in plaintext
    warehouse.execute("DELETE FROM main.schema_version WHERE version = 20")
    warehouse.execute(
        "INSERT INTO ops.rt_event (seq, event_id, type, golden_id, provisional, source, occurred_at, applied_at, "
        "derived, data) VALUES (1, 'wechat:m1', 'consult.message', 'PV00000000aa', true, 'wechat', ?, ?, false, ?)",
        [AT, AT, json.dumps({"consult_id": "Q1", "channel": "chat", "text": TEXT}, ensure_ascii=False)])
    warehouse.execute("INSERT INTO ops.provisional_identity (provisional_id, unionid, mobile, created_at) "
                      "VALUES ('PV00000000aa', 'oLIVE1', '+8613812345678', ?)", [AT])
    assert [m.version for m in migrate(warehouse)] == [20]
    data, token = warehouse.rows("SELECT data, sealed FROM ops.rt_event")[0]
    assert json.loads(data) == {"consult_id": "Q1", "channel": "chat"}
    cipher = fields.cipher_for(warehouse)
    assert event_data.open_tokens(cipher, [token], ["wechat:m1"]) == [{"text": TEXT}]
    row = warehouse.arrow("SELECT provisional_id, unionid, mobile, unionid_bi, mobile_bi FROM ops.provisional_identity")
    assert "13812345678" not in str(row.to_pylist())
    indexer = BlindIndexer.from_keyring(cipher.keyring)
    assert fields.open_rows("ops.provisional_identity", row, cipher).to_pylist() == [{
        "provisional_id": "PV00000000aa", "unionid": "oLIVE1", "mobile": "+8613812345678",
        "unionid_bi": indexer.unionid("oLIVE1"), "mobile_bi": indexer.mobile("13812345678")}]
