"""Versioned migrations: numbered ``.sql`` or ``.py`` files in ``migrations/``, applied once each."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from molar.warehouse.engine import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    def apply(self, engine: Engine) -> None:
        if self.path.suffix == ".sql":
            for statement in _split_sql(self.path.read_text(encoding="utf-8")):
                engine.execute(statement)
            return
        spec = importlib.util.spec_from_file_location(f"molar_migration_{self.version}", self.path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.migrate(engine)


def _split_sql(text: str) -> list[str]:
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def available_migrations() -> list[Migration]:
    found = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        if path.suffix not in (".sql", ".py") or not path.name[:4].isdigit():
            continue
        found.append(Migration(int(path.name[:4]), path.stem[5:], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version number in {MIGRATIONS_DIR}")
    return found


def current_version(engine: Engine) -> int:
    engine.execute(
        "CREATE TABLE IF NOT EXISTS main.schema_version "
        "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)"
    )
    return int(engine.scalar("SELECT coalesce(max(version), 0) FROM main.schema_version"))


def migrate(engine: Engine) -> list[Migration]:
    """Bring the warehouse to the newest schema; returns the migrations applied now."""
    current_version(engine)  # creates the bookkeeping table
    done = {int(r[0]) for r in engine.rows("SELECT version FROM main.schema_version")}
    applied = []
    for migration in available_migrations():
        if migration.version in done:
            continue
        with engine.transaction():
            migration.apply(engine)
            engine.execute(
                "INSERT INTO main.schema_version (version, name) VALUES (?, ?)",
                [migration.version, migration.name],
            )
        applied.append(migration)
    return applied
