"""A 202 is sent only after the event's record is synced to disk (fdatasync).

A kill -9 test cannot see a missing sync (the page cache survives the process), so this
test watches the order instead: every sync of the event log notes which events its file
holds by then, and each 202 must name only events an earlier sync covered.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "realtime"))

from rtsupport import API_KEYS, HIS_KEY, ThreadServer, event, seed_identity  # noqa: E402

from molar.config import Settings  # noqa: E402
from molar.realtime.app import create_app  # noqa: E402
from molar.warehouse import open_warehouse  # noqa: E402

pytestmark = pytest.mark.timeout(120)


def test_no_event_is_acknowledged_before_its_record_is_synced(tmp_path, monkeypatch):
    db = tmp_path / "molar.duckdb"
    engine = open_warehouse(path=db)
    seed_identity(engine)
    engine.close()
    ids = [f"durable-{i:03d}" for i in range(40)]
    synced: set[str] = set()
    lock = threading.Lock()
    real_fdatasync = os.fdatasync

    def recording_fdatasync(fd: int) -> None:
        time.sleep(0.02)  # a slow disk: an acknowledgement sent before the sync would overtake it
        real_fdatasync(fd)
        on_disk = Path(os.readlink(f"/proc/self/fd/{fd}")).read_bytes()
        with lock:
            synced.update(i for i in ids if i.encode() in on_disk)

    monkeypatch.setattr(os, "fdatasync", recording_fdatasync)
    app = create_app(Settings(warehouse_path=db, api_keys=API_KEYS))
    early: list[str] = []

    def post(event_id: str) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.post("/v1/events", headers={"X-API-Key": HIS_KEY}, json=event(event_id=event_id))
        if r.status_code == 202:
            with lock:
                if event_id not in synced:
                    early.append(event_id)
        return r.status_code

    with ThreadServer(app) as server, ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(post, ids))  # concurrent posts share group commits
    assert statuses == [202] * len(ids)
    assert early == []
    assert synced == set(ids)
