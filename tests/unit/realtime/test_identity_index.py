"""Identity lookup on arrival: golden IDs by unionid, source key and own mobile; family
phones never decide; provisional IDs stay stable and are reconciled later."""

from __future__ import annotations

import pytest
from rtsupport import NOW, Record, seed_identity

from molar.model.events import Event
from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import FieldCipher
from molar.privacy.keys import open_keyring_from
from molar.realtime.event_table import store_provisional
from molar.realtime.identity_index import (
    IdentityError,
    IdentityIndex,
    is_provisional,
    reconcile_provisional,
)
from molar.realtime.schemas import normalise_mobile


@pytest.fixture
def index(warehouse):
    seed_identity(warehouse)
    return IdentityIndex.load(warehouse)


def test_lookups(index):
    assert index.resolve(unionid="oUNION0000000000000000000001").golden_id == "G0000000001"
    assert index.resolve(source="his", source_patient_key="BL00010002").golden_id == "G0000000002"
    assert index.resolve(source="booking", source_patient_key="10000001").golden_id == "G0000000001"
    assert index.resolve(source="member", source_patient_key="886000000004").golden_id == "G0000000004"
    own = index.resolve(mobile="+8613800000001")
    assert (own.golden_id, own.provisional, own.matched_by) == ("G0000000001", False, "mobile")
    assert index.resolve(golden_id="G0000000003").golden_id == "G0000000003"
    assert index.resolve(golden_id="G0000000009").golden_id == "G0000000001"   # merged
    assert index.sizes()["shared_mobiles"] == 1


def test_unallocated_prefix_finds_its_holder(warehouse):
    # a well-formed number with an unallocated prefix (154) is a key like any other
    seed_identity(warehouse, (Record("G0000000005", "his", "BL00010005", "赵敏", "+8615400000005"),), retired=())
    index = IdentityIndex.load(warehouse)
    found = index.resolve(mobile=normalise_mobile("154 0000 0005"))
    assert (found.golden_id, found.matched_by) == ("G0000000005", "mobile")


def test_strongest_key_wins(index):
    # The unionid says G1 even though the number is G4's.
    assert index.resolve(unionid="oUNION0000000000000000000001", mobile="+8613700000004").golden_id == "G0000000001"


def test_family_phone_never_resolves(index):
    with pytest.raises(IdentityError, match="shared by 2 patients") as exc:
        index.resolve(mobile="+8613900000002")
    assert exc.value.field == "patient.mobile"
    # With another (unknown) key the event gets a provisional ID, not G2 or G3.
    res = index.resolve(mobile="+8613900000002", source="app", source_patient_key="U77")
    assert res.provisional and res.golden_id is None
    pv = index.assign_provisional(res.keys)
    assert is_provisional(pv) and len(pv) == 12
    # ...and the family phone alone still does not point at that provisional ID.
    with pytest.raises(IdentityError):
        index.resolve(mobile="+8613900000002")


def test_unknown_golden_id(index):
    with pytest.raises(IdentityError, match="'G0000000404' is not a golden ID Molar knows"):
        index.resolve(golden_id="G0000000404")


def test_provisional_id_is_stable_per_person(index):
    first = index.resolve(unionid="oNEW1", mobile="+8613500000005")
    pv = index.assign_provisional(first.keys)
    # Same person by any of the keys seen so far → same provisional ID.
    assert index.resolve(unionid="oNEW1").golden_id == pv
    assert index.resolve(mobile="+8613500000005").golden_id == pv
    assert index.resolve(golden_id=pv).golden_id == pv
    other = index.assign_provisional(index.resolve(unionid="oNEW2").keys)
    assert other != pv


def _store_provisional(engine, pv, **keys):
    keyring = open_keyring_from(None, engine)   # as the worker stores them: sealed, blind indexes beside
    event = Event(f"e-{pv}", "review.posted", pv, NOW, source="wechat", provisional=True)
    store_provisional(engine, [(event, keys)], NOW, FieldCipher(keyring), BlindIndexer.from_keyring(keyring))
    engine.execute(
        "INSERT INTO ops.rt_event BY NAME SELECT 1 AS seq, ? AS event_id, 'review.posted' AS type, ? AS golden_id, "
        "true AS provisional, 'wechat' AS source, ? AS occurred_at, ? AS received_at, ? AS applied_at, "
        "false AS derived, '{}' AS data", [f"e-{pv}", pv, NOW, NOW, NOW])


def test_reconcile_after_identity_run(warehouse, index):
    _store_provisional(warehouse, "PV0000000001", unionid="oNEW1")
    _store_provisional(warehouse, "PV0000000002", mobile="+8613500000005")
    _store_provisional(warehouse, "PV0000000003", source="app", source_patient_key="U1")
    _store_provisional(warehouse, "PV0000000004", mobile="+8613900000002")   # family phone: stays
    index.refresh(warehouse)
    assert index.resolve(unionid="oNEW1").golden_id == "PV0000000001"
    assert reconcile_provisional(warehouse) == 0

    # The next identity run knows these people.
    seed_identity(warehouse, [
        Record("G0000000005", "wechat", "oNEW1", "赵六", None, "oNEW1"),
        Record("G0000000006", "his", "BL00010006", "钱七", "+8613500000005"),
        Record("G0000000007", "app", "U1", "孙八"),
    ], run_id="run2", retired=())
    assert reconcile_provisional(warehouse) == 3
    rows = warehouse.rows("SELECT provisional_id, resolved_golden_id, resolved_by FROM ops.provisional_identity ORDER BY 1")
    assert rows == [
        ("PV0000000001", "G0000000005", "unionid"),
        ("PV0000000002", "G0000000006", "mobile"),
        ("PV0000000003", "G0000000007", "source_patient_key"),
        ("PV0000000004", None, None),
    ]
    events = warehouse.rows("SELECT event_id, golden_id, provisional FROM ops.rt_event ORDER BY 1")
    assert events == [
        ("e-PV0000000001", "G0000000005", False),
        ("e-PV0000000002", "G0000000006", False),
        ("e-PV0000000003", "G0000000007", False),
        ("e-PV0000000004", "PV0000000004", True),
    ]
    assert reconcile_provisional(warehouse) == 0   # idempotent

    index.refresh(warehouse)
    assert index.resolve(unionid="oNEW1").golden_id == "G0000000005"
    assert index.resolve(golden_id="PV0000000001").golden_id == "G0000000005"
    assert index.resolve(golden_id="PV0000000004").golden_id == "PV0000000004"


def test_refresh_keeps_provisional_ids_not_yet_stored(warehouse, index):
    pv = index.assign_provisional({"unionid": "oPENDING"})
    index.refresh(warehouse)
    assert index.resolve(unionid="oPENDING").golden_id == pv
