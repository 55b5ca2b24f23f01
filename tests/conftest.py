"""Shared fixtures: a real DuckDB warehouse per test and a writer for source files.

Hypothesis profiles: ``ci`` (chosen when ``CI=true``) draws the same examples on every run
and more of them; ``dev`` draws new ones each run, fewer. Tests that are costly per
example ask for their own count with ``support.examples``.
"""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from molar.ingest import ingest_paths
from molar.warehouse import open_warehouse
from support import CLINICS_CSV, DOCTORS_CSV, IN_CI, TODAY

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
settings.register_profile("ci", derandomize=True, database=None, max_examples=100, deadline=None,
                          print_blob=True, suppress_health_check=_SLOW_IS_FINE)
settings.register_profile("dev", max_examples=20, deadline=None, suppress_health_check=_SLOW_IS_FINE)
settings.load_profile("ci" if IN_CI else "dev")



TEST_MASTER_KEY = base64.b64encode(bytes(range(32))).decode()   # fixed: tests never write a key file


@pytest.fixture(autouse=True, scope="session")
def master_key() -> str:
    """Every test, and every module-scoped fixture, runs with one fixed master key (a test
    that needs none deletes the variable with its own monkeypatch)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOLAR_MASTER_KEY", TEST_MASTER_KEY)
        yield TEST_MASTER_KEY


@pytest.fixture
def today() -> date:
    return TODAY


@pytest.fixture
def warehouse(tmp_path):
    engine = open_warehouse(path=tmp_path / "molar.duckdb")
    yield engine
    engine.close()


@pytest.fixture
def write(tmp_path):
    """write(relative_name, text_or_bytes, encoding='gbk') -> Path"""

    def _write(name: str, content: str | bytes, encoding: str = "gbk") -> Path:
        path = tmp_path / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return _write


@pytest.fixture
def reference(warehouse, write):
    """A warehouse that already knows the chain's clinics and doctors (HIS reference files)."""
    results = ingest_paths(
        warehouse, [write("clinics.csv", CLINICS_CSV), write("doctors.csv", DOCTORS_CSV)], today=TODAY
    )
    assert [r.status for r in results] == ["complete", "complete"]
    return warehouse
