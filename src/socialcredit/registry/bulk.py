"""Bulk inserts from DuckDB into the store: no Python per row on PostgreSQL."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from socialcredit.engines.sql import quote
from socialcredit.store.db import Store


def literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    return quote(str(value))


def insert_from_duckdb(
    store: Store,
    connection: sa.Connection,
    con: duckdb.DuckDBPyConnection,
    table: str,
    query: str,
    columns: Sequence[str],
    constants: dict[str, object] | None = None,
) -> None:
    """Insert the rows of a DuckDB query (its columns named ``columns``) into a store table,
    with ``constants`` the same on every row. PostgreSQL: DuckDB writes CSV and COPY reads it,
    with no Python per row. SQLite: executemany, the constants inlined in the statement."""
    constants = constants or {}
    if store.dialect == "postgresql":
        names = [*columns, *constants]
        select = ", ".join([*columns, *(f"{literal(v)} AS {k}" for k, v in constants.items())])
        with tempfile.TemporaryDirectory(prefix="socialcredit-") as folder:
            path = Path(folder) / "rows.csv"
            con.execute(
                f"COPY (SELECT {select} FROM ({query}) q) TO {quote(str(path))} "
                "(FORMAT csv, HEADER false)"
            )
            raw: Any = connection.connection.driver_connection
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN (FORMAT csv)") as copy,
                path.open("rb") as handle,
            ):
                while block := handle.read(1 << 20):
                    copy.write(block)
        return
    marks = ", ".join(["?"] * len(columns) + [literal(v) for v in constants.values()])
    statement = f"INSERT INTO {table} ({', '.join([*columns, *constants])}) VALUES ({marks})"
    raw = connection.connection.driver_connection
    cursor = con.execute(f"SELECT {', '.join(columns)} FROM ({query}) q")
    while chunk := cursor.fetchmany(100_000):
        raw.executemany(statement, chunk)
