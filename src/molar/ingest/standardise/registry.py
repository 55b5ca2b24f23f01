"""Registry of standardisers by name."""

from __future__ import annotations

from typing import Any

from molar.ingest.standardise.base import Standardiser
from molar.ingest.standardise.coded import CodeStandardiser, SexStandardiser, TextStandardiser
from molar.ingest.standardise.dates import DateStandardiser, TimestampStandardiser
from molar.ingest.standardise.epoch import EpochStandardiser
from molar.ingest.standardise.idcard import IdNumberStandardiser
from molar.ingest.standardise.mobile import MobileStandardiser
from molar.ingest.standardise.names import NameStandardiser
from molar.ingest.standardise.numbers import (
    AmountStandardiser,
    DecimalStandardiser,
    IntegerStandardiser,
)

STANDARDISERS: dict[str, type[Standardiser]] = {
    cls.name: cls
    for cls in (
        DateStandardiser,
        TimestampStandardiser,
        EpochStandardiser,
        MobileStandardiser,
        IdNumberStandardiser,
        NameStandardiser,
        SexStandardiser,
        AmountStandardiser,
        IntegerStandardiser,
        DecimalStandardiser,
        TextStandardiser,
        CodeStandardiser,
    )
}


def get_standardiser(name: str, **options: Any) -> Standardiser:
    """A standardiser by registry name, configured with keyword ``options``.

    >>> get_standardiser("date", not_after=date(2026, 1, 1)).value_sql("raw.col")
    """
    try:
        cls = STANDARDISERS[name]
    except KeyError:
        raise KeyError(f"no standardiser {name!r}; known: {', '.join(STANDARDISERS)}") from None
    import dataclasses

    known = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"standardiser {name!r} has no option {', '.join(unknown)}; its options: {', '.join(known)}")
    try:
        return cls(**options)
    except TypeError as exc:
        raise TypeError(f"standardiser {name!r}: {exc}") from None
