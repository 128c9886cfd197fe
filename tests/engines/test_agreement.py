"""Property: the reference and DuckDB engines give byte-identical standings and rejects."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings

from socialcredit.engines.duckdb_engine import DuckDBEngine
from socialcredit.engines.reference import ReferenceEngine
from socialcredit.evaluation import evaluate_files, parse_known_at
from socialcredit.semantics.fields import EVENT_COLUMNS, RECORD_COLUMNS
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
