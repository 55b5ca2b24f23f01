"""Identity resolution: one patient, one stable golden ID.

Public entry points (see docs/identity.md):

- ``resolve(engine)`` — link ``std.patient`` records into golden IDs (``identity.cluster``),
  keep IDs stable across runs, record merge/split events, build ``identity.patient``;
- ``explain(engine, golden_id)`` — members and per-comparison match weights, as data;
- ``add_override(engine, "merge"|"split", refs)`` — manual corrections that survive reruns;
- ``link_file(in_csv, out_csv)`` — the same linker on a standalone CSV;
- ``evaluate(engine, truth_dir)`` — pairwise and B-cubed scores against synthetic truth.

Heavy imports (Splink) happen inside the functions, not at package import.
"""

from __future__ import annotations

from typing import Any


def resolve(engine, **kwargs: Any) -> dict[str, Any]:
    from molar.identity.resolve import resolve as _resolve

    return _resolve(engine, **kwargs)


def explain(engine, golden_id: str) -> dict[str, Any]:
    from molar.identity.explain import explain as _explain

    return _explain(engine, golden_id)


def add_override(engine, kind: str, refs, **kwargs: Any) -> dict[str, Any]:
    from molar.identity.overrides import add_override as _add

    return _add(engine, kind, refs, **kwargs)


def link_file(in_csv, out_csv, **kwargs: Any) -> dict[str, Any]:
    from molar.identity.link_file import link_file as _link_file

    return _link_file(in_csv, out_csv, **kwargs)


def evaluate(engine, truth_dir) -> dict[str, Any]:
    from molar.identity.evaluate import evaluate as _evaluate

    return _evaluate(engine, truth_dir)


__all__ = ["add_override", "evaluate", "explain", "link_file", "resolve"]
