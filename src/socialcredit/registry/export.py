"""`socialcredit export ledger`: the ledger as partitioned Parquet, the interchange format for
Spark and for other registries.

Layout (Hive-style partitions, readable by Spark, DuckDB, Arrow, Trino…)::

    DIR/records/region=371002/month=2026-11/data_0.parquet
    DIR/events/region=371002/month=2026-11/data_0.parquet
    DIR/manifest.json

``region`` is the subject's administrative division code (``unknown`` when the registry holds
none) and ``month`` the month the registry recorded the entry (UTC): the ledger only grows, so
a later export adds partitions for new months and rewrites no old one. Records carry the columns
of a furnished records file (furnisher, record_id, subject_id, code, occurred_on, amount,
recorded_at) and the ledger's ``seq`` and ``batch_id``; events those of an events file (furnisher,
record_id, event, date, recorded_at) with ``seq``, ``batch_id`` and the ``subject_id``.
``manifest.json`` names the ledger's head (entries and hash, as ``verify`` prints them) so that
a reader can check what it got.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from socialcredit.errors import UsageError
from socialcredit.registry.audit import Reader, record_bulk_read
from socialcredit.registry.ledger import head
from socialcredit.registry.standings.snapshot import read_arrow
from socialcredit.store.db import Store, now_us, us_to_iso

COLUMNS = (
    "SELECT l.seq, l.batch_id, l.entry, l.furnisher, l.record_id, s.identifier, "
    "coalesce(s.region, 'unknown'), l.code, l.occurred_on, l.amount, l.event, l.event_date, "
    "l.recorded_us, l.decided_on FROM ledger l JOIN subjects s ON s.id = l.subject_id "
    "WHERE l.seq <= {last} ORDER BY l.seq"
)
TYPES = (
    pa.int64(),
    pa.int64(),
    pa.string(),
    pa.string(),
    pa.string(),
    pa.string(),
    pa.string(),
    pa.string(),
    pa.date32(),
    pa.string(),
    pa.string(),
    pa.date32(),
    pa.int64(),
    pa.date32(),
)
NAMES = (
    "seq",
    "batch_id",
    "entry",
    "furnisher",
    "record_id",
    "subject_id",
    "region",
    "code",
    "occurred_on",
    "amount",
    "event",
    "event_date",
    "recorded_us",
    "decided_on",  # a record's decision day, when furnished (none: occurred_on)
)


@dataclass(frozen=True)
class Exported:
    folder: Path
    records: int
    events: int
    partitions: int
    head_seq: int
    head_hash: str


def export_ledger(store: Store, out: Path, *, reader: Reader, replace: bool = False) -> Exported:
    """Write the whole ledger (up to its head when the export starts) under ``out``; the folder
    appears whole or not at all. Every identifier is in it in full: one audit entry names the
    export, its purpose and the number of subjects, committed before the folder appears."""
    if out.exists() and any(out.iterdir()) and not replace:
        raise UsageError(f"{out} exists and is not empty; use --replace to write over it")
    with store.reading() as connection:
        head_seq, head_hash, _ = head(connection)
    [table] = read_arrow(store, [(COLUMNS.format(last=int(head_seq)), TYPES)])
    table = table.rename_columns(list(NAMES))
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    con = duckdb.connect(":memory:")
    try:
        con.register("ledger_rows", table)
        # make_timestamp(µs) is the UTC wall-clock time, without a zone.
        month = "strftime(make_timestamp(recorded_us), '%Y-%m')"
        recorded_at = "strftime(make_timestamp(recorded_us), '%Y-%m-%dT%H:%M:%S.%fZ')"
        con.execute(
            f"""
            COPY (
                SELECT seq, batch_id, furnisher, record_id, subject_id, code,
                       strftime(occurred_on, '%Y-%m-%d') AS occurred_on, amount,
                       {recorded_at} AS recorded_at, region, {month} AS month
                FROM ledger_rows WHERE entry = 'record'
            ) TO '{partial / "records"}' (FORMAT parquet, PARTITION_BY (region, month))
            """
        )
        con.execute(
            f"""
            COPY (
                SELECT seq, batch_id, furnisher, record_id, subject_id, event,
                       strftime(event_date, '%Y-%m-%d') AS date,
                       {recorded_at} AS recorded_at, region, {month} AS month
                FROM ledger_rows WHERE entry = 'event'
            ) TO '{partial / "events"}' (FORMAT parquet, PARTITION_BY (region, month))
            """
        )
        counts = dict(
            con.execute("SELECT entry, count(*) FROM ledger_rows GROUP BY entry").fetchall()
        )
        [(partitions, subjects_in)] = con.execute(
            f"SELECT count(DISTINCT (region, {month})), count(DISTINCT subject_id) FROM ledger_rows"
        ).fetchall()
    finally:
        con.close()
    manifest = {
        "format": "socialcredit ledger export 1",
        "exported_at": us_to_iso(now_us()),
        "head": {"entries": int(head_seq), "hash": head_hash},
        "records": int(counts.get("record", 0)),
        "events": int(counts.get("event", 0)),
        "partitioned_by": ["region", "month"],
        "month": "the UTC month the registry recorded the entry",
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    record_bulk_read(
        store,
        reader,
        f"ledger export of {int(subjects_in)} subjects ({int(head_seq)} entries) to {out.name}",
    )
    if out.exists():  # swap: the old export stays whole until the new one is in place
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        partial.rename(out)
        shutil.rmtree(old)
    else:
        partial.rename(out)
    return Exported(
        out,
        manifest["records"],  # type: ignore[arg-type]
        manifest["events"],  # type: ignore[arg-type]
        int(partitions),
        int(head_seq),
        head_hash,
    )
