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

import pyarrow as pa
import pyarrow.parquet as pq

from socialcredit.engines.backend import STANDING_COLUMNS, SqlBackend, run_request
from socialcredit.engines.base import Report, Request
from socialcredit.engines.sql import (
    Dialect,
    Statement,
)
from socialcredit.errors import UsageError
from socialcredit.inputs import Input
from socialcredit.semantics.fields import RECORD_OPTIONAL

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


class SparkBackend(SqlBackend):
    """Statements as temporary views and cached tables of the process's Spark session; every
    name a run creates is dropped on close, so that the session serves the next run."""

    dialect = Dialect("spark")

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.names: list[str] = []
        self.scratch: tempfile.TemporaryDirectory[str] | None = None

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)
        self.names.append(name)

    def register_snapshot(self, name: str, table: pa.Table) -> None:
        """As Parquet in a scratch folder: on a cluster ``$SOCIALCREDIT_SPARK_SCRATCH`` names
        a folder every node sees (default: the system's temporary folder, enough in local
        mode); removed on close."""
        if self.scratch is None:
            where = os.environ.get("SOCIALCREDIT_SPARK_SCRATCH") or None
            self.scratch = tempfile.TemporaryDirectory(prefix="socialcredit-snapshot-", dir=where)
        path = Path(self.scratch.name) / f"{name}.parquet"
        pq.write_table(table, path)
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)
        self.names.append(name)

    def register_input(self, name: str, source: Input, fields: tuple[str, ...]) -> None:
        register_input(self.spark, name, source, fields)
        self.names.append(name)

    def create(self, statement: Statement) -> None:
        self.names.append(statement.name)
        if statement.view or statement.name not in CACHED:
            self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {statement.name} AS {statement.query}")
        else:
            self.spark.sql(f"CACHE TABLE {statement.name} AS {statement.query}")

    def rows(self, query: str) -> Iterator[dict[str, Any]]:
        for row in self.spark.sql(query).toLocalIterator():
            yield row.asDict()

    def arrow(self, query: str) -> pa.Table:
        return self.spark.sql(query).toArrow()

    def rows_read(self, name: str, source: Input) -> int:
        return self.scalar(f"SELECT count(*) FROM {name}")  # a URL: only Spark has seen it

    def write_output(self, request: Request) -> None:
        select = f"SELECT {STANDING_COLUMNS} FROM standings"
        if isinstance(request.out, str):  # a URL: Spark writes there itself
            self.spark.sql(select).write.mode("overwrite").partitionBy("kind").parquet(request.out)
        elif request.out.suffix == ".parquet":
            write_parquet(self.spark, request.out)
        else:
            super().write_output(request)

    def close(self) -> None:
        drop(self.spark, self.names)
        self.names = []
        if self.scratch is not None:
            self.scratch.cleanup()
            self.scratch = None


class SparkEngine:
    """The SQL engine's statements, run by Spark."""

    name = "spark"

    def __init__(self, *, master: str | None = None) -> None:
        self.master = master
        self.dialect = Dialect("spark")

    def backend(self) -> SparkBackend:
        return SparkBackend(spark_session(self.master))

    def run(self, request: Request) -> Report:
        backend = self.backend()
        try:
            return run_request(backend, request)
        finally:
            backend.close()


# The steps Spark keeps (CACHE TABLE): those read more than once downstream. Every other step
# is a view, folded into the queries that read it; each cached step costs Spark a job, and at
# small sizes a job's fixed cost (a second or so on a laptop) is the whole of the time.
CACHED = frozenset(
    {"rec_ids", "rec_checked", "rec_repeats", "ev_checked", "ev_visible", "standings"}
)


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
