"""Snapshots of the ledger as Arrow tables, for the batch engines and the export.

One consistent read (PostgreSQL through ADBC's binary COPY in a REPEATABLE READ READ ONLY
transaction; SQLite through the store's own sqlite3 library) of what the batch evaluation
needs, typed the same on both backends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from socialcredit.store.db import Store

# An erased record's entries (subject key 0: registry.retention) have no effect.
SNAPSHOT_QUERIES = {
    "records": (
        "SELECT seq, subject_id, code, occurred_on, amount, recorded_us FROM ledger "
        "WHERE entry = 'record' AND recorded_us <= {k} AND subject_id <> 0",
        (pa.int64(), pa.int64(), pa.string(), pa.date32(), pa.string(), pa.int64()),
    ),
    "events": (
        "SELECT record_seq, event, event_date, recorded_us FROM ledger "
        "WHERE entry = 'event' AND recorded_us <= {k} AND subject_id <> 0",
        (pa.int64(), pa.string(), pa.date32(), pa.int64()),
    ),
    "subjects": (
        "SELECT id, identifier, kind, first_recorded_us FROM subjects",
        (pa.int64(), pa.string(), pa.string(), pa.int64()),
    ),
}


@dataclass(frozen=True)
class Snapshot:
    """The ledger visible at K, as Arrow tables, from one consistent read, and the ledger's
    last seq in that read: every entry after it (a batch committed since) is not in the
    snapshot."""

    records: pa.Table
    events: pa.Table
    subjects: pa.Table
    head_seq: int

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table]:
        return self.records, self.events, self.subjects


def ledger_snapshot(store: Store, known_at_us: int) -> Snapshot:
    """(records, events, subjects) visible at K and the ledger head, from one consistent read."""
    k = int(known_at_us)
    queries = [(query.format(k=k), types) for query, types in SNAPSHOT_QUERIES.values()]
    queries.append(("SELECT coalesce(max(seq), 0) AS head FROM ledger", (pa.int64(),)))
    records, events, people, head = read_arrow(store, queries)
    return Snapshot(records, events, people, int(head.column(0)[0].as_py()))


def read_arrow(store: Store, queries: list[tuple[str, tuple[pa.DataType, ...]]]) -> list[pa.Table]:
    """Run queries in one consistent read and return their results as Arrow tables of the
    given column types.

    PostgreSQL is read through ADBC (libpq's binary COPY). SQLite is read through the same
    sqlite3 library the store uses: a second SQLite library in one process (ADBC bundles its
    own) would break SQLite's POSIX file locks."""
    if store.dialect == "postgresql":
        connection = store.adbc_connect()
        try:
            cursor = connection.cursor()
            cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            tables = []
            for query, _ in queries:
                cursor.execute(query)
                tables.append(cursor.fetch_arrow_table())
            cursor.execute("COMMIT")
            cursor.close()
        finally:
            connection.close()
        return [_typed(t, types) for t, (_, types) in zip(tables, queries, strict=True)]
    with store.reading() as sa_connection:
        raw: Any = sa_connection.connection.driver_connection
        cursor = raw.cursor()
        tables = []
        for query, types in queries:
            cursor.execute(query)
            names = [d[0] for d in cursor.description]
            batches_: list[pa.RecordBatch] = []
            while rows := cursor.fetchmany(250_000):
                columns = list(zip(*rows, strict=True))
                batches_.append(
                    pa.record_batch(
                        # SQLite holds dates as ISO text: Arrow parses them, vectorised.
                        [
                            pa.array(c, pa.string()).cast(t)
                            if pa.types.is_date(t)
                            else pa.array(c, t)
                            for c, t in zip(columns, types, strict=True)
                        ],
                        names=names,
                    )
                )
            schema = pa.schema(list(zip(names, types, strict=True)))
            tables.append(pa.Table.from_batches(batches_, schema=schema))
        cursor.close()
    return tables


def _typed(table: pa.Table, types: tuple[pa.DataType, ...]) -> pa.Table:
    """The snapshot's column types whatever the driver returned (e.g. int32 for a count)."""
    schema = pa.schema(
        [pa.field(name, kind) for name, kind in zip(table.column_names, types, strict=True)]
    )
    return table if table.schema.equals(schema) else table.cast(schema)
