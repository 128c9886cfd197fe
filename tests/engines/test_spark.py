"""Property: the Spark engine agrees byte for byte with the reference and DuckDB engines, on
files and from the registry's ledger. One Spark session (local mode) serves the whole module."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialcredit.engines.duckdb_engine import DuckDBEngine
from socialcredit.engines.spark_engine import SparkEngine, spark_session
from socialcredit.errors import UsageError
from socialcredit.evaluation import evaluate_files, parse_known_at
from socialcredit.policy.shipped import resolve_catalogue, resolve_scheme
from socialcredit.semantics.fields import EVENT_COLUMNS, RECORD_COLUMNS
from tests.engines.test_agreement import run_both
from tests.engines.test_golden import GOLDEN_V2, run_scenario
from tests.strategies import Case, cases, catalogue, to_csv

SLOW = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module", autouse=True)
def spark() -> Iterator[None]:
    session = spark_session("local[2]")
    yield
    session.stop()


def run_spark(case: Case, folder: Path, *, explain: bool, suffix: str = "csv") -> tuple[str, str]:
    """Spark on the files run_both wrote: CSV read by the driver, or Parquet read by Spark."""
    out, rejects = folder / "spark.jsonl", folder / "spark.rejects.csv"
    evaluate_files(
        catalogue=catalogue(),
        scheme=case.scheme,
        records=folder / f"records.{suffix}",
        events=folder / f"events.{suffix}",
        as_of=case.as_of,
        known_at_us=parse_known_at(case.known_at),
        out=out,
        engine=SparkEngine(master="local[2]"),
        explain=explain,
        rejects=rejects,
    )
    named = rejects.read_text(encoding="utf-8").replace(f".{suffix},", ".file,")  # as run_both
    return out.read_text(encoding="utf-8"), named


@SLOW
@given(case=cases() | cases(objections=True), parquet=st.booleans())
def test_spark_agrees_with_reference_and_duckdb(case: Case, parquet: bool, tmp_path: Path) -> None:
    """Each example reads the files one way, CSV through the driver or Parquet through Spark
    (one Spark run per example: both ways cost six minutes of make test)."""
    outputs = run_both(case, tmp_path, explain=False)
    if parquet:
        spark = run_spark(case, tmp_path, explain=False, suffix="parquet")
        assert spark == outputs["duckdb-parquet"]
    else:
        assert run_spark(case, tmp_path, explain=False) == outputs["reference"]
    assert outputs["duckdb"] == outputs["reference"]


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=cases())
def test_spark_explanations_agree(case: Case, tmp_path: Path) -> None:
    outputs = run_both(case, tmp_path, explain=True)
    assert run_spark(case, tmp_path, explain=True) == outputs["reference"]


@pytest.mark.parametrize("path", GOLDEN_V2, ids=lambda p: p.stem)
def test_spark_gives_every_v2_golden_scenario(path: Path, tmp_path: Path) -> None:
    """The hand-worked scenarios of the v2 constructs on Spark too: conduct windows, delayed
    lists, extensions, coherence across schemes. (The shipped policies' scenarios — scope and
    min_age, calendar lengths — run on the reference and DuckDB engines; Spark agrees with
    both on generated cases, which draw scopes, months and years.)"""
    run_scenario(path, SparkEngine(master="local[2]"), tmp_path)


RECORDS = [
    {
        "furnisher": "court",
        "record_id": f"j{n}",
        "subject_id": subject,
        "code": "court.judgment_default",
        "occurred_on": "2026-01-05",
        "amount": "",
        "recorded_at": "2026-01-06T00:00:00Z",
    }
    for n, subject in enumerate(["11010519491231002X", "91350100M000100Y43", "123"])
]


def test_a_parquet_dataset_of_standings_partitioned_by_kind(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text(to_csv(RECORDS, (*RECORD_COLUMNS, "amount")), encoding="utf-8")
    (tmp_path / "e.csv").write_text(to_csv([], EVENT_COLUMNS), encoding="utf-8")
    shipped = resolve_catalogue(None)
    scheme = resolve_scheme("spc-defaulters", catalogue=shipped)
    for _ in range(2):  # the second run replaces the first whole
        report, _ = evaluate_files(
            catalogue=shipped,
            scheme=scheme,
            records=tmp_path / "r.csv",
            events=tmp_path / "e.csv",
            as_of=dt.date(2026, 3, 1),
            known_at_us=parse_known_at(None),
            out=tmp_path / "standings.parquet",
            engine=SparkEngine(master="local[2]"),
        )
    assert [r.field for r in report.record_rejections] == ["subject_id"]
    folder = tmp_path / "standings.parquet"
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [
        "kind=organisation",
        "kind=person",
    ]
    table = pq.read_table(folder).sort_by("subject_id")
    assert table.column("subject_id").to_pylist() == ["11010519491231002X", "91350100M000100Y43"]
    assert table.column("lists").to_pylist() == [["dishonest-judgment-defaulters"]] * 2
    assert not list(tmp_path.glob(".standings.parquet*"))


def test_without_pyspark_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "from socialcredit.evaluation import get_engine\n"
        "try:\n    get_engine('spark')\n"
        "except Exception as error:\n    print(type(error).__name__, error)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert shown.startswith("UsageError") and "socialcredit[spark]" in shown


def test_spark_reads_and_writes_urls(tmp_path: Path) -> None:
    """Spark opens the files itself from a URL (file:// here; hdfs:// and s3a:// alike) and
    writes the Parquet dataset to one; the standings are the DuckDB engine's."""
    rows = [*RECORDS, {**RECORDS[0], "record_id": "j0", "amount": "5"}]  # a conflicting repeat
    table = pa.table(
        {c: pa.array([r[c] for r in rows], pa.string()) for c in (*RECORD_COLUMNS, "amount")}
    )
    pq.write_table(table, tmp_path / "records.parquet")
    shipped = resolve_catalogue(None)
    scheme = resolve_scheme("spc-defaulters", catalogue=shipped)
    common = {
        "catalogue": shipped,
        "scheme": scheme,
        "events": None,
        "as_of": dt.date(2026, 3, 1),
        "known_at_us": parse_known_at("2026-02-01T00:00:00Z"),
    }
    url = (tmp_path / "records.parquet").absolute().as_uri()
    assert url.startswith("file:///")
    out_url = (tmp_path / "standings.parquet").absolute().as_uri()
    report, _ = evaluate_files(
        records=url, out=out_url, engine=SparkEngine(master="local[2]"), **common
    )
    expected, _ = evaluate_files(
        records=tmp_path / "records.parquet",
        out=tmp_path / "duckdb.jsonl",
        engine=DuckDBEngine(),
        **common,
    )
    assert report.records_read == 4
    assert (
        [(r.row, r.field) for r in report.record_rejections]
        == [(r.row, r.field) for r in expected.record_rejections]
        == [(3, "subject_id"), (4, "record_id")]
    )
    written = pq.read_table(tmp_path / "standings.parquet").sort_by("subject_id")
    lines = [json.loads(line) for line in (tmp_path / "duckdb.jsonl").read_text().splitlines()]
    assert written.column("subject_id").to_pylist() == [line["subject_id"] for line in lines]
    assert written.column("lists").to_pylist() == [line["lists"] for line in lines]

    with pytest.raises(UsageError, match="--engine spark only"):
        evaluate_files(records=url, out=tmp_path / "d.jsonl", engine=DuckDBEngine(), **common)
    typed = table.set_column(4, "occurred_on", pa.array([dt.date(2026, 1, 5)] * 4))
    pq.write_table(typed, tmp_path / "typed.parquet")
    with pytest.raises(UsageError, match="occurred_on are not text"):
        evaluate_files(
            records=(tmp_path / "typed.parquet").absolute().as_uri(),
            out=out_url,
            engine=SparkEngine(master="local[2]"),
            **common,
        )
