"""A planted name and mobile never reach profile.* or ops.* in plaintext (tag evidence,
journeys, rule decisions and their "why", replies, tasks, outbox texts, the delivered
gateway request with its address)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from molar.automation import ManualClock
from support import add_golden
from unit.automation.autolib import automation, ev, visit
from unit.automation.test_shipped_rules import T0, patient
from unit.profile.crafted import Chain, Patient, Text, Visit, ago, at, fresh_warehouse, run_profile
from unit.profile.test_tags import text_cells

NAME = "司马晓燕"
MOBILE = "+8613700246813"
SPELLINGS = (NAME, "13700246813", "137-0024-6813", "137 0024 6813")


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def test_planted_name_and_mobile_stay_out_of_profile_and_ops(warehouse):
    chain = Chain([Patient("p", visits=[Visit(ago(200), ["EXM"]), Visit(ago(20), ["CLN"])],
                           texts=[Text(at(ago(10)), "satisfied", f"我是{NAME}，电话{MOBILE}，洗牙很满意")])])
    chain.build(warehouse)
    golden = chain["p"]
    complainer = next(g for g in patient("complaint_service_recovery", 5) if g != golden)
    implant = next(g for g in patient("implant_follow_up", 5) if g not in (golden, complainer))
    warehouse.execute("DELETE FROM identity.patient WHERE golden_id = ?", [golden])
    for g in (golden, complainer, implant):
        add_golden(warehouse, golden_id=g, name=NAME, mobile=MOBILE, home_clinic_id="C01")
    run_profile(warehouse)

    clock = ManualClock(T0)
    a = automation(clock)
    said = f"{NAME} 138 说: 打 {MOBILE} 找我"
    a.on_events(warehouse, [
        ev("consult.message", complainer, T0, consult_id="K1", channel="chat", text=said, sentiment="complaint"),
        visit(implant, T0, "IMP"),
    ])
    clock.set(T0 + timedelta(days=1))
    a.tick(warehouse, clock())
    a.on_events(warehouse, [ev("followup.reply", implant, clock(), status="concern", text=said)])
    a.tick(warehouse, clock())
    a.dispatch(warehouse, clock())

    cells = text_cells(warehouse, "profile") + text_cells(warehouse, "ops")
    tables = {t for t, _, _ in cells}
    # the scan sees what the run wrote: tags, journeys, decisions, replies, tasks, outbox
    assert {"tag_value", "journey", "rule_decision", "followup_reply", "task", "outbox"} <= tables
    leaks = [(t, c, v[:80]) for t, c, v in cells if any(s in v for s in SPELLINGS)]
    assert leaks == []
