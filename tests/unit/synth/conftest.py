"""Small synthetic chains generated once per test session."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # synthlib.py sits next to this file

from synthlib import Chain  # noqa: E402

from molar.synth import NoiseRates, SynthConfig, generate  # noqa: E402

NOISY = NoiseRates(
    name_homophone=0.10, name_traditional=0.05, name_whitespace=0.05, name_pinyin=0.05, mobile_missing=0.10,
    mobile_formatted=0.30, mobile_transposed=0.03, id_missing=0.40, sex_letter_code=0.08,
    birth_date_error=0.03, his_second_record=0.10, booking_second_record=0.05,
    invalid_date=0.03, invalid_phone_length=0.03, invalid_id_checksum=0.03, negative_amount=0.03,
    future_visit_date=0.03, duplicate_row=0.03,
)


@pytest.fixture(scope="session")
def chain(tmp_path_factory) -> Chain:
    """3,000 people in 3 chunks, sheets split at 1,000 rows."""
    out = tmp_path_factory.mktemp("synth_chain")
    config = SynthConfig(out_dir=out, patients=3000, clinics=5, seed=11, end_date=date(2026, 10, 31),
                         chunk_size=1200, sheet_row_limit=1000)
    return Chain(out, config, generate(config).manifest)


@pytest.fixture(scope="session")
def noisy_chain(tmp_path_factory) -> Chain:
    """2,500 people with every noise rate turned up, so rates can be measured."""
    out = tmp_path_factory.mktemp("synth_noisy")
    config = SynthConfig(out_dir=out, patients=2500, clinics=4, seed=5, noise=NOISY, chunk_size=1000)
    return Chain(out, config, generate(config).manifest)
