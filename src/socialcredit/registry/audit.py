"""The access audit: every read of a subject's data leaves an entry saying when, who (actor and
role), why (purpose) and what was read, before the data is handed over.

The log is append-only and hash-chained like the ledger (the same encoding and walk,
:mod:`socialcredit.registry.chain`): each entry's hash covers the previous hash and the entry's
canonical text — seq, ``at_us``, actor, role, purpose, the subject's identifier and what was
read — and the chain's head is anchored in ``chain_heads`` with every append, so that cutting
entries off the end is detected. A subject can see who read its data (`socialcredit audit
SUBJECT_ID`), and that listing is itself a read.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from socialcredit.errors import NotFound, UsageError
from socialcredit.registry.chain import (
    GENESIS,
    Verification,
    anchor,
    anchored_head,
    check_anchor,
    field_v2,
    walk,
)
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import audit_log, subjects

ROLES = ("operator", "furnisher", "agency", "subject", "peer", "public", "system")

# The canonical fields, in order (the subject by its identifier, not the store's key).
FIELDS = ("seq", "at_us", "actor", "role", "purpose", "subject", "what")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Reader:
    """Who reads, in which role, and why. Every read of a subject's data names one."""

    actor: str
    role: str
    purpose: str

    def __post_init__(self) -> None:
        if not self.actor.strip():
            raise UsageError("a read needs an actor: who is reading")
        if self.role not in ROLES:
            raise UsageError(f"unknown role {self.role!r}; one of {', '.join(ROLES)}")
        if not self.purpose.strip():
            raise UsageError(
                "a read of a subject's data needs a purpose (why it is read), e.g. "
                "'objection 12 review' or 'subject's own request'"
            )
        for name, value in (("actor", self.actor), ("purpose", self.purpose)):
            if CONTROL.search(value):
                raise UsageError(
                    f"the {name} of a read may not hold control characters (U+0000-U+001F, "
                    "U+007F-U+009F): it is written to the access audit as it is"
                )


@dataclass(frozen=True)
class ReadEntry:
    """One read to record: who, of which subject (store key and identifier), and what."""

    reader: Reader
    subject_key: int  # 0 with identifier None: a read of many subjects at once (an export)
    identifier: str | None
    what: str


_AUDIT_COLUMNS = ("seq", "at_us", "actor", "role", "purpose", "subject_id", "what", "hash")


def _chained(
    last: tuple[int, int, str] | None, entries: Sequence[ReadEntry]
) -> list[tuple[object, ...]]:
    """The audit rows of ``entries`` (in ``_AUDIT_COLUMNS`` order) after the entry ``last``
    (seq, at_us, hash), each hash chained to the one before (v2 encoding)."""
    seq, at, previous = (0, 0, GENESIS) if last is None else last
    now = now_us()
    rows: list[tuple[object, ...]] = []
    sha = hashlib.sha256
    reader: Reader | None = None
    middle = ""
    for entry in entries:
        seq += 1
        at = max(now, at + 1)
        r = entry.reader
        if r is not reader:  # the fields between the time and the identifier: once per reader
            reader = r
            middle = field_v2(r.actor) + field_v2(r.role) + field_v2(r.purpose)
        # the canonical text is text_v2((seq, at, actor, role, purpose, identifier, what))
        text = (
            f"v2,{field_v2(seq)}{field_v2(at)}{middle}"
            f"{field_v2(entry.identifier)}{field_v2(entry.what)}"
        )
        previous = sha((previous + text).encode("utf-8")).hexdigest()
        rows.append((seq, at, r.actor, r.role, r.purpose, entry.subject_key, entry.what, previous))
    return rows


def append_reads(
    store: Store, connection: sa.Connection, entries: Sequence[ReadEntry]
) -> list[int]:
    """Append entries to the audit log inside ``connection``'s write transaction, under the
    audit log's writer lock; returns their seqs."""
    store.lock(connection, "audit_log")
    last = connection.execute(
        sa.select(audit_log.c.seq, audit_log.c.at_us, audit_log.c.hash)
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).first()
    rows = _chained(None if last is None else (int(last[0]), int(last[1]), str(last[2])), entries)
    if rows:
        connection.execute(
            audit_log.insert(), [dict(zip(_AUDIT_COLUMNS, r, strict=True)) for r in rows]
        )
        anchor(connection, "audit_log", int(str(rows[-1][0])), str(rows[-1][-1]))
    return [int(str(r[0])) for r in rows]


def record_read(store: Store, reader: Reader, subject_key: int, identifier: str, what: str) -> int:
    """Append one audit entry and commit it; returns its seq. Call it before handing the data
    over: if it fails, the read fails."""
    with store.writing("audit_log") as connection:
        return append_reads(store, connection, [ReadEntry(reader, subject_key, identifier, what)])[
            0
        ]


def record_reads(store: Store, reader: Reader, found: Sequence[tuple[int, str]], what: str) -> int:
    """One entry per distinct subject of ``found`` ((store key, identifier) pairs), committed
    in one transaction before the data is handed over; returns how many."""
    entries = [ReadEntry(reader, key, identifier, what) for key, identifier in dict.fromkeys(found)]
    if entries:
        with store.writing("audit_log") as connection:
            append_reads(store, connection, entries)
    return len(entries)


def record_bulk_read(store: Store, reader: Reader, what: str) -> int:
    """One entry for a read of many subjects at once (an export): ``what`` names it and says
    how many subjects; it is in no subject's own listing, and in the chain like every other."""
    with store.writing("audit_log") as connection:
        return append_reads(store, connection, [ReadEntry(reader, 0, None, what)])[0]


class GroupCommitter:
    """Durable audit entries at a high rate: callers hand entries to one writer thread, which
    appends everything waiting in one transaction (one commit, one fsync) and then releases
    every caller of that group. A caller returns only once its entries are committed — nothing
    is buffered in memory past a reply. If a commit fails, every caller of the group gets the
    error and no data is handed over."""

    def __init__(
        self,
        store: Store,
        *,
        max_group: int = 20_000,
        linger: float = 0.0005,
        linger_until: int = 16,
    ) -> None:
        self.store = store
        self.max_group = max_group
        self.linger = linger  # seconds a small group waits for more callers
        self.linger_until = linger_until  # callers waiting: enough for a group, no wait
        self._pending: list[tuple[list[ReadEntry], Future[list[int]]]] = []
        self._lock = threading.Condition()
        self._closed = False
        self._connection: Any = None
        self._thread = threading.Thread(target=self._run, name="audit-group-commit", daemon=True)
        self._thread.start()
        self.commits = 0
        self.entries = 0

    def submit(self, entries: list[ReadEntry]) -> Future[list[int]]:
        """Queue entries; the future resolves to their seqs once they are durable."""
        future: Future[list[int]] = Future()
        if not entries:
            future.set_result([])
            return future
        with self._lock:
            if self._closed:
                raise RuntimeError("the audit writer is closed")
            self._pending.append((entries, future))
            self._lock.notify()
        return future

    def record(self, entries: list[ReadEntry]) -> list[int]:
        """Submit and wait: the blocking form, for threads."""
        return self.submit(entries).result()

    def _take(self) -> list[tuple[list[ReadEntry], Future[list[int]]]]:
        with self._lock:
            while not self._pending and not self._closed:
                self._lock.wait()
            if self.linger and not self._closed and len(self._pending) < self.linger_until:
                # like PostgreSQL's commit_delay: a moment for more callers to join the group
                self._lock.wait(self.linger)
            group: list[tuple[list[ReadEntry], Future[list[int]]]] = []
            size = 0
            while self._pending and (
                not group or size + len(self._pending[0][0]) <= self.max_group
            ):
                item = self._pending.pop(0)
                group.append(item)
                size += len(item[0])
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if not group:
                return
            try:
                seqs = self._commit([e for entries, _ in group for e in entries])
            except BaseException as error:  # every waiting caller learns of it
                self._drop_connection()
                for _, future in group:
                    future.set_exception(error)
                continue
            self.commits += 1
            start = 0
            for entries, future in group:
                future.set_result(seqs[start : start + len(entries)])
                start += len(entries)
            self.entries += start

    def _commit(self, entries: list[ReadEntry]) -> list[int]:
        """One transaction on the writer's own DB-API connection (no pool, no ORM layer):
        take the audit log's lock, read its head, append, commit."""
        postgres = self.store.dialect == "postgresql"
        if self._connection is None:
            self._connection = self.store.engine.raw_connection()
            if postgres:
                self._connection.driver_connection.autocommit = True
            else:  # waits for the lock itself (below): SQLite's busy handler sleeps for ms
                self._connection.driver_connection.execute("PRAGMA busy_timeout=0")
        raw: Any = self._connection.driver_connection
        mark = "%s" if postgres else "?"
        cursor = raw.cursor()
        try:
            if postgres:
                cursor.execute("BEGIN")
            else:
                self._begin_immediate(cursor)
            try:
                if postgres:
                    cursor.execute("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
                cursor.execute("SELECT seq, at_us, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                last = cursor.fetchone()
                rows = _chained(
                    None if last is None else (int(last[0]), int(last[1]), str(last[2])), entries
                )
                cursor.executemany(
                    f"INSERT INTO audit_log ({', '.join(_AUDIT_COLUMNS)}) "
                    f"VALUES ({', '.join([mark] * len(_AUDIT_COLUMNS))})",
                    rows,
                )
                cursor.execute(
                    f"UPDATE chain_heads SET seq = {mark}, hash = {mark} WHERE chain = 'audit_log'",
                    (rows[-1][0], rows[-1][-1]),
                )
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        finally:
            cursor.close()
        return [int(str(r[0])) for r in rows]

    @staticmethod
    def _begin_immediate(cursor: Any, timeout: float = 120.0) -> None:
        """Take SQLite's write lock, retrying every 0.2 ms while another process holds it:
        another worker's group commit takes about a millisecond, and SQLite's own busy
        handler would sleep 1, 2, 5, 10... ms between tries."""
        import sqlite3

        deadline = time.monotonic() + timeout
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.0002)

    def close(self) -> None:
        """Commit what is waiting, then stop the writer."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._thread.join()
        self._drop_connection()

    def _drop_connection(self) -> None:
        """Close the writer's connection (after an error it may be broken: the next group
        opens a fresh one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            # a broken connection may fail to close; it is gone either way
            with contextlib.suppress(Exception):
                connection.close()


@dataclass(frozen=True)
class Read:
    seq: int
    at_us: int
    actor: str
    role: str
    purpose: str
    what: str


def reads_of(store: Store, reader: Reader, identifier: str) -> list[Read]:
    """Who read this subject's data, oldest first. The listing is itself recorded as a read."""
    with store.reading() as connection:
        key = connection.scalar(sa.select(subjects.c.id).where(subjects.c.identifier == identifier))
        if key is None:
            raise NotFound(f"the registry holds no records about {identifier}")
        rows = connection.execute(
            sa.select(
                audit_log.c.seq,
                audit_log.c.at_us,
                audit_log.c.actor,
                audit_log.c.role,
                audit_log.c.purpose,
                audit_log.c.what,
            )
            .where(audit_log.c.subject_id == key)
            .order_by(audit_log.c.seq)
        ).all()
    record_read(store, reader, int(key), identifier, "audit")
    return [Read(int(r.seq), int(r.at_us), r.actor, r.role, r.purpose, r.what) for r in rows]


def verify_audit(store: Store) -> Verification:
    """Recompute the audit log's chain; stop at the first entry that does not match; then its
    anchored head (a cut-off tail is named)."""
    with store.reading() as connection:
        v2_from = anchored_head(connection, "audit_log").v2_from
        result = connection.execute(
            sa.select(
                audit_log.c.seq,
                audit_log.c.at_us,
                audit_log.c.actor,
                audit_log.c.role,
                audit_log.c.purpose,
                subjects.c.identifier,
                audit_log.c.what,
                audit_log.c.hash,
            )
            .select_from(audit_log.outerjoin(subjects, subjects.c.id == audit_log.c.subject_id))
            .order_by(audit_log.c.seq)
            .execution_options(yield_per=50_000)
        )
        with result:
            walked = walk(result, chain="audit_log", v2_from=v2_from)
        return check_anchor(connection, walked)
