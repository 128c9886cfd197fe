"""The DuckDB engine: the whole population at once, in vectorised SQL (see engines.sql), on a
:class:`DuckDBBackend` (engines.backend)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from socialcredit.engines.backend import STANDING_COLUMNS, SqlBackend, run_request
from socialcredit.engines.base import Report, Request
from socialcredit.engines.sql import Dialect, Statement, quote
from socialcredit.inputs import Input
from socialcredit.policy.model import Catalogue
from socialcredit.semantics.fields import Rejection


class DuckDBBackend(SqlBackend):
    """Statements as temporary views and tables of one DuckDB connection."""

    dialect = Dialect("duckdb")

    def __init__(self, con: duckdb.DuckDBPyConnection, *, owned: bool = False) -> None:
        self.con = con
        self.owned = owned

    def register_arrow(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)

    def register_input(self, name: str, source: Input, fields: tuple[str, ...]) -> None:
        """A text-only Parquet file is scanned in place (rows numbered from 1 in file order);
        anything else goes through its Arrow table."""
        if source.parquet is None:
            self.con.register(name, source.table)
            return
        columns = ", ".join(
            quote_ident(f) if f in source.present else f"CAST(NULL AS VARCHAR) AS {quote_ident(f)}"
            for f in fields
        )
        self.con.execute(
            f"CREATE TEMP VIEW {name} AS SELECT CAST(file_row_number AS BIGINT) + 1 AS _row, "
            f"{columns}, CAST(NULL AS VARCHAR) AS _error "
            f"FROM read_parquet({quote(str(source.parquet))}, file_row_number = true)"
        )

    def create(self, statement: Statement) -> None:
        kind = "VIEW" if statement.view else "TABLE"
        self.con.execute(f"CREATE TEMP {kind} {statement.name} AS {statement.query}")

    def rows(self, query: str) -> Iterator[dict[str, Any]]:
        cursor = self.con.execute(query)
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            yield dict(zip(names, values, strict=True))

    def arrow(self, query: str) -> pa.Table:
        return self.con.sql(query).to_arrow_table()

    def write_json_lines(self, query: str, out: Path, columns: str = STANDING_COLUMNS) -> None:
        # COPY straight from the engine's tables: one scheme in sid order (the identifiers'
        # order); several by scheme, then identifier.
        if query == f"SELECT {STANDING_COLUMNS} FROM standings":
            query, order = f"SELECT {STANDING_COLUMNS}, sid FROM standings", "sid"
        else:
            order = "scheme, subject_id"
        self.con.execute(
            f"COPY (SELECT {columns} FROM ({query}) q ORDER BY {order}) "
            f"TO {quote(str(out))} (FORMAT json)"
        )

    def close(self) -> None:
        if self.owned:
            self.con.close()


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

    def backend(self) -> DuckDBBackend:
        return DuckDBBackend(self.connect(), owned=True)

    def run(self, request: Request) -> Report:
        backend = self.backend()
        try:
            return run_request(backend, request)
        finally:
            backend.close()


# The backend's operations on a plain connection, for the registry's ingest and tests.


def run_statements(con: duckdb.DuckDBPyConnection, statements: Iterable[Statement]) -> None:
    DuckDBBackend(con).run(statements)


def register_catalogue(con: duckdb.DuckDBPyConnection, catalogue: Catalogue) -> None:
    DuckDBBackend(con).register_catalogue(catalogue)


def register_input(
    con: duckdb.DuckDBPyConnection, name: str, source: Input, fields: tuple[str, ...]
) -> None:
    DuckDBBackend(con).register_input(name, source, fields)


def rejections(con: duckdb.DuckDBPyConnection, table: str) -> list[Rejection]:
    return DuckDBBackend(con).rejections(table)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
