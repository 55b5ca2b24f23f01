"""`molar sentiment classify|train|score` as a user (or an outside evaluator) runs them.

The interface an outside evaluator depends on runs in real processes; the other error paths
run in-process through Typer's runner (same code, without paying the start-up time again).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from molar.profile.sentiment import default_model
from molar.profile.sentiment.cli import register
from molar.warehouse import open_warehouse
from support import seal_free_text


def molar(*args, stdin: bytes | None = None, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "-m", "molar", *args], input=stdin, capture_output=True, timeout=300,
        env={**os.environ, **(env or {})},
    )


def in_process(*args: str, stdin: str | None = None, env: dict | None = None):
    app = typer.Typer()

    @app.callback()
    def _main() -> None:  # a group, so `sentiment` is a subcommand
        pass

    register(app)
    return CliRunner().invoke(app, list(args), input=stdin, env=env)


def flat(text: str) -> str:
    """Text with Rich's line wrapping undone."""
    return " ".join(text.split())


def labels_of(out) -> list[str]:
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode("ascii")
    assert text == "" or text.endswith("\n")
    return text.split("\n")[:-1] if text else []


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MOLAR_SENTIMENT_MODEL", raising=False)
        model = default_model()
    return model.save(tmp_path_factory.mktemp("model") / "sentiment.skops")


LINES = ["一点都不满意", "", "医生很耐心，一点都不疼", "   ", "我想预约下周三上午", "种植牙会不会排异？有点担心"]


def test_classify_one_label_per_line_with_bom_crlf_blank_lines_and_no_final_newline(tmp_path, model_file):
    path = tmp_path / "in.txt"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(LINES).encode("utf-8"))  # BOM, CRLF, no final newline
    out = molar("sentiment", "classify", str(path), "--model", str(model_file))
    labels = labels_of(out)
    assert labels == ["complaint", "neutral", "satisfied", "neutral", "neutral", "doubt"]


def test_classify_reads_stdin_and_uses_the_model_in_the_environment(model_file):
    # A final newline does not make an extra line; blank lines keep their place.
    text = "\n".join(LINES) + "\n"
    out = molar("sentiment", "classify", "-", stdin=text.encode(), env={"MOLAR_SENTIMENT_MODEL": str(model_file)})
    assert labels_of(out) == ["complaint", "neutral", "satisfied", "neutral", "neutral", "doubt"]


def test_classify_non_utf8_file_is_exit_2_with_a_message(tmp_path, model_file):
    path = tmp_path / "gbk.txt"
    path.write_bytes("好的\n很满意\n".encode("gbk"))
    out = molar("sentiment", "classify", str(path), "-m", str(model_file))
    assert out.returncode == 2 and out.stdout == b""
    assert "not UTF-8" in flat(out.stderr.decode())


def test_train_on_the_clinics_own_labels_then_classify(tmp_path):
    rows = {
        "satisfied": ["超级满意", "非常满意这次服务", "满意满意", "很满意医生", "整体满意"],
        "complaint": ["差评差评", "非常差劲", "差到极点", "服务很差", "太差了吧"],
        "neutral": ["周一到", "周二到", "周三到", "周四到", "周五到"],
    }
    labelled = tmp_path / "ours.csv"
    labelled.write_text("label,text\n" + "".join(f"{y},{t}\n" for y, ts in rows.items() for t in ts),
                        encoding="utf-8")
    model = tmp_path / "ours.skops"
    out = molar("sentiment", "train", "--labels", str(labelled), "--model", str(model), "--folds", "5", "--json")
    assert out.returncode == 0, out.stderr.decode()
    result = json.loads(out.stdout)
    assert result["examples"] == 15 and result["model"] == str(model)
    assert result["per_label"] == {"satisfied": 5, "complaint": 5, "neutral": 5}
    assert set(result["cross_validation"]["per_class"]) == {"satisfied", "complaint", "neutral"}
    assert model.is_file()

    messages = tmp_path / "msgs.txt"
    messages.write_text("很满意\n差\n\n周六到\n", encoding="utf-8")
    assert labels_of(molar("sentiment", "classify", str(messages), "--model", str(model))) == [
        "satisfied", "complaint", "neutral", "neutral"]


# --------------------------------------------------------------------------- in-process


def test_classify_edge_cases_in_process(tmp_path, model_file):
    path = tmp_path / "blank.txt"
    path.write_bytes(b"\n\n\n")
    result = in_process("sentiment", "classify", str(path), "-m", str(model_file))
    assert result.exit_code == 0 and result.stdout == "neutral\n" * 3
    path.write_bytes(b"")
    result = in_process("sentiment", "classify", str(path), "-m", str(model_file))
    assert result.exit_code == 0 and result.stdout == ""
    path.write_bytes("太差了\r\n\r\n".encode())
    result = in_process("sentiment", "classify", str(path), "-m", str(model_file))
    assert result.exit_code == 0 and result.stdout == "complaint\nneutral\n"

    result = in_process("sentiment", "classify", str(tmp_path / "missing.txt"), "-m", str(model_file))
    assert result.exit_code == 2 and result.stdout == "" and "file not found" in flat(result.stderr)
    result = in_process("sentiment", "classify", str(tmp_path), "-m", str(model_file))
    assert result.exit_code == 2 and "is a folder" in flat(result.stderr)
    (tmp_path / "ok.txt").write_text("好的\n", encoding="utf-8")
    result = in_process("sentiment", "classify", str(tmp_path / "ok.txt"), "-m", str(tmp_path / "none.skops"))
    assert result.exit_code == 2 and result.stdout == "" and "not found" in flat(result.stderr)
    (tmp_path / "junk.skops").write_bytes(b"junk")
    result = in_process("sentiment", "classify", str(tmp_path / "ok.txt"), "-m", str(tmp_path / "junk.skops"))
    assert result.exit_code == 2 and "not a Molar sentiment model" in flat(result.stderr)
    # a pickle (what older versions wrote, or anyone can craft) is refused, never unpickled
    import joblib

    joblib.dump({"format": "molar-sentiment"}, tmp_path / "old.joblib")
    result = in_process("sentiment", "classify", str(tmp_path / "ok.txt"), "-m", str(tmp_path / "old.joblib"))
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert "Molar reads only models it saved" in flat(result.stderr)


def test_train_errors_in_process(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\n很好,great\n", encoding="utf-8")
    result = in_process("sentiment", "train", "--labels", str(bad), "--model", str(tmp_path / "x.joblib"))
    assert result.exit_code == 2
    assert "line 2: unknown label 'great'; allowed labels: satisfied, doubt, complaint, neutral" in flat(result.stderr)
    result = in_process("sentiment", "train", "--add-to-corpus")
    assert result.exit_code == 2 and "--add-to-corpus needs --labels" in flat(result.stderr)
    one = tmp_path / "one.jsonl"
    one.write_text('{"text": "很好", "label": "satisfied"}\n', encoding="utf-8")
    result = in_process("sentiment", "train", "--labels", str(one), "--model", str(tmp_path / "x.joblib"))
    assert result.exit_code == 2 and "at least two" in flat(result.stderr)
    assert not (tmp_path / "x.joblib").exists()


def test_score_and_evaluate_in_process(tmp_path, model_file):
    db = tmp_path / "w.duckdb"
    engine = open_warehouse(path=db)
    engine.execute(
        """INSERT INTO std.consult (consult_id, source, source_patient_key, channel, occurred_at, text) VALUES
           ('K1', 'crm', 'P1', 'chat', TIMESTAMP '2026-03-01 10:00', '一点都不满意'),
           ('K2', 'crm', 'P2', 'chat', TIMESTAMP '2026-03-01 11:00', '')""")
    seal_free_text(engine)
    # K1 also arrived as a live event (like the demo's replayed day): the real-time stage scored it too
    engine.execute("INSERT INTO profile.text_sentiment (text_id, kind, source, source_patient_key, occurred_at, "
                   "label, confidence, model_version) VALUES "
                   "('K1', 'consult', 'live', 'G1', TIMESTAMP '2026-03-01 10:00', 'satisfied', 0.6, 'live')")
    engine.execute(f"COPY (SELECT * FROM (VALUES ('K1', 'complaint'), ('K2', 'neutral')) t(consult_id, sentiment)) "
                   f"TO '{tmp_path / 'consult_labels.parquet'}' (FORMAT parquet)")
    engine.close()
    result = in_process("sentiment", "score", "-w", str(db), "-m", str(model_file), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["texts"] == 2 and summary["by_kind"]["consult"]["complaint"] == 1
    result = in_process("sentiment", "evaluate", str(tmp_path), "-w", str(db), "--json")
    assert result.exit_code == 0, result.output
    evaluated = json.loads(result.stdout)
    assert (evaluated["consults"], evaluated["unmatched_truth_rows"], evaluated["accuracy"]) == (2, 0, 1.0)


def test_classify_with_aspects_in_a_real_process(model_file):
    messages = "服务态度很差\n医生很好但是前台态度差\n等了两个小时，还多收了钱\n会不会很疼？\n\n"
    out = molar("sentiment", "classify", "-", "--aspects", "--model", str(model_file), stdin=messages.encode())
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().split("\n")[:-1] == [
        "complaint\tattitude", "complaint\tattitude", "complaint\twaiting,price", "doubt", "neutral"]


def test_heldout_report_in_process(model_file):
    result = in_process("sentiment", "heldout", "--model", str(model_file), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["messages"] >= 300
    assert sum(map(sum, report["confusion"]["matrix"])) == report["messages"]
    assert set(report["aspects"]["per_aspect"]) == {
        "attitude", "waiting", "price", "pain", "result", "hygiene", "booking"}
    shown = in_process("sentiment", "heldout", "--model", str(model_file))
    assert shown.exit_code == 0 and "complaints labelled satisfied" in shown.output
