"""Vectorised standardisers: SQL expressions that turn raw text into canonical values.

Each standardiser, given a SQL expression for a raw VARCHAR value, returns a SQL
expression for the standardised value and one for a problem code::

    s = get_standardiser("date", not_after=date(2026, 11, 23))
    con.execute(f"SELECT {s.value_sql('raw.d')} AS d, {s.problem_sql('raw.d')} AS d_problem FROM raw")

The expressions are plain DuckDB SQL (no macros, no UDFs) so DuckDB vectorises them and
SQLGlot can transpile them; ``sql.py`` holds every dialect-specific detail. Problem codes
and their Chinese/English messages are in ``PROBLEMS``. ``reference.py`` restates every
rule in plain Python; the tests hold the SQL to it. See docs/standardisers.md.
"""

from molar.ingest.standardise.base import DEFAULT_NULL_TOKENS, Rules, Standardiser
from molar.ingest.standardise.coded import CodeStandardiser, SexStandardiser, TextStandardiser
from molar.ingest.standardise.dates import DATE_FORMATS, DateStandardiser, TimestampStandardiser
from molar.ingest.standardise.idcard import (
    IdNumberStandardiser,
    id_birth_date_sql,
    id_crosscheck_sql,
    id_sex_sql,
)
from molar.ingest.standardise.mobile import CHINA_MOBILE_PREFIXES, MobileStandardiser
from molar.ingest.standardise.names import NameStandardiser, traditional_to_simplified
from molar.ingest.standardise.numbers import (
    AmountStandardiser,
    DecimalStandardiser,
    IntegerStandardiser,
)
from molar.ingest.standardise.pinyin import name_pinyin
from molar.ingest.standardise.problems import PROBLEMS, Problem, get_problem
from molar.ingest.standardise.registry import STANDARDISERS, get_standardiser

__all__ = [
    "CHINA_MOBILE_PREFIXES",
    "DATE_FORMATS",
    "DEFAULT_NULL_TOKENS",
    "PROBLEMS",
    "STANDARDISERS",
    "AmountStandardiser",
    "CodeStandardiser",
    "DateStandardiser",
    "DecimalStandardiser",
    "IdNumberStandardiser",
    "IntegerStandardiser",
    "MobileStandardiser",
    "NameStandardiser",
    "Problem",
    "Rules",
    "SexStandardiser",
    "Standardiser",
    "TextStandardiser",
    "TimestampStandardiser",
    "get_problem",
    "get_standardiser",
    "id_birth_date_sql",
    "id_crosscheck_sql",
    "id_sex_sql",
    "name_pinyin",
    "traditional_to_simplified",
]
