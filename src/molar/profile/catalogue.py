"""The tag catalogue: YAML files in ``profile/tags/`` that define every patient tag.

A clinic adds or changes a tag by editing YAML, without Python. Each tag's definition is
one SQL query over the profile's input tables (see docs/profile.md) returning
``golden_id, value`` and optionally ``evidence`` (a JSON text of the inputs used).
Errors name the file, the line and what to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TAGS_DIR = Path(__file__).with_name("tags")
DIMENSIONS = ("demographic", "health", "consumption", "channel", "social", "experience", "value")
VALUE_TYPES = ("category", "number", "boolean", "date")
REFRESH_MODES = ("batch", "event")
_TAG_KEYS = {"key", "name", "description", "type", "values", "unit", "refresh", "sql"}
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class CatalogueError(ValueError):
    """A tag file is wrong; the message says which file, which line and what to change."""


@dataclass(frozen=True)
class Tag:
    key: str
    dimension: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    value_type: str
    sql: str
    refresh: str = "batch"
    values: tuple[str, ...] | None = None
    unit: str | None = None
    defined_in: str = ""

    def render_sql(self, as_of: str) -> str:
        return self.sql.replace("{as_of}", f"DATE '{as_of}'")


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        data = super().construct_mapping(node, deep=deep)
        data["__line__"] = node.start_mark.line + 1
        return data


def _bilingual(raw: Any, where: str, field_name: str) -> tuple[str, str]:
    if not isinstance(raw, dict) or not raw.get("zh") or not raw.get("en"):
        raise CatalogueError(f"{where}: '{field_name}' needs both zh and en, e.g. {field_name}: {{zh: 年龄段, en: Age band}}")
    return str(raw["zh"]), str(raw["en"])


def _parse_tag(raw: Any, dimension: str, path: Path, index: int) -> Tag:
    if not isinstance(raw, dict):
        raise CatalogueError(
            f"{path.name}: tag #{index + 1} ({raw!r}) is not a mapping; each tag needs key:, name:, "
            "description:, type: and sql: fields"
        )
    line = raw.get("__line__", 0)
    where = f"{path.name}:{line}"
    unknown = set(raw) - _TAG_KEYS - {"__line__"}
    if unknown:
        raise CatalogueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; a tag may have {', '.join(sorted(_TAG_KEYS))}")
    key = raw.get("key")
    if not isinstance(key, str) or not _KEY_RE.match(key):
        raise CatalogueError(f"{where}: tag key {key!r} must be lower_snake_case letters, digits and _")
    where = f"{path.name}:{line} (tag {key})"
    name_zh, name_en = _bilingual(raw.get("name"), where, "name")
    desc_zh, desc_en = _bilingual(raw.get("description"), where, "description")
    value_type = raw.get("type")
    if value_type not in VALUE_TYPES:
        raise CatalogueError(f"{where}: type {value_type!r} is not one of {', '.join(VALUE_TYPES)}")
    refresh = raw.get("refresh", "batch")
    if refresh not in REFRESH_MODES:
        raise CatalogueError(f"{where}: refresh {refresh!r} is not one of {', '.join(REFRESH_MODES)}")
    sql = raw.get("sql")
    if not isinstance(sql, str) or "golden_id" not in sql or "value" not in sql:
        raise CatalogueError(f"{where}: 'sql' must be a query returning columns golden_id and value")
    values = raw.get("values")
    if values is not None:
        if value_type != "category" or not isinstance(values, list):
            raise CatalogueError(f"{where}: 'values' lists the allowed categories of a category tag")
        odd = [v for v in values if not isinstance(v, str | int | float) or isinstance(v, bool)]
        if odd:
            raise CatalogueError(
                f"{where}: values {odd!r} are not plain text (YAML reads yes/no/on/off/true/false as "
                "booleans); quote them, e.g. values: ['yes', 'no']"
            )
        values = tuple(str(v) for v in values)
    return Tag(
        key=key, dimension=dimension, name_zh=name_zh, name_en=name_en, description_zh=desc_zh,
        description_en=desc_en, value_type=value_type, sql=sql, refresh=refresh, values=values,
        unit=raw.get("unit"), defined_in=f"{path.name}:{line}",
    )


def load_file(path: Path) -> list[Tag]:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path.name}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or "tags" not in doc:
        raise CatalogueError(f"{path.name}: expected 'dimension:' and a 'tags:' list")
    dimension = doc.get("dimension")
    if dimension not in DIMENSIONS:
        raise CatalogueError(f"{path.name}:{doc.get('__line__', 1)}: dimension {dimension!r} is not one of {', '.join(DIMENSIONS)}")
    if not isinstance(doc["tags"], list):
        raise CatalogueError(f"{path.name}: 'tags' must be a list of tags")
    return [_parse_tag(raw, dimension, path, i) for i, raw in enumerate(doc["tags"])]


def load_catalogue(directory: Path | None = None, extra: list[Path] | None = None) -> list[Tag]:
    """Every tag in ``directory`` (default: the shipped catalogue) plus ``extra`` files."""
    directory = directory or TAGS_DIR
    paths = sorted(directory.glob("*.yaml")) + list(extra or [])
    if not paths:
        raise CatalogueError(f"no tag files (*.yaml) in {directory}")
    tags: list[Tag] = []
    seen: dict[str, str] = {}
    for path in paths:
        for tag in load_file(path):
            if tag.key in seen:
                raise CatalogueError(f"{tag.defined_in}: tag key {tag.key!r} is already defined at {seen[tag.key]}")
            seen[tag.key] = tag.defined_in
            tags.append(tag)
    return tags
