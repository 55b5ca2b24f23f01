"""Link models: Splink comparisons, blocking rules and the unsupervised training plan.

A ``LinkModel`` is data: what to compare, how to generate candidate pairs, how to train
(u by random sampling, λ from deterministic rules, m by EM over several blocking rules),
which equalities are deterministic links, and the default threshold. ``patient_model()``
is the model for Chinese patient records; benchmarks define others (FEBRL) and run them
through the same ``linker.link``.

Comparisons use Splink's level library (and plain SQL in ``CustomLevel``s that every
backend understands), so the same model runs on DuckDB and Spark.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Default link threshold as a match weight (log2 odds, prior included; p ≈ 0.94). See
# docs/identity.md "Choosing the threshold": one bit above the step in the model's own
# estimated precision (0.986 at +2, 0.9998 at +3 on the 200K chain) made by pairs that
# agree on a bound mobile only.
DEFAULT_THRESHOLD_WEIGHT = 4.0


@dataclass(frozen=True)
class LinkModel:
    """Everything the linker needs besides the records.

    ``comparisons`` / ``blocking_rules`` are zero-argument factories returning Splink
    creators (Splink objects are built fresh for every linker). ``deterministic_links``
    are columns whose equality is a match whatever the model says (verified ID numbers,
    WeChat unionids). ``prior_rules`` (SQL over ``l.``/``r.``) with ``prior_recall``
    estimate the probability that two random records match. ``em_blocking_rules`` each
    run one EM session.
    """

    name: str
    comparisons: Callable[[], list[Any]]
    blocking_rules: Callable[[], list[Any]]
    em_blocking_rules: Callable[[], list[Any]]
    prior_rules: tuple[str, ...]
    prior_recall: float
    deterministic_links: tuple[str, ...] = ()
    link_type: str = "dedupe_only"
    threshold_weight: float = DEFAULT_THRESHOLD_WEIGHT
    u_max_pairs: float = 3e6
    em_max_pairs: float | None = 1e6
    max_iterations: int = 25
    seed: int = 7
    additional_columns: tuple[str, ...] = ()
    # SQL over Splink's prediction columns: pairs it holds are never linked by the model
    # (deterministic links still are). None: no veto.
    veto_sql: str | None = None
    # m probabilities below this are raised to it after training, so that one
    # disagreeing field can outweigh, but not annihilate, agreement elsewhere.
    m_floor: float = 1e-3
    # Below this many records there are too few pairs for EM: the linker uses the
    # parameters in ``pretrained()`` instead (λ rescaled to the input size, term
    # frequency adjustments off, since frequencies in a handful of rows mean nothing).
    min_train_records: int = 5000
    # Remove true matches from sampled u probabilities (linker.corrected_u), lowering u by
    # at most this factor (at least 2); 0 turns the correction off.
    u_match_correction: float = 20.0
    # Exact-agreement levels whose u is computed from value counts over all records
    # rather than sampled: (comparison, level label, column, SQL filter). Identifying
    # values agree so rarely that a sample of a few million pairs may not see one.
    exact_u: tuple[tuple[str, str, str, str], ...] = ()
    pretrained: Callable[[], dict[str, Any]] | None = None
    # Training starts from ``pretrained()`` (the prior) and EM only refines it. A trained
    # comparison that cannot be right moves back toward the prior's m (linker.check_plausible:
    # agreement weighing less than a weaker level, disagreement counting for a match, or
    # the agreement level's m more than ``max_m_shift`` bits from the prior's, m under
    # 0.01 counted as 0.01) by the share of ``plausibility_band`` bits it is past that,
    # all the way from one band on; λ is kept within ``max_lambda_shift`` bits of the
    # prior's (with a warning).
    max_m_shift: float = 4.0
    plausibility_band: float = 2.0
    max_lambda_shift: float = 6.0
    # An EM block with fewer pairs than this is skipped (its comparisons keep the prior).
    # A session whose block's estimated share of matches r is above this range counts
    # (1 − r)/(1 − high) of the way from the m before it (a block of > 99 % matches
    # collapses the m of disagreement levels; only matches: not at all), below it r/low.
    em_min_pairs: int = 200
    em_match_rate: tuple[float, float] = (0.01, 0.99)
    settings_overrides: dict[str, Any] = field(default_factory=dict)

    def settings(self):
        from splink import SettingsCreator

        return SettingsCreator(
            link_type=self.link_type,
            unique_id_column_name="unique_id",
            comparisons=self.comparisons(),
            blocking_rules_to_generate_predictions=self.blocking_rules(),
            retain_matching_columns=True,  # keeps gamma columns (the veto reads them)
            retain_intermediate_calculation_columns=False,
            additional_columns_to_retain=list(self.additional_columns),
            max_iterations=self.max_iterations,
            **self.settings_overrides,
        )


# ------------------------------------------------------------------ patient comparisons

OWN_PHONE = "same mobile, one name on it"
FAMILY_PHONE = "same mobile shared by several names (family phone)"
SAME_ID = "same ID number"
PARTIAL_NAME = "same surname, one side a form of address (李女士)"


def _guarded_edit(col: str, guard: str) -> str:
    """``damerau_levenshtein(col) <= 1``, computed only where a cheap ``guard`` holds.

    The guard must be true for every pair within one edit. A nested CASE (not AND: SQL
    engines evaluate both sides of AND in a projection) skips the costly distance for
    almost every pair: 7× faster scoring of random pairs on DuckDB.
    """
    return (
        f"CASE WHEN {guard} THEN damerau_levenshtein({col}_l, {col}_r) <= 1 ELSE FALSE END"
    )


def one_edit_level(col: str, label: str | None = None):
    """Damerau–Levenshtein ≤ 1 on any string column, with a cheap generic guard.

    One edit (substitution, insertion, deletion or adjacent transposition) cannot change
    both the first two and the last two characters of strings longer than four, so the
    distance is only computed for short strings or pairs sharing either end.
    """
    guard = (
        f"length({col}_l) <= 4 OR length({col}_r) <= 4"
        f" OR substr({col}_l, 1, 2) = substr({col}_r, 1, 2) OR right({col}_l, 2) = right({col}_r, 2)"
    )
    return _custom(_guarded_edit(col, guard), label or f"{col} one edit apart")


def _custom(sql_condition: str, label: str):
    """A level in plain SQL, written in DuckDB's dialect and translated by SQLGlot for others."""
    import splink.comparison_level_library as cll

    return cll.CustomLevel(sql_condition, label_for_charts=label, base_dialect_str="duckdb")


def _name_comparison():
    import splink.comparison_level_library as cll
    from splink import ColumnExpression
    from splink.comparison_library import CustomComparison

    return CustomComparison(
        output_column_name="name",
        comparison_description="name: characters, pinyin (homophones), given name",
        comparison_levels=[
            # unknown when a side holds neither a real name nor an addressed surname
            # (a nickname or nothing): no evidence either way
            _custom(
                "(name_py_l IS NULL AND surname_py_l IS NULL) OR (name_py_r IS NULL AND surname_py_r IS NULL)",
                "no name on one side (nickname or empty)",
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("name", term_frequency_adjustments=True).configure(
                label_for_charts="same name"
            ),
            cll.ExactMatchLevel("name_py", term_frequency_adjustments=True).configure(
                label_for_charts="same pinyin (homophone, traditional or romanised)"
            ),
            # 李女士 / 李雨曦: fixed weak evidence (+2 bits), not trained: the surname is
            # all a form of address says (the sex it implies is compared as sex)
            _custom(
                "(name_py_l IS NULL OR name_py_r IS NULL) AND surname_py_l = surname_py_r", PARTIAL_NAME
            ).configure(m_probability=0.04, u_probability=0.01, fix_m_probability=True, fix_u_probability=True),
            cll.And(
                cll.ExactMatchLevel("surname_py"),
                cll.JaroWinklerLevel(ColumnExpression("given_py"), 0.85),
            ).configure(label_for_charts="same surname, given name pinyin similar"),
            cll.ExactMatchLevel("given_py", term_frequency_adjustments=True).configure(
                label_for_charts="same given name, other surname"
            ),
            # (No Jaro–Winkler level on the whole pinyin: a shared surname is a shared
            # prefix, which Winkler rewards, so 姜朗承/姜行生 would score as similar.)
            cll.ExactMatchLevel("surname_py").configure(
                label_for_charts="same surname only (siblings, twins)"
            ),
            cll.ElseLevel(),
        ],
    )


def _mobile_comparison():
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    return CustomComparison(
        output_column_name="mobile",
        comparison_description="mobile: own phone, shared family phone, transposed digits",
        comparison_levels=[
            cll.NullLevel("mobile"),
            _custom("mobile_l = mobile_r AND mobile_names_l <= 1", OWN_PHONE),
            cll.ExactMatchLevel("mobile").configure(label_for_charts=FAMILY_PHONE),
            _custom(
                _guarded_edit(
                    "mobile",
                    # same digits in another order, or same start, or same end
                    "mobile_key_l = mobile_key_r OR substr(mobile_l, 1, 8) = substr(mobile_r, 1, 8)"
                    " OR substr(mobile_l, 9) = substr(mobile_r, 9)",
                ),
                "one digit transposed or mistyped",
            ),
            cll.ElseLevel(),
        ],
    )


def _id_comparison():
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    return CustomComparison(
        output_column_name="id_number",
        comparison_description="resident ID number (checksum verified)",
        comparison_levels=[
            cll.NullLevel("id_number"),
            cll.ExactMatchLevel("id_number").configure(label_for_charts=SAME_ID),
            _custom(
                _guarded_edit(
                    "id_number",
                    "substr(id_number_l, 1, 10) = substr(id_number_r, 1, 10)"
                    " OR substr(id_number_l, 11) = substr(id_number_r, 11)",
                ),
                "one edit apart",
            ),
            cll.ElseLevel(),
        ],
    )


def _birth_comparison():
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    return CustomComparison(
        output_column_name="birth_date",
        comparison_description="birth date: exact, day/month swapped, day typo, year typo",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            # term frequencies: some dates are far commoner than others (1 January, dates
            # that systems fill in by default, a clamped age in generated data)
            cll.ExactMatchLevel("birth_date", term_frequency_adjustments=True).configure(
                label_for_charts="same birth date"
            ),
            _custom(
                "birth_y_l = birth_y_r AND birth_m_l = birth_d_r AND birth_d_l = birth_m_r",
                "day and month swapped",
            ),
            _custom(
                "birth_y_l = birth_y_r AND birth_m_l = birth_m_r AND abs(birth_d_l - birth_d_r) <= 3",
                "same year and month, day within 3",
            ),
            _custom(
                "birth_m_l = birth_m_r AND birth_d_l = birth_d_r AND abs(birth_y_l - birth_y_r) <= 1",
                "same month and day, year ±1",
            ),
            _custom(
                "birth_m_l = birth_m_r AND abs(birth_d_l - birth_d_r) <= 3",
                "same month, day within 3, another year (year typo)",
            ),
            cll.ElseLevel(),
        ],
    )


def _simple(col: str, description: str, tf: bool = False):
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    return CustomComparison(
        output_column_name=col,
        comparison_description=description,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col, term_frequency_adjustments=tf),
            cll.ElseLevel(),
        ],
    )


def _unionid_comparison():
    import splink.comparison_level_library as cll
    from splink.comparison_library import CustomComparison

    # Fixed, not trained: unionids only occur in one source (one row per user), so no
    # training pairs agree on them. Equal unionids are a deterministic link anyway;
    # different ones mean two WeChat accounts, which one person rarely has.
    return CustomComparison(
        output_column_name="wechat_unionid",
        comparison_description="WeChat unionid",
        comparison_levels=[
            cll.NullLevel("wechat_unionid"),
            cll.ExactMatchLevel("wechat_unionid").configure(
                m_probability=0.99, u_probability=1e-7, fix_m_probability=True, fix_u_probability=True
            ),
            cll.ElseLevel().configure(
                m_probability=0.01, u_probability=0.9999999, fix_m_probability=True, fix_u_probability=True
            ),
        ],
    )


def patient_comparisons() -> list[Any]:
    return [
        _name_comparison(),
        _mobile_comparison(),
        _id_comparison(),
        _birth_comparison(),
        _simple("sex", "sex"),
        _simple("district", "home district", tf=True),
        _unionid_comparison(),
    ]


def patient_blocking_rules() -> list[Any]:
    from splink import block_on
    from splink.blocking_rule_library import CustomRule

    return [
        block_on("id_number"),
        block_on("wechat_unionid"),
        block_on("mobile"),
        block_on("name_py", "birth_date"),
        block_on("name_py", "birth_y", "birth_m"),  # day typos
        block_on("name_py", "birth_m", "birth_d"),  # year typos
        CustomRule(  # day and month swapped
            "l.name_py = r.name_py AND l.birth_y = r.birth_y"
            " AND l.birth_m = r.birth_d AND l.birth_d = r.birth_m",
            sql_dialect="duckdb",
        ),
        block_on("given_py", "birth_date"),  # surname typos (黄→王)
        block_on("mobile_key", "name_py"),  # transposed digits
    ]


def patient_em_rules() -> list[Any]:
    """EM sessions. A session counts less the nearer its block is to all matches by its
    own estimate (``LinkModel.em_match_rate``): such a block has no non-matches to learn
    disagreement from. These three blocks are 99.4–99.9 % matches on the independent
    generator and 99.5–100 % on Molar's 20K chain, so they count 64 % down to nothing.
    Blocks that mix a person with relatives or neighbours (mobile + surname, birth date
    + district, name + district or birth year) were measured and rejected: EM there
    learns part "same family", and family phones merged wrongly on Molar's 20K chain
    rose from 1 to 10 pairs. Not ``block_on("mobile")`` alone for the same reason: half
    the pairs sharing a mobile are family members."""
    from splink import block_on

    return [
        block_on("mobile", "birth_date"),  # trains name (same person vs twins), sex, ID, district
        block_on("mobile", "given_py"),  # trains birth date, sex, ID, district
        block_on("name_py", "birth_date"),  # trains mobile, ID, sex, district
    ]


DEFAULT_PARAMETERS_FILE = Path(__file__).with_name("default_model.json")


def default_parameters() -> dict[str, Any]:
    """The patient model trained (without labels) on the 200K-person synthetic chain;
    used for inputs too small to train on. Regenerate with
    ``uv run python benchmarks/identity/train_default.py``."""
    if not DEFAULT_PARAMETERS_FILE.exists():
        raise FileNotFoundError(
            f"{DEFAULT_PARAMETERS_FILE} is missing; regenerate it with "
            "`uv run python benchmarks/identity/train_default.py`"
        )
    return json.loads(DEFAULT_PARAMETERS_FILE.read_text(encoding="utf-8"))


# Never the same person on the model's word, however much else agrees:
# - names that clearly differ (only the surname agrees, or nothing does);
# - on a family phone, given names that differ in sound (梓萱/梓轩 are one sound and
#   pass; 思涵/艺涵 do not), or a form of address (王女士 on a phone that 王芳 and her
#   daughter 王小雨 share names neither for sure: parents book for their children);
# - no name at all on one side (a nickname or nothing) unless the birth dates agree, on
#   any phone: the phone cannot say which member of a household a nameless WeChat
#   account is. Measured on the independent generator: a nickname or empty name with a
#   named person on a family phone is the same person in 44 % of pairs, with the one
#   named person on a one-name phone in 95 %; on Molar's 20K chain linking the latter
#   on the phone alone merged 67 of 17,806 pairs of different people sharing a mobile
#   (1 without). A form of address with the one compatible named adult on a family
#   phone is the same person in 69 % of pairs.
# Twins and siblings share a family phone, a surname and (twins) a birth date, and often
# a character of the given name; Fellegi–Sunter counts phone and birth date as
# independent evidence (+32 bits together) and would link them. gamma values: name
# 1 = same surname only, 0 = else, 3 = same surname with a similar given name, 4 = a
# form of address with the same surname, −1 = no name on one side; mobile 2 = family
# phone; birth_date 5 = same (see the comparisons; a unit test checks these numbers
# against the level labels).
NAME_CONFLICT_SQL = (
    "gamma_name IN (0, 1) OR (gamma_name = -1 AND gamma_birth_date <> 5)"
    " OR (gamma_mobile = 2 AND gamma_name IN (3, 4))"
)


def gamma_of(comparison, label: str) -> int:
    """Splink's comparison vector value of the level labelled ``label`` (null = −1,
    then the levels count down to 0 for the last)."""
    levels = comparison.get_comparison("duckdb").comparison_levels
    non_null = [lv for lv in levels if not lv.is_null_level]
    for i, lv in enumerate(non_null):
        if lv.label_for_charts == label:
            return len(non_null) - 1 - i
    raise KeyError(label)


def patient_model(**overrides: Any) -> LinkModel:
    """The model for Chinese patient records (``identity.link_input``)."""
    options: dict[str, Any] = dict(
        name="patient",
        comparisons=patient_comparisons,
        blocking_rules=patient_blocking_rules,
        em_blocking_rules=patient_em_rules,
        prior_rules=(
            "l.id_number = r.id_number",
            "l.name_py = r.name_py AND l.birth_date = r.birth_date AND l.mobile = r.mobile",
            # sparse sources (booking, consult, app) hold a name and a phone only
            "l.own_phone = r.own_phone",
        ),
        prior_recall=0.6,
        deterministic_links=("id_number", "wechat_unionid", "own_phone"),
        additional_columns=("source",),
        veto_sql=NAME_CONFLICT_SQL,
        pretrained=default_parameters,
        exact_u=(
            ("mobile", OWN_PHONE, "mobile", "mobile_names <= 1"),
            ("mobile", FAMILY_PHONE, "mobile", "mobile_names > 1"),
            ("id_number", SAME_ID, "id_number", "TRUE"),
        ),
    )
    options.update(overrides)
    return LinkModel(**options)
