"""Take loads back out of the warehouse: their rows in raw, std and the quarantine.

Rows a load replaced by key in std (an earlier export of the same records) are not
brought back: reload that earlier file if it is still wanted. Identity and profiles
computed from an unloaded file are stale until their next run.
"""

from __future__ import annotations

from molar.model import CONTRACTS
from molar.warehouse import Engine


def find_loads(engine: Engine, *, file: str | None = None, source: str | None = None, load_id: str | None = None) -> list[str]:
    """Complete loads matching every given filter (file: path or name; source: system name)."""
    if not (file or source or load_id):
        raise ValueError("say what to unload: --file, --source or --load-id")
    return [r for (r,) in engine.rows(
        "SELECT load_id FROM ops.load WHERE status = 'complete' "
        "AND (? IS NULL OR file_path = ? OR regexp_extract(file_path, '[^/]+$') = ?) "
        "AND (? IS NULL OR source = ?) AND (? IS NULL OR load_id = ?) ORDER BY started_at",
        [file, file, file, source, source, load_id, load_id],
    )]


def unload(engine: Engine, load_ids: list[str], status: str = "unloaded") -> dict[str, int]:
    """Delete the loads' rows (call inside a transaction to combine with other work);
    returns rows removed per table. The loads stay in ops.load with ``status``."""
    removed: dict[str, int] = {}
    for load_id in load_ids:
        source, entry = engine.rows("SELECT source, entry FROM ops.load WHERE load_id = ?", [load_id])[0]
        for name in CONTRACTS:
            n = engine.scalar(f"SELECT count(*) FROM std.{name} WHERE _load_id = ?", [load_id])
            if n:
                engine.execute(f"DELETE FROM std.{name} WHERE _load_id = ?", [load_id])
                removed[f"std.{name}"] = removed.get(f"std.{name}", 0) + n
        raw = f"raw.{source}__{entry}"
        if engine.table_exists(raw):
            n = engine.scalar(f"SELECT count(*) FROM {raw} WHERE _load_id = ?", [load_id])
            engine.execute(f"DELETE FROM {raw} WHERE _load_id = ?", [load_id])
            removed[raw] = removed.get(raw, 0) + n
        n = engine.scalar("SELECT count(*) FROM quarantine.issue WHERE load_id = ?", [load_id])
        engine.execute("DELETE FROM quarantine.issue WHERE load_id = ?", [load_id])
        removed["quarantine.issue"] = removed.get("quarantine.issue", 0) + n
        engine.execute("UPDATE ops.load SET status = ? WHERE load_id = ?", [status, load_id])
    return removed
