"""The members of a segment as one person may see them: name and mobile at the role's
field levels (``privacy/masking.py``), only the patients of a clinic-bound user's clinics.
The console's preview and export and `molar segments preview|export` share this."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import IO, Any

from molar.privacy.accounts import Principal
from molar.privacy.fields import read_golden
from molar.privacy.masking import View
from molar.warehouse import Engine

EXPORT_COLUMNS = ("golden_id", "home_clinic_id", "name", "mobile")


def visible(engine: Engine, principal: Principal, golden_ids: Sequence[str]) -> list[str]:
    """The members the principal may see: all, or those whose home clinic is one of theirs."""
    if principal.clinics is None:
        return list(golden_ids)
    return [g for (g,) in engine.rows(
        "SELECT golden_id FROM identity.patient WHERE list_contains(?, golden_id) AND list_contains(?, home_clinic_id) "
        "ORDER BY 1", [list(golden_ids), sorted(principal.clinics)])]


def people(engine: Engine, principal: Principal, golden_ids: Sequence[str]) -> tuple[list[dict[str, Any]], View]:
    """One row per golden ID (in the given order) with the home clinic, name and mobile masked
    by role; the view says which fields were shown in full (for the audit row)."""
    ids = list(golden_ids)
    found = {p["golden_id"]: p for p in read_golden(
        engine, "golden_id, home_clinic_id, name, mobile", "WHERE list_contains(?, golden_id)", [ids]).to_pylist()
    } if ids else {}
    view = View(principal)
    rows = []
    for g in ids:
        p = found.get(g, {})
        rows.append({"golden_id": g, "home_clinic_id": p.get("home_clinic_id"), "name": view("name", p.get("name")),
                     "mobile": view("mobile", p.get("mobile"))})
    return rows, view


def write_csv(out: IO[str], rows: list[dict[str, Any]]) -> int:
    """The rows as CSV (a hidden field is an empty cell); returns the rows written."""
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for r in rows:
        writer.writerow(["" if r[c] is None else r[c] for c in EXPORT_COLUMNS])
    return len(rows)
