"""The tag catalogue: the shipped YAML loads, a clinic's own tag file is computed, and every
mistake in a tag file is reported with the file, the line and what to change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from molar.profile.catalogue import DIMENSIONS, TAGS_DIR, CatalogueError, load_catalogue, load_file
from molar.profile.tagging import TagError
from unit.profile.crafted import (
    Chain,
    Patient,
    Text,
    Visit,
    ago,
    at,
    fresh_warehouse,
    published,
    run_profile,
)


@pytest.fixture
def warehouse(tmp_path):
    yield from fresh_warehouse(tmp_path)


def test_shipped_catalogue_loads_with_every_seed_dimension():
    tags = load_catalogue()
    dims = {t.dimension for t in tags}
    assert {"demographic", "health", "consumption", "channel", "social"} <= dims
    assert dims == set(DIMENSIONS)
    assert len(tags) == 34  # 30 + churn_risk, clv_24m_yuan, key_customer (value.yaml, from predict), referrals_converted
    assert len({t.key for t in tags}) == len(tags)
    for t in tags:
        assert t.name_zh and t.name_en and t.description_zh and t.description_en, t.key
        assert t.defined_in.startswith(f"{t.dimension}.yaml:"), t.key
        if t.value_type == "category" and t.key != "district":
            assert t.values, f"{t.key} should list its categories"
    by_key = {t.key: t for t in tags}
    assert by_key["age_band"].defined_in == "demographic.yaml:5"
    assert by_key["caries_risk"].values == ("low", "medium", "high")
    assert by_key["recall_status"].refresh == "event"
    assert by_key["distance_to_clinic_km"].unit == "km"


def test_render_sql_puts_the_date_in(tmp_path):
    tag = load_catalogue()[0]
    assert "{as_of}" not in tag.render_sql("2026-10-31")


CLINIC_TAG = """\
# A clinic's own tag: patients who asked about whitening in consults this year.
dimension: experience
tags:
  - key: whitening_interest
    name: {zh: 美白意向, en: Whitening interest}
    description: {zh: 近一年咨询中提到美白, en: Mentioned whitening in a consult in the last year}
    type: boolean
    sql: |
      SELECT golden_id, bool_or(text LIKE '%美白%') AS value,
             to_json({mentions: count(*) FILTER (WHERE text LIKE '%美白%')})::VARCHAR AS evidence
      FROM texts WHERE occurred_at > {as_of} - INTERVAL 365 DAY GROUP BY golden_id
"""

CLINIC_VALUE_TAG = """dimension: value
tags:
  - key: strategic_with_complaint
    name: {zh: 重点客户有投诉, en: Strategic patient with a complaint}
    description: {zh: 价值分层和生命周期之后计算, en: Runs after tiers and stages}
    type: category
    values: [flagged, fine]
    sql: |
      SELECT s.golden_id, CASE WHEN t.tier = 'strategic' AND s.reason LIKE '%complaint%' THEN 'flagged' ELSE 'fine' END AS value
      FROM stages s JOIN tiers t USING (golden_id)
"""


def test_a_clinic_tag_file_is_computed_by_the_profile(warehouse, tmp_path):
    extra = tmp_path / "clinic_tags.yaml"
    extra.write_text(CLINIC_TAG, encoding="utf-8")
    chain = Chain([
        Patient("curious", texts=[Text(at(ago(10)), "doubt", "牙齿美白多少钱？"), Text(at(ago(20)), "neutral")]),
        Patient("plain", texts=[Text(at(ago(10)), "neutral", "周六开门吗")]),
        Patient("silent", visits=[Visit(ago(30), ["CHK"])]),
    ]).build(warehouse)
    tags = load_catalogue(extra=[extra])
    assert tags[-1].key == "whitening_interest"
    assert tags[-1].defined_in == "clinic_tags.yaml:4"
    assert tags[-1].dimension == "experience"
    summary = run_profile(warehouse, tags=tags)
    assert summary["tags"]["whitening_interest"] == 2
    values = published(warehouse)
    assert values.value(chain["curious"], "whitening_interest") == "true"
    assert values.num(chain["curious"], "whitening_interest") == 1.0
    assert values.evidence(chain["curious"], "whitening_interest") == {"mentions": 1}
    assert values.value(chain["plain"], "whitening_interest") == "false"
    assert not values.has(chain["silent"], "whitening_interest")
    # the shipped tags still ran alongside it
    assert values.value(chain["silent"], "recall_status") == "not_due"


def test_a_clinic_tags_dir_replaces_the_shipped_folder(warehouse, tmp_path):
    folder = tmp_path / "tags"
    shutil.copytree(TAGS_DIR, folder)
    (folder / "zz_clinic.yaml").write_text(CLINIC_TAG, encoding="utf-8")
    (folder / "zz_clinic_value.yaml").write_text(CLINIC_VALUE_TAG, encoding="utf-8")
    chain = Chain([Patient("curious", texts=[Text(at(ago(10)), "doubt", "想做美白")])]).build(warehouse)
    summary = run_profile(warehouse, tags_dir=folder)
    assert len(summary["tags"]) == 36
    values = published(warehouse)
    assert values.value(chain["curious"], "whitening_interest") == "true"
    # a tag in the value dimension runs after tiers and lifecycle, so it can read them
    assert values.value(chain["curious"], "strategic_with_complaint") == "fine"


def _tag_file(tmp_path: Path, body: str, name: str = "clinic.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


GOOD_TAG = """\
  - key: {key}
    name: {{zh: 测试, en: Test}}
    description: {{zh: 测试标签, en: A test tag}}
    type: number
    sql: SELECT golden_id, 1 AS value FROM person
"""


def _error(path: Path) -> str:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(extra=[path])
    return str(info.value)


def test_unknown_field_names_file_and_line(tmp_path):
    path = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="ok_tag")
                     + GOOD_TAG.format(key="second").replace("    type: number\n", "    type: number\n    colour: red\n"))
    message = _error(path)
    assert message.startswith("clinic.yaml:8: unknown field(s) colour")
    assert "a tag may have description, key, name, refresh, sql, type, unit, values" in message


def test_bad_type_names_the_tag(tmp_path):
    path = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="t1").replace("number", "integer"))
    assert _error(path) == "clinic.yaml:3 (tag t1): type 'integer' is not one of category, number, boolean, date"


@pytest.mark.parametrize("name", ["{zh: 测试}", "{en: Test}", "Test", "{zh: '', en: Test}"])
def test_name_needs_zh_and_en(tmp_path, name):
    path = _tag_file(tmp_path, "dimension: health\ntags:\n"
                     + GOOD_TAG.format(key="t1").replace("{zh: 测试, en: Test}", name))
    message = _error(path)
    assert message.startswith("clinic.yaml:3 (tag t1): 'name' needs both zh and en")


def test_description_needs_zh_and_en(tmp_path):
    path = _tag_file(tmp_path, "dimension: health\ntags:\n"
                     + GOOD_TAG.format(key="t1").replace("{zh: 测试标签, en: A test tag}", "只有中文"))
    assert _error(path).startswith("clinic.yaml:3 (tag t1): 'description' needs both zh and en")


def test_duplicate_key_names_both_places(tmp_path):
    same_file = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="t1") + GOOD_TAG.format(key="t1"))
    assert _error(same_file) == "clinic.yaml:8: tag key 't1' is already defined at clinic.yaml:3"
    shadowing = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="age_band"), "mine.yaml")
    assert _error(shadowing) == "mine.yaml:3: tag key 'age_band' is already defined at demographic.yaml:5"


@pytest.mark.parametrize(("body", "expected"), [
    ("dimension: wellbeing\ntags: []\n", "clinic.yaml:1: dimension 'wellbeing' is not one of demographic"),
    ("dimension: health\n", "clinic.yaml: expected 'dimension:' and a 'tags:' list"),
    ("dimension: health\ntags: {a: 1}\n", "clinic.yaml: 'tags' must be a list of tags"),
    ("dimension: health\ntags:\n  - key: [unclosed\n", "clinic.yaml: not valid YAML"),
    ("dimension: health\ntags:\n" + GOOD_TAG.format(key="Bad-Key"), "clinic.yaml:3: tag key 'Bad-Key' must be lower_snake_case"),
    ("dimension: health\ntags:\n" + GOOD_TAG.format(key="t1").replace("1 AS value", "1 AS v"),
     "clinic.yaml:3 (tag t1): 'sql' must be a query returning columns golden_id and value"),
    ("dimension: health\ntags:\n" + GOOD_TAG.format(key="t1").replace("    type: number\n", "    type: number\n    values: [a]\n"),
     "clinic.yaml:3 (tag t1): 'values' lists the allowed categories of a category tag"),
    ("dimension: health\ntags:\n" + GOOD_TAG.format(key="t1").replace("    type: number\n", "    type: number\n    refresh: hourly\n"),
     "clinic.yaml:3 (tag t1): refresh 'hourly' is not one of batch, event"),
])
def test_other_mistakes_are_explained(tmp_path, body, expected):
    assert _error(_tag_file(tmp_path, body)).startswith(expected)


def test_a_tag_that_is_not_a_mapping_is_explained(tmp_path):
    path = _tag_file(tmp_path, "dimension: health\ntags:\n  - age_band_copy\n")
    assert _error(path).startswith("clinic.yaml")


def test_yes_no_categories_are_kept_as_written(tmp_path):
    path = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="t1").replace(
        "    type: number\n", "    type: category\n    values: [yes, no]\n"))
    try:
        tag = load_file(path)[0]
    except CatalogueError as exc:  # or refuse them, naming the file and line and saying to quote them
        assert str(exc).startswith("clinic.yaml:3 (tag t1)") and "quote" in str(exc)
    else:
        assert tag.values == ("yes", "no")


def test_a_tag_mentioning_evidence_without_the_column_runs(warehouse, tmp_path):
    chain = Chain([Patient("a", visits=[Visit(ago(30), ["CHK"], "无龋坏 evidence")])]).build(warehouse)
    path = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="dx_note").replace(
        "SELECT golden_id, 1 AS value FROM person",
        "SELECT golden_id, count(*) AS value FROM visits WHERE diagnosis LIKE '%evidence%' GROUP BY golden_id"))
    run_profile(warehouse, tags=load_file(path))
    assert published(warehouse).num(chain["a"], "dx_note") == 1


def test_an_empty_tags_folder_is_explained(tmp_path):
    with pytest.raises(CatalogueError, match="no tag files"):
        load_catalogue(tmp_path)


def test_sql_that_fails_at_run_time_names_the_tag(warehouse, tmp_path):
    Chain([Patient("a", visits=[Visit(ago(30), ["CHK"])])]).build(warehouse)
    path = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="ok_tag")
                     + GOOD_TAG.format(key="typo_tag").replace("FROM person", "FROM persons"))
    tags = load_file(path)
    with pytest.raises(TagError) as info:
        run_profile(warehouse, tags=tags)
    assert str(info.value).startswith("tag typo_tag (clinic.yaml:8) failed:")
    assert "persons" in str(info.value)


def test_a_category_outside_its_values_is_rejected(warehouse, tmp_path):
    Chain([Patient("a", visits=[Visit(ago(30), ["CHK"])])]).build(warehouse)
    path = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="colour").replace(
        "    type: number\n", "    type: category\n    values: [red, green]\n").replace("1 AS value", "'purple' AS value"))
    with pytest.raises(TagError) as info:
        run_profile(warehouse, tags=load_file(path))
    assert str(info.value) == ("tag colour (clinic.yaml:3) produced 'purple', which is not among its values red, green")
    assert warehouse.count("profile.run") == 0


def test_more_than_one_row_per_patient_is_rejected(warehouse, tmp_path):
    Chain([Patient("a", visits=[Visit(ago(30), ["CHK"]), Visit(ago(60), ["CLN"])])]).build(warehouse)
    path = _tag_file(tmp_path, "dimension: health\ntags:\n" + GOOD_TAG.format(key="per_visit").replace(
        "FROM person", "FROM visits"))
    with pytest.raises(TagError, match="tag per_visit returned more than one row for patient G"):
        run_profile(warehouse, tags=load_file(path))
