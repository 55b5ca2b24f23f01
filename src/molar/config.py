"""Settings: where the warehouse lives and how the product is configured.

Resolution order for every setting: explicit argument > environment (``MOLAR_*``) >
``molar.toml`` in the working directory > default.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

DEFAULT_WAREHOUSE = "molar.duckdb"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    warehouse_path: Path = field(default_factory=lambda: Path(DEFAULT_WAREHOUSE))
    # Reference "today" for validation (future dates) and scoring; None means the real date.
    as_of: date | None = None
    threads: int | None = None
    memory_limit: str | None = None

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def today(self) -> date:
        return self.as_of or date.today()


def _from_toml(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from exc
    section = data.get("molar", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [molar] must be a table")
    return section


def _parse_date(name: str, value: object) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} is not a date; write it as YYYY-MM-DD") from exc


def load_settings(config_file: Path | None = None) -> Settings:
    raw: dict[str, object] = dict(_from_toml(config_file or Path("molar.toml")))
    env_names = {
        "warehouse_path": "MOLAR_WAREHOUSE",
        "as_of": "MOLAR_AS_OF",
        "threads": "MOLAR_THREADS",
        "memory_limit": "MOLAR_MEMORY_LIMIT",
    }
    for key, env in env_names.items():
        if os.environ.get(env):
            raw[key] = os.environ[env]
    unknown = set(raw) - set(env_names)
    if unknown:
        raise ConfigError(
            f"unknown settings {sorted(unknown)}; known settings: {', '.join(env_names)}"
        )
    settings = Settings()
    if "warehouse_path" in raw:
        settings = replace(settings, warehouse_path=Path(str(raw["warehouse_path"])))
    if "as_of" in raw:
        settings = replace(settings, as_of=_parse_date("as_of", raw["as_of"]))
    if "threads" in raw:
        try:
            settings = replace(settings, threads=int(str(raw["threads"])))
        except ValueError as exc:
            raise ConfigError(f"threads={raw['threads']!r} must be a whole number") from exc
    if "memory_limit" in raw:
        settings = replace(settings, memory_limit=str(raw["memory_limit"]))
    return settings
