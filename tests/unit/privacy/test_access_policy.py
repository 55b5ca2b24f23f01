"""The access policy file is checked on load; errors name the entry and the fix."""

import pytest

from molar.privacy.policy import PolicyError, load_policy, parse_policy

BASE = {"resources": {"patient": ["read"], "event": ["send"]}, "fields": ["name", "mobile"],
        "public": ["GET /v1/health"]}


def policy(**roles):
    return parse_policy({**BASE, "roles": roles}, "p.yaml")


def test_default_deny_and_field_levels():
    p = policy(nurse={"allow": {"patient": ["read"]}, "fields": {"name": "full"}})
    assert p.check("nurse", "patient", "read").allowed
    assert p.check("nurse", "event", "send").reason == "the role nurse may not send event"
    assert not p.check("ghost", "patient", "read").allowed
    assert (p.field_level("nurse", "name"), p.field_level("nurse", "mobile")) == ("full", "hidden")
    with pytest.raises(PolicyError, match="patient.delete is not an action"):
        p.check("nurse", "patient", "delete")


@pytest.mark.parametrize(("role", "message"), [
    ({"allow": {"patient": ["erase"]}}, "roles.x.allow: patient.erase is not declared under resources"),
    ({"fields": {"name": "partly"}}, "roles.x.fields.name must be one of full, masked, hidden"),
    ({"fields": {"id_card": "full"}}, "roles.x.fields: 'id_card' is not a personal field"),
    ({"allow": {"event": ["send"]}}, "roles.x: may send events but lists no event_types"),
    ({"event_types": ["visit.done"]}, r"roles.x.event_types: \['visit.done'\] are not event types"),
    ({"scopes": ["x"]}, r"roles.x: unknown keys \['scopes'\]"),
])
def test_mistakes_name_the_entry(role, message):
    with pytest.raises(PolicyError, match=f"p.yaml: {message}"):
        policy(x=role)


def test_shipped_policy_has_the_roles_the_product_needs():
    p = load_policy()
    assert {"front_desk", "nurse", "doctor", "marketer", "analyst", "clinic_manager", "admin", "auditor",
            "his", "booking", "wechat", "consult", "telemetry"} <= set(p.roles)
    assert not any(p.check(r, "audit", "read").allowed for r in p.roles if r != "auditor")
    assert "visit.completed" not in p.roles["wechat"].event_types
