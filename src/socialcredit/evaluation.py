"""The `evaluate` service: read files, run an engine, write standings and the rejects report.

One function serves the CLI (and later the HTTP service): it parses nothing from a command line
and prints nothing; it returns what happened.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from pathlib import Path

from socialcredit.engines.base import Engine, Report, Request, write_rejects
from socialcredit.errors import UsageError
from socialcredit.inputs import Input, is_url, read_input, remote_parquet
from socialcredit.policy.model import Catalogue, Scheme
from socialcredit.semantics.fields import (
    EVENT_COLUMNS,
    RECORD_COLUMNS,
    RECORD_OPTIONAL,
    parse_instant,
)

ENGINES = ("reference", "duckdb", "spark")


def get_engine(name: str, *, spark_master: str | None = None) -> Engine:
    """An engine by name. ``spark`` needs the extra socialcredit[spark] (a clear usage error
    says so); ``spark_master`` is its cluster (default $SOCIALCREDIT_SPARK_MASTER or local)."""
    if name == "spark":
        from socialcredit.engines.spark_engine import SparkEngine, require_pyspark

        require_pyspark()  # fails early, naming the extra, when PySpark is missing
        return SparkEngine(master=spark_master)
    if name == "reference":
        from socialcredit.engines.reference import ReferenceEngine

        return ReferenceEngine()
    if name == "duckdb":
        from socialcredit.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine()
    raise UsageError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")


def parse_known_at(text: str | None, *, now: dt.datetime | None = None) -> int:
    """K as UTC microseconds; default now. An instant without a zone is a usage error."""
    if text is None:
        moment = now or dt.datetime.now(dt.UTC)
        return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    value = parse_instant(text)
    if value is None:
        raise UsageError(
            f"--known-at {text!r} is not an instant with a zone, such as 2024-05-01T08:00:00Z "
            "or 2024-05-01T16:00:00+08:00"
        )
    return value


def parse_as_of(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--as-of {text!r} is not a date YYYY-MM-DD") from None


def evaluate_files(
    *,
    catalogue: Catalogue,
    scheme: Scheme,
    records: Path | str,
    events: Path | str | None,
    as_of: dt.date,
    known_at_us: int,
    out: Path | str,
    engine: Engine,
    explain: bool = False,
    rejects: Path | None = None,
    also: tuple[Scheme, ...] = (),
) -> tuple[Report, Request]:
    """Evaluate one scheme over furnished files; writes standings (and rejects when asked).

    Both files appear whole or not at all: each is written beside its destination under a
    temporary name and renamed into place once complete, so a failed or killed run leaves any
    earlier file as it was. An ``out`` ending in ``.parquet`` is a Parquet dataset partitioned
    by kind, written by the Spark engine (which swaps it in whole itself).
    """
    remote = [str(p) for p in (records, events, out) if p is not None and is_url(p)]
    if remote and engine.name != "spark":
        raise UsageError(f"{remote[0]}: URLs are read and written by --engine spark only")
    if is_url(out) and not str(out).rstrip("/").endswith(".parquet"):
        raise UsageError(f"--out {out}: to a URL, standings are written as a .parquet dataset")
    dataset = str(out).rstrip("/").endswith(".parquet")
    if dataset and engine.name != "spark":
        raise UsageError(
            f"--out {out}: a Parquet dataset of standings is written by --engine spark; the "
            f"{engine.name} engine writes JSON lines (give --out a .jsonl name)"
        )
    if dataset and explain:
        raise UsageError("--explain writes JSON lines: give --out a .jsonl name")
    if dataset and also:
        raise UsageError("several schemes are written as JSON lines: give --out a .jsonl name")
    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
    partial_out = (
        out if dataset or is_url(out) else Path(out).with_name(f".{Path(out).name}.partial")
    )
    request = Request(
        catalogue=catalogue,
        scheme=scheme,
        records=_input(records, (*RECORD_COLUMNS, *RECORD_OPTIONAL), RECORD_COLUMNS),
        events=_input(events, EVENT_COLUMNS, EVENT_COLUMNS) if events else None,
        as_of=as_of,
        known_at_us=known_at_us,
        out=partial_out,
        explain=explain,
        also=also,
    )
    try:
        report = engine.run(request)
        if rejects is not None:
            partial_rejects = rejects.with_name(f".{rejects.name}.partial")
            write_rejects(partial_rejects, request, report)
            os.replace(partial_rejects, rejects)
        if not dataset:
            os.replace(partial_out, out)
    finally:
        if not is_url(out):
            local = Path(out)
            for leftover in local.parent.glob(f".{local.name}.partial"):
                leftover.unlink()
    return report, replace(request, out=out)


def _input(location: Path | str, fields: tuple[str, ...], required: tuple[str, ...]) -> Input:
    if is_url(location):
        return remote_parquet(str(location))
    return read_input(Path(location), fields=fields, required=required)
