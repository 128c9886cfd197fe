"""The DuckDB engine: the whole population at once, in vectorised SQL (see engines.sql)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import duckdb
import pyarrow as pa

from socialcredit.engines.base import Report, Request
from socialcredit.engines.sql import (
    Dialect,
    evaluation_statements,
    event_statements,
    quote,
    record_statements,
)
from socialcredit.inputs import Input
from socialcredit.policy.model import Catalogue, Scheme
from socialcredit.semantics.fields import EVENT_COLUMNS, RECORD_COLUMNS, RECORD_OPTIONAL, Rejection
from socialcredit.semantics.reference import Standing, measure_triggers

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
            + event_statements(self.dialect)
            + evaluation_statements(
                self.dialect, request.scheme, as_of=request.as_of, known_at_us=request.known_at_us
            )
        )
        for step in statements:
            kind = "VIEW" if step.view else "TABLE"
            con.execute(f"CREATE TEMP {kind} {step.name} AS {step.query}")

        request.out.parent.mkdir(parents=True, exist_ok=True)
        if request.explain:
            with request.out.open("w", encoding="utf-8", newline="\n") as handle:
                for standing in _explained(con, request.scheme):
                    handle.write(standing.to_json())
                    handle.write("\n")
        else:
            con.execute(
                "COPY (SELECT subject_id, kind, score, grade, lists, measures FROM standings "
                f"ORDER BY sid) TO {quote(str(request.out))} (FORMAT json)"
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


def _explained(con: duckdb.DuckDBPyConnection, scheme: Scheme) -> list[Standing]:
    """Standings with explanations, assembled from the SQL tables."""
    rules = scheme.score.rules if scheme.score else ()
    code_lists = scheme.code_lists
    counted_columns = [f"p{i}" for i in range(len(rules))] + [
        f"l{i}" for i in range(len(code_lists))
    ]
    counted: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if counted_columns:
        where = " OR ".join(f"{c} IS NOT NULL" for c in counted_columns)
        query = f"SELECT * FROM contributions WHERE {where} ORDER BY sid, furnisher, record_id"
        cursor = con.execute(query)
        names = [d[0] for d in cursor.description]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            item: dict[str, Any] = {
                "furnisher": row["furnisher"],
                "record_id": row["record_id"],
                "code": row["code"],
                "points": None,
                "legal_basis": None,
                "ends": None,
                "lists": {},
            }
            for index, rule in enumerate(rules):
                if row[f"p{index}"] is not None:
                    item.update(
                        points=int(row[f"p{index}"]),
                        legal_basis=rule.legal_basis,
                        ends=_iso(row[f"pe{index}"]),
                    )
            for index, lst in enumerate(code_lists):
                if row[f"l{index}"] is not None:
                    item["lists"][lst.id] = _iso(row[f"l{index}"])
            item["lists"] = dict(sorted(item["lists"].items()))
            counted[int(row["sid"])].append(item)

    standings = []
    cursor = con.execute("SELECT * FROM standings ORDER BY sid")
    names = [d[0] for d in cursor.description]
    for values in cursor.fetchall():
        row = dict(zip(names, values, strict=True))
        caps = {}
        for index, rule in enumerate(rules):
            total = int(row[f"s{index}"] or 0)
            if rule.cap is not None and abs(total) > rule.cap:
                caps[rule.code] = (rule.cap if total > 0 else -rule.cap) - total
        list_dates = {
            lst.id: {"since": _iso(row[f"since{i}"]), "until": _iso(row[f"until{i}"])}
            for i, lst in enumerate(code_lists)
        }
        held = list(row["lists"])
        standings.append(
            Standing(
                subject_id=row["subject_id"],
                kind=row["kind"],
                score=row["score"],
                grade=row["grade"],
                lists=tuple(held),
                measures=tuple(row["measures"]),
                explanation={
                    "records": counted.get(int(row["sid"]), []),
                    "cap_adjustments": dict(sorted(caps.items())),
                    "lists": {i: list_dates.get(i, {"since": None, "until": None}) for i in held},
                    "measures": measure_triggers(scheme, set(held), row["grade"]),
                },
            )
        )
    return standings


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
