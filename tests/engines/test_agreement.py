"""Property: the reference and DuckDB engines give byte-identical standings and rejects."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings

from socialcredit.engines.duckdb_engine import DuckDBEngine, register_catalogue
from socialcredit.engines.reference import ReferenceEngine
from socialcredit.engines.sql import (
    Dialect,
    evaluation_statements,
    event_statements,
    record_statements,
)
from socialcredit.evaluation import evaluate_files, parse_known_at
from socialcredit.semantics.fields import EVENT_COLUMNS, RECORD_COLUMNS, Record
from socialcredit.semantics.reference import (
    accept_events,
    accept_records,
    extendable_codes,
    in_population,
    next_change,
    visible_dates,
)
from tests.strategies import Case, cases, catalogue, to_csv


def to_parquet(rows: list[dict[str, str]], columns: tuple[str, ...], path: Path) -> None:
    pq.write_table(
        pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in columns}), path
    )


def run_both(case: Case, folder: Path, *, explain: bool) -> dict[str, tuple[str, str]]:
    """Reference and DuckDB on CSV, and DuckDB scanning the same rows as Parquet."""
    record_columns = (*RECORD_COLUMNS, "amount")
    (folder / "records.csv").write_text(to_csv(case.records, record_columns), encoding="utf-8")
    (folder / "events.csv").write_text(to_csv(case.events, EVENT_COLUMNS), encoding="utf-8")
    to_parquet(case.records, record_columns, folder / "records.parquet")
    to_parquet(case.events, EVENT_COLUMNS, folder / "events.parquet")
    outputs = {}
    runs = [
        ("reference", ReferenceEngine(), "csv"),
        ("duckdb", DuckDBEngine(threads=1), "csv"),
        ("duckdb-parquet", DuckDBEngine(threads=1), "parquet"),
    ]
    for label, engine, suffix in runs:
        out = folder / f"{label}.jsonl"
        rejects = folder / f"{label}-rejects.csv"
        evaluate_files(
            catalogue=catalogue(),
            scheme=case.scheme,
            records=folder / f"records.{suffix}",
            events=folder / f"events.{suffix}",
            as_of=case.as_of,
            known_at_us=parse_known_at(case.known_at),
            out=out,
            engine=engine,
            explain=explain,
            rejects=rejects,
        )
        outputs[label] = (
            out.read_text(encoding="utf-8"),
            rejects.read_text(encoding="utf-8").replace(f".{suffix},", ".file,"),
        )
    return outputs


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_engines_agree(case: Case, tmp_path: Path) -> None:
    outputs = run_both(case, tmp_path, explain=False)
    assert outputs["duckdb"] == outputs["reference"]
    assert outputs["duckdb-parquet"] == outputs["reference"]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_engines_agree_with_explanations(case: Case, tmp_path: Path) -> None:
    outputs = run_both(case, tmp_path, explain=True)
    assert outputs["duckdb"] == outputs["reference"]
    assert outputs["duckdb-parquet"] == outputs["reference"]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases(objections=True))
def test_engines_agree_under_objection(case: Case, tmp_path: Path) -> None:
    """Schemes that suspend a record's effect while it is under objection."""
    outputs = run_both(case, tmp_path, explain=True)
    assert outputs["duckdb"] == outputs["reference"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(objections=True))
def test_next_change_agrees(case: Case) -> None:
    """The SQL ``holds_until`` is the reference ``next_change``, subject by subject."""
    known_at_us = parse_known_at(case.known_at)
    numbered = list(enumerate(case.records, start=1))
    accepted = accept_records(numbered, catalogue())
    codes = {(r.furnisher, r.record_id): r.code for r in accepted.records}
    events, _ = accept_events(
        list(enumerate(case.events, start=1)), codes, extendable_codes(case.scheme)
    )
    dates = visible_dates(events, known_at_us)
    by_subject: dict[str, list[Record]] = {}
    for record in accepted.records:
        if record.recorded_us <= known_at_us and in_population(
            case.scheme, record.subject_id, record.kind, case.as_of
        ):
            by_subject.setdefault(record.subject_id, []).append(record)
    expected = {
        subject: next_change(records, dates, case.scheme, case.as_of)
        for subject, records in by_subject.items()
    }

    d = Dialect("duckdb")
    con = duckdb.connect(":memory:")
    for name, rows, columns in (
        ("records_in", case.records, (*RECORD_COLUMNS, "amount")),
        ("events_in", case.events, EVENT_COLUMNS),
    ):
        table = pa.table(
            {
                "_row": pa.array(range(1, len(rows) + 1), pa.int64()),
                **{c: pa.array([r.get(c) for r in rows], pa.string()) for c in columns},
                "_error": pa.array([None] * len(rows), pa.string()),
            }
        )
        con.register(name, table)
    register_catalogue(con, catalogue())
    statements = (
        record_statements(d)
        + event_statements(d, extendable=extendable_codes(case.scheme))
        + evaluation_statements(
            d, case.scheme, as_of=case.as_of, known_at_us=known_at_us, next_change=True
        )
    )
    for step in statements:
        con.execute(f"CREATE TEMP {'VIEW' if step.view else 'TABLE'} {step.name} AS {step.query}")
    found = dict(con.execute("SELECT subject_id, holds_until FROM standings").fetchall())
    assert found == expected
