"""The ledger's one writer and its verification.

Every entry reaches the ledger through :class:`BatchWriter`: file ingest, API submissions and
the registry's own decisions alike. Under the ledger's writer lock it reads the head, opens the
batch row, assigns each entry its sequence number and the batch's ``recorded_us`` (now, never
before the previous batch's), chains the entries' hashes (:mod:`socialcredit.registry.chain`,
v2 encoding), anchors the new head and raises the ledger's change counter — all inside the
caller's transaction, so that the caller's other writes (subjects, notices, cases, the current
standings the batch changes) commit with it or not at all.

An entry's canonical fields (:data:`FIELDS`): its sequence number, batch and ``recorded_us``,
then entry kind, furnisher, record id, the subject's identifier, name and region as
registered (not the store's internal key), code, ``occurred_on``, amount as furnished, event,
event date and the record's sequence number. Editing any of them — a subject's name included —
breaks the chain at that entry.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from queue import Queue
from typing import Any

import sqlalchemy as sa

from socialcredit.registry.bulk import literal
from socialcredit.registry.chain import (
    GENESIS,
    Verification,
    anchor,
    anchored_head,
    chain_rows,
    check_anchor,
    field_v2,
    field_v2_sql,
    walk,
)
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import LEDGER_GENERATION, batches, ledger, subjects

# The canonical fields after seq, batch_id and recorded_us (which the writer assigns).
REST_FIELDS = (
    "entry",
    "furnisher",
    "record_id",
    "subject",
    "subject_name",
    "subject_region",
    "code",
    "occurred_on",
    "amount",
    "event",
    "event_date",
    "record_seq",
)
FIELDS = ("seq", "batch_id", "recorded_us", *REST_FIELDS)
# v1 entries (before migration 0009) did not cover the subject's name and region.
V1_FIELDS = tuple(
    i for i, name in enumerate(FIELDS) if name not in ("subject_name", "subject_region")
)

CHUNK = 100_000

# The ledger columns a record's and an event's rows carry (for BatchWriter.append), and those
# that are the same on every row of a furnisher's batch.
RECORD_ROW = ("record_id", "subject_id", "code", "occurred_on", "amount")
EVENT_ROW = ("record_id", "subject_id", "event", "event_date", "record_seq")


def record_constants(furnisher: str) -> dict[str, object]:
    return {
        "entry": "record",
        "furnisher": furnisher,
        "event": None,
        "event_date": None,
        "record_seq": None,
    }


def event_constants(furnisher: str) -> dict[str, object]:
    return {
        "entry": "event",
        "furnisher": furnisher,
        "code": None,
        "occurred_on": None,
        "amount": None,
    }


def rest_sql(**expressions: str) -> str:
    """DuckDB SQL for an entry's "rest" (its v2 fields after seq, batch_id and recorded_us)
    from an SQL expression per field of :data:`REST_FIELDS` (absent: NULL)."""
    unknown = set(expressions) - set(REST_FIELDS)
    if unknown:
        raise ValueError(f"not a ledger field: {sorted(unknown)}")
    return " || ".join(
        field_v2_sql(f"CAST({expressions.get(name, 'NULL')} AS VARCHAR)") for name in REST_FIELDS
    )


def rest_text(**values: object) -> str:
    """The same as :func:`rest_sql`, from Python values (a decision's event)."""
    return "".join(field_v2(values.get(name)) for name in REST_FIELDS)


def head(connection: sa.Connection) -> tuple[int, str, int]:
    """(last seq, its hash, its recorded_us) — (0, GENESIS, 0) for an empty ledger."""
    row = connection.execute(
        sa.select(ledger.c.seq, ledger.c.hash, ledger.c.recorded_us)
        .order_by(ledger.c.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS, 0) if row is None else (int(row.seq), str(row.hash), int(row.recorded_us))


@dataclass(frozen=True)
class BatchMeta:
    """Who sent what: the batch row's facts, which the writer inserts."""

    furnisher: str
    kind: str  # records | events | decision
    file_name: str
    digest: str
    rows_read: int
    accepted: int
    noop: int
    rejected: int


@dataclass(frozen=True)
class Appended:
    batch_id: int
    recorded_us: int
    first_seq: int | None  # None: the batch added no entry
    last_seq: int | None
    last_hash: str


class BatchWriter:
    """Appends one batch inside a write transaction that holds the ledger's lock. Make it,
    :meth:`append` its entries (as often as the entries come in kinds), then :meth:`close`."""

    def __init__(self, store: Store, connection: sa.Connection, meta: BatchMeta) -> None:
        store.lock(connection, "ledger")
        self.store = store
        self.connection = connection
        self.meta = meta
        self.last_seq, self.last_hash, last_us = head(connection)
        self.recorded_us = max(now_us(), last_us + 1)
        self.first_seq = self.last_seq + 1
        result = connection.execute(
            batches.insert().values(
                furnisher=meta.furnisher,
                kind=meta.kind,
                file_name=meta.file_name,
                digest=meta.digest,
                received_us=self.recorded_us,
                rows_read=meta.rows_read,
                accepted=meta.accepted,
                noop=meta.noop,
                rejected=meta.rejected,
                standings_done=False,
            )
        )
        self.batch_id = int(result.inserted_primary_key[0])  # type: ignore[index]

    def append(
        self,
        columns: Sequence[str],
        constants: dict[str, object],
        chunks: Iterable[list[tuple[Any, ...]]],
    ) -> None:
        """Chain and insert entries: each row holds the values of ``columns`` (ledger columns
        other than seq, batch_id, recorded_us and hash) and ends with the entry's "rest"
        (:func:`rest_sql` or :func:`rest_text`); ``constants`` are the ledger columns that are
        the same on every row. Chunks are chained in a helper thread while the store takes
        the previous one (SQLite lets go of the GIL while it writes; PostgreSQL digests a COPY
        in its own process)."""
        values = {**constants, "batch_id": self.batch_id, "recorded_us": self.recorded_us}
        prefix = (self.batch_id, self.recorded_us)
        postgres = self.store.dialect == "postgresql"
        count = [0]

        def chained() -> Iterator[list[tuple[Any, ...]]]:
            for chunk in chunks:
                if not chunk:
                    continue
                seq = self.last_seq + 1
                rows = chain_rows(self.last_hash, seq, prefix, chunk)
                # seq first, the varying columns, then the hash (replacing the rest)
                rows = [(seq + i, *row) for i, row in enumerate(rows)]
                self.last_seq += len(rows)
                self.last_hash = str(rows[-1][-1])
                count[0] += len(rows)
                if postgres:  # COPY takes every column on every row
                    rows = [(*row, *values.values()) for row in rows]
                yield rows

        names = ["seq", *columns, "hash", *values]
        raw: Any = self.connection.connection.driver_connection
        if postgres:
            with (
                raw.cursor() as pg,
                pg.copy(f"COPY ledger ({', '.join(names)}) FROM STDIN (FORMAT csv)") as copy,
            ):
                for rows in _prefetched(chained()):
                    buffer = io.StringIO()
                    csv.writer(buffer, lineterminator="\n").writerows(rows)
                    copy.write(buffer.getvalue())
        else:
            marks = ", ".join(["?"] * (len(columns) + 2) + [literal(v) for v in values.values()])
            statement = f"INSERT INTO ledger ({', '.join(names)}) VALUES ({marks})"
            for rows in _prefetched(chained()):
                raw.executemany(statement, rows)

    def close(self, *, standings_done: bool) -> Appended:
        """Record the batch's range and last hash, anchor the chain's head and raise the
        ledger's counter. ``standings_done``: the current standings the batch changes are
        written in this same transaction (else they are pending, and answered online until
        the derived state catches up)."""
        added = self.last_seq >= self.first_seq
        self.connection.execute(
            batches.update()
            .where(batches.c.id == self.batch_id)
            .values(
                first_seq=self.first_seq if added else None,
                last_seq=self.last_seq if added else None,
                last_hash=self.last_hash if added else None,
                standings_done=standings_done or not added,
            )
        )
        if added:
            anchor(self.connection, "ledger", self.last_seq, self.last_hash)
            self.store.raise_generation(self.connection, LEDGER_GENERATION)
        return Appended(
            self.batch_id,
            self.recorded_us,
            self.first_seq if added else None,
            self.last_seq if added else None,
            self.last_hash,
        )


def _prefetched(chunks: Iterator[list[tuple[Any, ...]]]) -> Iterator[list[tuple[Any, ...]]]:
    """The chunks of an iterator, each made in a helper thread while the caller works on the
    one before."""
    done = object()
    queue: Queue[Any] = Queue(maxsize=2)

    def produce() -> None:
        try:
            for chunk in chunks:
                queue.put(chunk)
            queue.put(done)
        except BaseException as error:  # handed to the caller, raised there
            queue.put(error)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        worker.join(timeout=60)


def verify(store: Store, *, progress: Callable[[int], None] | None = None) -> Verification:
    """Recompute the ledger's whole chain; stop at the first entry that does not match. Then
    the anchored head, and the last entry of every batch against the hash its batch row
    recorded."""
    columns = (
        ledger.c.seq,
        ledger.c.batch_id,
        ledger.c.recorded_us,
        ledger.c.entry,
        ledger.c.furnisher,
        ledger.c.record_id,
        subjects.c.identifier,
        subjects.c.name,
        subjects.c.region,
        ledger.c.code,
        ledger.c.occurred_on,
        ledger.c.amount,
        ledger.c.event,
        ledger.c.event_date,
        ledger.c.record_seq,
    )
    with store.reading() as connection:
        v2_from = anchored_head(connection, "ledger").v2_from
        result = connection.execute(
            sa.select(*columns, ledger.c.hash)
            .select_from(ledger.outerjoin(subjects, subjects.c.id == ledger.c.subject_id))
            .order_by(ledger.c.seq)
            .execution_options(yield_per=50_000)
        )
        with result:
            walked = walk(
                result, chain="ledger", v2_from=v2_from, v1_fields=V1_FIELDS, progress=progress
            )
        walked = check_anchor(connection, walked)
        if walked.problem is not None:
            return walked
        count, previous = walked.entries, walked.head_hash
        ends = connection.execute(
            sa.select(batches.c.id, batches.c.last_seq, batches.c.last_hash)
            .where(batches.c.last_seq.is_not(None))
            .order_by(batches.c.id)
        ).all()
        for batch in ends:
            if batch.last_seq > count:
                return Verification(
                    count,
                    previous,
                    f"batch {batch.id} ended at entry {batch.last_seq} but the ledger ends at "
                    f"entry {count} (entries cut off the end; the last good entry is {count})",
                    count + 1,
                    "ledger",
                    count,
                )
            stored = connection.scalar(
                sa.select(ledger.c.hash).where(ledger.c.seq == batch.last_seq)
            )
            if stored != batch.last_hash:
                return Verification(
                    count,
                    previous,
                    f"entry {batch.last_seq} (the last of batch {batch.id}) does not carry the "
                    "hash recorded when the batch was committed",
                    int(batch.last_seq),
                    "ledger",
                    int(batch.last_seq) - 1,
                )
    if progress is not None:
        progress(count)
    return walked
