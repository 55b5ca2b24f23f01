"""Line-aware YAML loading shared by the rule catalogue, templates and the guard policy.

Every mapping loaded here remembers the line of each key, so validation errors can say
``file:line: what is wrong — what to write instead``.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml


class CatalogueError(ValueError):
    """A rule, template or policy file is wrong; the message names file, line and the fix."""


class LinedDict(dict):
    """A YAML mapping that knows the line of each of its keys (``lines``)."""

    lines: dict[str, int]

    def line(self, key: str | None = None) -> int | None:
        lines = getattr(self, "lines", {})
        return lines.get(key) if key is not None else lines.get("__self__")


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LinedDict:
        data = LinedDict(super().construct_mapping(node, deep=deep))
        data.lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")}
        data.lines["__self__"] = node.start_mark.line + 1
        return data

    def construct_lined_map(self, node: yaml.MappingNode):  # type: ignore[no-untyped-def]
        # SafeLoader builds a plain dict and fills it later; keep the lines on the real object.
        data = LinedDict()
        yield data
        value = self.construct_mapping(node)
        data.update(value)
        data.lines = value.lines


_LineLoader.add_constructor("tag:yaml.org,2002:map", _LineLoader.construct_lined_map)


# YAML 1.1 reads `on`, `yes`, `no` as booleans; rule files use plain words, so only
# true/false are booleans here (a copy of SafeLoader's resolvers, SafeLoader is untouched).
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogueError(f"{path}: not UTF-8 text ({exc}); save the file as UTF-8") from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise fail(path, mark.line + 1 if mark else None, f"not valid YAML: {exc}") from exc


def fail(path: Path | str, line: int | None, message: str) -> CatalogueError:
    where = f"{path}:{line}" if line else str(path)
    return CatalogueError(f"{where}: {message}")


def line_of(node: Any, key: str | None = None, default: int | None = None) -> int | None:
    if isinstance(node, LinedDict):
        return node.line(key) or node.line() or default
    return default


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(path: Path, node: Any, allowed: set[str] | tuple[str, ...], what: str,
               required: tuple[str, ...] = (), line: int | None = None) -> None:
    """Unknown keys and missing required keys, each with the allowed names."""
    if not isinstance(node, dict):
        raise fail(path, line_of(node, default=line), f"{what} must be a mapping (key: value lines)")
    allowed = set(allowed)
    for key in node:
        if key not in allowed:
            raise fail(path, line_of(node, str(key), line),
                       f"{what}: unknown key {key!r}{suggest(str(key), sorted(allowed))}; "
                       f"allowed: {', '.join(sorted(allowed))}")
    missing = [k for k in required if k not in node]
    if missing:
        raise fail(path, line_of(node, default=line),
                   f"{what}: missing {', '.join(repr(m) for m in missing)}")
