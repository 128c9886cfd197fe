"""Ingest: furnished files into the ledger, validated, idempotent and atomic.

A file is validated whole first, vectorised in DuckDB with the same checks (and the same reason
texts) as `evaluate`, plus the registry's own: the row's furnisher is the batch's, the furnisher
is authorised for the code, a given region is a 6-digit division code. Then, holding the ledger's
writer lock, the accepted rows are compared with the ledger (same content again: a no-op;
different content under a known key: rejected), new subjects are registered, and the batch row,
the subjects and the hash-chained ledger entries are inserted in one transaction. A crash or a
kill before the commit leaves the store exactly as it was; sending the same file again finds its
digest and adds nothing.

The registry assigns ``recorded_at``: one instant per batch, taken under the lock, never before
the previous batch's. A ``recorded_at`` column in the file is ignored with a warning.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import sqlalchemy as sa

from socialcredit.engines.duckdb_engine import register_catalogue, register_input, rejections
from socialcredit.engines.sql import (
    EVENT_CHECKS,
    RECORD_CHECKS,
    Dialect,
    event_statements,
    quote,
    record_statements,
)
from socialcredit.inputs import Input, read_input
from socialcredit.policy.model import Catalogue
from socialcredit.registry.ledger import chain, head
from socialcredit.registry.policies import Furnisher, catalogue_at, require_furnisher
from socialcredit.semantics.fields import (
    EVENT_COLUMNS,
    LEDGER_CONFLICT,
    OTHER_FURNISHER,
    RECORD_COLUMNS,
    RECORD_OPTIONAL,
    UNAUTHORISED,
    Rejection,
    reason_text,
)
from socialcredit.semantics.reference import catalogue_kinds
from socialcredit.store.db import Store, now_us, us_to_iso
from socialcredit.store.schema import batches, ledger, subjects

RECORD_FIELDS = (*RECORD_COLUMNS, *RECORD_OPTIONAL, "subject_name", "region")
RECORD_REQUIRED = ("record_id", "subject_id", "code", "occurred_on")
EVENT_FIELDS = EVENT_COLUMNS
EVENT_REQUIRED = ("record_id", "event")
LEDGER_COLUMNS = (
    "seq",
    "batch_id",
    "entry",
    "furnisher",
    "record_id",
    "subject_id",
    "code",
    "occurred_on",
    "amount",
    "event",
    "event_date",
    "record_seq",
    "recorded_us",
    "hash",
)

Progress = Callable[[str], None]


@dataclass
class IngestReport:
    """What one ingest did. ``duplicate_of`` is set when the same file was ingested before."""

    kind: str  # records | events
    furnisher: str
    file: str
    rows_read: int = 0
    accepted: int = 0
    noop: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    batch_id: int | None = None
    duplicate_of: int | None = None
    recorded_at: str | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    rejects_path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    affected: list[int] = field(default_factory=list)  # subject keys whose standing may change

    @property
    def rejected(self) -> int:
        return len(self.rejections)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _prior_batch(connection: sa.Connection, furnisher: str, kind: str, digest: str) -> Any:
    return connection.execute(
        sa.select(batches).where(
            batches.c.furnisher == furnisher, batches.c.kind == kind, batches.c.digest == digest
        )
    ).first()


def _duplicate(report: IngestReport, prior: Any) -> IngestReport:
    report.duplicate_of = int(prior.id)
    report.rows_read = int(prior.rows_read)
    report.recorded_at = us_to_iso(int(prior.received_us))
    return report


def _given_column(source: Input, name: str) -> bool:
    """Whether the file has a column ``name`` holding any value."""
    if source.parquet is not None:
        return name in source.present
    column = source.table.column(name)
    return bool(column.null_count < len(column))


def _furnisher_view(source: str, furnisher: Furnisher, fields: Sequence[str]) -> str:
    """The input with the batch's furnisher filled in where a row leaves it empty, and a
    placeholder ``recorded_at`` (the registry assigns the real one under the lock)."""
    columns = []
    for name in fields:
        if name == "furnisher":
            columns.append(f"coalesce(nullif(furnisher, ''), {quote(furnisher.id)}) AS furnisher")
        elif name == "recorded_at":
            columns.append("'1970-01-01T00:00:00Z' AS recorded_at")
        else:
            columns.append(name)
    return f"SELECT _row, {', '.join(columns)}, _error FROM {source}"


def _with_detail(found: list[Rejection], furnisher: Furnisher) -> list[Rejection]:
    """Name the batch's furnisher in the rejections that need it."""
    return [
        Rejection(r.row, r.field, r.problem, r.value, furnisher.id)
        if r.problem in (OTHER_FURNISHER, UNAUTHORISED)
        else r
        for r in found
    ]


def write_rejects(
    path: Path, file_name: str, found: Sequence[Rejection], catalogue: Catalogue
) -> None:
    """Every rejected row as ``file,row,field,reason``, whole or not at all."""
    kinds = catalogue_kinds(catalogue)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "row", "field", "reason"])
        for rejection in sorted(found, key=lambda r: r.row):
            writer.writerow(
                [
                    file_name,
                    rejection.row,
                    rejection.field,
                    reason_text(rejection, kind_subjects=kinds),
                ]
            )
    os.replace(partial, path)


def default_rejects_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.rejects.csv")


# -- shared steps under the lock -------------------------------------------------------------


def _keys_table(store: Store, connection: sa.Connection, values: Iterable[str]) -> None:
    """Fill the temporary one-column table ``incoming_keys(k)`` for a join with the store."""
    if store.dialect == "postgresql":
        connection.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS incoming_keys (k TEXT) ON COMMIT DELETE ROWS"
        )
        connection.exec_driver_sql("TRUNCATE incoming_keys")
    else:
        connection.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS incoming_keys (k TEXT)")
        connection.exec_driver_sql("DELETE FROM incoming_keys")
    store.bulk_insert(connection, "incoming_keys", ("k",), ((v,) for v in values))


def _new_batch(
    connection: sa.Connection, report: IngestReport, digest: str, received_us: int
) -> int:
    result = connection.execute(
        batches.insert().values(
            furnisher=report.furnisher,
            kind=report.kind,
            file_name=report.file,
            digest=digest,
            received_us=received_us,
            rows_read=report.rows_read,
            accepted=report.accepted,
            noop=report.noop,
            rejected=report.rejected,
            standings_done=report.accepted == 0,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def _append(
    store: Store,
    connection: sa.Connection,
    report: IngestReport,
    digest: str,
    entries: list[tuple[Any, ...]],
) -> None:
    """Insert the batch row and its chained ledger entries (rows of LEDGER_COLUMNS without seq,
    batch_id, recorded_us and hash; the subject given both as key and identifier)."""
    last_seq, last_hash, last_us = head(connection)
    received = max(now_us(), last_us + 1)
    report.recorded_at = us_to_iso(received)
    batch_id = _new_batch(connection, report, digest, received)
    report.batch_id = batch_id
    if not entries:
        return
    # entry: (entry, furnisher, record_id, subject_key, subject_identifier, code, occurred_on,
    #         amount, event, event_date, record_seq)
    canonical = (
        (
            last_seq + i,
            e[0],
            batch_id,
            e[1],
            e[2],
            e[4],
            e[5],
            e[6],
            e[7],
            e[8],
            e[9],
            e[10],
            received,
        )
        for i, e in enumerate(entries, start=1)
    )
    hashes = list(chain(last_hash, canonical))
    rows = (
        (
            last_seq + i,
            batch_id,
            e[0],
            e[1],
            e[2],
            e[3],
            e[5],
            e[6],
            e[7],
            e[8],
            e[9],
            e[10],
            received,
            h,
        )
        for i, (e, h) in enumerate(zip(entries, hashes, strict=True), start=1)
    )
    store.bulk_insert(connection, ledger, LEDGER_COLUMNS, rows)
    report.first_seq, report.last_seq = last_seq + 1, last_seq + len(entries)
    connection.execute(
        batches.update()
        .where(batches.c.id == batch_id)
        .values(first_seq=report.first_seq, last_seq=report.last_seq, last_hash=hashes[-1])
    )


# -- records -----------------------------------------------------------------------------------


def ingest_records(
    store: Store,
    path: Path,
    *,
    furnisher_id: str,
    rejects: Path | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest one records file (CSV, JSON lines or Parquet) from one furnisher."""
    step = progress or (lambda _message: None)
    report = IngestReport("records", furnisher_id, path.name)
    step("reading")
    source = read_input(path, fields=RECORD_FIELDS, required=RECORD_REQUIRED)
    digest = file_digest(path)
    with store.reading() as connection:
        furnisher = require_furnisher(connection, furnisher_id)
        catalogue = catalogue_at(connection)
        prior = _prior_batch(connection, furnisher_id, "records", digest)
    if prior is not None:
        return _duplicate(report, prior)
    report.rows_read = source.rows
    if _given_column(source, "recorded_at"):
        report.warnings.append(
            "the file's recorded_at column is ignored: the registry records when it learns a fact"
        )

    step("validating")
    con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
    try:
        accepted, found, noop = _validate_records(con, source, furnisher, catalogue)
    finally:
        con.close()

    step("writing")
    with store.writing() as connection:
        # Already a batch? (the same file may have been ingested while this one was validated)
        prior = _prior_batch(connection, furnisher_id, "records", digest)
        if prior is not None:
            return _duplicate(report, prior)
        entries, ledger_noop, conflicts, affected = _against_ledger(
            store, connection, furnisher, accepted
        )
        report.rejections = sorted(found + conflicts, key=lambda r: r.row)
        report.noop = noop + ledger_noop
        report.accepted = len(entries)
        _append(store, connection, report, digest, entries)
        report.affected = affected
    if report.rejections:
        report.rejects_path = rejects or default_rejects_path(path)
        write_rejects(report.rejects_path, path.name, report.rejections, catalogue)
    return report


def _validate_records(
    con: duckdb.DuckDBPyConnection, source: Input, furnisher: Furnisher, catalogue: Catalogue
) -> tuple[list[tuple[Any, ...]], list[Rejection], int]:
    """(accepted rows in file order, rejections, in-file no-op repeats)."""
    register_input(con, "raw_in", source, RECORD_FIELDS)
    con.execute(
        "CREATE TEMP VIEW records_in AS " + _furnisher_view("raw_in", furnisher, RECORD_FIELDS)
    )
    register_catalogue(con, catalogue)
    authorised = ", ".join(quote(c) for c in furnisher.codes)
    checks = (
        *RECORD_CHECKS,
        (f"furnisher <> {quote(furnisher.id)}", f"furnisher|{OTHER_FURNISHER}", "furnisher"),
        (f"code NOT IN ({authorised})", f"code|{UNAUTHORISED}", "code"),
        (
            "region IS NOT NULL AND region <> '' AND NOT regexp_full_match(region, '[0-9]{6}')",
            "region|malformed",
            "region",
        ),
    )
    carry = (
        ("r.region", "region"),
        ("r.amount", "amount_text"),
        ("nullif(trim(r.subject_name), '')", "subject_name"),
        ("r.subject_id", "identifier"),
    )
    for statement in record_statements(Dialect("duckdb"), checks=checks, carry=carry):
        kind = "VIEW" if statement.view else "TABLE"
        con.execute(f"CREATE TEMP {kind} {statement.name} AS {statement.query}")
    found = rejections(con, "rec_rejects")
    noop = int(con.execute("SELECT count(*) FROM rec_repeats WHERE same").fetchone()[0])  # type: ignore[index]
    rows = con.execute(
        """
        SELECT _row, record_id, identifier, kind, code, CAST(occ AS VARCHAR),
               nullif(amount_text, ''), amt,
               coalesce(nullif(region, ''), CASE kind WHEN 'person' THEN substr(identifier, 1, 6)
                                                   ELSE substr(identifier, 3, 6) END),
               subject_name
        FROM rec_checked
        WHERE problem IS NULL AND _row NOT IN (SELECT _row FROM rec_repeats)
        ORDER BY _row
        """
    ).fetchall()
    return rows, _with_detail(found, furnisher), noop


def _against_ledger(
    store: Store, connection: sa.Connection, furnisher: Furnisher, accepted: list[tuple[Any, ...]]
) -> tuple[list[tuple[Any, ...]], int, list[Rejection], list[int]]:
    """Split the validated rows into new ledger entries, repeats of ledger records (no-ops) and
    conflicts with them; register new subjects. Runs under the writer lock."""
    existing: dict[str, Any] = {}
    if accepted and connection.scalar(
        sa.select(ledger.c.seq)
        .where(ledger.c.entry == "record", ledger.c.furnisher == furnisher.id)
        .limit(1)
    ):
        _keys_table(store, connection, (row[1] for row in accepted))
        for found in connection.execute(
            sa.text(
                "SELECT l.record_id, s.identifier, l.code, l.occurred_on, l.amount, l.batch_id "
                "FROM incoming_keys k JOIN ledger l ON l.furnisher = :f AND l.record_id = k.k "
                "AND l.entry = 'record' JOIN subjects s ON s.id = l.subject_id"
            ),
            {"f": furnisher.id},
        ):
            existing[found.record_id] = found
    fresh, conflicts, noop = [], [], 0
    for row in accepted:
        known = existing.get(row[1])
        if known is None:
            fresh.append(row)
        elif (
            known.identifier == row[2]
            and known.code == row[4]
            and str(known.occurred_on) == row[5]
            and Decimal(known.amount or 0) == row[7]
        ):
            noop += 1
        else:
            conflicts.append(
                Rejection(
                    row[0],
                    "record_id",
                    LEDGER_CONFLICT,
                    f"{furnisher.id}/{row[1]}",
                    str(known.batch_id),
                )
            )
    keys = _subject_keys(store, connection, fresh)
    entries = [
        (
            "record",
            furnisher.id,
            row[1],
            keys[row[2]],
            row[2],
            row[4],
            row[5],
            row[6],
            None,
            None,
            None,
        )
        for row in fresh
    ]
    return entries, noop, conflicts, sorted({keys[row[2]] for row in fresh})


def _subject_keys(
    store: Store, connection: sa.Connection, rows: list[tuple[Any, ...]]
) -> dict[str, int]:
    """The store's key of each row's subject, registering subjects seen for the first time."""
    identifiers = {row[2]: row for row in rows}
    keys: dict[str, int] = {}
    if not identifiers:
        return keys
    if connection.scalar(sa.select(subjects.c.id).limit(1)) is not None:
        _keys_table(store, connection, identifiers)
        keys = {
            str(r.identifier): int(r.id)
            for r in connection.execute(
                sa.text(
                    "SELECT s.identifier, s.id FROM incoming_keys k "
                    "JOIN subjects s ON s.identifier = k.k"
                )
            )
        }
    start = int(connection.scalar(sa.select(sa.func.coalesce(sa.func.max(subjects.c.id), 0))) or 0)
    new = [identifier for identifier in identifiers if identifier not in keys]
    received = now_us()
    names: dict[str, str] = {}
    for row in rows:  # the first name given for a subject in the file
        if row[9] is not None:
            names.setdefault(row[2], row[9])
    store.bulk_insert(
        connection,
        subjects,
        ("id", "identifier", "kind", "name", "region", "first_recorded_us"),
        (
            (
                start + i,
                identifier,
                identifiers[identifier][3],
                names.get(identifier),
                identifiers[identifier][8],
                received,
            )
            for i, identifier in enumerate(new, start=1)
        ),
    )
    keys.update((identifier, start + i) for i, identifier in enumerate(new, start=1))
    return keys


# -- events ------------------------------------------------------------------------------------


def ingest_events(
    store: Store,
    path: Path,
    *,
    furnisher_id: str,
    rejects: Path | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest one events file (fulfilled, repaired, retracted) from one furnisher."""
    step = progress or (lambda _message: None)
    report = IngestReport("events", furnisher_id, path.name)
    step("reading")
    source = read_input(path, fields=EVENT_FIELDS, required=EVENT_REQUIRED)
    digest = file_digest(path)
    with store.reading() as connection:
        furnisher = require_furnisher(connection, furnisher_id)
        catalogue = catalogue_at(connection)
        prior = _prior_batch(connection, furnisher_id, "events", digest)
    if prior is not None:
        return _duplicate(report, prior)
    report.rows_read = source.rows
    if _given_column(source, "recorded_at"):
        report.warnings.append(
            "the file's recorded_at column is ignored: the registry records when it learns a fact"
        )

    step("validating")
    con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
    try:
        register_input(con, "raw_in", source, EVENT_FIELDS)
        con.execute(
            "CREATE TEMP VIEW events_in AS " + _furnisher_view("raw_in", furnisher, EVENT_FIELDS)
        )
        wanted = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT record_id FROM events_in WHERE record_id IS NOT NULL "
                f"AND furnisher = {quote(furnisher.id)}"
            ).fetchall()
        ]
        with store.reading() as connection:
            known = _ledger_records(store, connection, furnisher, wanted)
        con.register("known_records", known)
        con.execute(
            "CREATE TEMP TABLE rec_checked AS SELECT seq AS _row, furnisher, record_id, "
            "CAST(NULL AS VARCHAR) AS problem FROM known_records"
        )
        checks = (
            *EVENT_CHECKS[:-1],
            (f"furnisher <> {quote(furnisher.id)}", f"furnisher|{OTHER_FURNISHER}", "furnisher"),
            EVENT_CHECKS[-1],
        )
        for statement in event_statements(Dialect("duckdb"), checks=checks):
            kind = "VIEW" if statement.view else "TABLE"
            con.execute(f"CREATE TEMP {kind} {statement.name} AS {statement.query}")
        found = _with_detail(rejections(con, "ev_rejects"), furnisher)
        accepted = con.execute(
            "SELECT e._row, e.record_id, e.rec_row, e.event, "
            "CASE WHEN e.event <> 'retracted' THEN CAST(e.ev_date AS VARCHAR) END, k.subject_id, "
            "k.identifier FROM ev_checked e JOIN known_records k ON k.seq = e.rec_row "
            "WHERE e.problem IS NULL ORDER BY e._row"
        ).fetchall()
    finally:
        con.close()

    step("writing")
    with store.writing() as connection:
        prior = _prior_batch(connection, furnisher_id, "events", digest)
        if prior is not None:
            return _duplicate(report, prior)
        seen = _ledger_events(store, connection, {row[2] for row in accepted})
        entries = []
        affected: set[int] = set()
        for row in accepted:
            key = (row[2], row[3], row[4])
            if key in seen:
                report.noop += 1
                continue
            seen.add(key)
            entries.append(
                (
                    "event",
                    furnisher.id,
                    row[1],
                    row[5],
                    row[6],
                    None,
                    None,
                    None,
                    row[3],
                    row[4],
                    row[2],
                )
            )
            affected.add(int(row[5]))
        report.rejections = found
        report.accepted = len(entries)
        _append(store, connection, report, digest, entries)
        report.affected = sorted(affected)
    if report.rejections:
        report.rejects_path = rejects or default_rejects_path(path)
        write_rejects(report.rejects_path, path.name, report.rejections, catalogue)
    return report


def _ledger_records(
    store: Store, connection: sa.Connection, furnisher: Furnisher, record_ids: list[str]
) -> Any:
    """The furnisher's ledger records with these ids, as an Arrow table."""
    import pyarrow as pa

    rows: list[Any] = []
    if record_ids:
        _keys_table(store, connection, record_ids)
        rows = list(
            connection.execute(
                sa.text(
                    "SELECT l.seq, l.furnisher, l.record_id, l.subject_id, s.identifier "
                    "FROM incoming_keys k JOIN ledger l ON l.furnisher = :f "
                    "AND l.record_id = k.k AND l.entry = 'record' "
                    "JOIN subjects s ON s.id = l.subject_id"
                ),
                {"f": furnisher.id},
            )
        )
    return pa.table(
        {
            "seq": pa.array([r[0] for r in rows], pa.int64()),
            "furnisher": pa.array([r[1] for r in rows], pa.string()),
            "record_id": pa.array([r[2] for r in rows], pa.string()),
            "subject_id": pa.array([r[3] for r in rows], pa.int64()),
            "identifier": pa.array([r[4] for r in rows], pa.string()),
        }
    )


def _ledger_events(
    store: Store, connection: sa.Connection, record_seqs: set[int]
) -> set[tuple[int, str, str | None]]:
    """(record seq, event, date) of the ledger's events on these records."""
    if not record_seqs:
        return set()
    _keys_table(store, connection, (str(s) for s in record_seqs))
    cast = "CAST(k.k AS BIGINT)"
    return {
        (int(r.record_seq), str(r.event), None if r.event_date is None else str(r.event_date))
        for r in connection.execute(
            sa.text(
                "SELECT l.record_seq, l.event, l.event_date FROM incoming_keys k "
                f"JOIN ledger l ON l.record_seq = {cast} AND l.entry = 'event'"
            )
        )
    }
