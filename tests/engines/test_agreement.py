"""Property: the reference and DuckDB engines give byte-identical standings and rejects."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings

from socialcredit.engines.duckdb_engine import DuckDBEngine
from socialcredit.engines.reference import ReferenceEngine
from socialcredit.evaluation import evaluate_files, parse_known_at
from socialcredit.semantics.fields import EVENT_COLUMNS, RECORD_COLUMNS
from tests.strategies import Case, cases, catalogue, to_csv


def run_both(case: Case, folder: Path, *, explain: bool) -> dict[str, tuple[str, str]]:
    records = folder / "records.csv"
    events = folder / "events.csv"
    records.write_text(to_csv(case.records, (*RECORD_COLUMNS, "amount")), encoding="utf-8")
    events.write_text(to_csv(case.events, EVENT_COLUMNS), encoding="utf-8")
    outputs = {}
    for engine in (ReferenceEngine(), DuckDBEngine(threads=1)):
        out = folder / f"{engine.name}.jsonl"
        rejects = folder / f"{engine.name}-rejects.csv"
        evaluate_files(
            catalogue=catalogue(),
            scheme=case.scheme,
            records=records,
            events=events,
            as_of=case.as_of,
            known_at_us=parse_known_at(case.known_at),
            out=out,
            engine=engine,
            explain=explain,
            rejects=rejects,
        )
        outputs[engine.name] = (
            out.read_text(encoding="utf-8"),
            rejects.read_text(encoding="utf-8"),
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
    assert outputs["duckdb"][0] == outputs["reference"][0]
    assert outputs["duckdb"][1] == outputs["reference"][1]


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_engines_agree_with_explanations(case: Case, tmp_path: Path) -> None:
    outputs = run_both(case, tmp_path, explain=True)
    assert outputs["duckdb"][0] == outputs["reference"][0]
