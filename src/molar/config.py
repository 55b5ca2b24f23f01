"""Settings: where the warehouse lives and how the product is configured.

Resolution order for every setting: explicit argument > environment (``MOLAR_*``) >
``molar.toml`` in the working directory > default.
"""

from __future__ import annotations

import json
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
    spark_master: str = "local[2]"           # Spark master URL for the Spark engine (docs/spark.md)
    # Real-time server (`molar serve`, see docs/realtime.md).
    # API keys by name: {"his": {"key": "...", "source": "his", "types": [...]}}; parsed and
    # checked by molar.realtime.auth. From [api_keys] in molar.toml or MOLAR_API_KEYS (JSON).
    api_keys: dict[str, dict] = field(default_factory=dict)
    api_dev_key: bool = False            # accept the demo key `molar-dev-key` (never in production)
    events_dir: Path | None = None       # event log directory; default <warehouse>.events
    max_batch_events: int = 1000         # most events in one POST /v1/events/batch
    api_rate_per_minute: int = 6000      # requests per minute per API token or user (429 above)
    cors_origins: tuple[str, ...] = ()   # browser origins allowed to call the API; none by default
    # Automation and delivery (see docs/automation.md).
    # Gateways by channel: {"sms": {"url": "https://…", "secret": "…"}}, from [channels.sms] etc.
    # in molar.toml (MOLAR_CHANNEL_<NAME>_SECRET overrides a secret); no URL = local sink.
    channels: dict[str, dict] = field(default_factory=dict)
    rules_dir: Path | None = None            # rule catalogue folder; default: the shipped rules
    automation_policy: Path | None = None    # contact policy YAML; default: the shipped policy
    # Master key for field encryption (base64 of 32 bytes; `molar privacy keygen`), see docs/privacy.md.
    master_key: str | None = field(default=None, repr=False)
    mapping_dirs: tuple[Path, ...] = ()      # source mapping folders besides the shipped ones
    # `molar serve` writes last month's report here on the 1st (docs/console.md); none = not written.
    monthly_report_dir: Path | None = None
    monthly_report_lang: str = "zh"          # zh or en
    monthly_report_format: str = "html"      # html or pdf (pdf needs molar[pdf] and chromium)
    # A proposed treatment plan not accepted this many days later becomes `plan.unaccepted` (docs/marketing.md).
    plan_unaccepted_after_days: int = 14

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
    if section is not data and "api_keys" in data and "api_keys" not in section:
        section = {**section, "api_keys": data["api_keys"]}
    if section is not data and "channels" in data and "channels" not in section:
        section = {**section, "channels": data["channels"]}
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
        "spark_master": "MOLAR_SPARK_MASTER",
        "api_keys": "MOLAR_API_KEYS",
        "api_dev_key": "MOLAR_API_DEV_KEY",
        "events_dir": "MOLAR_EVENTS_DIR",
        "max_batch_events": "MOLAR_MAX_BATCH_EVENTS",
        "api_rate_per_minute": "MOLAR_API_RATE_PER_MINUTE",
        "cors_origins": "MOLAR_CORS_ORIGINS",
        "channels": "MOLAR_CHANNELS",
        "rules_dir": "MOLAR_RULES_DIR",
        "automation_policy": "MOLAR_AUTOMATION_POLICY",
        "master_key": "MOLAR_MASTER_KEY",
        "mapping_dirs": "MOLAR_MAPPING_DIRS",
        "monthly_report_dir": "MOLAR_MONTHLY_REPORT_DIR",
        "monthly_report_lang": "MOLAR_MONTHLY_REPORT_LANG",
        "monthly_report_format": "MOLAR_MONTHLY_REPORT_FORMAT",
        "plan_unaccepted_after_days": "MOLAR_PLAN_UNACCEPTED_AFTER_DAYS",
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
        settings = replace(settings, threads=_whole_number("threads", raw["threads"]))
    if "memory_limit" in raw:
        settings = replace(settings, memory_limit=str(raw["memory_limit"]))
    if "spark_master" in raw:
        settings = replace(settings, spark_master=str(raw["spark_master"]))
    if "api_keys" in raw:
        keys = _json_table("MOLAR_API_KEYS", raw["api_keys"],
                           "api_keys must be a table: name = {key = \"...\", source = \"his\"}")
        settings = replace(settings, api_keys=keys)
    if "api_dev_key" in raw:
        value = str(raw["api_dev_key"]).strip().lower()
        if value not in ("1", "0", "true", "false", "yes", "no"):
            raise ConfigError(f"api_dev_key={raw['api_dev_key']!r} must be true or false")
        settings = replace(settings, api_dev_key=value in ("1", "true", "yes"))
    if "events_dir" in raw:
        settings = replace(settings, events_dir=Path(str(raw["events_dir"])))
    if "max_batch_events" in raw:
        settings = replace(settings, max_batch_events=_whole_number("max_batch_events", raw["max_batch_events"]))
    if "api_rate_per_minute" in raw:
        settings = replace(settings, api_rate_per_minute=_whole_number("api_rate_per_minute", raw["api_rate_per_minute"]))
    if "cors_origins" in raw:
        origins = raw["cors_origins"]
        origins = origins.split(",") if isinstance(origins, str) else origins
        if not isinstance(origins, list):
            raise ConfigError("cors_origins must be a list of origins like [\"https://crm.example.cn\"]")
        settings = replace(settings, cors_origins=tuple(str(o).strip() for o in origins if str(o).strip()))
    if "channels" in raw:
        settings = replace(settings, channels=_channels(raw["channels"]))
    if "rules_dir" in raw:
        settings = replace(settings, rules_dir=Path(str(raw["rules_dir"])))
    if "automation_policy" in raw:
        settings = replace(settings, automation_policy=Path(str(raw["automation_policy"])))
    if "master_key" in raw:
        settings = replace(settings, master_key=str(raw["master_key"]))
    if "mapping_dirs" in raw:
        value = raw["mapping_dirs"]
        folders = value.split(os.pathsep) if isinstance(value, str) else value
        if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
            raise ConfigError('mapping_dirs must be a list of folders, e.g. mapping_dirs = ["mappings"]')
        settings = replace(settings, mapping_dirs=tuple(Path(f) for f in folders if f))
    if "monthly_report_dir" in raw:
        settings = replace(settings, monthly_report_dir=Path(str(raw["monthly_report_dir"])))
    for key, allowed in (("monthly_report_lang", ("zh", "en")), ("monthly_report_format", ("html", "pdf"))):
        if key in raw:
            value = str(raw[key]).strip().lower()
            if value not in allowed:
                raise ConfigError(f"{key}={raw[key]!r}: write {' or '.join(allowed)}")
            settings = replace(settings, **{key: value})
    if "plan_unaccepted_after_days" in raw:
        days = _whole_number("plan_unaccepted_after_days", raw["plan_unaccepted_after_days"])
        if days < 1:
            raise ConfigError(f"plan_unaccepted_after_days={days} must be at least 1 (days after the plan was proposed)")
        settings = replace(settings, plan_unaccepted_after_days=days)
    return settings


def _whole_number(name: str, value: object) -> int:
    try:
        return int(str(value))
    except ValueError as exc:
        raise ConfigError(f"{name}={value!r} must be a whole number") from exc


def _json_table(env_name: str, value: object, shape: str) -> dict:
    """A TOML table, or the JSON text of one from the environment variable ``env_name``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{env_name} is not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise ConfigError(shape)
    return value


def _channels(value: object) -> dict[str, dict]:
    """[channels.sms] url = "…" secret = "…" (also wechat, app); MOLAR_CHANNELS as JSON."""
    value = _json_table("MOLAR_CHANNELS", value,
                        'channels must be tables: [channels.sms] url = "https://…" secret = "…"')
    out: dict[str, dict] = {}
    for name, spec in value.items():
        if name not in ("sms", "wechat", "app"):
            raise ConfigError(f"[channels.{name}]: unknown channel; channels are sms, wechat, app")
        if not isinstance(spec, dict) or set(spec) - {"url", "secret"}:
            raise ConfigError(f'[channels.{name}] takes url = "https://…" and secret = "…"')
        spec = dict(spec)
        secret = os.environ.get(f"MOLAR_CHANNEL_{name.upper()}_SECRET")
        if secret:
            spec["secret"] = secret
        if spec.get("url") and not spec.get("secret"):
            raise ConfigError(f"[channels.{name}] has a url but no secret; requests to the gateway are signed with it")
        out[name] = spec
    return out
