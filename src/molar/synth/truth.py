"""Finding a synthetic chain's ground-truth files for the evaluators."""

from __future__ import annotations

from pathlib import Path


def truth_file(truth_dir: str | Path, name: str) -> Path:
    """``name`` in the truth folder, or in its ``truth/`` subfolder (a chain's root folder)."""
    base = Path(truth_dir)
    for candidate in (base / name, base / "truth" / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no {name} under {truth_dir} (expected the synth truth/ folder)")
