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

Since migration 0013 (the v3 encoding) the chain covers the personal fields
(:data:`PERSONAL_FIELDS`: record id, the subject's identifier, name and region, amount)
through ``personal``, SHA-256 over the entry's ``salt`` and those fields' v2 encoding; the
salt is derived from a secret drawn for the batch and never stored, so one entry's salt says
nothing of another's. ``verify`` recomputes the digest from the content, so an edit is still
found; erasing an entry (registry.retention) blanks the content and the salt and keeps the
digest, so the chain still verifies and no one can test a guess against what is left.
An entry from before migration 0013 (v1/v2) is erased under a seal (registry.chain) that its
``erased`` event carries in ``personal``: :func:`seals_digest` over the seals of the record's
old entries.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from queue import Queue
from typing import Any

import sqlalchemy as sa

from socialcredit.registry.bulk import literal
from socialcredit.registry.chain import (
    GENESIS,
    Provenanced,
    Sealed,
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
# v3 entries (since migration 0013) cover these through their salted digest, ``personal``,
# and the others (PLAIN_FIELDS) as they are.
PERSONAL_FIELDS = ("record_id", "subject", "subject_name", "subject_region", "amount")
# v3 entries also cover the decision day a furnisher may give (issue #15 item 2).
PLAIN_FIELDS = (*(name for name in REST_FIELDS if name not in PERSONAL_FIELDS), "decided_on")
# An imported entry's provenance (registry.exchange), chained after its v3 fields (v4).
PROVENANCE_FIELDS = ("origin_registry", "origin_seq", "origin_recorded_us", "via_peer")
# An erased entry's subject key and record id (registry.retention).
ERASED_SUBJECT = 0


def erased_record_id(record_seq: int) -> str:
    return f"~erased:{record_seq}"


def key_digest(furnisher: str, record_id: str) -> str:
    """The digest ``erasures`` keeps of an erased record's key (to refuse it again); the same
    as the SQL of registry.ingest."""
    return hashlib.sha256((field_v2(furnisher) + field_v2(record_id)).encode()).hexdigest()


CHUNK = 100_000

# The ledger columns a record's and an event's rows carry (for BatchWriter.append), and those
# that are the same on every row of a furnisher's batch.
RECORD_ROW = (
    "record_id",
    "subject_id",
    "code",
    "occurred_on",
    "amount",
    "decided_on",
    "salt",
    "personal",
)
EVENT_ROW = ("record_id", "subject_id", "event", "event_date", "record_seq", "salt", "personal")


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


def rest_sql(row: str, **expressions: str) -> str:
    """DuckDB SQL for an entry's ``salt``, ``personal`` and "rest" (its v3 fields after seq,
    batch_id and recorded_us), as three columns of a SELECT, from an SQL expression per field
    of :data:`REST_FIELDS` (absent: NULL). ``row`` tells the batch's rows apart: the salt is
    SHA-256 over a secret drawn now (and never stored) and it."""
    unknown = set(expressions) - {*REST_FIELDS, *PLAIN_FIELDS}
    if unknown:
        raise ValueError(f"not a ledger field: {sorted(unknown)}")

    def fields(names: Sequence[str]) -> str:
        return " || ".join(
            field_v2_sql(f"CAST({expressions.get(name, 'NULL')} AS VARCHAR)") for name in names
        )

    salt = f"sha256('{secrets.token_hex(32)}' || CAST({row} AS VARCHAR))"
    personal = f"sha256({salt} || {fields(PERSONAL_FIELDS)})"
    rest = f"{fields(PLAIN_FIELDS)} || {field_v2_sql(personal)}"
    return f"{salt} AS salt, {personal} AS personal, {rest} AS rest"


def personal_digest(salt: str, values: Sequence[object]) -> str:
    """``personal``: SHA-256 over the salt and the v2 encoding of the personal fields' values
    (in :data:`PERSONAL_FIELDS` order)."""
    text = salt + "".join(field_v2(v) for v in values)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def rest_text(
    sealing: str | None = None,
    provenance: Sequence[object] | None = None,
    **values: object,
) -> tuple[str | None, str, str]:
    """The same as :func:`rest_sql`, from Python values (a decision's event): (salt,
    personal, rest). ``sealing``: an ``erased`` event's :func:`seals_digest`, which is its
    ``personal`` (and it has no salt). ``provenance``: an imported entry's
    :data:`PROVENANCE_FIELDS` values, which follow (the v4 encoding: append it as "v4")."""
    salt: str | None
    if sealing is None:
        salt = secrets.token_hex(32)
        personal = personal_digest(salt, [values.get(name) for name in PERSONAL_FIELDS])
    else:
        salt, personal = None, sealing
    rest = "".join(field_v2(values.get(name)) for name in PLAIN_FIELDS) + field_v2(personal)
    if provenance is not None:
        rest += "".join(field_v2(v) for v in provenance)
    return salt, personal, rest


# What stays of an erased v1/v2 entry (FIELDS without the personal ones), which its seal covers.
SEALED_FIELDS = tuple(i for i, name in enumerate(FIELDS) if name not in PERSONAL_FIELDS)


def content_columns() -> tuple[sa.ColumnElement[Any], ...]:
    """An entry's canonical fields (:data:`FIELDS`) as columns of :data:`WITH_SUBJECTS`."""
    return (
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


WITH_SUBJECTS = ledger.outerjoin(subjects, subjects.c.id == ledger.c.subject_id)


def seals_digest(seals: Sequence[str]) -> str:
    """What an ``erased`` event on a record with v1/v2 entries carries: SHA-256 over their
    seals, in seq order."""
    return hashlib.sha256(("seals," + ",".join(seals)).encode()).hexdigest()


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
        version: str = "v3",
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
                rows = chain_rows(self.last_hash, seq, prefix, chunk, version)
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


class _Erasures:
    """What ``verify`` saw of erasures: the records whose entries are blanked and those with
    an ``erased`` event, which must be the same."""

    def __init__(self) -> None:
        self.blanked: dict[int, int] = {}  # record seq -> its first blanked entry
        self.events: dict[int, int] = {}  # record seq -> its erased event
        self.carried: dict[int, str | None] = {}  # record seq -> its erased event's sealing
        self.sealed_record: dict[int, int] = {}  # a sealed (v1/v2) entry -> its record
        self.seals: dict[int, list[str]] = defaultdict(list)  # record seq -> its entries' seals

    def seal(self, seq: int, seal: str) -> None:
        self.seals[self.sealed_record.pop(seq)].append(seal)

    def unmatched(self) -> tuple[int, str] | None:
        for record, seals in sorted(self.seals.items()):
            if record in self.events and self.carried.get(record) != seals_digest(seals):
                return self.blanked[record], (
                    f"entry {self.blanked[record]} (erased before migration 0013) does not "
                    f"match the seal that the erased event {self.events[record]} recorded: "
                    "what is left of it, or the entry before it, was changed"
                )
        for record, seq in sorted(self.blanked.items()):
            if record not in self.events:
                return seq, (
                    f"entry {seq} is blanked as erased but no erased event on record {record} "
                    "follows: its content was removed outside the registry's erasure"
                )
        for record, seq in sorted(self.events.items()):
            if record not in self.blanked:
                return seq, (
                    f"entry {seq} erases record {record}, whose content is still there or "
                    "which is not in the ledger"
                )
        return None


def _chained(
    rows: Iterable[Any], v3_from: int, problems: dict[int, str], erasure: _Erasures
) -> Iterator[tuple[Any, ...]]:
    """The ledger's rows as :func:`walk` takes them: v1 and v2 entries with their content,
    v3 entries with their digest in its place, after checking it (a problem goes into
    ``problems`` under the entry's seq)."""
    for row in rows:
        seq = int(row[0])
        if seq < v3_from:
            record = seq if row[3] == "record" else int(row[14])
            if row[5] == erased_record_id(record) and row[15] == ERASED_SUBJECT:
                # erased under a seal: what stays and the hash (registry.chain.Sealed)
                if row[11] is not None:
                    problems[seq] = (
                        f"entry {seq} is blanked as erased but still has an amount: its "
                        "content was changed"
                    )
                erasure.blanked.setdefault(record, seq)
                erasure.sealed_record[seq] = record
                yield Sealed((*(row[i] for i in SEALED_FIELDS), row[-1]))
            else:
                yield (*row[:15], row[-1])  # the v1/v2 fields (FIELDS) and the hash
            continue
        (
            _,
            batch,
            us,
            entry,
            furnisher,
            record_id,
            identifier,
            name,
            region,
            code,
            occurred,
            amount,
            event,
            event_date,
            record_seq,
            subject_key,
            salt,
            personal,
            decided,
            *provenance,
            stored,
        ) = row
        record = seq if entry == "record" else record_seq
        if event == "erased":
            erasure.events.setdefault(int(record_seq), seq)
            erasure.carried.setdefault(int(record_seq), None if salt else personal)
        if salt is None:
            if (
                record_id != erased_record_id(int(record))
                or subject_key != ERASED_SUBJECT
                or amount is not None
            ):
                problems[seq] = (
                    f"entry {seq} has no salt but is not blanked: its content was changed"
                )
            elif event != "erased":
                erasure.blanked.setdefault(int(record), seq)
        elif personal != personal_digest(salt, (record_id, identifier, name, region, amount)):
            problems[seq] = (
                f"entry {seq} does not match its hash: its personal content (record id, "
                "subject, name, region or amount) was changed"
            )
        plain = (entry, furnisher, code, occurred, event, event_date, record_seq, decided)
        if provenance[0] is not None:  # imported from a peer: v4
            yield Provenanced((seq, batch, us, *plain, personal, *provenance, stored))
        else:
            yield (seq, batch, us, *plain, personal, stored)


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
    """Recompute the ledger's whole chain; stop at the first entry that does not match (for a
    v3 entry: also when its personal content does not match its digest, or it is blanked
    without an ``erased`` event on its record). Then the anchored head, and the last entry of
    every batch against the hash its batch row recorded."""
    columns = (
        *content_columns(),
        ledger.c.subject_id,
        ledger.c.salt,
        ledger.c.personal,
        ledger.c.decided_on,
        *(ledger.c[name] for name in PROVENANCE_FIELDS),
    )
    with store.reading() as connection:
        heads = anchored_head(connection, "ledger")
        result = connection.execute(
            sa.select(*columns, ledger.c.hash)
            .select_from(WITH_SUBJECTS)
            .order_by(ledger.c.seq)
            .execution_options(yield_per=50_000)
        )
        problems: dict[int, str] = {}
        erasure = _Erasures()
        with result:
            walked = walk(
                _chained(result, heads.v3_from, problems, erasure),
                chain="ledger",
                v2_from=heads.v2_from,
                v3_from=heads.v3_from,
                v1_fields=V1_FIELDS,
                progress=progress,
                check=lambda row: problems.pop(int(row[0]), None),
                sealed=erasure.seal,
            )
        if walked.problem is None and (found := erasure.unmatched()) is not None:
            seq, problem = found
            walked = Verification(walked.entries, walked.head_hash, problem, seq, "ledger", seq - 1)
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
