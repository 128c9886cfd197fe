"""The DuckDB engine: the whole population at once, in vectorised SQL (see engines.sql)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

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
from socialcredit.inputs import Input
from socialcredit.policy.model import Catalogue
from socialcredit.semantics.fields import EVENT_COLUMNS, RECORD_COLUMNS, RECORD_OPTIONAL, Rejection
from socialcredit.semantics.reference import extendable_codes

EMPTY_EVENTS = pa.table(
    {
        "_row": pa.array([], pa.int64()),
        **{c: pa.array([], pa.string()) for c in (*EVENT_COLUMNS, "_error")},
    }
)


class DuckDBEngine:
    """Vectorised evaluation in an in-process DuckDB database."""

    name = "duckdb"

    def __init__(self, *, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads = threads
        self.memory_limit = memory_limit
        self.dialect = Dialect("duckdb")

    def connect(self) -> duckdb.DuckDBPyConnection:
        config: dict[str, Any] = {"preserve_insertion_order": False}
        if self.threads:
            config["threads"] = self.threads
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        return duckdb.connect(":memory:", config=config)

    def run(self, request: Request) -> Report:
        con = self.connect()
        try:
            return self._run(con, request)
        finally:
            con.close()

    def _run(self, con: duckdb.DuckDBPyConnection, request: Request) -> Report:
        register_input(con, "records_in", request.records, (*RECORD_COLUMNS, *RECORD_OPTIONAL))
        if request.events is not None:
            register_input(con, "events_in", request.events, EVENT_COLUMNS)
        else:
            con.register("events_in", EMPTY_EVENTS)
        register_catalogue(con, request.catalogue)
        statements = (
            record_statements(self.dialect)
            + event_statements(self.dialect, extendable=extendable_codes(request.scheme))
            + evaluation_statements(
                self.dialect, request.scheme, as_of=request.as_of, known_at_us=request.known_at_us
            )
        )
        run_statements(con, statements)

        request.local_out.parent.mkdir(parents=True, exist_ok=True)
        if request.explain:
            with request.local_out.open("w", encoding="utf-8", newline="\n") as handle:
                for standing in explained_standings(_rows_of(con), request.scheme):
                    handle.write(standing.to_json())
                    handle.write("\n")
        else:
            con.execute(
                "COPY (SELECT subject_id, kind, score, grade, lists, measures FROM standings "
                f"ORDER BY sid) TO {quote(str(request.local_out))} (FORMAT json)"
            )
        count = con.execute
        return Report(
            records_read=request.records.rows,
            # Counted from the written tables: the views would re-run their filters.
            records_accepted=_scalar(
                count(
                    "SELECT (SELECT count(*) FROM rec_checked WHERE problem IS NULL) "
                    "- (SELECT count(*) FROM rec_repeats)"
                )
            ),
            records_noop=_scalar(count("SELECT count(*) FROM rec_repeats WHERE same")),
            events_read=request.events.rows if request.events else 0,
            events_accepted=_scalar(count("SELECT count(*) FROM ev_checked WHERE problem IS NULL")),
            subjects=_scalar(count("SELECT count(*) FROM standings")),
            record_rejections=rejections(con, "rec_rejects"),
            event_rejections=rejections(con, "ev_rejects"),
        )


def run_statements(con: duckdb.DuckDBPyConnection, statements: Iterable[Statement]) -> None:
    """Each step as a temporary view or table: the one loop every DuckDB run goes through."""
    for step in statements:
        kind = "VIEW" if step.view else "TABLE"
        con.execute(f"CREATE TEMP {kind} {step.name} AS {step.query}")


def register_catalogue(con: duckdb.DuckDBPyConnection, catalogue: Catalogue) -> None:
    """The catalogue as table ``catalogue_codes`` (code, person, organisation)."""
    rows = ", ".join(
        f"({quote(c.id)}, {'person' in c.subjects}, {'organisation' in c.subjects})"
        for c in catalogue.codes.values()
    )
    con.execute(
        "CREATE TEMP TABLE catalogue_codes AS SELECT * FROM (VALUES "
        f"{rows}) AS t(code, person, organisation)"
    )


def register_input(
    con: duckdb.DuckDBPyConnection, name: str, source: Input, fields: tuple[str, ...]
) -> None:
    """Expose an input as ``name``: a text-only Parquet file is scanned in place (rows numbered
    from 1 in file order); anything else goes through its Arrow table."""
    if source.parquet is None:
        con.register(name, source.table)
        return
    columns = ", ".join(
        quote_ident(f) if f in source.present else f"CAST(NULL AS VARCHAR) AS {quote_ident(f)}"
        for f in fields
    )
    con.execute(
        f"CREATE TEMP VIEW {name} AS SELECT CAST(file_row_number AS BIGINT) + 1 AS _row, "
        f"{columns}, CAST(NULL AS VARCHAR) AS _error "
        f"FROM read_parquet({quote(str(source.parquet))}, file_row_number = true)"
    )


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _scalar(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


def rejections(con: duckdb.DuckDBPyConnection, table: str) -> list[Rejection]:
    rows = con.execute(f"SELECT _row, problem, value, detail FROM {table} ORDER BY _row").fetchall()
    rejections = []
    for row, problem, value, detail in rows:
        field, kind = problem.split("|")
        rejections.append(Rejection(int(row), field, kind, value, detail))
    return rejections


def _rows_of(con: duckdb.DuckDBPyConnection) -> RowsOf:
    def rows(query: str) -> Iterator[dict[str, Any]]:
        cursor = con.execute(query)
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            yield dict(zip(names, values, strict=True))

    return rows
