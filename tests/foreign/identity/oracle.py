"""True record pairs and whether they share an identifier: the ceiling of identifier-only linking."""

from __future__ import annotations

import pandas as pd


def normalise_mobile(values: pd.Series) -> pd.Series:
    """Digits of a Chinese mobile (full width, spaces, dashes and +86 removed); "" if not 11 digits."""
    digits = values.fillna("").astype(str).str.normalize("NFKC").str.replace(r"\D", "", regex=True)
    digits = digits.where(~((digits.str.len() == 13) & digits.str.startswith("86")), digits.str[2:])
    return digits.where((digits.str.len() == 11) & digits.str.startswith("1"), "")


def normalise_id_number(values: pd.Series) -> pd.Series:
    cleaned = values.fillna("").astype(str).str.normalize("NFKC").str.replace(r"\s", "", regex=True)
    return cleaned.str.upper()


def true_pairs(records: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Every pair of records of one person, with both records' columns suffixed _l and _r."""
    frame = truth[["source", "record_id", "person_id"]].merge(
        records, on=["source", "record_id"], how="left", validate="one_to_one"
    )
    frame["order"] = range(len(frame))
    pairs = frame.merge(frame, on="person_id", suffixes=("_l", "_r"))
    return pairs[pairs["order_l"] < pairs["order_r"]].reset_index(drop=True)


def shared_identifier_pairs(records: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """All true pairs (source_l, record_id_l, source_r, record_id_r, person_id) with flags
    `mobile`, `id_number`, `unionid` (both records carry the same normalised value) and
    `shared` (any of them).

    `shared.mean()` is the oracle ceiling: the pairwise recall of a linker that links exactly
    the true pairs sharing an identifier. Group by source_l/source_r for the ceiling per
    source pair (sort the two names first: pairs are unordered).
    """
    pairs = true_pairs(records, truth)
    out = pairs[["source_l", "record_id_l", "source_r", "record_id_r", "person_id"]].copy()
    for flag, column, normalise in (
        ("mobile", "mobile", normalise_mobile),
        ("id_number", "id_number", normalise_id_number),
        ("unionid", "wechat_unionid", lambda s: s.fillna("").astype(str).str.strip()),
    ):
        left, right = normalise(pairs[f"{column}_l"]), normalise(pairs[f"{column}_r"])
        out[flag] = (left != "") & (left == right)
    out["shared"] = out["mobile"] | out["id_number"] | out["unionid"]
    return out
