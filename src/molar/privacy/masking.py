"""Masking by role: what a role sees of a patient, by allow-list.

:func:`patient_view` builds the response field by field from the unmasked patient 360;
a value reaches the caller only if it is named here, and a personal field only at the
level the policy gives the caller's role (full, masked, hidden). A column added to the
warehouse stays out of every response until it is added here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from molar.model.events import PERSONAL_DATA_FIELDS
from molar.privacy.accounts import Principal
from molar.privacy.policy import Policy, load_policy

DataFields = Callable[[str], frozenset[str]]


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


def mask_mobile(mobile: str) -> str:
    digits = mobile[3:] if mobile.startswith("+86") else mobile
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id_number(number: str) -> str:
    return number[:6] + "*" * max(len(number) - 10, 0) + number[-4:] if len(number) > 10 else "*" * len(number)


def mask_unionid(unionid: str) -> str:
    return unionid[:4] + "****"


def mask_text(text: str) -> str:
    return f"[{len(text)} characters]"


MASKS: dict[str, Callable[[Any], Any]] = {
    "name": mask_name,
    "mobile": mask_mobile,
    "birth_date": lambda d: d.year if isinstance(d, date) else str(d)[:4],
    "id_number": mask_id_number,
    "address": lambda _: None,
    "district": lambda _: None,
    "wechat": mask_unionid,
    "source_key": lambda k: k[:2] + "****" if len(k) > 4 else "****",
    "free_text": mask_text,
}


class View:
    """One role's view: applies field levels and remembers which fields it showed in full."""

    def __init__(self, principal: Principal, policy: Policy | None = None) -> None:
        self.principal = principal
        self.policy = policy or load_policy()
        self.shown: set[str] = set()
        self.masked: set[str] = set()

    def level(self, field: str) -> str:
        return self.policy.field_level(self.principal.role, field)

    def __call__(self, field: str, value: Any) -> Any:
        if value is None or value == "":
            return None
        level = self.level(field)
        if level == "hidden":
            return None
        if level == "full":
            self.shown.add(field)
            return value
        self.masked.add(field)
        return MASKS[field](value)


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _source_key(view: View, source: str, key: str | None) -> str | None:
    return view("wechat" if source == "wechat" else "source_key", key)


def _patient(view: View, p: Mapping[str, Any], today: date) -> dict[str, Any]:
    birth_level = view.level("birth_date")
    return {
        "name": view("name", p["name"]),
        "sex": p["sex"],
        "birth_date": view("birth_date", p["birth_date"]) if birth_level == "full" else None,
        "birth_year": p["birth_date"].year if p["birth_date"] and birth_level != "hidden" else None,
        "age": _age(p["birth_date"], today) if birth_level != "hidden" else None,
        "mobile": view("mobile", p["mobile"]),
        "id_number": view("id_number", p["id_number"]),
        "address": view("address", p["address"]),
        "district": view("district", p["district"]),
        "wechat_unionid": view("wechat", p["wechat_unionid"]),
        "wechat_linked": bool(p["wechat_unionid"]),
        "home_clinic_id": p["home_clinic_id"],
        "first_registered_on": p["first_registered_on"],
        "last_registered_on": p["last_registered_on"],
        "records": p["member_count"],
        "updated_at": p["updated_at"],
    }


def _evidence(view: View, evidence: Any) -> Any:
    """Tag evidence: keys that name a personal field follow that field's level."""
    if not isinstance(evidence, dict):
        return evidence
    out = {}
    for key, value in evidence.items():
        # A number under a field's name is a count (preferred_channel: {"wechat": 5}), never a personal value.
        if key in view.policy.fields and not isinstance(value, int | float):
            value = view(key, value)
            if value is None:
                continue
        out[key] = value
    return out


def _profile(view: View, profile: Mapping[str, Any]) -> dict[str, Any]:
    tags = [
        {"tag_key": t["tag_key"], "value": t["value"], "value_num": t["value_num"],
         "evidence": _evidence(view, t["evidence"]), "valid_from": t["valid_from"]}
        for t in profile["tags"]
    ]
    return {"tags": tags, "tier": profile["tier"], "lifecycle": profile["lifecycle"],
            "value_score": profile["value_score"]}


def _event_data(view: View, allowed: frozenset[str], data: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        if key not in allowed:
            continue
        if key in PERSONAL_DATA_FIELDS and isinstance(value, str):
            value = view(PERSONAL_DATA_FIELDS[key], value)
            if value is None:
                continue
        out[key] = value
    return out


def _events(view: View, events: list[Mapping[str, Any]], own_source: str | None,
            data_fields: DataFields) -> list[dict[str, Any]]:
    return [
        {"seq": e["seq"], "event_id": e["event_id"], "type": e["type"], "source": e["source"],
         "occurred_at": e["occurred_at"], "received_at": e["received_at"], "derived": e["derived"],
         "data": _event_data(view, data_fields(e["type"]), e["data"])}
        for e in events
        if own_source is None or e["source"] == own_source
    ]


def patient_view(raw: Mapping[str, Any], principal: Principal, *, today: date, data_fields: DataFields,
                 policy: Policy | None = None) -> tuple[dict[str, Any], View]:
    """The patient 360 as this principal may see it, and the view (``shown``: personal
    fields shown in full, ``masked``: shown masked) for the audit log.

    ``data_fields(event_type)``: the event data fields its contract declares (the rest is
    never shown).

    Source systems see only their own system's records and events, and no profile.
    """
    view = View(principal, policy)
    own = principal.source if principal.source_system else None
    out: dict[str, Any] = {"id": raw["id"], "golden_id": raw["golden_id"], "provisional": raw["provisional"]}
    for key in ("merged", "resolved_from", "first_seen"):
        if key in raw:
            out[key] = raw[key]
    if raw.get("known_by") is not None:
        k = raw["known_by"]
        out["known_by"] = {
            "mobile": view("mobile", k["mobile"]),
            "wechat_linked": bool(k["unionid"]),
            "source": k["source"],
            "source_patient_key": _source_key(view, k["source"] or "", k["source_patient_key"]),
        }
    out["patient"] = _patient(view, raw["patient"], today) if raw.get("patient") else None
    out["sources"] = [
        {"source": s["source"], "source_patient_key": _source_key(view, s["source"], s["source_patient_key"])}
        for s in raw["sources"] if own is None or s["source"] == own
    ]
    out["profile"] = None if own else _profile(view, raw["profile"])
    out["events"] = _events(view, raw["events"], own, data_fields)
    return out, view


def mask_explanation(info: dict[str, Any], principal: Principal,
                     policy: Policy | None = None) -> tuple[dict[str, Any], View]:
    """``molar profile show``: tag inputs at the principal's field levels."""
    view = View(principal, policy)
    return {**info, "tags": [{**t, "inputs": _evidence(view, t["inputs"])} for t in info.get("tags", [])]}, view


# `molar identity explain`: member columns and comparison names → the personal field they show.
IDENTITY_FIELDS = {"name": "name", "mobile": "mobile", "birth_date": "birth_date", "id_number": "id_number",
                   "district": "district", "wechat_unionid": "wechat", "address": "address"}


def mask_identity_explanation(data: dict[str, Any], principal: Principal,
                              policy: Policy | None = None) -> tuple[dict[str, Any], View]:
    """``molar identity explain`` at the principal's field levels. Unless the role sees
    source keys in full, records are renamed ``source#n`` (the same in members, pairs and
    overrides) so pairs stay readable without the keys."""
    view = View(principal, policy)
    full_keys = view.level("source_key") == "full"
    if full_keys:
        view.shown.add("source_key")
    else:
        view.masked.add("source_key")
    rename = {m["unique_id"]: m["unique_id"] if full_keys else f"{m['source']}#{i}"
              for i, m in enumerate(data["members"], 1)}

    def rid(unique_id: str) -> str:
        return rename.get(unique_id, unique_id if full_keys else unique_id.split(":", 1)[0] + "#?")

    def field(column: str, value: Any) -> Any:
        personal = IDENTITY_FIELDS.get(column)
        return value if personal is None else view(personal, value)

    members = [
        {**{k: field(k, v) for k, v in m.items()}, "unique_id": rid(m["unique_id"]),
         "source_patient_key": m["source_patient_key"] if full_keys else None}
        for m in data["members"]
    ]
    pairs = [
        {**p, "unique_id_l": rid(p["unique_id_l"]), "unique_id_r": rid(p["unique_id_r"]),
         "comparisons": [{**c, "left": field(c["comparison"], c["left"]),
                          "right": field(c["comparison"], c["right"])} for c in p["comparisons"]]}
        for p in data["pairs"]
    ]
    overrides = [{**o, "unique_ids": [rid(u) for u in o["unique_ids"]],
                  "reason": view("free_text", o["reason"])} for o in data["overrides"]]
    return {**data, "members": members, "pairs": pairs, "overrides": overrides}, view
