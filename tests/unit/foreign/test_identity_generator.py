"""The independent patient-record generator: determinism, well-formed output, and the noise
rates its README states, recomputed from a fresh generation."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from foreign.identity import generate, shared_identifier_pairs
from foreign.identity.__main__ import main
from foreign.identity.measure import from_markdown, noise_rates, valid_id_checksum

PACKAGE = Path(__file__).parents[2] / "foreign" / "identity"
COLUMNS = [
    "record_id",
    "source",
    "name",
    "sex",
    "birth_date",
    "mobile",
    "id_number",
    "district",
    "address",
    "wechat_unionid",
]


@pytest.fixture(scope="module")
def chain_20k():
    return generate(20_000, seed=1)


def test_same_seed_gives_the_same_records_and_another_seed_does_not():
    first, first_truth = generate(3_000, seed=5)
    again, again_truth = generate(3_000, seed=5)
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(first_truth, again_truth)
    other, _ = generate(3_000, seed=6)
    assert not first["name"].equals(other["name"])


def test_records_are_raw_strings_with_ids_unique_per_source(chain_20k):
    records, truth = chain_20k
    assert list(records.columns) == COLUMNS
    assert set(records["source"]) == {"his", "member", "booking", "consult", "wechat"}
    assert not records.duplicated(["source", "record_id"]).any()
    assert records.map(lambda v: isinstance(v, str)).all().all()


def test_truth_names_one_person_for_every_record(chain_20k):
    records, truth = chain_20k
    assert list(truth.columns) == ["record_id", "source", "person_id"]
    merged = records.merge(
        truth, on=["source", "record_id"], how="outer", indicator=True, validate="one_to_one"
    )
    assert (merged["_merge"] == "both").all()
    assert merged["person_id"].notna().all()
    assert truth["person_id"].nunique() == 20_000  # everybody has a record somewhere


def test_checksum_check_accepts_published_id_numbers_and_rejects_one_wrong_digit():
    # The worked example of GB 11643-1999 and a widely quoted valid number.
    known = pd.Series(["11010519491231002X", "11010519491231002x", "440524188001010014"])
    wrong = pd.Series(["110105194912310021", "440524188001010015", "44052418800101001"])
    assert valid_id_checksum(known).all()
    assert not valid_id_checksum(wrong).any()


def test_generated_id_numbers_have_valid_checksums(chain_20k):
    records, _ = chain_20k
    ids = records.loc[records["id_number"] != "", "id_number"]
    assert len(ids) > 5_000
    assert valid_id_checksum(ids).all()


def test_shared_identifier_pairs_counts_only_true_pairs_sharing_a_normalised_identifier():
    records = pd.DataFrame(
        {
            "record_id": ["1", "2", "3", "4", "1"],
            "source": ["his", "his", "member", "booking", "booking"],
            "mobile": [
                "+86 138 0013 8000",
                "１３８００１３８０００",
                "13800138001",
                "13800138000",
                "13800138000",
            ],
            "id_number": ["11010519491231002X", "", "11010519491231002x", "", ""],
            "wechat_unionid": ["", "", "", "", ""],
        }
    )
    truth = pd.DataFrame(
        {
            "record_id": ["1", "2", "3", "4", "1"],
            "source": ["his", "his", "member", "booking", "booking"],
            "person_id": ["A", "A", "A", "B", "C"],
        }
    )
    pairs = shared_identifier_pairs(records, truth)
    # A's pairs: (his 1, his 2) share the mobile, (his 1, member 3) the ID number, (his 2, member 3) nothing.
    # B and C share A's phone but are other people: no true pair.
    assert len(pairs) == 3
    by_ids = {
        (r.record_id_l, r.record_id_r): (r.mobile, r.id_number, r.shared)
        for r in pairs.itertuples()
    }
    assert by_ids == {
        ("1", "2"): (True, False, True),
        ("1", "3"): (False, True, True),
        ("2", "3"): (False, False, False),
    }


def _readme_tables() -> dict[str, pd.DataFrame]:
    text = (PACKAGE / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- measured:begin -->(.*)<!-- measured:end -->", text, re.S)
    assert block, "README.md lost its measured block"
    return from_markdown(block.group(1))


def test_readme_rates_hold_for_a_generation_with_another_seed(chain_20k):
    stated = _readme_tables()
    measured = noise_rates(*chain_20k)
    assert set(stated) == set(measured)
    for title, table in stated.items():
        fresh = measured[title]
        assert list(table.columns) == list(fresh.columns), title
        assert list(table.index) == list(fresh.index), title
        for row in table.index:
            for column in table.columns:
                said, seen = table.at[row, column], fresh.at[row, column]
                # Counts of rare person pairs (a few dozen per 20K) vary more between seeds.
                tolerance = (
                    0.3 * said if row.endswith("per 1,000 people") else 0.01 + 0.1 * abs(said)
                )
                assert abs(said - seen) <= tolerance, (
                    f"{title} / {row} / {column}: README {said}, measured {seen:.3f}"
                )


def test_command_writes_the_generated_frames(tmp_path):
    main([str(tmp_path / "out"), "--people", "200", "--seed", "3"])
    records, truth = generate(200, seed=3)
    written = pd.read_csv(tmp_path / "out" / "records.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(written, records)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "out" / "truth.csv", dtype=str), truth)


def test_handwritten_file_has_the_generator_columns_and_a_person_for_every_record():
    records = pd.read_csv(PACKAGE / "handwritten.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(PACKAGE / "handwritten_truth.csv", dtype=str)
    assert list(records.columns) == COLUMNS
    assert 60 <= len(records) <= 100
    assert records[["source", "record_id"]].equals(truth[["source", "record_id"]])
    ids = records.loc[records["id_number"] != "", "id_number"]
    assert valid_id_checksum(ids).all()


def test_command_refuses_bad_arguments_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--people", "0"])
    assert exit_.value.code == 2
    assert "--people must be at least 1" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_:
        main([str(blocker / "out"), "--people", "5"])
    assert exit_.value.code == 1
    assert capsys.readouterr().err.startswith(f"cannot write to {blocker / 'out'}")
