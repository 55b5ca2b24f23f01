"""Identity resolution: one patient, one stable golden ID.

Public entry points (see docs/identity.md):

- ``resolve(engine)`` — link ``std.patient`` records into golden IDs (``identity.cluster``),
  keep IDs stable across runs, record merge/split events, build ``identity.patient``;
- ``resolve_incremental(engine)`` — link only the records new since the last run, with its model;
- ``explain(engine, golden_id)`` — members and per-comparison match weights, as data;
- ``add_override(engine, "merge"|"split", refs)`` — manual corrections that survive reruns;
- ``link_file(in_csv, out_csv)`` — the same linker on a standalone CSV;
- ``evaluate(engine, truth_dir)`` — pairwise and B-cubed scores against synthetic truth.

Splink is imported inside the functions that link, not at package import.
"""

# Imported here, not inside wrapper functions: a wrapper's lazy import of a submodule of
# the same name (``molar.identity.link_file``) would replace the wrapper on the package.
# None of these modules imports Splink at import time.
from molar.identity.evaluate import evaluate
from molar.identity.explain import explain
from molar.identity.incremental import resolve_incremental
from molar.identity.link_file import link_file
from molar.identity.overrides import add_override
from molar.identity.resolve import resolve

__all__ = ["add_override", "evaluate", "explain", "link_file", "resolve", "resolve_incremental"]
