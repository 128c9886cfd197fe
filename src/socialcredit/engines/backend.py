"""One SQL backend object per engine, and a file-mode run written once over it.

A backend is where :mod:`socialcredit.engines.sql`'s statements run: DuckDB in process
(:class:`socialcredit.engines.duckdb_engine.DuckDBBackend`) or a Spark session
(:class:`socialcredit.engines.spark_engine.SparkBackend`). It registers inputs, runs statements,
fetches rows, hands results over as Arrow, and closes; everything else — the statement list,
the catalogue table, rejections, the output's canonical form and the run's report — is here,
once, for every engine. The registry's batch path takes a backend too
(:func:`socialcredit.registry.standings.batch.evaluate_registry`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from socialcredit.engines.assemble import explained_standings
from socialcredit.engines.base import Report, Request
from socialcredit.engines.sql import (
    Dialect,
    Statement,
    black_statement,
    evaluation_statements,
    event_statements,
    quote,
    record_statements,
)
from socialcredit.inputs import Input
from socialcredit.policy.model import Catalogue
from socialcredit.semantics.fields import (
    EVENT_COLUMNS,
    RECORD_COLUMNS,
    RECORD_OPTIONAL,
    Rejection,
)
from socialcredit.semantics.reference import extendable_codes

EMPTY_EVENTS = pa.table(
    {
        "_row": pa.array([], pa.int64()),
        **{c: pa.array([], pa.string()) for c in (*EVENT_COLUMNS, "_error")},
    }
)
STANDING_COLUMNS = "subject_id, kind, score, grade, lists, measures"


class SqlBackend(ABC):
    """Where the SQL engine's statements run."""

    dialect: Dialect

    @abstractmethod
    def register_arrow(self, name: str, table: pa.Table) -> None:
        """Expose an Arrow table as the relation ``name``."""

    @abstractmethod
    def register_input(self, name: str, source: Input, fields: tuple[str, ...]) -> None:
        """Expose a furnished file as ``name``: ``_row``, the fields as text, ``_error``."""

    @abstractmethod
    def create(self, statement: Statement) -> None:
        """Run one step: a view or a table named after it."""

    @abstractmethod
    def rows(self, query: str) -> Iterator[dict[str, Any]]:
        """A query's rows as {column: value}."""

    @abstractmethod
    def arrow(self, query: str) -> pa.Table:
        """A query's result as an Arrow table."""

    @abstractmethod
    def close(self) -> None:
        """Release what the run held (views, tables, the connection)."""

    # -- written once -----------------------------------------------------------------------

    def run(self, statements: Iterable[Statement]) -> None:
        """Each step in order: the one loop every evaluation goes through."""
        for statement in statements:
            self.create(statement)

    def scalar(self, query: str) -> int:
        for row in self.rows(query):
            return int(next(iter(row.values())) or 0)
        return 0

    def register_catalogue(self, catalogue: Catalogue) -> None:
        """The catalogue as relation ``catalogue_codes`` (code, person, organisation)."""
        rows = [
            f"({quote(c.id)}, {'person' in c.subjects}, {'organisation' in c.subjects})"
            for c in catalogue.codes.values()
        ]
        self.create(
            Statement("catalogue_codes", self.dialect.values(rows, "code, person, organisation"))
        )

    def rejections(self, table: str) -> list[Rejection]:
        """The rejections of ``rec_rejects`` or ``ev_rejects``, in row order."""
        found = []
        for row in self.rows(f"SELECT _row, problem, value, detail FROM {table} ORDER BY _row"):
            field, kind = str(row["problem"]).split("|")
            found.append(Rejection(int(row["_row"]), field, kind, row["value"], row["detail"]))
        return found

    def register_snapshot(self, name: str, table: pa.Table) -> None:
        """Hand a snapshot table of the registry over (Spark: as Parquet its executors read)."""
        self.register_arrow(name, table)

    def rows_read(self, name: str, source: Input) -> int:
        return source.rows

    def write_json_lines(self, query: str, out: Path, columns: str = STANDING_COLUMNS) -> None:
        """The canonical JSON lines of a standings query, in identifier order (with a
        ``scheme`` column first: by scheme, then identifier), byte for byte as every engine
        writes them (DuckDB writes them, from the query's Arrow result)."""
        order = "scheme, subject_id" if columns.startswith("scheme") else "subject_id"
        con = duckdb.connect(":memory:")
        try:
            con.register("result", self.arrow(query))
            con.execute(
                f"COPY (SELECT {columns} FROM result ORDER BY {order}) "
                f"TO {quote(str(out))} (FORMAT json)"
            )
        finally:
            con.close()

    def write_output(self, request: Request) -> None:
        """The standings where the request says: JSON lines, with explanations if asked."""
        out = request.local_out
        out.parent.mkdir(parents=True, exist_ok=True)
        if request.explain:
            with out.open("w", encoding="utf-8", newline="\n") as handle:
                for standing in explained_standings(self.rows, request.scheme):
                    handle.write(standing.to_json())
                    handle.write("\n")
        else:
            self.write_json_lines(f"SELECT {STANDING_COLUMNS} FROM standings", out)


def run_request(backend: SqlBackend, request: Request) -> Report:
    """A file-mode evaluation on a backend: inputs, the statements, the output, the report."""
    backend.register_input("records_in", request.records, (*RECORD_COLUMNS, *RECORD_OPTIONAL))
    if request.events is not None:
        backend.register_input("events_in", request.events, EVENT_COLUMNS)
    else:
        backend.register_arrow("events_in", EMPTY_EVENTS)
    backend.register_catalogue(request.catalogue)
    d = backend.dialect
    backend.run(
        record_statements(d) + event_statements(d, extendable=extendable_codes(*request.schemes))
    )
    if request.also:
        run_together(backend, request)
    else:
        backend.run(
            evaluation_statements(
                d, request.scheme, as_of=request.as_of, known_at_us=request.known_at_us
            )
        )
        backend.write_output(request)
    count = backend.scalar
    return Report(
        records_read=backend.rows_read("records_in", request.records),
        # Counted from the written tables: the views would re-run their filters.
        records_accepted=count(
            "SELECT (SELECT count(*) FROM rec_checked WHERE problem IS NULL) "
            "- (SELECT count(*) FROM rec_repeats)"
        ),
        records_noop=count("SELECT count(*) FROM rec_repeats WHERE same"),
        events_read=backend.rows_read("events_in", request.events) if request.events else 0,
        events_accepted=count("SELECT count(*) FROM ev_checked WHERE problem IS NULL"),
        subjects=sum(
            count(f"SELECT count(*) FROM {prefix}standings") for prefix in prefixes(request)
        ),
        record_rejections=backend.rejections("rec_rejects"),
        event_rejections=backend.rejections("ev_rejects"),
    )


def prefixes(request: Request) -> list[str]:
    """The relation prefix of each scheme of a request: none for one scheme; ``s0_``, ``s1_``…
    in scheme-id order for several."""
    return [f"s{i}_" for i in range(len(request.schemes))] if request.also else [""]


def run_together(backend: SqlBackend, request: Request) -> None:
    """Several schemes evaluated together (rule 14): each scheme's statements up to its own
    black lists, then who is on any black list, then each scheme's standings; one JSON line
    per scheme and subject, by scheme id then subject id, each beginning with ``scheme``."""
    d, names = backend.dialect, prefixes(request)
    per_scheme = [
        evaluation_statements(
            d,
            scheme,
            as_of=request.as_of,
            known_at_us=request.known_at_us,
            prefix=prefix,
            barred="black_sids",
        )
        for scheme, prefix in zip(request.schemes, names, strict=True)
    ]
    for statements in per_scheme:
        backend.run(statements[:-2])
    backend.run([black_statement("black_sids", names)])
    for statements in per_scheme:
        backend.run(statements[-2:])
    out = request.local_out
    out.parent.mkdir(parents=True, exist_ok=True)
    if request.explain:
        with out.open("w", encoding="utf-8", newline="\n") as handle:
            for scheme, prefix in zip(request.schemes, names, strict=True):
                for standing in explained_standings(backend.rows, scheme, prefix):
                    handle.write(standing.to_json(scheme.id))
                    handle.write("\n")
        return
    query = " UNION ALL ".join(
        f"SELECT {quote(scheme.id)} AS scheme, {STANDING_COLUMNS} FROM {prefix}standings"
        for scheme, prefix in zip(request.schemes, names, strict=True)
    )
    backend.write_json_lines(query, out, columns=f"scheme, {STANDING_COLUMNS}")
