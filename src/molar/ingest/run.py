"""Ingest a set of paths: match each file to its source mapping and load it in dependency order."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

from molar.ingest.loader import LoadResult, load_file, reject
from molar.ingest.mapping import FileMap, SourceMapping, load_mappings, match_file
from molar.sources import FileRejected
from molar.warehouse import Engine

# Reference tables resolve names to IDs for everything else, and patients are looked up
# by visit lines, so they load first.
_LOAD_ORDER = {"clinic": 0, "doctor": 1, "patient": 2}

FileStarted = Callable[[Path, FileMap | None, int], Callable[[int], None] | None]


def expand(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        else:
            files.append(p)
    return files


def plan(files: list[Path], mappings: dict[str, SourceMapping], source: str | None) -> list[tuple[Path, FileMap | None]]:
    planned = [(f, match_file(f, mappings, source)) for f in files]

    def order(item: tuple[Path, FileMap | None]) -> tuple[int, str]:
        fm = item[1]
        rank = min((_LOAD_ORDER.get(t.contract.name, 3) for t in fm.tables), default=3) if fm else 4
        return rank, str(item[0])

    return sorted(planned, key=order)


def ingest_paths(
    engine: Engine,
    paths: Iterable[Path],
    *,
    today: date,
    source: str | None = None,
    mappings: dict[str, SourceMapping] | None = None,
    on_file: FileStarted | None = None,
    force: bool = False,
) -> list[LoadResult]:
    mappings = mappings if mappings is not None else load_mappings()
    if source and source not in mappings:
        raise ValueError(f"unknown source {source!r}; known sources: {', '.join(sorted(mappings))}")
    results = []
    for path, file_map in plan(expand(paths), mappings, source):
        if file_map is None:
            names = ", ".join(f"{m.source}: {'/'.join(p for f in m.files for p in f.match)}" for m in mappings.values())
            results.append(reject(engine, path, FileRejected(
                "no_mapping",
                f"{path.name} matches no source mapping; rename it or pass --source ({names})",
                f"{path.name} 没有匹配的数据源映射；请重命名文件或用 --source 指定数据源",
            )))
            continue
        progress = on_file(path, file_map, path.stat().st_size) if on_file else None
        results.append(load_file(engine, path, file_map, today=today, progress=progress, force=force))
    return results
