"""`molar serve` for a newcomer: no silent empty warehouse, and a warning that names what to do."""

from __future__ import annotations

import subprocess
import sys
import time

from molar.warehouse import open_warehouse
from unit.realtime.rtsupport import free_port


def serve(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "molar", "serve", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_a_missing_warehouse_is_refused_and_not_created(tmp_path):
    out = serve("-w", str(tmp_path / "molar.duckdb"), "--port", str(free_port()))
    assert out.returncode == 2
    text = " ".join(out.stderr.split())
    assert "there is no warehouse at" in text and "molar serve --create" in text and "Traceback" not in text
    assert not (tmp_path / "molar.duckdb").exists()


def test_an_empty_warehouse_is_refused(tmp_path):
    open_warehouse(path=tmp_path / "molar.duckdb").close()       # `molar init`
    out = serve("-w", str(tmp_path / "molar.duckdb"), "--port", str(free_port()))
    assert out.returncode == 2
    assert "holds no patients" in " ".join(out.stderr.split())


def test_create_starts_and_the_no_credentials_warning_is_whole(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "molar", "serve", "--create", "-w", str(tmp_path / "m.duckdb"),
                             "--port", str(free_port())], stderr=subprocess.PIPE, text=True)
    try:
        lines, deadline = [], time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if line.startswith("molar serve:") or not line:
                break
        text = " ".join("".join(lines).split())
    finally:
        proc.terminate()
        proc.wait(60)
    assert "no staff users or API tokens exist yet" in text
    assert "[api_keys] in molar.toml" in text and "molar users add NAME --role admin" in text
