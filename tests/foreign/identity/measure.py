"""Noise rates measured from generated records and their truth (not read from the generator),
and the Markdown tables of README.md that hold them."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from foreign.identity.oracle import (
    normalise_id_number,
    normalise_mobile,
    shared_identifier_pairs,
    true_pairs,
)

FIELDS = [
    "name",
    "sex",
    "birth_date",
    "mobile",
    "id_number",
    "district",
    "address",
    "wechat_unionid",
]
SOURCE_ORDER = ["his", "member", "booking", "consult", "wechat"]
# Mobile prefixes the operators have allocated (public numbering plan); anything else is not.
ALLOCATED = re.compile(r"^1(3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])")
HONORIFIC = re.compile(
    r"^([\u4e00-\u9fff]{1,2}(女士|先生|小姐|姐|哥|阿姨|姨|老师|sir|总|叔|师傅|大爷)|[小老][\u4e00-\u9fff])$"
)
CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])


def valid_id_checksum(values: pd.Series) -> pd.Series:
    """GB 11643: the 18th character is the weighted sum of the first 17 digits mod 11, mapped."""
    ids = normalise_id_number(values)
    ok = ids.str.fullmatch(r"\d{17}[\dX]")
    digits = np.array([[int(c) for c in s[:17]] for s in ids[ok]], dtype=np.int64).reshape(-1, 17)
    expected = np.array(list("10X98765432"))[(digits @ ID_WEIGHTS) % 11]
    result = pd.Series(False, index=values.index)
    result[ok] = ids[ok].str[17].to_numpy() == expected
    return result


def parse_dates(values: pd.Series) -> pd.Series:
    parts = values.fillna("").astype(str).str.extract(r"^(\d{4})\D?(\d{1,2})\D?(\d{1,2})")
    text = parts[0] + "-" + parts[1].str.zfill(2) + "-" + parts[2].str.zfill(2)
    return pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")


def name_kind(values: pd.Series) -> pd.Series:
    names = values.fillna("").astype(str).str.strip()
    return pd.Series(
        np.select(
            [
                names == "",
                names.str.match(HONORIFIC),
                names.str.replace(" ", "").str.match(CHINESE_NAME),
            ],
            ["empty", "honorific", "Chinese name"],
            "other",
        ),
        index=values.index,
    )


def _adjacent_transposition(a: pd.Series, b: pd.Series) -> pd.Series:
    def one(x: str, y: str) -> bool:
        diff = [i for i in range(11) if x[i] != y[i]]
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and x[diff[0]] == y[diff[1]]
            and x[diff[1]] == y[diff[0]]
        )

    both = (a != "") & (b != "") & (a != b)
    out = pd.Series(False, index=a.index)
    out[both] = [one(x, y) for x, y in zip(a[both], b[both], strict=True)]
    return out


def noise_rates(records: pd.DataFrame, truth: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tables of rates recomputed from records and truth: fill rates, name kinds, noise, ceiling."""
    frame = truth[["source", "record_id", "person_id"]].merge(
        records, on=["source", "record_id"], validate="one_to_one"
    )
    filled = frame[FIELDS].fillna("").astype(str).apply(lambda c: c.str.strip() != "")
    fill = filled.groupby(frame["source"]).mean().reindex(SOURCE_ORDER)
    kinds = pd.crosstab(frame["source"], name_kind(frame["name"]), normalize="index").reindex(
        SOURCE_ORDER
    )
    kinds = kinds.reindex(columns=["empty", "honorific", "Chinese name", "other"], fill_value=0.0)

    mobile = normalise_mobile(frame["mobile"])
    n_people = frame["person_id"].nunique()
    systems = frame.groupby("person_id")["source"].nunique()
    with_mobile = frame.assign(m=mobile)[mobile != ""]
    people_per_mobile = with_mobile.groupby("m")["person_id"].nunique()
    mobiles_per_person = with_mobile.groupby("person_id")["m"].nunique()
    ids = normalise_id_number(frame["id_number"])
    people_per_id = frame[ids != ""].assign(i=ids[ids != ""]).groupby("i")["person_id"].nunique()

    pairs = true_pairs(records, truth)
    pairs_m_l, pairs_m_r = normalise_mobile(pairs["mobile_l"]), normalise_mobile(pairs["mobile_r"])
    clinic = pairs["source_l"].isin(["his", "member"]) & pairs["source_r"].isin(["his", "member"])
    named = clinic & (pairs["name_l"].fillna("") != "") & (pairs["name_r"].fillna("") != "")
    born_l, born_r = parse_dates(pairs["birth_date_l"]), parse_dates(pairs["birth_date_r"])
    dated = born_l.notna() & born_r.notna()
    shared = shared_identifier_pairs(records, truth)

    noise = {
        "records per person": len(frame) / n_people,
        "people in one system only": (systems == 1).mean(),
        "people in 2-4 systems": systems.between(2, 4).mean(),
        "people in all 5 systems": (systems == 5).mean(),
        "HIS/member true pairs whose names differ": (pairs["name_l"] != pairs["name_r"])[
            named
        ].mean(),
        "true pairs with two birth dates that differ": (born_l != born_r)[dated].mean(),
        "mobiles not written as 11 plain digits": (
            ~frame["mobile"].fillna("").str.fullmatch(r"\d{11}")
        )[mobile != ""].mean(),
        "mobiles with an unallocated prefix": (~mobile[mobile != ""].str.match(ALLOCATED)).mean(),
        "people with 2+ distinct mobiles": (mobiles_per_person >= 2).sum() / n_people,
        "true pairs whose mobiles differ by a transposition": _adjacent_transposition(
            pairs_m_l, pairs_m_r
        ).mean(),
        "mobiles carried by 2+ people": (people_per_mobile >= 2).mean(),
        "records with a mobile carried by 2+ people": with_mobile["m"]
        .map(people_per_mobile)
        .ge(2)
        .sum()
        / len(frame),
        "ID numbers with a valid checksum": valid_id_checksum(frame["id_number"][ids != ""]).mean(),
        "ID numbers carried by 2+ people": (people_per_id >= 2).mean(),
        "twin pairs (share mobile + birth date) per 1,000 people": _twins(frame, mobile)
        * 1000
        / n_people,
        "same name + district, different people, per 1,000 people": _namesakes(frame)
        * 1000
        / n_people,
        "oracle ceiling: true pairs sharing mobile/ID/unionid": shared["shared"].mean(),
    }
    by_pair = shared.assign(
        a=np.minimum(
            shared["source_l"].map(SOURCE_ORDER.index), shared["source_r"].map(SOURCE_ORDER.index)
        ),
        b=np.maximum(
            shared["source_l"].map(SOURCE_ORDER.index), shared["source_r"].map(SOURCE_ORDER.index)
        ),
    )
    ceiling = by_pair.groupby(["a", "b"])["shared"].agg(["size", "mean"])
    ceiling.index = [f"{SOURCE_ORDER[a]}–{SOURCE_ORDER[b]}" for a, b in ceiling.index]
    ceiling.columns = ["true pairs per 1,000 people", "share sharing an identifier"]
    ceiling["true pairs per 1,000 people"] = (
        ceiling["true pairs per 1,000 people"] * 1000 / n_people
    )
    return {
        "fill": fill,
        "name kinds": kinds,
        "noise": pd.DataFrame({"value": noise}),
        "ceiling": ceiling,
    }


def _person_pairs(frame: pd.DataFrame, keys: list[str]) -> int:
    """Distinct pairs of different people whose records agree on all keys."""
    people = frame[keys + ["person_id"]].drop_duplicates()
    joined = people.merge(people, on=keys)
    return int(
        len(
            joined[joined["person_id_x"] < joined["person_id_y"]][
                ["person_id_x", "person_id_y"]
            ].drop_duplicates()
        )
    )


def _twins(frame, mobile):
    born = parse_dates(frame["birth_date"])
    keyed = frame.assign(m=mobile, b=born)[(mobile != "") & born.notna()]
    return _person_pairs(keyed, ["m", "b"])


def _namesakes(frame):
    his = frame[frame["source"] == "his"]
    district = his["district"].fillna("").str.replace("杭州市?", "", regex=True).str[:2]
    keyed = his.assign(n=his["name"].str.strip(), d=district)[district != ""]
    return _person_pairs(keyed, ["n", "d"])


def to_markdown(tables: dict[str, pd.DataFrame]) -> str:
    out = []
    for title, table in tables.items():
        out.append(f"**{title}**\n")
        out.append("| | " + " | ".join(table.columns) + " |")
        out.append("|---" * (len(table.columns) + 1) + "|")
        for label, row in table.iterrows():
            out.append(f"| {label} | " + " | ".join(_number(v) for v in row) + " |")
        out.append("")
    return "\n".join(out)


def _number(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def from_markdown(text: str) -> dict[str, pd.DataFrame]:
    """Read back the tables written by to_markdown."""
    tables = {}
    for block in re.split(r"^\*\*", text, flags=re.M)[1:]:
        title, _, body = block.partition("**")
        rows = [
            line.strip().strip("|").split("|") for line in body.splitlines() if line.startswith("|")
        ]
        header, data = [c.strip() for c in rows[0][1:]], rows[2:]
        tables[title] = pd.DataFrame(
            [[float(c) for c in r[1:]] for r in data],
            index=[r[0].strip() for r in data],
            columns=header,
        )
    return tables


if __name__ == "__main__":
    import argparse

    from foreign.identity import generate

    parser = argparse.ArgumentParser(prog="python -m foreign.identity.measure", description=__doc__)
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(to_markdown(noise_rates(*generate(args.people, seed=args.seed))))
