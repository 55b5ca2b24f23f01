"""Aspects of a message: what it is about (attitude, waiting, price, pain, result, hygiene,
booking), from the zh keyword lexicon in ``aspects.yaml``. Multi-label; a message may have none.

For a complaint, the clauses a contrast concedes (医生很好 in 医生很好但是前台态度差) are not
what went wrong, so ``complaint_aspects`` reads only the clauses the contrast puts weight on.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import yaml

from molar.profile.sentiment.model import normalise, weighted_clauses

ASPECTS_FILE = Path(__file__).parent / "aspects.yaml"


@cache
def lexicon() -> dict[str, dict]:
    """aspect code → {"zh", "en", "terms"}, in file order."""
    data = yaml.safe_load(ASPECTS_FILE.read_text(encoding="utf-8"))
    return {code: {**spec, "terms": tuple(normalise(t) for t in spec["terms"])} for code, spec in data.items()}


@cache
def _patterns() -> dict[str, re.Pattern[str]]:
    return {code: re.compile("|".join(map(re.escape, spec["terms"]))) for code, spec in lexicon().items()}


ASPECTS: tuple[str, ...] = tuple(lexicon())


def aspects(text: str | None) -> list[str]:
    """Every aspect whose terms occur in the text, in lexicon order."""
    norm = normalise(text)
    return [code for code, pattern in _patterns().items() if pattern.search(norm)]


def complaint_aspects(text: str | None) -> list[str]:
    """Aspects of what went wrong: of the clauses not conceded by a contrast, else of the whole text."""
    found = aspects("，".join(weighted_clauses(normalise(text))))
    return found or aspects(text)
