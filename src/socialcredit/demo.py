"""`socialcredit demo` (and `make demo`): a synthetic city in a registry of its own.

Generates the city (see :mod:`socialcredit.demo_city`), creates a fresh embedded store beside
it, registers the furnishers, ingests every file through the same path as `socialcredit
ingest`, evaluates every published scheme into the current standings, and shows what came out,
with one listed person's standing explained the way `socialcredit standing` shows it.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from socialcredit.demo_city import generate_city
from socialcredit.registry.admin import init_store
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.policies import add_furnisher, schemes_in_force
from socialcredit.registry.standings.batch import BatchResult, evaluate_registry
from socialcredit.registry.standings.snapshot import ledger_snapshot
from socialcredit.registry.standings.upkeep import rebuild_current
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us


@dataclass(frozen=True)
class Demo:
    db_url: str
    city_dir: Path
    records: int
    events: int
    rejected: int
    results: list[BatchResult]
    seconds: float


def build_demo(
    *,
    out_dir: Path,
    persons: int,
    organisations: int,
    years: int,
    seed: int,
    today: dt.date,
    console: Console,
    history_months: int = 0,
) -> Demo:
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    city_dir = out_dir / "city"
    db_path = out_dir / "socialcredit.db"
    for stale in out_dir.glob("socialcredit.db*"):  # the demo's own store starts afresh
        stale.unlink()
    db_url = f"sqlite:///{db_path}"
    settings = Settings(database_url=db_url)
    store = Store(db_url)

    with console.status("generating the city"):
        city = generate_city(
            city_dir,
            persons=persons,
            organisations=organisations,
            years=years,
            seed=seed,
            until=today,
        )
    console.print(
        f"city: {city.persons:,} persons, {city.organisations:,} organisations, "
        f"{city.records:,} records and {city.events:,} events from {len(city.furnishers)} "
        f"furnishers in {city_dir}/"
    )
    init_store(store, settings)
    with (city_dir / "furnishers.csv").open(encoding="utf-8") as handle:
        furnishers = list(csv.DictReader(handle))
    with store.writing("admin_log") as connection:
        for f in furnishers:
            add_furnisher(
                connection, f["id"], f["name"], f["codes"].split(","), update=False, by="demo"
            )

    files = [
        (kind, f["id"], city_dir / kind / f"{f['id']}.csv")
        for kind in ("records", "events")
        for f in furnishers
    ]
    records = events = rejected = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("ingesting", total=len(files))
        for kind, furnisher, path in files:
            progress.update(task, description=f"ingesting {kind} from {furnisher}")
            ingest = ingest_records if kind == "records" else ingest_events
            # every batch pending: one catch-up in batch below, instead of one per file
            report = ingest(
                store, path, settings=settings, furnisher_id=furnisher, standings="later"
            )
            rejected += report.rejected
            if kind == "records":
                records += report.accepted
            else:
                events += report.accepted
            progress.advance(task)
    console.print(
        f"ledger: {records:,} records and {events:,} events ingested, {rejected} rejected"
    )
    with console.status("evaluating every scheme"):
        results = rebuild_current(store, settings)  # and the pending batches are done
    if history_months:
        with console.status(f"evaluating the last {history_months} month-ends (list history)"):
            evaluate_history(store, settings, today, history_months)
    store.engine.dispose()
    return Demo(db_url, city_dir, records, events, rejected, results, time.perf_counter() - started)


def evaluate_history(store: Store, settings: Settings, today: dt.date, months: int) -> int:
    """Snapshots of every scheme with lists at the last ``months`` month-ends, as the ledger is
    known now: the history the operator dashboard draws (list sizes over time)."""
    known = now_us()
    snapshot = ledger_snapshot(store, known)
    with store.reading() as connection:
        wanted = [
            a.scheme.id
            for a in schemes_in_force(connection, as_of=today, known_us=known)
            if a.scheme.lists
        ]
    month_end = today.replace(day=1) - dt.timedelta(days=1)
    days = []
    for _ in range(months):
        days.append(month_end)
        month_end = month_end.replace(day=1) - dt.timedelta(days=1)
    count = 0
    for day in reversed(days):
        for scheme_id in wanted:
            evaluate_registry(
                store,
                settings,
                scheme_id,
                as_of=day,
                known_at_us=known,
                snapshot=snapshot,
                keep_snapshot=True,
                make_current=False,
            )
            count += 1
    return count
