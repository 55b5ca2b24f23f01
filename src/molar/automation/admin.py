"""Rules administration used by the CLI and the API: list, enable/disable, decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from molar.automation.catalogue import Catalogue
from molar.warehouse import Engine


def list_rules(engine: Engine, catalogue: Catalogue) -> list[dict[str, Any]]:
    """Every rule with its effective enabled state (YAML default or persisted override)."""
    overrides = {k: (bool(e), at, by) for k, e, at, by in
                 engine.rows("SELECT rule_key, enabled, updated_at, updated_by FROM ops.rule_state")}
    counts = dict(engine.rows("SELECT rule_key, count(*) FROM ops.journey WHERE status IN ('running', 'waiting') "
                              "GROUP BY 1"))
    out = []
    for key in sorted(catalogue.rules):
        rule = catalogue.rules[key]
        override = overrides.get(key)
        out.append({
            "key": key,
            "name_en": rule.name_en,
            "name_zh": rule.name_zh,
            "description": rule.description,
            "purpose": rule.purpose,
            "enabled": override[0] if override else rule.enabled,
            "enabled_in_file": rule.enabled,
            "override": {"enabled": override[0], "updated_at": override[1], "updated_by": override[2]}
            if override else None,
            "version": rule.version,
            "trigger": rule.trigger.kind,
            "trigger_en": rule.trigger.describe("en"),
            "trigger_zh": rule.trigger.describe("zh"),
            "holdout_percent": rule.holdout_percent,
            "steps": len(rule.steps),
            "active_journeys": int(counts.get(key, 0)),
            "file": rule.path.name,
        })
    return out


def set_rule_enabled(engine: Engine, catalogue: Catalogue, key: str, enabled: bool, *, now: datetime,
                     by: str | None = None) -> dict[str, Any]:
    """Persist an enable/disable override (ops.rule_state). Raises KeyError for unknown rules."""
    catalogue.get(key)
    engine.execute(
        "INSERT INTO ops.rule_state VALUES (?, ?, ?, ?) ON CONFLICT (rule_key) DO UPDATE SET "
        "enabled = excluded.enabled, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        [key, enabled, now, by],
    )
    return next(r for r in list_rules(engine, catalogue) if r["key"] == key)
