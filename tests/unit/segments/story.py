"""A hand-built chain for segment tests: each patient's story and the members of every
shipped segment worked out by hand from it (``EXPECTED``).

Import as ``from unit.segments.story import …`` (tests/ is on the path)."""

from __future__ import annotations

from datetime import datetime

from unit.profile.crafted import AS_OF, Chain, Patient, Visit, ago

NOW = datetime(2026, 10, 31, 22, 0)


def story() -> Chain:
    return Chain([
        Patient("A", visits=[Visit(ago(400), ["CLN"]), Visit(ago(300), ["CLN"])]),      # strategic, risk 0.8
        Patient("B", visits=[Visit(ago(100), ["CLN"])]),                                  # growth, risk 0.69
        Patient("C", visits=[Visit(ago(500), ["IMP"]), Visit(ago(400), ["CHK"])]),        # maintain, risk 0.9
        Patient("D", home_clinic="C02", visits=[Visit(ago(200), ["IMP"]), Visit(ago(241), ["CLN"])]),
        Patient("E", visits=[Visit(ago(240), ["CLN"])]),                                  # exactly 240 days
        Patient("F", visits=[Visit(ago(30), ["CHK"])]),                                   # first visit 30 days ago
        Patient("G", visits=[Visit(ago(31), ["CHK"]), Visit(ago(5), ["FILL"])]),          # first one 31 days ago
        Patient("H"),                                                                     # teen, ortho in progress
        Patient("I"),                                                                     # teen, no treatment
        Patient("J"),                                                                     # nothing known
        Patient("K", visits=[Visit(ago(-3), ["CHK"])]),                                   # a visit after today only
        Patient("L"),                                                                     # teen; a journey set ortho
    ])


def _tag(engine, golden_id: str, key: str, value: str, num: float | None = None) -> None:
    engine.execute("INSERT INTO profile.tag_value VALUES (?, ?, ?, ?, NULL, ?, 'R1')", [golden_id, key, value, num, NOW])


def build(engine) -> Chain:
    c = story().build(engine)
    for key, tier, risk in (("A", "strategic", 0.8), ("B", "growth", 0.69), ("C", "maintain", 0.9)):
        engine.execute("INSERT INTO profile.tier VALUES (?, ?, 0, 0.1, 'R1')", [c[key], tier])
        engine.execute("INSERT INTO profile.churn_risk VALUES (?, ?, ?, 180, '[]', ?, 'M1')",
                       [c[key], risk, "high" if risk >= 0.7 else "medium", AS_OF])
    for key, plan in (("H", "ortho_in_progress"), ("I", "none"), ("L", "none")):
        _tag(engine, c[key], "age_band", "13-17")
        _tag(engine, c[key], "active_treatment_plan", plan)
    engine.execute("INSERT INTO ops.automation_tag VALUES (?, 'active_treatment_plan', 'ortho_in_progress', NULL, ?, "
                   "'test')", [c["L"], NOW])
    return c


EXPECTED = {
    "high_value_churn_risk": {"A"},            # B's 0.69 is under 0.7; C is not strategic or growth
    "lapsed_cleaning": {"A", "D"},             # 300 and 241 days > 240; E's 240 is not; B's 100 is not
    "lapsed_implant": {"C"},                   # last visit 400 days ago; D was seen 200 days ago
    "new_patients_30d": {"F"},                 # 30 days; G's first visit is 31 days ago; K's is after today
    "teens_in_orthodontics": {"H", "L"},       # L's plan is set by a journey on top of the profile's
}
