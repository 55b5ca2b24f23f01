"""generate(n_people, seed) -> (records, truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from foreign.identity.population import build_population
from foreign.identity.sources import COLUMNS, SOURCES, emit, record_counts


def generate(n_people: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Patient records of a dental chain's five systems and the person behind each record.

    records: record_id, source, name, sex, birth_date, mobile, id_number, district, address,
    wechat_unionid as raw strings ("" when absent); truth: record_id, source, person_id.
    The same (n_people, seed) gives the same frames.
    """
    if n_people < 1:
        raise ValueError(f"n_people must be at least 1, got {n_people}")
    rng = np.random.default_rng(seed)
    pop = build_population(n_people, rng)
    counts = record_counts(pop, rng)
    frames, people = [], []
    for source in SOURCES:
        p = rng.permutation(np.repeat(np.arange(n_people), counts[source]))
        frames.append(emit(source, p, pop, rng))
        people.append(p)
    records = pd.concat(frames, ignore_index=True)[COLUMNS]
    width = len(str(n_people))
    person = np.concatenate(people)
    truth = pd.DataFrame(
        {
            "record_id": records["record_id"],
            "source": records["source"],
            "person_id": [f"P{i:0{width}d}" for i in person.tolist()],
        }
    )
    return records, truth
