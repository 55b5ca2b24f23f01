"""One local Spark session for the whole test run (start-up takes seconds), and a small
generated chain taken through ingest, identity and a full profile run on DuckDB."""

from __future__ import annotations

import pytest

from molar.warehouse.spark_engine import SparkEngine


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    engine = SparkEngine(tmp_path_factory.mktemp("spark") / "warehouse", master="local[2]")
    yield engine
    engine.close()
    engine.spark.stop()


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """(DuckDB engine after a full profile run, as-of date) for a 300-person chain."""
    from molar.identity import resolve
    from molar.ingest import ingest_paths
    from molar.profile.run import compute_profile
    from molar.synth import SynthConfig, generate
    from molar.warehouse import open_warehouse

    out = tmp_path_factory.mktemp("chain")
    config = SynthConfig(out_dir=out / "data", patients=300, clinics=2, seed=5)
    generate(config)
    engine = open_warehouse(path=out / "molar.duckdb")
    ingest_paths(engine, [out / "data" / "sources"], today=config.end_date)
    resolve(engine, as_of=config.end_date)
    compute_profile(engine, config.end_date)
    yield engine, config.end_date
    engine.close()


@pytest.fixture(scope="session")
def copied_tables() -> tuple[str, ...]:
    """Every profile input table, and what the steps read besides (tags so far, churn risk,
    the previous tier model)."""
    from molar.profile.inputs import INPUT_TABLES

    return (*INPUT_TABLES, "new_tag", "profile.churn_risk", "profile.tier_model")


@pytest.fixture(scope="session")
def both(chain, spark, copied_tables):
    """(DuckDB, Spark, as-of) with ``copied_tables`` copied from DuckDB to Spark as they are."""
    duck, as_of = chain
    for table in copied_tables:
        spark.load(table, duck.arrow(f"SELECT * FROM {table}"))
    return duck, spark, as_of
