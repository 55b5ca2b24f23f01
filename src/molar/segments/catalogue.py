"""The segment catalogue: versioned YAML files shipped in ``segments/catalogue/``, and the
versions people save from the console's builder (``ops.segment_version``).

A segment file holds one segment::

    key: lapsed_implant
    version: 1
    name: {zh: 种植后久未复诊, en: Implant patients not seen for a year}
    description: {zh: …, en: …}
    condition:
      - {fact: days_since_item.IMP, op: exists, value: true}
      - {fact: visits.days_since_last, op: ">", value: 365}

The condition is the rules' condition language (``molar.automation.conditions``) over the
facts of ``molar.segments.facts``. Of several versions of one key the highest counts. Files
are checked when loaded; a mistake names the file, the line and the fix.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from molar.automation.conditions import Condition, checks_of, describe, parse_condition
from molar.automation.yamlio import CatalogueError, check_keys, fail, line_of, load_yaml
from molar.segments.facts import ROOTS, label, unknown_fact
from molar.warehouse import Engine

SEGMENTS_DIR = Path(__file__).with_name("catalogue")
log = logging.getLogger("molar.segments")
KEY = re.compile(r"[a-z][a-z0-9_]{1,39}")
_FIELDS = ("key", "version", "name", "description", "condition")


@dataclass(frozen=True)
class Segment:
    key: str
    version: int
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    condition: Condition
    definition: dict[str, Any]     # as written (name, description, condition), for saving a new version
    source: str                    # the file, or "saved by NAME at TIME"

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def description(self, lang: str) -> str:
        return self.description_zh if lang == "zh" else self.description_en

    def in_words(self, lang: str) -> str:
        return describe(self.condition, lang, lambda path: label(path, lang))


def _plain(node: Any) -> Any:
    """YAML's line-aware mappings as plain JSON-able values."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    return node


def _bilingual(where: Path | str, node: Any, field: str, line: int | None) -> tuple[str, str]:
    value = node.get(field)
    if not isinstance(value, dict) or not str(value.get("zh") or "").strip() or not str(value.get("en") or "").strip():
        raise fail(where, line_of(node, field, line), f"{field} needs both zh and en, e.g. {field}: {{zh: 高价值流失风险, "
                                                      "en: High-value patients at risk}")
    return str(value["zh"]).strip(), str(value["en"]).strip()


def parse_segment(where: Path | str, node: Any, source: str = "") -> Segment:
    """One segment from a file's (or the builder's) mapping; ``where`` names it in errors."""
    check_keys(Path(str(where)), node, set(_FIELDS), "segment", required=_FIELDS)
    line = line_of(node)
    key = str(node["key"])
    if not KEY.fullmatch(key):
        raise fail(where, line_of(node, "key", line), f"key {key!r}: write lower_snake_case, 2-40 letters, digits and _")
    version = node["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail(where, line_of(node, "version", line), f"version {version!r}: write a whole number from 1 up")
    name = _bilingual(where, node, "name", line)
    text = _bilingual(where, node, "description", line)
    condition = parse_condition(Path(str(where)), node["condition"], ROOTS, line_of(node, "condition", line))
    for check in checks_of(condition):
        problem = unknown_fact(check.fact)
        if problem:
            raise fail(where, check.line, problem)
    definition = {"name": _plain(node["name"]), "description": _plain(node["description"]),
                  "condition": _plain(node["condition"])}
    return Segment(key, version, *name, *text, condition, definition, source or str(where))


def load_files(directory: Path | None = None) -> dict[str, Segment]:
    directory = directory or SEGMENTS_DIR
    found: dict[str, Segment] = {}
    for path in sorted(directory.glob("*.yaml")):
        segment = parse_segment(path, load_yaml(path), path.name)
        if segment.key in found:
            raise fail(path, None, f"segment {segment.key!r} is already defined in {found[segment.key].source}; "
                                   "give one of them another key")
        found[segment.key] = segment
    return found


def saved(engine: Engine) -> dict[str, Segment]:
    """The latest valid version of each segment saved from the builder. A version that no
    longer checks (a tag it names was removed from the tag catalogue) is skipped with a
    warning, so one stale definition cannot stop the pages or the nightly refresh."""
    out: dict[str, Segment] = {}
    for key, version, definition, by, at in engine.rows(
            "SELECT segment_key, version, definition, saved_by, saved_at FROM ops.segment_version "
            "ORDER BY segment_key, version DESC"):
        if key in out:
            continue
        try:
            out[key] = parse_segment(f"segment {key} v{version}", {**json.loads(definition), "key": key,
                                                                    "version": version},
                                     f"saved by {by} at {at:%Y-%m-%d %H:%M}")
        except CatalogueError as exc:
            log.warning("segment %s version %s is skipped: %s", key, version, exc)
    return out


def load_catalogue(engine: Engine | None = None, directory: Path | None = None,
                   files: dict[str, Segment] | None = None) -> dict[str, Segment]:
    """Every segment (files, and with ``engine`` the saved versions), highest version of each
    key; ``files``: the files already loaded."""
    found = dict(files) if files is not None else load_files(directory)
    for key, segment in (saved(engine) if engine is not None else {}).items():
        if key not in found or segment.version > found[key].version:
            found[key] = segment
    return dict(sorted(found.items()))


def save_version(engine: Engine, catalogue: dict[str, Segment], key: str, definition: dict[str, Any],
                 by: str, at: datetime) -> Segment:
    """Store ``definition`` as the next version of ``key`` (1 for a new key) after checking it."""
    current = catalogue.get(key)
    stored = engine.scalar("SELECT max(version) FROM ops.segment_version WHERE segment_key = ?", [key]) or 0
    version = max(current.version if current else 0, stored) + 1
    segment = parse_segment("the segment builder", {**definition, "key": key, "version": version},
                            f"saved by {by} at {at:%Y-%m-%d %H:%M}")
    engine.execute("INSERT INTO ops.segment_version VALUES (?, ?, ?, ?, ?)",
                   [key, version, json.dumps(segment.definition, ensure_ascii=False), by, at])
    return segment


__all__ = ["CatalogueError", "Segment", "load_catalogue", "parse_segment", "save_version"]
