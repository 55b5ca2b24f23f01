"""Patient facts: what rule conditions, guards and templates know about a patient.

``patient_facts(engine, golden_id)`` returns::

    {"golden_id": "G…", "tags": {tag_key: value_num or value}, "tier": "strategic",
     "stage": "decline", "value_score": 71.5,
     "reachable": {"sms": True, "wechat": False, "app": False},
     "complaint": {"open": False, "last_at": None, "count": 0},
     "clinic": {"id": "C01", "name": "锦江口腔门诊部"},
     "language": "zh", "preferred_channel": None}

Sources: profile.tag_value (with tags set by journeys in ops.automation_tag on top),
profile.tier, profile.lifecycle, profile.value_score, identity.patient (mobile → sms,
wechat_unionid/openid → wechat), ops.rt_event (app.action → app), ops.complaint and
profile.text_sentiment for complaints, ops.task for resolved service recovery.
Missing tables or rows give missing facts, never errors.

The engine takes any :class:`FactsProvider`; tests inject one built from dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from molar.warehouse import Engine


class FactsProvider(Protocol):
    def many(self, engine: Engine, golden_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
        """Facts of several patients at once (schedule audiences)."""
        ...


def _empty(golden_id: str) -> dict[str, Any]:
    return {
        "golden_id": golden_id, "tags": {}, "tier": None, "stage": None, "value_score": None,
        "reachable": {"sms": False, "wechat": False, "app": False},
        "complaint": {"open": False, "last_at": None, "count": 0},
        "clinic": {"id": None, "name": None}, "language": None, "preferred_channel": None,
    }


def _in(ids: list[str]) -> str:
    """``IN (?, ?, …)``: constant lists let DuckDB prune by zone maps and use indexes."""
    return "IN (" + ", ".join("?" * len(ids)) + ")"


class WarehouseFacts:
    """Facts read from the warehouse tables (the default provider), four queries per call."""

    def __init__(self, complaint_window: timedelta = timedelta(days=30),
                 resolved_by: str = "service_recovery") -> None:
        self.complaint_window = complaint_window
        self.resolved_by = resolved_by
        self._tables: dict[tuple[int, str], bool] = {}

    def _has(self, engine: Engine, table: str) -> bool:
        key = (id(engine), table)
        if key not in self._tables:
            self._tables[key] = engine.table_exists(table)
        return self._tables[key]

    def get(self, engine: Engine, golden_id: str, now: datetime) -> dict[str, Any]:
        return self.many(engine, [golden_id], now)[golden_id]

    def with_tags(self, engine: Engine, tags: Mapping[str, bool], after: str, limit: int) -> list[str]:
        """Golden IDs after ``after``, in order, at most ``limit``, carrying one of ``tags``
        (True: with a true value) in the profile or set by a journey: the only patients a
        schedule whose audience needs those tags can reach (``conditions.tag_requirement``)."""
        parts, params = [], []
        for table in ("profile.tag_value", "ops.automation_tag"):
            if self._has(engine, table):
                for key, true in tags.items():
                    value = (" AND CASE WHEN value_num IS NOT NULL THEN value_num = 1 "
                             "ELSE lower(value) = 'true' END") if true else ""
                    parts.append(f"SELECT golden_id FROM {table} WHERE tag_key = ?{value}")
                    params.append(key)
        if not parts:
            return []
        return [g for (g,) in engine.rows(
            f"SELECT DISTINCT golden_id FROM ({' UNION ALL '.join(parts)}) WHERE golden_id > ? "
            "AND golden_id IN (SELECT golden_id FROM identity.patient) ORDER BY golden_id LIMIT ?",
            [*params, after, limit])]

    def many(self, engine: Engine, golden_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(golden_ids))
        facts = {g: _empty(g) for g in ids}
        for start in range(0, len(ids), 1000):
            self._load(engine, ids[start:start + 1000], facts, now)
        for f in facts.values():
            lang = f["tags"].get("language")
            f["language"] = str(lang) if lang in ("zh", "en") else None
            pref = f["tags"].get("preferred_channel")
            f["preferred_channel"] = str(pref) if pref in ("sms", "wechat", "app") else None
        return facts

    def _load(self, engine: Engine, ids: list[str], facts: dict[str, dict[str, Any]], now: datetime) -> None:
        inn = _in(ids)
        # Tags: the profile's, then those set by journeys on top.
        parts, params = [], []
        for priority, table in enumerate(("profile.tag_value", "ops.automation_tag")):
            if self._has(engine, table):
                parts.append(f"SELECT golden_id, tag_key, value, value_num, {priority} AS p FROM {table} "
                             f"WHERE golden_id {inn}")
                params += ids
        if parts:
            for g, key, value, num, _ in engine.rows(" UNION ALL ".join(parts) + " ORDER BY p", params):
                facts[g]["tags"][key] = num if num is not None else value
        # Tier, stage, value score (latest run).
        parts, params = [], []
        for table, column, target in (("profile.tier", "tier", "tier"), ("profile.lifecycle", "stage", "stage"),
                                      ("profile.value_score", "value_score", "value_score")):
            if self._has(engine, table):
                parts.append(f"SELECT '{target}', golden_id, arg_max({column}, run_id)::VARCHAR FROM {table} "
                             f"WHERE golden_id {inn} GROUP BY golden_id")
                params += ids
        if parts:
            for target, g, value in engine.rows(" UNION ALL ".join(parts), params):
                if value is not None:
                    facts[g][target] = float(value) if target == "value_score" else value
        # Reachability and home clinic.
        if self._has(engine, "identity.patient"):
            clinic = self._has(engine, "std.clinic")
            app = (f"p.golden_id IN (SELECT golden_id FROM ops.rt_event WHERE type = 'app.action' AND golden_id {inn})"
                   if self._has(engine, "ops.rt_event") else "false")
            for g, mobile, wechat, clinic_id, name, in_app in engine.rows(
                f"SELECT p.golden_id, p.mobile IS NOT NULL, (p.wechat_unionid IS NOT NULL OR p.wechat_openid IS NOT NULL), "
                f"p.home_clinic_id, {'c.name' if clinic else 'NULL'}, {app} FROM identity.patient p "
                f"{'LEFT JOIN std.clinic c ON c.clinic_id = p.home_clinic_id' if clinic else ''} "
                f"WHERE p.golden_id {inn}", (ids if app != "false" else []) + ids,
            ):
                facts[g]["reachable"] = {"sms": bool(mobile), "wechat": bool(wechat), "app": bool(in_app)}
                facts[g]["clinic"] = {"id": clinic_id, "name": name}
        self._complaints(engine, ids, facts, now)

    def _complaints(self, engine: Engine, ids: list[str], facts: dict[str, dict[str, Any]], now: datetime) -> None:
        since = now - self.complaint_window
        inn = _in(ids)
        parts = []
        params: list[Any] = []
        if self._has(engine, "ops.complaint"):
            parts.append(f"SELECT golden_id, occurred_at FROM ops.complaint WHERE golden_id {inn} "
                         "AND occurred_at >= ? AND occurred_at <= ?")
            params += [*ids, since, now]
        if self._has(engine, "profile.text_sentiment") and self._has(engine, "identity.cluster"):
            parts.append(
                "SELECT c.golden_id, s.occurred_at FROM profile.text_sentiment s JOIN identity.cluster c "
                "ON c.source = s.source AND c.source_patient_key = s.source_patient_key "
                f"WHERE s.label = 'complaint' AND c.golden_id {inn} AND s.occurred_at >= ? AND s.occurred_at <= ?"
            )
            params += [*ids, since, now]
        if not parts:
            return
        if self._has(engine, "ops.task"):
            sql = (f"WITH c AS ({' UNION ALL '.join(parts)}) SELECT c.golden_id, count(*), max(c.occurred_at), "
                   "max(r.resolved_at) FROM c LEFT JOIN (SELECT golden_id, max(resolved_at) AS resolved_at "
                   f"FROM ops.task WHERE kind = ? AND status = 'done' AND golden_id {inn} GROUP BY 1) r "
                   "USING (golden_id) GROUP BY 1")
            params += [self.resolved_by, *ids]
        else:
            sql = f"WITH c AS ({' UNION ALL '.join(parts)}) SELECT golden_id, count(*), max(occurred_at), NULL FROM c GROUP BY 1"
        for g, count, last_at, resolved_at in engine.rows(sql, params):
            facts[g]["complaint"] = {
                "open": resolved_at is None or resolved_at < last_at,
                "last_at": last_at,
                "count": int(count),
                "resolved_at": resolved_at,
            }


class StaticFacts:
    """Facts from dictionaries (tests, what-if tools): ``StaticFacts({"G1": {"tier": "strategic"}})``.

    Missing keys take the empty defaults; ``fallback`` (optional) supplies the rest.
    """

    def __init__(self, facts: Mapping[str, Mapping[str, Any]] | None = None,
                 fallback: FactsProvider | None = None) -> None:
        self.facts = {k: dict(v) for k, v in (facts or {}).items()}
        self.fallback = fallback

    def set(self, golden_id: str, **values: Any) -> None:
        self.facts.setdefault(golden_id, {}).update(values)

    def many(self, engine: Engine, golden_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
        base = self.fallback.many(engine, golden_ids, now) if self.fallback else {g: _empty(g) for g in golden_ids}
        out = {}
        for g in golden_ids:
            merged = dict(base.get(g) or _empty(g))
            for key, value in self.facts.get(g, {}).items():
                if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                    merged[key] = {**merged[key], **value}
                else:
                    merged[key] = value
            out[g] = merged
        return out


class CallableFacts:
    """Wrap a function ``f(engine, golden_id) -> dict`` as a provider."""

    def __init__(self, function: Callable[[Engine, str], Mapping[str, Any]]) -> None:
        self.function = function

    def many(self, engine: Engine, golden_ids: list[str], now: datetime) -> dict[str, dict[str, Any]]:
        out = {}
        for g in golden_ids:
            merged = _empty(g)
            merged.update(self.function(engine, g))
            out[g] = merged
        return out


def as_provider(facts: FactsProvider | Callable[[Engine, str], Mapping[str, Any]] | None) -> FactsProvider:
    if facts is None:
        return WarehouseFacts()
    if hasattr(facts, "many"):
        return facts  # type: ignore[return-value]
    return CallableFacts(facts)  # type: ignore[arg-type]


def patient_facts(engine: Engine, golden_id: str, now: datetime | None = None,
                  complaint_window_days: int = 30) -> dict[str, Any]:
    """Facts of one patient from the warehouse (see the module docstring for the shape)."""
    from molar.automation.clock import local_now

    provider = WarehouseFacts(timedelta(days=complaint_window_days))
    return provider.get(engine, golden_id, now or local_now())


def flatten(facts: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in facts.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from flatten(value, path + ".")
        else:
            yield path, value
