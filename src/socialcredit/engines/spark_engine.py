"""The Spark engine: the DuckDB engine's SQL (engines.sql, dialect ``spark``) on Apache Spark.

Local mode (``local[*]``) by default; a cluster when a master URL is given (``--spark-master`` or
``SOCIALCREDIT_SPARK_MASTER``). PySpark is the optional extra ``socialcredit[spark]``.

Every step of the evaluation is one statement of :mod:`socialcredit.engines.sql`: a ``view``
step becomes a temporary view, any other a cached table (``CACHE TABLE … AS``). Inputs keep an
explicit row number (``_row``): a file read by the driver numbers its rows as every engine does,
and a Parquet file Spark reads itself is numbered by Spark's ``_metadata.row_index``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from socialcredit.engines.assemble import RowsOf, explained_standings
from socialcredit.engines.base import Report, Request
from socialcredit.engines.sql import (
    Dialect,
    Statement,
    evaluation_statements,
    event_statements,
    quote,
    record_statements,
)
from socialcredit.errors import UsageError
from socialcredit.inputs import Input
from socialcredit.policy.model import Catalogue
from socialcredit.semantics.fields import EVENT_COLUMNS, RECORD_COLUMNS, RECORD_OPTIONAL, Rejection
from socialcredit.semantics.reference import extendable_codes

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MASTER_VARIABLE = "SOCIALCREDIT_SPARK_MASTER"
# In local mode Spark runs in the driver's JVM: its heap is the engine's memory.
DRIVER_MEMORY_VARIABLE = "SOCIALCREDIT_SPARK_DRIVER_MEMORY"
LOG_CONFIG = Path(__file__).parent.parent / "data" / "spark-log4j2.properties"
MISSING = (
    "the Spark engine needs PySpark: install the extra with "
    "`pip install 'socialcredit[spark]'` (and a Java 17+ runtime)"
)


def require_pyspark() -> None:
    """A usage error naming the extra when PySpark is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise UsageError(MISSING) from None


def spark_session(master: str | None = None) -> SparkSession:
    """The process's Spark session (created on first use): ``master`` or
    ``$SOCIALCREDIT_SPARK_MASTER`` or ``local[*]``. Spark logs errors only."""
    require_pyspark()
    from pyspark.sql import SparkSession

    url = master or os.environ.get(MASTER_VARIABLE) or "local[*]"
    active = SparkSession.getActiveSession()
    if active is not None and active.sparkContext.master == url:
        return active
    if active is not None:
        active.stop()
    builder = (
        SparkSession.builder.master(url)
        .appName("socialcredit")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # A failed cast is NULL (as DuckDB's try_cast); every check is explicit in the SQL.
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={LOG_CONFIG}")
    )
    if url.startswith("local"):
        # One machine: a few shuffle partitions per core, not the cluster default of 200; the
        # JVM heap from $SOCIALCREDIT_SPARK_DRIVER_MEMORY (default 4g).
        builder = builder.config(
            "spark.sql.shuffle.partitions", str(2 * (os.cpu_count() or 1))
        ).config("spark.driver.memory", os.environ.get(DRIVER_MEMORY_VARIABLE, "4g"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    """The SQL engine's statements, run by Spark."""

    name = "spark"

    def __init__(self, *, master: str | None = None) -> None:
        self.master = master
        self.dialect = Dialect("spark")

    def run(self, request: Request) -> Report:
        spark = spark_session(self.master)
        names: list[str] = []
        try:
            return self._run(spark, request, names)
        finally:
            drop(spark, names)

    def _run(self, spark: SparkSession, request: Request, names: list[str]) -> Report:
        register_input(spark, "records_in", request.records, (*RECORD_COLUMNS, *RECORD_OPTIONAL))
        names.append("records_in")
        if request.events is not None:
            register_input(spark, "events_in", request.events, EVENT_COLUMNS)
        else:
            empty = pa.table(
                {
                    "_row": pa.array([], pa.int64()),
                    **{c: pa.array([], pa.string()) for c in (*EVENT_COLUMNS, "_error")},
                }
            )
            spark.createDataFrame(empty).createOrReplaceTempView("events_in")
        names.append("events_in")
        register_catalogue(spark, request.catalogue)
        names.append("catalogue_codes")
        statements = (
            record_statements(self.dialect)
            + event_statements(self.dialect, extendable=extendable_codes(request.scheme))
            + evaluation_statements(
                self.dialect, request.scheme, as_of=request.as_of, known_at_us=request.known_at_us
            )
        )
        run_statements(spark, statements, names)

        if isinstance(request.out, str):  # a URL: Spark writes there itself
            select = "SELECT subject_id, kind, score, grade, lists, measures FROM standings"
            spark.sql(select).write.mode("overwrite").partitionBy("kind").parquet(request.out)
        elif request.out.suffix == ".parquet":
            write_parquet(spark, request.out)
        else:
            request.out.parent.mkdir(parents=True, exist_ok=True)
            if request.explain:
                with request.out.open("w", encoding="utf-8", newline="\n") as handle:
                    for standing in explained_standings(rows_of(spark), request.scheme):
                        handle.write(standing.to_json())
                        handle.write("\n")
            else:
                write_json_lines(
                    spark.sql(
                        "SELECT subject_id, kind, score, grade, lists, measures FROM standings"
                    ).toArrow(),
                    request.out,
                )
        count = _count(spark)
        return Report(
            records_read=count("SELECT count(*) FROM records_in"),
            records_accepted=count(
                "SELECT (SELECT count(*) FROM rec_checked WHERE problem IS NULL) "
                "- (SELECT count(*) FROM rec_repeats)"
            ),
            records_noop=count("SELECT count(*) FROM rec_repeats WHERE same"),
            events_read=count("SELECT count(*) FROM events_in") if request.events else 0,
            events_accepted=count("SELECT count(*) FROM ev_checked WHERE problem IS NULL"),
            subjects=count("SELECT count(*) FROM standings"),
            record_rejections=rejections(spark, "rec_rejects"),
            event_rejections=rejections(spark, "ev_rejects"),
        )


# The steps Spark keeps (CACHE TABLE): those read more than once downstream. Every other step
# is a view, folded into the queries that read it; each cached step costs Spark a job, and at
# small sizes a job's fixed cost (a second or so on a laptop) is the whole of the time.
CACHED = frozenset(
    {"rec_ids", "rec_checked", "rec_repeats", "ev_checked", "ev_visible", "standings"}
)


def run_statements(spark: SparkSession, statements: list[Statement], names: list[str]) -> None:
    """Each step as a temporary view or a cached table; ``names`` collects what to drop."""
    for step in statements:
        names.append(step.name)
        if step.view or step.name not in CACHED:
            spark.sql(f"CREATE OR REPLACE TEMP VIEW {step.name} AS {step.query}")
        else:
            spark.sql(f"CACHE TABLE {step.name} AS {step.query}")


def drop(spark: SparkSession, names: list[str]) -> None:
    """Forget a run's views and cached tables, so that the session serves the next run."""
    for name in reversed(names):
        spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
        spark.catalog.dropTempView(name)


def register_input(spark: SparkSession, name: str, source: Input, fields: tuple[str, ...]) -> None:
    """``name``: ``_row``, the fields as text, ``_error``. A text-only Parquet file is read by
    Spark itself; anything else is read by the driver and handed over as Arrow."""
    frame: DataFrame
    if source.parquet is not None:
        from pyspark.sql import functions as F

        raw = spark.read.parquet(str(source.parquet))
        if isinstance(source.parquet, str):  # a URL: Spark is the first to see its columns
            source = replace(source, present=_remote_columns(raw, source.parquet, fields))
        frame = raw.select(
            (F.col("_metadata.row_index") + 1).cast("bigint").alias("_row"),
            *(
                F.col(f"`{f}`") if f in source.present else F.lit(None).cast("string").alias(f)
                for f in fields
            ),
            F.lit(None).cast("string").alias("_error"),
        )
    else:
        frame = spark.createDataFrame(source.table.select(["_row", *fields, "_error"]))
    frame.createOrReplaceTempView(name)


def _remote_columns(raw: DataFrame, url: str, fields: tuple[str, ...]) -> tuple[str, ...]:
    """The known columns of a Parquet file at a URL; each must be text, the required present."""
    types = dict(raw.dtypes)
    optional = {*RECORD_OPTIONAL}
    missing = [f for f in fields if f not in types and f not in optional]
    if missing:
        raise UsageError(
            f"{url}: missing required columns {', '.join(missing)} (found: {', '.join(types)})"
        )
    typed = [f for f in fields if f in types and types[f] != "string"]
    if typed:
        raise UsageError(
            f"{url}: columns {', '.join(typed)} are not text; a Parquet file read from a URL "
            "must carry text columns, as a furnisher sends them (or copy it locally)"
        )
    return tuple(f for f in fields if f in types)


def register_catalogue(spark: SparkSession, catalogue: Catalogue) -> None:
    rows = ", ".join(
        f"({quote(c.id)}, {'person' in c.subjects}, {'organisation' in c.subjects})"
        for c in catalogue.codes.values()
    )
    spark.sql(
        "CREATE OR REPLACE TEMP VIEW catalogue_codes AS SELECT * FROM VALUES "
        f"{rows} AS t(code, person, organisation)"
    )


def rows_of(spark: SparkSession) -> RowsOf:
    def rows(query: str) -> Iterator[dict[str, Any]]:
        for row in spark.sql(query).toLocalIterator():
            yield row.asDict()

    return rows


def _count(spark: SparkSession) -> Any:
    def count(query: str) -> int:
        return int(spark.sql(query).collect()[0][0])

    return count


def rejections(spark: SparkSession, table: str) -> list[Rejection]:
    found = []
    for row in spark.sql(
        f"SELECT _row, problem, value, detail FROM {table} ORDER BY _row"
    ).collect():
        field, kind = str(row["problem"]).split("|")
        found.append(Rejection(int(row["_row"]), field, kind, row["value"], row["detail"]))
    return found


def write_json_lines(standings: pa.Table, out: Path) -> None:
    """The canonical JSON lines, in identifier order, byte for byte as the DuckDB engine
    writes them (DuckDB writes them here too, from Spark's Arrow result)."""
    con = duckdb.connect(":memory:")
    try:
        con.register("result", standings)
        con.execute(
            "COPY (SELECT subject_id, kind, score, grade, lists, measures FROM result "
            f"ORDER BY subject_id) TO {quote(str(out))} (FORMAT json)"
        )
    finally:
        con.close()


def write_parquet(spark: SparkSession, out: Path) -> None:
    """The standings as a Parquet dataset partitioned by kind (subject_id, score, grade, lists,
    measures), written by Spark beside ``out`` and swapped in whole."""
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    spark.sql(
        "SELECT subject_id, kind, score, grade, lists, measures FROM standings"
    ).write.partitionBy("kind").parquet(str(partial.absolute()))
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old", dir=out.parent))
        out.rename(old / out.name)
        partial.rename(out)
        shutil.rmtree(old)
    else:
        partial.rename(out)
