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

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import sqlalchemy as sa

from socialcredit import faults
from socialcredit.engines.base import write_rejects_csv
from socialcredit.engines.duckdb_engine import (
    register_catalogue,
    register_input,
    rejections,
    run_statements,
)
from socialcredit.engines.sql import (
    DECIMAL,
    EVENT_CHECKS,
    RECORD_CHECKS,
    Dialect,
    checked_date,
    event_statements,
    quote,
    record_statements,
)
from socialcredit.errors import Conflict
from socialcredit.inputs import Input, read_input
from socialcredit.policy.model import Catalogue
from socialcredit.registry.bulk import insert_from_duckdb
from socialcredit.registry.chain import field_v2_sql
from socialcredit.registry.ledger import (
    CHUNK,
    EVENT_ROW,
    RECORD_ROW,
    BatchMeta,
    BatchWriter,
    event_constants,
    key_digest,
    record_constants,
    rest_sql,
)
from socialcredit.registry.notices import notify_records
from socialcredit.registry.policies import (
    Furnisher,
    catalogue_at,
    get_furnisher,
    require_furnisher,
    schemes_in_force,
)
from socialcredit.registry.standings.current import write_current
from socialcredit.registry.standings.upkeep import catch_up
from socialcredit.semantics.fields import (
    BEFORE_CONDUCT,
    CONFLICT,
    CONTROL,
    EARLIEST_FACT,
    ERASED,
    EVENT_COLUMNS,
    LEDGER_CONFLICT,
    LENGTH_LIMITS,
    OBJECTION_EVENTS,
    OTHER_FURNISHER,
    OUT_OF_RANGE,
    RECORD_COLUMNS,
    RECORD_OPTIONAL,
    REGISTRY_EVENT,
    RESERVED_ID,
    TOO_LONG,
    UNAUTHORISED,
    UNKNOWN_RECORD,
    Rejection,
)
from socialcredit.semantics.reference import catalogue_kinds, extendable_codes
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us, us_to_iso
from socialcredit.store.schema import batches, erasures, ledger, subjects

RECORD_FIELDS = (*RECORD_COLUMNS, *RECORD_OPTIONAL, "subject_name", "region", "decided_on")

RECORD_REQUIRED = ("record_id", "subject_id", "code", "occurred_on")
EVENT_FIELDS = EVENT_COLUMNS
EVENT_REQUIRED = ("record_id", "event")
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
    standings: str = ""  # what became of the current standings the batch changes
    seconds: dict[str, float] = field(default_factory=dict)  # per stage

    def lap(self, stage: str) -> None:
        """Close the running stage (its time so far) and start ``stage``."""
        now = time.perf_counter()
        if self._stage is not None:
            self.seconds[self._stage] = round(now - self._since, 3)
        self._stage, self._since = stage, now

    _stage: str | None = field(default=None, repr=False)
    _since: float = field(default=0.0, repr=False)

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


def _with_detail(found: list[Rejection], furnisher: Furnisher, received: str) -> list[Rejection]:
    """Name the batch's furnisher, or the day it was received, in the rejections that need
    it."""
    detail = {OTHER_FURNISHER: furnisher.id, UNAUTHORISED: furnisher.id, OUT_OF_RANGE: received}
    return [
        Rejection(r.row, r.field, r.problem, r.value, detail[r.problem])
        if r.problem in detail
        else r
        for r in found
    ]


def _bounds(column: str, received: str) -> str:
    """SQL true when a parsed date is before the earliest fact or after the day of receipt."""
    return f"({column} < DATE '{EARLIEST_FACT.isoformat()}' OR {column} > DATE '{received}')"


def _longer(column: str) -> str:
    return f"length({column}) > {LENGTH_LIMITS[column]}"


def write_rejects(
    path: Path, file_name: str, found: Sequence[Rejection], catalogue: Catalogue
) -> None:
    """Every rejected row as ``file,row,field,reason``, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8", newline="") as handle:
        write_rejects_csv(
            handle,
            ((file_name, r) for r in sorted(found, key=lambda r: r.row)),
            catalogue_kinds(catalogue),
        )
    os.replace(partial, path)


def default_rejects_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.rejects.csv")


# -- shared steps under the lock -------------------------------------------------------------


def _keys_table(
    store: Store,
    connection: sa.Connection,
    values: Iterable[str] = (),
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    query: str | None = None,
) -> None:
    """Fill the temporary one-column table ``incoming_keys(k)`` for a join with the store, from
    Python values or from a DuckDB query with one distinct text column ``k``."""
    if store.dialect == "postgresql":
        connection.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS incoming_keys (k TEXT PRIMARY KEY) "
            "ON COMMIT DELETE ROWS"
        )
        connection.exec_driver_sql("TRUNCATE incoming_keys")
    else:
        connection.exec_driver_sql(
            "CREATE TEMP TABLE IF NOT EXISTS incoming_keys (k TEXT PRIMARY KEY)"
        )
        connection.exec_driver_sql("DELETE FROM incoming_keys")
    if con is not None and query is not None:
        insert_from_duckdb(store, connection, con, "incoming_keys", query, ["k"])
    else:
        store.bulk_insert(connection, "incoming_keys", ("k",), ((v,) for v in values))


def _store_table(
    con: duckdb.DuckDBPyConnection, name: str, rows: list[Any], columns: dict[str, Any]
) -> None:
    """Rows fetched from the store, as a DuckDB table (Arrow-typed columns)."""
    arrays = {
        column: pa.array([r[i] for r in rows], kind)
        for i, (column, kind) in enumerate(columns.items())
    }
    con.register(f"{name}_arrow", pa.table(arrays))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


# -- records -----------------------------------------------------------------------------------


def ingest_records(
    store: Store,
    path: Path,
    *,
    settings: Settings,
    furnisher_id: str,
    rejects: Path | None = None,
    progress: Progress | None = None,
    standings: str = "now",
) -> IngestReport:
    """Ingest one records file (CSV, JSON lines or Parquet) from one furnisher.

    ``standings="now"``: the current standings the batch changes are written in the batch's
    own transaction when it touches at most ``online_update_limit`` subjects; a larger batch
    commits them as pending (answered online meanwhile) and is caught up in batch right after
    the commit. ``"later"``: every batch is pending (a bulk load that catches up once at the
    end, e.g. the demo city)."""
    report = IngestReport("records", furnisher_id, path.name)
    step = _stepper(report, progress)
    opened = _open_file(store, path, report, step, RECORD_FIELDS, RECORD_REQUIRED)
    if opened is None:
        return report
    source, digest, furnisher, catalogue = opened

    step("validating")
    con = duckdb.connect(":memory:", config={"preserve_insertion_order": False})
    try:
        received = settings.today().isoformat()  # the day the registry receives the batch
        found, noop = _validate_records(con, source, furnisher, catalogue, received)
        step("writing")
        with store.writing("ledger") as connection:
            # Already a batch? (the same file may have been ingested while this was validated)
            prior = _prior_batch(connection, furnisher_id, "records", digest)
            if prior is not None:
                return _duplicate(report, prior)
            _same_furnisher(connection, furnisher)
            ledger_noop, conflicts = _against_ledger(store, connection, con, furnisher)
            report.rejections = sorted(found + conflicts, key=lambda r: r.row)
            report.noop = noop + ledger_noop
            report.accepted = _count(con, "fresh")
            writer = BatchWriter(store, connection, _meta(report, digest))
            step("registering subjects")
            _register_subjects(store, connection, con, writer.recorded_us)
            step("appending")
            rest = rest_sql(
                "f._row",
                entry="'record'",
                furnisher="f.furnisher",
                record_id="f.record_id",
                subject="f.identifier",
                subject_name="m.name",
                subject_region="m.region",
                code="f.code",
                occurred_on="f.occ",
                amount="f.amount",
                decided_on="f.decided_on",
            )
            cursor = con.execute(
                f"""
                SELECT f.record_id, m.subject_id, f.code, f.occ AS occurred_on, f.amount,
                       f.decided_on, {rest}
                FROM fresh f JOIN subject_keys m ON m.identifier = f.identifier
                ORDER BY f._row
                """
            )
            writer.append(RECORD_ROW, record_constants(furnisher.id), _chunks(cursor))
            report.affected = [
                int(r[0])
                for r in con.execute(
                    "SELECT DISTINCT m.subject_id FROM fresh f "
                    "JOIN subject_keys m ON m.identifier = f.identifier ORDER BY 1"
                ).fetchall()
            ]
            # Warning before punishment: the negative records' notices first, then the
            # standings they drive (with their own notices), all in this one transaction.
            step("notices")
            notify_records(store, connection, con, catalogue)
            online = _standings_in_transaction(
                store, connection, settings, report, writer, step, standings
            )
            _close(report, writer, online)
    finally:
        con.close()
    faults.point("ingest.committed")
    _catch_up(store, settings, report, online, standings, step)
    if report.rejections:
        step("writing rejects")
        report.rejects_path = rejects or default_rejects_path(path)
        write_rejects(report.rejects_path, path.name, report.rejections, catalogue)
    report.lap("done")
    return report


def _meta(report: IngestReport, digest: str) -> BatchMeta:
    return BatchMeta(
        furnisher=report.furnisher,
        kind=report.kind,
        file_name=report.file,
        digest=digest,
        rows_read=report.rows_read,
        accepted=report.accepted,
        noop=report.noop,
        rejected=report.rejected,
    )


def _chunks(cursor: duckdb.DuckDBPyConnection) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := cursor.fetchmany(CHUNK):
        yield chunk


def _same_furnisher(connection: sa.Connection, furnisher: Furnisher) -> None:
    """The furnisher's authorisation, read again under the lock: a file validated against
    codes that were changed meanwhile is refused whole, to be sent again."""
    now = get_furnisher(connection, furnisher.id)
    if now != furnisher:
        raise Conflict(
            f"furnisher {furnisher.id} was changed while the file was being validated; "
            "nothing was ingested: send the file again"
        )


def _standings_in_transaction(
    store: Store,
    connection: sa.Connection,
    settings: Settings,
    report: IngestReport,
    writer: BatchWriter,
    step: Progress,
    standings: str,
) -> bool:
    """Write the current standings a small batch changes in its own transaction; True when
    they were (else the batch's standings are pending)."""
    faults.point("ingest.appended")
    if not report.accepted:
        return True
    if standings != "now" or len(report.affected) > settings.online_update_limit:
        return False
    step("updating standings")
    written = write_current(
        store, connection, settings, report.affected, known=max(now_us(), writer.recorded_us)
    )
    report.standings = (
        f"{written} current standings of {len(report.affected)} subjects updated online, "
        "in the batch's transaction"
    )
    faults.point("ingest.standings")
    return True


def _close(report: IngestReport, writer: BatchWriter, online: bool) -> None:
    appended = writer.close(standings_done=online)
    report.batch_id = appended.batch_id
    report.recorded_at = us_to_iso(appended.recorded_us)
    report.first_seq, report.last_seq = appended.first_seq, appended.last_seq


def _catch_up(
    store: Store,
    settings: Settings,
    report: IngestReport,
    online: bool,
    standings: str,
    step: Progress,
) -> None:
    if not report.accepted:
        report.standings = "no standings changed"
    elif not online and standings == "now":
        step("updating standings in batch")
        done = catch_up(store, settings, progress=step)
        report.standings = f"{len(report.affected)} subjects affected: {done}"
    elif not online:
        report.standings = (
            f"{len(report.affected)} subjects' standings pending (answered online until "
            "`socialcredit refresh` or the service's upkeep catches up)"
        )


def _open_file(
    store: Store,
    path: Path,
    report: IngestReport,
    step: Progress,
    fields: Sequence[str],
    required: Sequence[str],
) -> tuple[Input, str, Furnisher, Catalogue] | None:
    """Read the file and check who sends it; None (the report saying so) when the same file
    was ingested before."""
    step("reading")
    source = read_input(path, fields=fields, required=required)
    digest = file_digest(path)
    with store.reading() as connection:
        furnisher = require_furnisher(connection, report.furnisher)
        catalogue = catalogue_at(connection)
        prior = _prior_batch(connection, report.furnisher, report.kind, digest)
    if prior is not None:
        _duplicate(report, prior)
        return None
    report.rows_read = source.rows
    if _given_column(source, "recorded_at"):
        report.warnings.append(
            "the file's recorded_at column is ignored: the registry records when it learns a fact"
        )
    return source, digest, furnisher, catalogue


def _stepper(report: IngestReport, progress: Progress | None) -> Progress:
    def step(stage: str) -> None:
        report.lap(stage)
        if progress is not None:
            progress(stage)

    return step


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    [(count,)] = con.execute(f"SELECT count(*) FROM {table}").fetchall()
    return int(count)


# What printable text may not hold, in RE2's syntax: Unicode's "other" characters (controls,
# format characters such as U+200B or U+202E, surrogates, private use), line and paragraph
# separators; in an identifier (record_id, furnisher) also every space but U+0020.
NAME_PATTERN = "[\\p{C}\\p{Zl}\\p{Zp}]"
CONTROL_PATTERN = (
    "[\\p{C}\\p{Zl}\\p{Zp}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{202F}\\x{205F}\\x{3000}]"
)


def _name_control(column: str) -> str:
    return f"regexp_matches(coalesce({column}, ''), '{NAME_PATTERN}')"


def _control(column: str) -> str:
    """SQL true when a chained identifier field holds a control character."""
    return f"regexp_matches(coalesce({column}, ''), '{CONTROL_PATTERN}')"


def _validate_records(
    con: duckdb.DuckDBPyConnection,
    source: Input,
    furnisher: Furnisher,
    catalogue: Catalogue,
    received: str,
) -> tuple[list[Rejection], int]:
    """Check every row; leaves table ``accepted`` (the first valid row of each key, in file
    order). Returns the rejections and the number of in-file no-op repeats."""
    register_input(con, "raw_in", source, RECORD_FIELDS)
    con.execute(
        "CREATE TEMP VIEW records_in AS " + _furnisher_view("raw_in", furnisher, RECORD_FIELDS)
    )
    register_catalogue(con, catalogue)
    authorised = ", ".join(quote(c) for c in furnisher.codes)
    decided = checked_date(Dialect("duckdb"), "decided_text")
    checks = (
        *RECORD_CHECKS,
        (_bounds("occ", received), f"occurred_on|{OUT_OF_RANGE}", "occurred_on"),
        (_longer("record_id"), f"record_id|{TOO_LONG}", "record_id"),
        (_control("record_id"), f"record_id|{CONTROL}", "record_id"),
        ("starts_with(record_id, '~')", f"record_id|{RESERVED_ID}", "record_id"),
        (_control("furnisher"), f"furnisher|{CONTROL}", "furnisher"),
        (_longer("subject_name"), f"subject_name|{TOO_LONG}", "subject_name"),
        (_name_control("subject_name"), f"subject_name|{CONTROL}", "subject_name"),
        (f"furnisher <> {quote(furnisher.id)}", f"furnisher|{OTHER_FURNISHER}", "furnisher"),
        (f"code NOT IN ({authorised})", f"code|{UNAUTHORISED}", "code"),
        (f"decided_text IS NOT NULL AND {decided} IS NULL", "decided_on|malformed", "decided_text"),
        (
            f"{decided} < occ",
            f"decided_on|{BEFORE_CONDUCT}",
            "decided_text || ' before ' || CAST(occ AS VARCHAR)",
        ),
        (f"{decided} > DATE '{received}'", f"decided_on|{OUT_OF_RANGE}", "decided_text"),
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
        ("nullif(trim(r.decided_on), '')", "decided_text"),
    )
    run_statements(con, record_statements(Dialect("duckdb"), checks=checks, carry=carry))
    found = rejections(con, "rec_rejects") + _decided_differs(con)
    noop = _count(con, "rec_repeats WHERE same")
    con.execute(
        """
        CREATE TEMP TABLE accepted AS
        SELECT _row, furnisher, record_id, identifier, kind, code, occ, amt,
               nullif(amount_text, '') AS amount,
               coalesce(nullif(region, ''), CASE kind WHEN 'person' THEN substr(identifier, 1, 6)
                                                   ELSE substr(identifier, 3, 6) END) AS region,
               subject_name, CAST(decided_text AS DATE) AS decided_on
        FROM rec_checked
        WHERE problem IS NULL AND _row NOT IN (SELECT _row FROM rec_repeats)
        """
    )
    return _with_detail(found, furnisher, received), noop


def _decided_differs(con: duckdb.DuckDBPyConnection) -> list[Rejection]:
    """A key repeated in the file with another ``decided_on`` (the engines' own comparison
    does not know the field) is a conflict, not a no-op."""
    differing = con.execute(
        """
        SELECT r._row, r.furnisher || '/' || r.record_id, r.first_row
        FROM rec_repeats r
        JOIN rec_checked a ON a._row = r._row
        JOIN rec_checked b ON b._row = r.first_row
        WHERE r.same AND a.decided_text IS DISTINCT FROM b.decided_text
        ORDER BY r._row
        """
    ).fetchall()
    if differing:
        rows = ", ".join(str(int(row)) for row, _, _ in differing)
        con.execute(f"UPDATE rec_repeats SET same = FALSE WHERE _row IN ({rows})")
    return [
        Rejection(int(row), "record_id", CONFLICT, ref, str(first)) for row, ref, first in differing
    ]


def _against_ledger(
    store: Store, connection: sa.Connection, con: duckdb.DuckDBPyConnection, furnisher: Furnisher
) -> tuple[int, list[Rejection]]:
    """Compare the accepted rows with the furnisher's records already in the ledger: the same
    content again is a no-op, different content a conflict. Leaves table ``fresh`` (the rows
    to append). Runs under the writer lock."""
    existing: list[Any] = []
    if _count(con, "accepted") and connection.scalar(
        sa.select(ledger.c.seq)
        .where(ledger.c.entry == "record", ledger.c.furnisher == furnisher.id)
        .limit(1)
    ):
        _keys_table(store, connection, con=con, query="SELECT record_id AS k FROM accepted")
        existing = list(
            connection.execute(
                sa.text(
                    "SELECT l.record_id, s.identifier, l.code, CAST(l.occurred_on AS TEXT), "
                    "l.amount, l.batch_id, CAST(l.decided_on AS TEXT) FROM incoming_keys k "
                    "JOIN ledger l "
                    "ON l.furnisher = :f AND l.record_id = k.k AND l.entry = 'record' "
                    "JOIN subjects s ON s.id = l.subject_id"
                ),
                {"f": furnisher.id},
            )
        )
    _store_table(
        con,
        "known",
        existing,
        {
            "record_id": pa.string(),
            "identifier": pa.string(),
            "code": pa.string(),
            "occurred_on": pa.string(),
            "amount": pa.string(),
            "batch_id": pa.int64(),
            "decided_on": pa.string(),
        },
    )
    con.execute(
        f"""
        CREATE TEMP TABLE compared AS
        SELECT a.*, k.batch_id AS known_batch,
               k.record_id IS NOT NULL AND k.identifier = a.identifier AND k.code = a.code
               AND CAST(k.occurred_on AS DATE) = a.occ
               AND CAST(coalesce(k.amount, '0') AS {DECIMAL}) = a.amt
               AND CAST(k.decided_on AS DATE) IS NOT DISTINCT FROM a.decided_on AS same
        FROM accepted a LEFT JOIN known k ON k.record_id = a.record_id
        """
    )
    con.execute("CREATE TEMP TABLE fresh AS SELECT * FROM compared WHERE known_batch IS NULL")
    erased = _erased(store, connection, con, furnisher)
    conflicts = erased + [
        Rejection(int(row), "record_id", LEDGER_CONFLICT, f"{furnisher.id}/{rid}", str(batch))
        for row, rid, batch in con.execute(
            "SELECT _row, record_id, known_batch FROM compared "
            "WHERE known_batch IS NOT NULL AND NOT same ORDER BY _row"
        ).fetchall()
    ]
    return _count(con, "compared WHERE same"), sorted(conflicts, key=lambda r: r.row)


def _erased_records(
    connection: sa.Connection, furnisher: Furnisher, found: list[Rejection]
) -> list[Rejection]:
    """An event for a record the registry erased is refused as such, not as unknown."""
    digests = {
        r.row: key_digest(furnisher.id, str(r.value).split("/", 1)[-1])
        for r in found
        if r.problem == UNKNOWN_RECORD and r.value
    }
    if not digests:
        return found
    erased = dict(
        connection.execute(
            sa.select(erasures.c.key_digest, erasures.c.erased_on).where(
                erasures.c.key_digest.in_(sorted(set(digests.values())))
            )
        ).all()
    )
    return [
        Rejection(r.row, "record_id", ERASED, r.value, str(erased[digests[r.row]]))
        if r.row in digests and digests[r.row] in erased
        else r
        for r in found
    ]


def _erased(
    store: Store, connection: sa.Connection, con: duckdb.DuckDBPyConnection, furnisher: Furnisher
) -> list[Rejection]:
    """Refuse (and take out of ``fresh``) the rows that furnish again a record the registry
    erased after its retention period (registry.retention: by the digest of its key)."""
    if (
        not _count(con, "fresh")
        or connection.scalar(
            sa.select(erasures.c.record_seq).where(erasures.c.furnisher == furnisher.id).limit(1)
        )
        is None
    ):
        return []
    digest = (
        f"sha256({field_v2_sql('CAST(furnisher AS VARCHAR)')} || "
        f"{field_v2_sql('CAST(record_id AS VARCHAR)')})"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE fresh_keys AS SELECT _row, {digest} AS k FROM fresh")
    _keys_table(store, connection, con=con, query="SELECT DISTINCT k FROM fresh_keys")
    found: dict[str, object] = dict(
        connection.execute(
            sa.text(
                "SELECT e.key_digest, e.erased_on FROM incoming_keys k "
                "JOIN erasures e ON e.key_digest = k.k"
            )
        ).all()
    )
    if not found:
        return []
    _store_table(
        con,
        "erased_keys",
        [(k, str(day)) for k, day in found.items()],
        {"k": pa.string(), "erased_on": pa.string()},
    )
    rows = con.execute(
        "SELECT f._row, f.record_id, CAST(e.erased_on AS VARCHAR) FROM fresh f "
        "JOIN fresh_keys k ON k._row = f._row JOIN erased_keys e ON e.k = k.k ORDER BY f._row"
    ).fetchall()
    con.execute(
        "DELETE FROM fresh WHERE _row IN (SELECT k._row FROM fresh_keys k "
        "JOIN erased_keys e ON e.k = k.k)"
    )
    return [
        Rejection(int(row), "record_id", ERASED, f"{furnisher.id}/{rid}", str(day))
        for row, rid, day in rows
    ]


def _register_subjects(
    store: Store, connection: sa.Connection, con: duckdb.DuckDBPyConnection, received: int
) -> None:
    """Leaves table ``subject_keys`` (identifier, subject_id, name, region) for every subject
    of ``fresh``, registering the subjects seen for the first time (with the first name and
    region given for them in the file). Runs under the writer lock."""
    known: list[Any] = []
    if _count(con, "fresh") and connection.scalar(sa.select(subjects.c.id).limit(1)) is not None:
        _keys_table(store, connection, con=con, query="SELECT DISTINCT identifier AS k FROM fresh")
        known = list(
            connection.execute(
                sa.text(
                    "SELECT s.identifier, s.id, s.name, s.region FROM incoming_keys k "
                    "JOIN subjects s ON s.identifier = k.k"
                )
            )
        )
    _store_table(
        con,
        "subject_keys",
        known,
        {
            "identifier": pa.string(),
            "subject_id": pa.int64(),
            "name": pa.string(),
            "region": pa.string(),
        },
    )
    start = int(connection.scalar(sa.select(sa.func.coalesce(sa.func.max(subjects.c.id), 0))) or 0)
    con.execute(
        f"""
        CREATE TEMP TABLE new_subjects AS
        SELECT CAST({start} + row_number() OVER (ORDER BY first_row) AS BIGINT) AS subject_id,
               identifier, kind, name, region
        FROM (
            SELECT identifier, min(_row) AS first_row, arg_min(kind, _row) AS kind,
                   arg_min(subject_name, _row) FILTER (WHERE subject_name IS NOT NULL) AS name,
                   arg_min(region, _row) AS region
            FROM fresh
            WHERE identifier NOT IN (SELECT identifier FROM subject_keys)
            GROUP BY identifier
        ) n
        """
    )
    insert_from_duckdb(
        store,
        connection,
        con,
        "subjects",
        "SELECT subject_id AS id, identifier, kind, name, region FROM new_subjects",
        ["id", "identifier", "kind", "name", "region"],
        {"first_recorded_us": received},  # the batch's recorded_us: when its records were
    )
    con.execute(
        "INSERT INTO subject_keys SELECT identifier, subject_id, name, region FROM new_subjects"
    )


# -- events ------------------------------------------------------------------------------------


def _registry_only() -> str:
    return f"event IN ({', '.join(quote(e) for e in OBJECTION_EVENTS)})"


def ingest_events(
    store: Store,
    path: Path,
    *,
    settings: Settings,
    furnisher_id: str,
    rejects: Path | None = None,
    progress: Progress | None = None,
    standings: str = "now",
) -> IngestReport:
    """Ingest one events file (fulfilled, repaired, retracted) from one furnisher; the
    current standings as for :func:`ingest_records`. The objection events (``objected``,
    ``objection_rejected``) are the registry's own (registry.due_process) and refused here."""
    report = IngestReport("events", furnisher_id, path.name)
    step = _stepper(report, progress)
    opened = _open_file(store, path, report, step, EVENT_FIELDS, EVENT_REQUIRED)
    if opened is None:
        return report
    source, digest, furnisher, catalogue = opened

    step("validating")
    received = settings.today().isoformat()  # the day the registry receives the batch
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
            # Rule 13: an extension only for a record on an extendable list of a scheme in
            # force on the day of receipt.
            extendable = extendable_codes(
                *(
                    a.scheme
                    for a in schemes_in_force(connection, as_of=settings.today(), known_us=now_us())
                )
            )
        con.register("known_records", known)
        con.execute(
            "CREATE TEMP TABLE rec_checked AS SELECT seq AS _row, furnisher, record_id, code, "
            "CAST(NULL AS VARCHAR) AS problem FROM known_records"
        )
        checks = (
            *EVENT_CHECKS[:-1],
            (_registry_only(), f"event|{REGISTRY_EVENT}", "event"),
            (
                # an extension's date is the listing's new end: later than the day of receipt
                f"event <> 'retracted' AND {_bounds('ev_date', received)} "
                f"AND NOT (event = 'extended' AND ev_date > DATE '{received}')",
                f"date|{OUT_OF_RANGE}",
                "date",
            ),
            (_longer("record_id"), f"record_id|{TOO_LONG}", "record_id"),
            (_control("record_id"), f"record_id|{CONTROL}", "record_id"),
            (_control("furnisher"), f"furnisher|{CONTROL}", "furnisher"),
            (f"furnisher <> {quote(furnisher.id)}", f"furnisher|{OTHER_FURNISHER}", "furnisher"),
            EVENT_CHECKS[-1],
        )
        run_statements(
            con, event_statements(Dialect("duckdb"), checks=checks, extendable=extendable)
        )
        found = _with_detail(rejections(con, "ev_rejects"), furnisher, received)
        with store.reading() as connection:
            found = _erased_records(connection, furnisher, found)
        con.execute(
            """
            CREATE TEMP TABLE accepted AS
            SELECT e._row, e.furnisher, e.record_id, e.rec_row AS record_seq, e.event,
                   CASE WHEN e.event <> 'retracted' THEN e.ev_date END AS event_date,
                   k.subject_id, k.identifier, k.name, k.region
            FROM ev_checked e JOIN known_records k ON k.seq = e.rec_row
            WHERE e.problem IS NULL
            """
        )
        step("writing")
        with store.writing("ledger") as connection:
            prior = _prior_batch(connection, furnisher_id, report.kind, digest)
            if prior is not None:
                return _duplicate(report, prior)
            _same_furnisher(connection, furnisher)
            seqs = [
                r[0] for r in con.execute("SELECT DISTINCT record_seq FROM accepted").fetchall()
            ]
            _store_table(
                con,
                "known_events",
                _ledger_events(store, connection, seqs),
                {"record_seq": pa.int64(), "event": pa.string(), "event_date": pa.string()},
            )
            # The first row of each (record, event, date) not already in the ledger is new.
            con.execute(
                """
                CREATE TEMP TABLE fresh AS
                SELECT * FROM (
                    SELECT a.*, row_number() OVER (
                        PARTITION BY a.record_seq, a.event, a.event_date ORDER BY a._row) AS nth
                    FROM accepted a
                ) x
                WHERE nth = 1 AND NOT EXISTS (
                    SELECT 1 FROM known_events k
                    WHERE k.record_seq = x.record_seq AND k.event = x.event
                      AND k.event_date IS NOT DISTINCT FROM CAST(x.event_date AS VARCHAR)
                )
                """
            )
            report.rejections = found
            report.accepted = _count(con, "fresh")
            report.noop = _count(con, "accepted") - report.accepted
            writer = BatchWriter(store, connection, _meta(report, digest))
            rest = rest_sql(
                "_row",
                entry="'event'",
                furnisher="furnisher",
                record_id="record_id",
                subject="identifier",
                subject_name="name",
                subject_region="region",
                event="event",
                event_date="event_date",
                record_seq="record_seq",
            )
            cursor = con.execute(
                f"""
                SELECT record_id, subject_id, event, event_date, record_seq, {rest}
                FROM fresh ORDER BY _row
                """
            )
            writer.append(EVENT_ROW, event_constants(furnisher.id), _chunks(cursor))
            report.affected = [
                int(r[0])
                for r in con.execute("SELECT DISTINCT subject_id FROM fresh ORDER BY 1").fetchall()
            ]
            online = _standings_in_transaction(
                store, connection, settings, report, writer, step, standings
            )
            _close(report, writer, online)
    finally:
        con.close()
    faults.point("ingest.committed")
    _catch_up(store, settings, report, online, standings, step)
    if report.rejections:
        step("writing rejects")
        report.rejects_path = rejects or default_rejects_path(path)
        write_rejects(report.rejects_path, path.name, report.rejections, catalogue)
    report.lap("done")
    return report


def _ledger_records(
    store: Store, connection: sa.Connection, furnisher: Furnisher, record_ids: list[str]
) -> Any:
    """The furnisher's ledger records with these ids, and their subjects, as an Arrow table."""
    rows: list[Any] = []
    if record_ids:
        _keys_table(store, connection, record_ids)
        rows = list(
            connection.execute(
                sa.text(
                    "SELECT l.seq, l.furnisher, l.record_id, l.subject_id, s.identifier, "
                    "s.name, s.region, l.code "
                    "FROM incoming_keys k JOIN ledger l ON l.furnisher = :f "
                    "AND l.record_id = k.k AND l.entry = 'record' "
                    "JOIN subjects s ON s.id = l.subject_id"
                ),
                {"f": furnisher.id},
            )
        )
    columns = {
        "seq": pa.int64(),
        "furnisher": pa.string(),
        "record_id": pa.string(),
        "subject_id": pa.int64(),
        "identifier": pa.string(),
        "name": pa.string(),
        "region": pa.string(),
        "code": pa.string(),
    }
    return pa.table(
        {
            name: pa.array([r[i] for r in rows], kind)
            for i, (name, kind) in enumerate(columns.items())
        }
    )


def _ledger_events(
    store: Store, connection: sa.Connection, record_seqs: list[int]
) -> list[tuple[int, str, str | None]]:
    """(record seq, event, date) of the ledger's events on these records."""
    if not record_seqs:
        return []
    _keys_table(store, connection, (str(s) for s in record_seqs))
    cast = "CAST(k.k AS BIGINT)"
    return [
        (int(r.record_seq), str(r.event), None if r.event_date is None else str(r.event_date))
        for r in connection.execute(
            sa.text(
                "SELECT l.record_seq, l.event, l.event_date FROM incoming_keys k "
                f"JOIN ledger l ON l.record_seq = {cast} AND l.entry = 'event'"
            )
        )
    ]
