"""What a segment condition may ask about a patient, read for every patient at once.

A segment's condition is written in the rules' condition language
(``molar.automation.conditions``) over these facts::

    tags.<key>                  profile.tag_value, with tags set by journeys (ops.automation_tag) on top
    tier, stage, value_score    profile.tier, profile.lifecycle, profile.value_score (latest run)
    churn.risk, churn.band      profile.churn_risk (`molar churn score`)
    clv.value_24m_yuan, clv.p_alive   profile.clv (`molar clv score`)
    visits.last_on, .first_on   dates of the last and first visit, as YYYY-MM-DD text
    visits.days_since_last, .days_since_first, .count_90d, .count_365d, .departments_365d
    days_since_item.<CODE>      days since the last treatment with that item code (CLN, IMP …)
    clinic.id                   the home clinic

Visits are those of ``std.visit`` on or before ``today``. Only the facts a condition names
are read (a segment on tier reads one table), so sizing a segment stays quick on a large
chain. Missing tables or rows give missing facts, never errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from molar.automation.conditions import Condition, checks_of
from molar.model.codes import DEPARTMENTS, TREATMENT_BY_CODE, TREATMENT_CODES
from molar.profile.catalogue import load_catalogue
from molar.profile.lifecycle import STAGES
from molar.profile.tiers import TIERS
from molar.warehouse import Engine

ROOTS = ("tags", "tier", "stage", "value_score", "churn", "clv", "visits", "days_since_item", "clinic")


@dataclass(frozen=True)
class Field:
    """One fact the builder offers: its path, names and, for a category, its values."""

    path: str
    name_zh: str
    name_en: str
    choices: tuple[str, ...] = ()

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


_FIXED = (
    Field("tier", "价值分层", "Value tier", TIERS),
    Field("stage", "生命周期阶段", "Lifecycle stage", STAGES),
    Field("value_score", "价值分（0-100）", "Value score (0-100)"),
    Field("churn.risk", "流失风险概率（0-1）", "Churn risk (0-1)"),
    Field("churn.band", "流失风险分档", "Churn risk band", ("high", "medium", "low")),
    Field("clv.value_24m_yuan", "预计24个月价值（元）", "Expected 24-month value (CNY)"),
    Field("clv.p_alive", "仍为活跃患者的概率", "Probability still active"),
    Field("visits.days_since_last", "距上次就诊天数", "Days since the last visit"),
    Field("visits.days_since_first", "距首次就诊天数", "Days since the first visit"),
    Field("visits.count_90d", "近90天就诊次数", "Visits in the last 90 days"),
    Field("visits.count_365d", "近一年就诊次数", "Visits in the last year"),
    Field("visits.last_on", "上次就诊日期", "Date of the last visit (YYYY-MM-DD)"),
    Field("visits.first_on", "首次就诊日期", "Date of the first visit (YYYY-MM-DD)"),
    Field("visits.departments_365d", "近一年就诊科室", "Departments visited in the last year", DEPARTMENTS),
    Field("clinic.id", "所属门店", "Home clinic"),
)


def fields() -> list[Field]:
    """Every fact the builder offers, fixed ones first, then one per item code and per tag."""
    items = [Field(f"days_since_item.{code}", f"距上次{TREATMENT_BY_CODE[code].name_zh}天数",
                   f"Days since the last {TREATMENT_BY_CODE[code].name_en}") for code in TREATMENT_CODES]
    tags = [Field(f"tags.{t.key}", f"标签：{t.name_zh}", f"Tag: {t.name_en}", t.values or
                  (("true", "false") if t.value_type == "boolean" else ())) for t in load_catalogue()]
    return [*_FIXED, *items, *tags]


def label(path: str, lang: str) -> str:
    """A fact path in words (the path itself when the builder does not offer it)."""
    by_path = _by_path()
    return by_path[path].name(lang) if path in by_path else path


@cache
def _by_path() -> dict[str, Field]:
    return {f.path: f for f in fields()}


@cache
def _tag_keys() -> tuple[str, ...]:
    return tuple(sorted(t.key for t in load_catalogue()))


def unknown_fact(path: str) -> str | None:
    """Why ``path`` names no fact (with the known names), or None when it does."""
    root, _, rest = path.partition(".")
    if root == "tags":
        keys = _tag_keys()
        return None if rest in keys else f"tags.{rest or '?'} is not a tag; tags: {', '.join(keys)}"
    if root == "days_since_item":
        return None if rest in TREATMENT_CODES else \
            f"days_since_item.{rest or '?'}: item codes are {', '.join(TREATMENT_CODES)}"
    known = [f.path for f in _FIXED]
    return None if path in known else f"{path!r} is not a fact; facts: {', '.join(known)}, tags.<key>, " \
                                      "days_since_item.<CODE>"


def empty() -> dict[str, Any]:
    """The facts of a patient nothing is known about (a missing root is a missing fact)."""
    return {}


@dataclass(frozen=True)
class Known:
    """Every patient's golden ID, and the facts of those with any (the others have ``empty()``)."""

    golden_ids: list[str]
    facts: dict[str, dict[str, Any]]


def load(engine: Engine, conditions: Iterable[Condition], today: date,
         golden_ids: Sequence[str] | None = None) -> Known:
    """The facts the ``conditions`` name, of every patient in ``identity.patient`` (or only
    of ``golden_ids``: the patients of a batch of live events)."""
    paths = [c.fact for condition in conditions for c in checks_of(condition)]
    roots = {p.split(".")[0] for p in paths}
    only = [] if golden_ids is None else [sorted(golden_ids)]

    def who(column: str = "golden_id") -> str:
        return f" AND list_contains(?, {column})" if only else ""

    ids = [g for (g,) in engine.rows(f"SELECT golden_id FROM identity.patient WHERE true{who()} ORDER BY 1", only)]
    patients = set(ids)
    facts: dict[str, dict[str, Any]] = {}

    def of(g: str, root: str | None = None) -> dict[str, Any]:
        found = facts.get(g)
        if found is None:
            found = facts[g] = empty()
        return found if root is None else found.setdefault(root, {})

    has = engine.table_exists
    if "clinic" in roots:
        for g, clinic in engine.rows(f"SELECT golden_id, home_clinic_id FROM identity.patient WHERE true{who()}", only):
            of(g)["clinic"] = {"id": clinic}
    tag_keys = sorted({p.split(".")[1] for p in paths if p.startswith("tags.") and "." in p})
    if tag_keys:
        parts = [f"SELECT golden_id, tag_key, value, value_num, {i} AS p FROM {t} WHERE list_contains(?, tag_key)"
                 f"{who()}" for i, t in enumerate(("profile.tag_value", "ops.automation_tag")) if has(t)]
        for g, key, value, num, _ in engine.rows(" UNION ALL ".join(parts) + " ORDER BY p",
                                                 [tag_keys, *only] * len(parts)) if parts else []:
            if g in patients:   # journeys' tags (p = 1) come last and win
                of(g, "tags")[key] = num if num is not None else value
    for table, column in (("profile.tier", "tier"), ("profile.lifecycle", "stage"),
                          ("profile.value_score", "value_score")):
        if column in roots and has(table):
            for g, value in engine.rows(f"SELECT golden_id, arg_max({column}, run_id) FROM {table} WHERE true{who()} "
                                        "GROUP BY 1", only):
                if g in patients and value is not None:
                    of(g)[column] = float(value) if column == "value_score" else value
    if "churn" in roots and has("profile.churn_risk"):
        for g, risk, band in engine.rows(f"SELECT golden_id, risk, band FROM profile.churn_risk WHERE true{who()}", only):
            if g in patients:
                of(g)["churn"] = {"risk": risk, "band": band}
    if "clv" in roots and has("profile.clv"):
        for g, value, alive in engine.rows(f"SELECT golden_id, value_24m_yuan, p_alive FROM profile.clv WHERE true{who()}",
                                           only):
            if g in patients:
                of(g)["clv"] = {"value_24m_yuan": value, "p_alive": alive}
    if "visits" in roots:
        for g, visits in _visits(engine, today, who("c.golden_id"), only):
            if g in patients:
                of(g)["visits"] = visits
    codes = sorted({p.split(".")[1] for p in paths if p.startswith("days_since_item.") and "." in p})
    if codes:
        for g, code, days in engine.rows(
                f"SELECT c.golden_id, t.item_code, ?::DATE - max(v.visit_date) FROM std.treatment t "
                f"JOIN std.visit v USING (source, visit_id) {_JOIN} "
                f"WHERE list_contains(?, t.item_code) AND v.visit_date <= ?{who('c.golden_id')} GROUP BY ALL",
                [today, codes, today, *only]):
            if g in patients:
                of(g, "days_since_item")[code] = days
    return Known(ids, facts)


_JOIN = "JOIN identity.cluster c ON c.source = v.source AND c.source_patient_key = v.source_patient_key"


def _visits(engine: Engine, today: date, who: str, only: list[Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for g, last, first, n90, n365, departments in engine.rows(
            f"""SELECT c.golden_id, max(v.visit_date), min(v.visit_date),
                       count(*) FILTER (WHERE v.visit_date > ?::DATE - 90),
                       count(*) FILTER (WHERE v.visit_date > ?::DATE - 365),
                       list(DISTINCT v.department ORDER BY v.department) FILTER (WHERE v.visit_date > ?::DATE - 365)
                FROM std.visit v {_JOIN} WHERE v.visit_date <= ?{who} GROUP BY 1""", [today] * 4 + only):
        yield g, {"last_on": last.isoformat(), "first_on": first.isoformat(), "days_since_last": (today - last).days,
                  "days_since_first": (today - first).days, "count_90d": n90, "count_365d": n365,
                  "departments_365d": departments or []}
