"""`molar quarantine|outbox|tasks` listings by role: who may see raw rows and message
texts, how they are masked, and the audit rows the reads leave."""

from __future__ import annotations

import json
from datetime import datetime

from typer.testing import CliRunner

from molar.cli import app
from molar.delivery.outbox import enqueue
from molar.delivery.tasks import create_task
from molar.ingest import ingest_paths
from molar.privacy import audit
from molar.privacy.accounts import add_user
from molar.warehouse import open_warehouse
from support import CLINICS_CSV, PATIENT_HEADER, TODAY

NOW = datetime(2026, 10, 31, 9, 0)
PASSWORD = "a long password"
TEXT = "【锦江口腔】王小明您好，请回电13812345678"
BAD_MOBILE = "1381234567"   # 10 digits: quarantined, a personal value
runner = CliRunner()


def as_user(db, user, *args):
    return runner.invoke(app, list(args), env={"MOLAR_WAREHOUSE": str(db), "MOLAR_USER": user,
                                              "MOLAR_PASSWORD": PASSWORD, "MOLAR_TOKEN": "", "COLUMNS": "300"})


def test_quarantine_outbox_and_tasks_by_role(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "clinics.csv").write_bytes(CLINICS_CSV.encode("gbk"))
    (src / "patients.csv").write_bytes((PATIENT_HEADER + "P2,李娜,女,1985-02-30,13912345678,,锦江区,x,2024-01-05,"
                                        "锦江口腔门诊部\r\n" + f"P3,王芳,女,1985-01-01,{BAD_MOBILE},,锦江区,x,"
                                        "2024-01-05,锦江口腔门诊部\r\n").encode("gbk"))
    db = tmp_path / "molar.duckdb"
    engine = open_warehouse(path=db)
    ingest_paths(engine, [src / "clinics.csv", src / "patients.csv"], today=TODAY)
    enqueue(engine, idempotency_key="k1", golden_id="G0000000001", channel="sms", purpose="care", text=TEXT, now=NOW)
    create_task(engine, idempotency_key="t1", kind="service_recovery", golden_id="G0000000001", due_at=NOW, now=NOW,
                role="customer_service", title_zh="请回访", title_en="Call back")
    for user, role in (("root", "admin"), ("carl", "clinic_manager"), ("mark", "marketer"), ("nina", "nurse"),
                       ("audrey", "auditor")):
        add_user(engine, user, PASSWORD, role, now=NOW, by="test")
    engine.close()

    shown = as_user(db, "carl", "quarantine", "show")
    assert shown.exit_code == 0 and "1985-02-30" in shown.output and "patients.csv" in shown.output
    assert BAD_MOBILE in shown.output   # a clinic manager fixes the data: sees personal values
    masked = as_user(db, "root", "quarantine", "show")
    assert masked.exit_code == 0 and "1985-02-30" in masked.output and "***" in masked.output
    assert BAD_MOBILE not in masked.output and "10 digits" in masked.output   # the reason gives the shape
    refused = as_user(db, "mark", "quarantine", "show")
    assert refused.exit_code == 2 and "the role marketer may not read quarantine" in refused.output
    assert "1985-02-30" not in refused.output

    # message texts: in full for the clinic manager, masked for the admin, refused to a marketer
    def outbox(user):
        r = as_user(db, user, "outbox", "list", "--json")
        assert r.exit_code == 0, r.output
        return json.loads(r.output)["messages"][0]["rendered_text"]

    assert outbox("carl") == TEXT
    assert outbox("root") == f"[{len(TEXT)} characters]"
    assert as_user(db, "mark", "outbox", "list").exit_code == 2

    tasks = as_user(db, "nina", "tasks", "list", "--json")
    assert tasks.exit_code == 0 and json.loads(tasks.output)["tasks"][0]["title_en"] == "Call back"
    assert as_user(db, "mark", "tasks", "list").exit_code == 2
    done = as_user(db, "nina", "tasks", "done", json.loads(tasks.output)["tasks"][0]["task_id"], "--json")
    assert done.exit_code == 0 and json.loads(done.output)["resolved_by"] == "nina"

    engine = open_warehouse(path=db)
    rows = audit.list_entries(engine, limit=100)
    engine.close()
    assert sorted((r["actor"], r["action"], r["purpose"]) for r in rows if r["action"] != "role.change") == [
        ("carl", "outbox.read", "molar outbox list"),
        ("carl", "quarantine.read", "molar quarantine show"),
        ("carl", "quarantine.values", "molar quarantine show"),
        ("nina", "task.read", "molar tasks list"),
        ("root", "outbox.read", "molar outbox list"),
        ("root", "quarantine.read", "molar quarantine show"),
    ]
    values = next(r for r in rows if r["action"] == "quarantine.values")
    assert values["fields"] == ["手机号"] and values["detail"] == {"rows": 1}
    by_actor = {r["actor"]: r for r in rows if r["action"] == "outbox.read"}
    assert by_actor["carl"]["fields"] == ["free_text"] and by_actor["root"]["detail"]["masked"] == ["free_text"]
