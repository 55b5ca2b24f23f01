"""The Spark engine: the same DuckDB-dialect statements, run on Apache Spark.

Layers are Spark databases and tables are Parquet folders under one warehouse folder
(``<warehouse>/<layer>/<table>``); on start the engine registers every table it finds
there, so a warehouse outlives the session. Statements are parsed as DuckDB SQL and
written out as Spark SQL with SQLGlot; what the two dialects do differently is handled
in ``_to_spark`` (one place), and what Spark cannot do raises a ``WarehouseError``.

DuckDB TEMP tables become cached (checkpointed) temporary views, so a pipeline that
fills a temp table and reads it back sees one fixed result, as on DuckDB.

PySpark is an optional extra: ``pip install 'molar[spark]'`` (and Java 17).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from molar.warehouse.engine import LAYERS, Engine, WarehouseError

DEFAULT_MASTER = "local[2]"

# Pipeline stages not yet on Spark, and why (docs/spark.md). The profile's value score,
# lifecycle and tier steps already give the same rows on both engines (tests/spark).
NOT_ON_SPARK: dict[str, str] = {
    "ingest": "landing files uses DuckDB's CSV/JSON readers, and loads replace rows by key (UPDATE, ON CONFLICT)",
    "identity": "linking runs Splink through its DuckDB backend; the Spark backend is not wired in yet",
    "profile": "building the input tables decrypts sealed patient fields, the referral_reach tag uses a "
               "recursive CTE with UNION, and publishing updates rows in place (UPDATE … FROM)",
}


def spark_session(master: str = DEFAULT_MASTER, conf: dict[str, str] | None = None) -> Any:
    """A Spark session set up to behave like the DuckDB warehouse (UTC, naive timestamps)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise WarehouseError(
            "the Spark engine needs PySpark: install it with `pip install 'molar[spark]'` "
            "(and Java 17, e.g. `apt-get install openjdk-17-jre-headless`)"
        ) from exc
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    settings = {
        "spark.master": master,
        "spark.app.name": "molar",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        # DuckDB TIMESTAMP has no time zone; so has Spark's TIMESTAMP_NTZ.
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        # Without ANSI mode a bad cast or x / 0 gives NULL instead of stopping the query (DuckDB
        # 2.0 gives inf for x / 0; the pipelines guard their divisions).
        "spark.sql.ansi.enabled": "false",
        "spark.sql.shuffle.partitions": "4" if master.startswith("local") else "200",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # DuckDB's to_json keeps NULL fields ("x": null); Spark's drops them by default.
        "spark.sql.jsonGenerator.ignoreNullFields": "false",
        **(conf or {}),
    }
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # Java missing, bad master URL: py4j raises plain exceptions
        raise WarehouseError(
            f"cannot start Spark (master {master}): {str(exc).splitlines()[0] if str(exc) else exc!r}; "
            "check that Java 17 is installed (`java -version`) and the master URL is right"
        ) from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


def _literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise WarehouseError(f"the Spark engine cannot pass a parameter of type {type(value).__name__}")


def _bind(tree: exp.Expression, params: Sequence[Any] | None) -> exp.Expression:
    """Replace ``?`` placeholders, in order, with literals."""
    holes = [p for p in tree.find_all(exp.Placeholder) if not p.this]
    given = list(params or [])
    if len(holes) != len(given):
        raise WarehouseError(f"the statement has {len(holes)} parameter(s) but {len(given)} were given")
    for hole, value in zip(holes, given, strict=True):
        hole.replace(_literal(value))
    return tree


_DATE_NAME = re.compile(r"(^|_)(date|on|since)$|^(first|last)_(visit|recall)$")


def _is_date(node: exp.Expression) -> bool:
    """Whether ``node`` is a date value: a DATE literal/cast, a date-named column, or a
    window function of one (``lag(visit_date)``). DuckDB subtracts two dates to a whole
    number of days; Spark needs DATEDIFF for that."""
    if isinstance(node, exp.Paren):
        return _is_date(node.this)
    if isinstance(node, exp.Cast):
        return node.to.this == exp.DataType.Type.DATE
    if isinstance(node, exp.Column):
        return bool(_DATE_NAME.search(node.name.lower()))
    if isinstance(node, exp.Window):
        return _is_date(node.this)
    if isinstance(node, exp.Lag | exp.Lead | exp.Max | exp.Min | exp.FirstValue | exp.LastValue):
        return _is_date(node.this)
    return False


def _regexp_replace(node: exp.RegexpReplace) -> exp.Expression:
    """DuckDB writes back-references as ``\\1`` and replaces only the first match unless
    the flags hold ``g``; Java writes ``$1`` and replaces every match."""
    replacement = node.args.get("replacement")
    if not isinstance(replacement, exp.Literal):
        raise WarehouseError("regexp_replace on Spark needs a literal replacement text")
    flags = node.args.get("modifiers")
    flags_text = flags.name if isinstance(flags, exp.Literal) else ""
    pattern = node.expression
    text = replacement.this.replace("$", "\\$")
    if "g" in flags_text or (isinstance(pattern, exp.Literal) and pattern.this.startswith("^")):
        text = re.sub(r"\\(\d)", r"$\1", text)
        return exp.RegexpReplace(this=node.this, expression=pattern, replacement=exp.Literal.string(text))
    if not isinstance(pattern, exp.Literal):
        raise WarehouseError("regexp_replace (first match only) on Spark needs a literal pattern")
    # First match only: a lazy prefix group in front, every back-reference one further on.
    text = "$1" + re.sub(r"\\(\d)", lambda m: f"${int(m.group(1)) + 1}", text)
    return exp.RegexpReplace(
        this=node.this,
        expression=exp.Literal.string(f"(?s)^(.*?)(?:{pattern.this})"),
        replacement=exp.Literal.string(text),
    )


# DuckDB prints timestamps in JSON as `2025-12-16 10:20:32`; Spark's default adds T and millis.
_JSON_OPTIONS = sqlglot.parse_one(
    "map('timestampNTZFormat', 'yyyy-MM-dd HH:mm:ss', 'timestampFormat', 'yyyy-MM-dd HH:mm:ss')", read="spark"
)


def _boundaries(unit: str, start: exp.Expression, end: exp.Expression) -> exp.Expression:
    """DuckDB's date_diff counts unit boundaries crossed (years: 2025-12-31 → 2026-01-01
    is 1); Spark's DATEDIFF(unit, …) counts whole units."""
    years = exp.Sub(this=exp.func("year", end.copy()), expression=exp.func("year", start.copy()))
    if unit == "YEAR":
        return years
    months = exp.Sub(this=exp.func("month", end.copy()), expression=exp.func("month", start.copy()))
    if unit == "MONTH":
        return exp.Add(this=exp.Mul(this=exp.paren(years), expression=exp.Literal.number(12)), expression=months)
    raise WarehouseError(f"date_diff('{unit.lower()}', …) is not on the Spark engine yet")


def _is_average(node: exp.Expression) -> bool:
    """avg(…), with its FILTER and OVER clauses (a cast must wrap the whole call)."""
    if isinstance(node, exp.Filter | exp.Window):
        return _is_average(node.this)
    return isinstance(node, exp.Avg)


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Sub) and _is_date(node.this) and _is_date(node.expression):
        return exp.DateDiff(this=node.this, expression=node.expression, unit=exp.var("DAY"))
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("date_sub", "datesub") and len(node.expressions) == 3:
        # DuckDB's date_sub(part, start, end) counts whole parts, as Spark's DATEDIFF(part, …) does.
        part, start, end = node.expressions
        return exp.DateDiff(this=end, expression=start, unit=exp.var(part.name.upper()))
    if isinstance(node, exp.DateDiff) and node.args.get("date_part_boundary"):
        unit = node.text("unit").upper() or "DAY"
        if unit != "DAY":
            return _boundaries(unit, node.expression, node.this)
        node.set("date_part_boundary", None)
    if _is_average(node) and not isinstance(node.parent, exp.Cast | exp.Filter | exp.Window):
        return exp.cast(node.copy(), "DOUBLE")  # DuckDB's avg(DECIMAL) is DOUBLE; Spark's stays DECIMAL
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_json" and len(node.expressions) == 1:
        node.append("expressions", _JSON_OPTIONS.copy())
        return node
    if isinstance(node, exp.Div) and not isinstance(node.this, exp.Cast):
        # DuckDB's `/` is always DOUBLE division; Spark divides DECIMALs (0.5, 365.25) as
        # DECIMAL with a rounded scale, which reorders near-ties.
        node.set("this", exp.cast(node.this, "DOUBLE"))
        return node
    if isinstance(node, exp.RegexpReplace):
        return _regexp_replace(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "make_timestamp" and len(node.expressions) == 1:
        return exp.func("timestamp_micros", *node.expressions)
    if isinstance(node, exp.WindowSpec) and node.args.get("kind", "").upper() == "RANGE" and (
        any(isinstance(node.args.get(side), exp.Interval) for side in ("start", "end"))
    ):
        raise WarehouseError("RANGE windows with INTERVAL bounds are not on the Spark engine yet")
    return node


def _to_spark(tree: exp.Expression) -> str:
    """The Spark SQL for a DuckDB-dialect statement tree: every dialect gap in one place."""
    return tree.transform(_rewrite).sql(dialect="spark")


class SparkEngine(Engine):
    """Warehouse layers as Spark databases, tables as Parquet under ``warehouse_dir``.

    ``transaction()`` is weaker than DuckDB's: Spark has no multi-statement transactions,
    so statements inside it are applied one by one and a failure part way leaves the
    earlier ones applied. Each single statement that rewrites a table (DELETE, INSERT
    OVERWRITE) replaces its Parquet files as one job. Run idempotent stages on Spark and
    rerun a failed one.
    """

    dialect = "spark"

    def __init__(
        self,
        warehouse_dir: str | Path,
        *,
        master: str = DEFAULT_MASTER,
        conf: dict[str, str] | None = None,
        session: Any = None,
    ) -> None:
        self.path = Path(warehouse_dir)
        self.path.mkdir(parents=True, exist_ok=True)
        self.spark = session or spark_session(master, conf)
        self._temp: dict[str, Any] = {}
        for layer in (*LAYERS, "main"):
            self._database(layer)
            for folder in sorted((self.path / layer).iterdir()):
                if folder.is_dir() and not folder.name.startswith((".", "_")):
                    self.spark.sql(
                        f"CREATE TABLE IF NOT EXISTS {layer}.{folder.name} USING PARQUET LOCATION '{folder.as_posix()}'"
                    )
        self.spark.catalog.setCurrentDatabase("main")  # unqualified names mean main.*, as on DuckDB

    def _database(self, layer: str) -> None:
        (self.path / layer).mkdir(exist_ok=True)
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer} LOCATION '{(self.path / layer).as_posix()}'")

    # ------------------------------------------------------------------ statements

    def _parse(self, sql: str, params: Sequence[Any] | None) -> exp.Expression:
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise WarehouseError(f"the Spark engine cannot read this statement: {exc}") from exc
        return _bind(tree, params)

    @contextmanager
    def _refusals(self) -> Iterator[None]:
        """Spark's errors as a WarehouseError with Spark's first line."""
        from pyspark.errors import PySparkException

        try:
            yield
        except PySparkException as exc:
            first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise WarehouseError(f"Spark refused the statement: {first}") from exc

    def _query(self, tree: exp.Expression) -> Any:
        with self._refusals():
            return self.spark.sql(_to_spark(tree))

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        tree = self._parse(sql, params)
        with self._refusals():
            self._dispatch(tree)

    def _dispatch(self, tree: exp.Expression) -> None:
        if isinstance(tree, exp.Create) and tree.kind == "TABLE":
            self._create(tree)
        elif isinstance(tree, exp.Create) and tree.kind in ("SCHEMA", "DATABASE"):
            self._database(tree.this.name)
        elif isinstance(tree, exp.Insert):
            self._insert(tree)
        elif isinstance(tree, exp.Delete):
            self._delete(tree)
        elif isinstance(tree, exp.Update):
            raise WarehouseError("UPDATE is not supported on the Spark engine yet (Parquet tables are rewritten, not updated)")
        elif isinstance(tree, exp.Transaction | exp.Commit | exp.Rollback):
            return
        else:
            self._query(tree).collect()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        frame = self._query(self._parse(sql, params))
        with self._refusals():
            return [tuple(r) for r in frame.collect()]

    def arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        frame = self._query(self._parse(sql, params))
        with self._refusals():
            return frame.toArrow()

    # ------------------------------------------------------------------ tables

    @staticmethod
    def _name(table: exp.Expression) -> tuple[str, str]:
        """(database or '', table) of a table reference."""
        if isinstance(table, exp.Schema):
            table = table.this
        return table.db, table.name

    def _is_temp(self, db: str, name: str) -> bool:
        return not db and name in self._temp

    def _keep(self, name: str, frame: Any) -> None:
        """Materialise ``frame`` as the temp table ``name`` (cut from its inputs)."""
        frame = frame.localCheckpoint()
        frame.createOrReplaceTempView(name)
        self._temp[name] = frame

    def _create(self, tree: exp.Create) -> None:
        temporary = any(isinstance(p, exp.TemporaryProperty) for p in (tree.args.get("properties") or exp.Properties()).expressions)
        db, name = self._name(tree.this)
        replace = bool(tree.args.get("replace"))
        exists = bool(tree.args.get("exists"))
        if temporary:
            if exists and name in self._temp:
                return
            frame = self._query(tree.expression) if tree.expression else self.spark.createDataFrame([], self._schema(tree))
            self._keep(name, frame)
            return
        db = db or "main"
        qualified = f"{db}.{name}"
        if self.spark.catalog.tableExists(qualified):
            if exists:
                return
            if not replace:
                raise WarehouseError(f"the table {qualified} already exists")
            self.spark.sql(f"DROP TABLE {qualified}")
        location = (self.path / db / name).as_posix()
        Path(location).mkdir(parents=True, exist_ok=True)
        if tree.expression:
            frame = self._query(tree.expression).localCheckpoint()
            frame.write.mode("overwrite").option("path", location).format("parquet").saveAsTable(qualified)
        else:
            self.spark.sql(f"CREATE TABLE {qualified} ({self._schema(tree)}) USING PARQUET LOCATION '{location}'")

    @staticmethod
    def _schema(tree: exp.Create) -> str:
        columns = [c for c in tree.this.expressions if isinstance(c, exp.ColumnDef)]
        if not columns:
            raise WarehouseError("CREATE TABLE on Spark needs a column list or AS SELECT")
        return ", ".join(f"`{c.name}` {c.args['kind'].sql(dialect='spark')}" for c in columns)

    def _target(self, db: str, name: str) -> Any:
        return self._temp[name] if self._is_temp(db, name) else self.spark.table(f"{db or 'main'}.{name}")

    def _write(self, db: str, name: str, frame: Any, *, overwrite: bool) -> None:
        """Append ``frame`` (columns in the table's order) to a table, or replace its rows."""
        target = self._target(db, name)
        frame = frame.select(*[frame[c].cast(t.dataType) for c, t in zip(frame.columns, target.schema, strict=True)])
        frame = frame.toDF(*target.columns)
        if self._is_temp(db, name):
            self._keep(name, frame if overwrite else target.unionByName(frame))
        else:
            frame.write.insertInto(f"{db or 'main'}.{name}", overwrite=overwrite)

    def _insert(self, tree: exp.Insert) -> None:
        if tree.args.get("conflict") or tree.args.get("alternative") or tree.args.get("returning"):
            raise WarehouseError(
                "INSERT … ON CONFLICT / OR REPLACE / RETURNING is not supported on the Spark engine "
                "(Parquet tables have no keys)"
            )
        db, name = self._name(tree.this)
        target = self._target(db, name)
        frame = self._query(tree.expression)
        listed = tree.this.expressions if isinstance(tree.this, exp.Schema) else []
        if listed:  # INSERT INTO t (a, b): the other columns are NULL
            frame = frame.toDF(*[c.name for c in listed])
            frame = frame.select(*[frame[c] if c in frame.columns else _null(c) for c in target.columns])
        if len(frame.columns) != len(target.columns):
            raise WarehouseError(f"INSERT INTO {name}: {len(frame.columns)} values for {len(target.columns)} columns")
        self._write(db, name, frame, overwrite=False)

    def _delete(self, tree: exp.Delete) -> None:
        db, name = self._name(tree.this)
        where = tree.args.get("where")
        source = name if self._is_temp(db, name) else f"{db or 'main'}.{name}"
        gone = _to_spark(where.this) if where else "true"
        keep = f"SELECT * FROM {source} WHERE NOT coalesce(({gone}), false)"
        frame = self.spark.sql(keep).localCheckpoint()  # read fully before the files are replaced
        self._write(db, name, frame, overwrite=True)

    def append(self, table: str, data: pa.Table | pa.RecordBatch) -> int:
        if data.num_rows == 0:
            return 0
        if isinstance(data, pa.RecordBatch):
            data = pa.Table.from_batches([data])
        db, _, name = table.rpartition(".")
        with self._refusals():
            target = self._target(db, name)
            unknown = set(data.column_names) - set(target.columns)
            if unknown:
                raise WarehouseError(f"{table} has no column(s) {', '.join(sorted(unknown))}")
            frame = self.spark.createDataFrame(data)
            frame = frame.select(*[frame[c] if c in data.column_names else _null(c) for c in target.columns])
            self._write(db, name, frame, overwrite=False)
        return data.num_rows

    def load(self, table: str, data: pa.Table) -> None:
        """Create (or replace) ``table`` holding ``data``: a temp table when unqualified,
        else a Parquet table. Copies a table from another engine: ``load(name, other.arrow(...))``."""
        db, _, name = table.rpartition(".")
        frame = self.spark.createDataFrame(data)
        if not db:
            self._keep(name, frame)
            return
        location = (self.path / db / name).as_posix()
        frame.write.mode("overwrite").option("path", location).format("parquet").saveAsTable(table)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # Statements apply one by one (see the class docstring): nothing to begin or undo.
        yield

    def table_exists(self, qualified_name: str) -> bool:
        db, _, name = qualified_name.rpartition(".")
        return self._is_temp(db, name) or bool(db) and self.spark.catalog.tableExists(qualified_name)

    def columns(self, qualified_name: str) -> list[str]:
        db, _, name = qualified_name.rpartition(".")
        with self._refusals():
            return list(self._target(db, name).columns)

    def close(self) -> None:
        for name in self._temp:
            self.spark.catalog.dropTempView(name)
        self._temp.clear()


def _null(column: str) -> Any:
    from pyspark.sql import functions as F

    return F.lit(None).alias(column)
