"""The ledger exported as partitioned Parquet, and the registry's evaluation on Spark: the same
standings as with DuckDB, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import sqlalchemy as sa

from socialcredit.demo_city import generate_city
from socialcredit.engines.spark_engine import spark_session
from socialcredit.errors import UsageError
from socialcredit.registry.audit import Reader
from socialcredit.registry.export import export_ledger
from socialcredit.registry.ledger import verify
from socialcredit.registry.standings.batch import evaluate_registry
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import count
from .test_standings import current_table, load_city, snapshot_table


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(out, persons=300, organisations=40, years=6, seed=5, until=Settings().today())
    return out


@pytest.fixture(scope="module")
def spark() -> Iterator[None]:
    session = spark_session("local[2]")
    yield
    session.stop()


EXPORTER = Reader("li", "operator", "monthly evaluation")


def test_the_ledger_exports_as_parquet_partitioned_by_region_and_month(
    store: Store, settings: Settings, city: Path, tmp_path: Path
) -> None:
    load_city(store, settings, city, update=False)
    out = tmp_path / "export"
    audited = count(store, "audit_log")
    done = export_ledger(store, out, reader=EXPORTER)
    # One audit entry names the export, its purpose and how many subjects it holds.
    with store.reading() as connection:
        entry = connection.execute(
            sa.text("SELECT actor, purpose, what, subject_id FROM audit_log ORDER BY seq DESC")
        ).first()
    assert count(store, "audit_log") == audited + 1 and entry is not None
    assert entry.purpose == "monthly evaluation" and entry.subject_id == 0
    assert entry.what.startswith("ledger export of ") and " subjects " in entry.what
    checked = verify(store)
    assert (done.head_seq, done.head_hash) == (checked.entries, checked.head_hash)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["head"] == {"entries": checked.entries, "hash": checked.head_hash}

    records = ds.dataset(out / "records", format="parquet", partitioning="hive").to_table()
    events = ds.dataset(out / "events", format="parquet", partitioning="hive").to_table()
    assert records.num_rows == done.records > 0 and events.num_rows == done.events > 0
    assert records.num_rows + events.num_rows == checked.entries
    assert set(records.column_names) >= {
        "furnisher", "record_id", "subject_id", "code", "occurred_on", "amount",
        "recorded_at", "seq", "region", "month",
    }  # fmt: skip
    assert {str(r) for r in records.column("region").to_pylist()} == {
        "371002", "371003", "371082", "371083"
    }  # fmt: skip
    months = {str(m) for m in records.column("month").to_pylist()}
    assert months == {settings.today().strftime("%Y-%m")}  # recorded this month
    folders = sorted(p.name for p in (out / "records").iterdir())
    assert folders == [f"region={r}" for r in ("371002", "371003", "371082", "371083")]

    with pytest.raises(UsageError, match="--replace"):
        export_ledger(store, out, reader=EXPORTER)
    again = export_ledger(store, out, reader=EXPORTER, replace=True)
    assert again.records == done.records
    assert not list(tmp_path.glob(".export*"))


def test_the_registry_evaluates_on_spark_as_on_duckdb(
    store: Store, settings: Settings, city: Path, spark: None
) -> None:
    load_city(store, settings, city, update=False)
    for scheme in ("spc-defaulters", "rongcheng-person"):
        with_duckdb = evaluate_registry(store, settings, scheme)
        with_spark = evaluate_registry(store, settings, scheme, engine="spark", make_current=False)
        assert with_spark.subjects == with_duckdb.subjects > 0
        assert (with_spark.grades, with_spark.list_sizes) == (
            with_duckdb.grades,
            with_duckdb.list_sizes,
        )
        assert with_spark.snapshot_id is not None and with_duckdb.snapshot_id is not None
        assert snapshot_table(store, with_spark.snapshot_id) == snapshot_table(
            store, with_duckdb.snapshot_id
        )
    # The current standings (with the day each holds until) are the same when Spark makes them.
    by_duckdb = current_table(store)
    for scheme in ("spc-defaulters", "rongcheng-person"):
        evaluate_registry(store, settings, scheme, engine="spark")
    assert current_table(store) == by_duckdb
