"""Registry benchmarks: ingest with full validation (SQLite and PostgreSQL), evaluation from
the store (snapshot, evaluate, store standings), and online standing latency.

    python bench/registry.py ingest   --records 1000000            # both stores
    python bench/registry.py evaluate --records 20000000 --subjects 2000000 --stores sqlite
    python bench/registry.py online   --records 1000000 --subjects 20000
    python bench/registry.py verify   --records 20000000 --subjects 2000000 --stores sqlite

Inputs come from bench/generate.py's ledger (generated on first use under
bench/data-RECORDS-SUBJECTS/). Each run starts from a fresh store — a SQLite file under
bench/out/ or a fresh PostgreSQL schema at $SOCIALCREDIT_BENCH_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/test) — except `evaluate --keep`, which keeps the loaded
store for the next run. Results go to bench/out/registry-WHAT.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import sqlalchemy as sa

from socialcredit.registry.admin import init_store
from socialcredit.registry.audit import Reader, record_read
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.policies import add_furnisher, publish_file

try:  # this checkout
    from socialcredit.registry.standings.batch import evaluate_registry
    from socialcredit.registry.standings.online import standing_of
    from socialcredit.registry.standings.snapshot import ledger_snapshot
except ImportError:  # an earlier checkout on PYTHONPATH, for a baseline in the same run
    from socialcredit.registry.standings import (  # type: ignore[no-redef]
        evaluate_registry,
        ledger_snapshot,
        standing_of,
    )
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us

ROOT = Path(__file__).resolve().parent
READER = Reader("bench", "system", "benchmark of online standings")
POSTGRES = os.environ.get(
    "SOCIALCREDIT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
CODES = [
    "court.arrears",
    "utility.late_fees",
    "civic.honour",
    "court.judgment_default",
    "traffic.offence_minor",
]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def source(records: int, subjects: int) -> Path:
    """bench/generate.py's ledger for this size (generated once)."""
    folder = ROOT / f"data-{records}-{subjects}"
    if not (folder / "records.parquet").exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "generate.py"),
                "--records",
                str(records),
                "--subjects",
                str(subjects),
                "--out",
                str(folder),
            ],
            check=True,
        )
    return folder


def batch_files(folder: Path, parts: int, fmt: str) -> list[Path]:
    """The ledger split into ``parts`` files from one furnisher ('bench'), as it would send
    them (rows in record order; events in their own file)."""
    out = []
    con = duckdb.connect()
    for part in range(parts):
        path = folder / f"batch-{part}-of-{parts}.{fmt}"
        out.append(path)
        if path.exists():
            continue
        options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
        con.execute(
            f"""
            COPY (
                SELECT record_id, subject_id, code, occurred_on, amount
                FROM read_parquet('{folder}/records.parquet')
                WHERE hash(record_id) % {parts} = {part}
            ) TO '{path}' ({options})
            """
        )
    events = folder / f"bench-events.{fmt}"
    if not events.exists():
        options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
        con.execute(
            f"COPY (SELECT record_id, event, date FROM read_parquet('{folder}/events.parquet')) "
            f"TO '{events}' ({options})"
        )
    out.append(events)
    return out


@contextmanager
def fresh_store(kind: str, *, keep: str | None = None) -> Iterator[tuple[Store, Settings]]:
    """A fresh store; with ``keep``, a named one that survives the run (and is reused when it
    already holds a ledger: see ``loaded``)."""
    if kind == "sqlite":
        (ROOT / "out").mkdir(exist_ok=True)
        path = ROOT / "out" / f"{keep or 'bench'}.db"
        if keep is None:
            for old in (ROOT / "out").glob("bench.db*"):
                old.unlink()
        url = f"sqlite:///{path}"
        schema = None
    else:
        schema = f"bench_{keep}" if keep else f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    settings = Settings(database_url=url)
    store = Store(url)
    init_store(store, settings)
    # The locks in the store's order: a scheme brings rewarding standings forward.
    with store.writing("standings", "admin_log") as connection:
        add_furnisher(connection, "bench", "Benchmark furnisher", CODES, update=True)
        publish_file(connection, ROOT / "scheme.yaml")
    try:
        yield store, settings
    finally:
        store.engine.dispose()
        if schema is not None and keep is None:
            with psycopg.connect(POSTGRES, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


def ingest_file(store: Store, settings: Settings, path: Path) -> Any:
    """Ingest one bench file into the ledger, its standings left pending (the ledger's cost
    alone, as every version of ingest has it). This script also runs against an earlier
    checkout (`PYTHONPATH=OLD/src python bench/registry.py ...`) for a baseline measured in the
    same run, whose ingest took no settings."""
    ingest = ingest_events if path.name.startswith("bench-events") else ingest_records
    if "settings" in inspect.signature(ingest).parameters:
        return ingest(store, path, settings=settings, furnisher_id="bench", standings="later")
    return ingest(store, path, furnisher_id="bench")


def bench_ingest(args: argparse.Namespace) -> dict[str, object]:
    folder = source(args.records, args.subjects)
    results: dict[str, object] = {}
    for kind in args.stores:
        for fmt in args.formats:
            files = batch_files(folder, args.parts, fmt)
            with fresh_store(kind) as (store, _settings):
                runs = []
                for path in files:
                    started = time.perf_counter()
                    report = ingest_file(store, _settings, path)
                    seconds = time.perf_counter() - started
                    runs.append(
                        {
                            "file": path.name,
                            "rows": report.rows_read,
                            "accepted": report.accepted,
                            "noop": report.noop,
                            "rejected": report.rejected,
                            "seconds": round(seconds, 2),
                            "rows_per_s": round(report.rows_read / seconds),
                            "stages": report.seconds,
                        }
                    )
                    print(f"{kind} {fmt} {runs[-1]}", flush=True)
                # Re-sending the first file (other bytes, same rows): every row a no-op.
                results[f"{kind}-{fmt}"] = runs
    return results


def bench_evaluate(args: argparse.Namespace) -> dict[str, object]:
    folder = source(args.records, args.subjects)
    files = batch_files(folder, args.parts, "parquet")
    results: dict[str, object] = {}
    for kind in args.stores:
        keep = f"evaluate_{args.records}" if args.keep else None
        with fresh_store(kind, keep=keep) as (store, settings):
            started = time.perf_counter()
            for path in files:  # a kept store already holds them: each file is a no-op
                ingest_file(store, settings, path)
            load_s = time.perf_counter() - started
            print(f"{kind}: loaded in {load_s:.1f} s", flush=True)
            runs = []
            for _, engine in ((r, e) for r in range(args.repeat) for e in args.engines):
                known = now_us()
                started = time.perf_counter()
                snapshot = ledger_snapshot(store, known)
                snap_s = time.perf_counter() - started
                name, _, master = engine.partition(":")
                startup_s = 0.0
                if name == "spark":  # the session's start-up, timed apart from the evaluation
                    from socialcredit.engines.spark_engine import spark_session

                    begun = time.perf_counter()
                    spark_session(master or None).range(1).count()
                    startup_s = time.perf_counter() - begun
                result = evaluate_registry(
                    store,
                    settings,
                    "bench",
                    known_at_us=known,
                    snapshot=snapshot,
                    make_current=True,
                    keep_snapshot=True,
                    engine=name,
                    spark_master=master or None,
                )
                runs.append(
                    {
                        "engine": engine,
                        "spark_startup_s": round(startup_s, 2),
                        "snapshot_s": round(snap_s, 2),
                        "evaluate_s": round(result.timings["evaluate"], 2),
                        "store_s": round(result.timings["store"], 2),
                        "records": result.records,
                        "subjects": result.subjects,
                        "evaluate_records_per_s": round(
                            result.records / result.timings["evaluate"]
                        ),
                        "peak_rss_mib": round(peak_rss_mib()),
                    }
                )
                print(f"{kind}: {runs[-1]}", flush=True)
                del snapshot
            results[kind] = {"load_s": round(load_s, 1), "runs": runs}
    return results


def bench_verify(args: argparse.Namespace) -> dict[str, object]:
    """`socialcredit verify`'s cost, part by part, on a loaded store with current standings."""
    from socialcredit.registry import adminlog
    from socialcredit.registry.audit import verify_audit
    from socialcredit.registry.ledger import verify as verify_ledger
    from socialcredit.registry.standings.upkeep import rebuild_current
    from socialcredit.registry.verify import verify_cases, verify_standings

    folder = source(args.records, args.subjects)
    files = batch_files(folder, args.parts, "parquet")
    results: dict[str, object] = {}
    for kind in args.stores:
        keep = f"evaluate_{args.records}" if args.keep else None
        with fresh_store(kind, keep=keep) as (store, settings):
            for path in files:
                ingest_file(store, settings, path)
            started = time.perf_counter()
            rebuild_current(store, settings)
            print(f"{kind}: current standings in {time.perf_counter() - started:.1f} s", flush=True)
            timings: dict[str, float] = {}
            started = time.perf_counter()
            ledger = verify_ledger(store)
            timings["ledger chain"] = time.perf_counter() - started
            started = time.perf_counter()
            verify_audit(store)
            with store.reading() as connection:
                adminlog.verify_chain(connection)
                adminlog.verify_state(connection)
                verify_cases(connection)
            timings["audit, admin, cases"] = time.perf_counter() - started
            started = time.perf_counter()
            problems, checked = verify_standings(store, settings, lambda _m: None)
            timings["standings"] = time.perf_counter() - started
            results[kind] = {
                "entries": ledger.entries,
                "problem": ledger.problem,
                "standings_checked": checked,
                "standings_differing": len(problems),
                "seconds": {k: round(v, 1) for k, v in timings.items()},
                "total_s": round(sum(timings.values()), 1),
                "peak_rss_mib": round(peak_rss_mib()),
            }
            print(f"{kind}: {results[kind]}", flush=True)
    return results


def bench_online(args: argparse.Namespace) -> dict[str, object]:
    """p50/p99 of `standing` for subjects with about 50 records (all schemes vs one)."""
    folder = source(args.records, args.subjects)
    files = batch_files(folder, args.parts, "parquet")
    results: dict[str, object] = {}
    for kind in args.stores:
        with fresh_store(kind) as (store, settings):
            for path in files:
                ingest_file(store, settings, path)
            with store.reading() as connection:
                subjects = [
                    r[0]
                    for r in connection.execute(
                        sa.text(
                            "SELECT s.identifier FROM subjects s JOIN ledger l "
                            "ON l.subject_id = s.id AND l.entry = 'record' "
                            "GROUP BY s.identifier HAVING count(*) BETWEEN 45 AND 55 LIMIT 200"
                        )
                    )
                ]
            assert subjects, "no subject with about 50 records: raise --records"
            for scheme in ("bench",):
                latencies = []
                for round_ in range(args.repeat):
                    for identifier in subjects:
                        started = time.perf_counter()
                        standing_of(store, settings, identifier, reader=READER, scheme_id=scheme)
                        if round_:  # the first round warms caches and the pool
                            latencies.append((time.perf_counter() - started) * 1000)
                results[f"{kind}-{scheme}-with-audit"] = percentiles(latencies, len(subjects))
                print(f"{kind} standing: {results[f'{kind}-{scheme}-with-audit']}", flush=True)
            # The audit write alone (one committed, chained entry per read).
            writes = []
            with store.reading() as connection:
                key = int(connection.scalar(sa.text("SELECT min(id) FROM subjects")) or 1)
            for i in range(len(subjects) * (args.repeat - 1)):
                started = time.perf_counter()
                record_read(store, READER, key, subjects[i % len(subjects)], "bench")
                writes.append((time.perf_counter() - started) * 1000)
            results[f"{kind}-audit-write"] = percentiles(writes, len(subjects))
            print(f"{kind} audit write: {results[f'{kind}-audit-write']}", flush=True)
    return results


def percentiles(latencies: list[float], subjects: int) -> dict[str, object]:
    latencies = sorted(latencies)
    return {
        "subjects": subjects,
        "calls": len(latencies),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
        "max_ms": round(latencies[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=("ingest", "evaluate", "online", "verify"))
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=None)
    parser.add_argument("--parts", type=int, default=None, help="files the ledger is split into")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--formats", nargs="+", default=["parquet", "csv"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--keep", action="store_true", help="evaluate: keep the loaded store for the next run"
    )
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["duckdb"],
        help="evaluate: duckdb, and/or spark:MASTER (e.g. spark:local[1] spark:local[2])",
    )
    args = parser.parse_args()
    args.subjects = args.subjects or max(args.records // 10, 1000)
    args.parts = args.parts or max(1, args.records // 2_000_000)
    if args.what == "online":
        args.subjects = args.subjects if args.subjects != args.records // 10 else args.records // 50
    runner = {
        "ingest": bench_ingest,
        "evaluate": bench_evaluate,
        "online": bench_online,
        "verify": bench_verify,
    }
    started = time.strftime("%Y-%m-%d %H:%M")
    results = runner[args.what](args)
    record = {
        "what": args.what,
        "date": started,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "records": args.records,
        "subjects": args.subjects,
        "results": results,
    }
    (ROOT / "out").mkdir(exist_ok=True)
    (ROOT / "out" / f"registry-{args.what}.json").write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
