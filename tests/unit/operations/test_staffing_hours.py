"""Where opening hours should grow: a busy first or last hour, and nothing else."""

from __future__ import annotations

import pandas as pd

from molar.operations.staffing import StaffingConfig, extend_hours


def test_busy_edge_hours_suggest_opening_longer():
    per_hour = pd.DataFrame([
        # clinic, weekday, hour, chair use, short of doctors
        ("K1", 5, 9, 0.90, False),    # Saturday's first hour: 90 % of the chairs → open earlier
        ("K1", 5, 14, 0.95, False),   # busy, but not an edge hour → nothing
        ("K1", 5, 20, 0.10, False),   # quiet last hour → nothing
        ("K1", 1, 9, 0.20, False),
        ("K1", 1, 20, 0.30, True),    # Tuesday's last hour lacks a doctor → open later
        ("K2", 5, 9, 0.79, False),    # just under 80 % → nothing
    ], columns=["clinic_id", "weekday", "hour", "chair_use", "doctors_short"])
    hours = pd.DataFrame([("K1", 5, 9, 20), ("K1", 1, 9, 20), ("K2", 5, 9, 18)],
                         columns=["clinic_id", "weekday", "opens", "last_hour"])
    got = {(e["clinic_id"], e["weekday"], e["edge_hour"], e["suggest"])
           for e in extend_hours(per_hour, hours, StaffingConfig())}
    assert got == {("K1", 5, 9, "open an hour earlier"), ("K1", 1, 20, "open an hour later")}
