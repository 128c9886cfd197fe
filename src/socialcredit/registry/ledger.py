"""The ledger's hash chain: how each entry is hashed, and `verify`.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical text (its
sequence number, batch and every fact it holds, with the subject's identifier rather than the
store's internal key). Changing any stored fact, deleting an entry or moving one changes a hash
that `verify` recomputes. The last entry of each batch is also kept in the batch's row, so
cutting entries off the end of the ledger is detected too; `verify` prints the head hash, which a
registry may publish or anchor elsewhere to detect the removal of whole batches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from socialcredit.store.db import Store
from socialcredit.store.schema import batches, ledger, subjects

GENESIS = "0" * 64
SEPARATOR = "\x1f"

# The canonical fields, in order; None is written as the empty string. The three the registry
# assigns under its writer lock come first, the furnished facts ("the rest") after.
FIELDS = (
    "seq",
    "batch_id",
    "recorded_us",
    "entry",
    "furnisher",
    "record_id",
    "subject",
    "code",
    "occurred_on",
    "amount",
    "event",
    "event_date",
    "record_seq",
)


def entry_text(values: Iterable[object]) -> str:
    return SEPARATOR.join("" if v is None else str(v) for v in values)


def chain(
    previous: str,
    first_seq: int,
    batch_id: int,
    recorded_us: int,
    rows: Iterable[tuple[object, ...]],
) -> list[tuple[object, ...]]:
    """Chain one batch's entries from ``previous``: each row ends with the entry's "rest" (its
    canonical text after seq, batch_id and recorded_us), which is replaced by its hash —
    SHA-256 over the previous hash and the entry's whole canonical text."""
    sha = hashlib.sha256
    s = SEPARATOR
    middle = f"{s}{batch_id}{s}{recorded_us}{s}"
    chained = []
    for seq, row in enumerate(rows, start=first_seq):
        previous = sha(f"{previous}{s}{seq}{middle}{row[-1]}".encode()).hexdigest()
        chained.append((*row[:-1], previous))
    return chained


def head(connection: sa.Connection) -> tuple[int, str, int]:
    """(last seq, its hash, its recorded_us) — (0, GENESIS, 0) for an empty ledger."""
    row = connection.execute(
        sa.select(ledger.c.seq, ledger.c.hash, ledger.c.recorded_us)
        .order_by(ledger.c.seq.desc())
        .limit(1)
    ).first()
    return (0, GENESIS, 0) if row is None else (int(row.seq), str(row.hash), int(row.recorded_us))


@dataclass(frozen=True)
class Verification:
    entries: int
    head_hash: str
    problem: str | None  # None: the chain holds
    seq: int | None = None  # the first entry that does not match
    chain: str = "ledger"


def walk(
    rows: Iterable[Any], *, chain: str, progress: Callable[[int], None] | None = None
) -> Verification:
    """Recompute a chain from its rows in seq order (seq first, the stored hash last, the
    canonical fields between); stop at the first entry that does not match."""
    previous, expected, count = GENESIS, 1, 0
    sha = hashlib.sha256
    for row in rows:
        seq = int(row[0])
        if seq != expected:
            return Verification(
                count,
                previous,
                f"entry {expected} is missing: the {chain} jumps from entry {expected - 1} to "
                f"entry {seq} (deleted entries)",
                expected,
                chain,
            )
        digest = sha(f"{previous}{SEPARATOR}{entry_text(row[:-1])}".encode()).hexdigest()
        if digest != row[-1]:
            return Verification(
                count,
                previous,
                f"entry {seq} does not match its hash: its content was changed, or entries were "
                "moved",
                seq,
                chain,
            )
        previous, expected, count = digest, expected + 1, count + 1
        if progress is not None and count % 50_000 == 0:
            progress(count)
    return Verification(count, previous, None, None, chain)


def verify(store: Store, *, progress: Callable[[int], None] | None = None) -> Verification:
    """Recompute the ledger's whole chain; stop at the first entry that does not match."""
    columns = (
        ledger.c.seq,
        ledger.c.batch_id,
        ledger.c.recorded_us,
        ledger.c.entry,
        ledger.c.furnisher,
        ledger.c.record_id,
        subjects.c.identifier,
        ledger.c.code,
        ledger.c.occurred_on,
        ledger.c.amount,
        ledger.c.event,
        ledger.c.event_date,
        ledger.c.record_seq,
    )
    with store.reading() as connection:
        result = connection.execute(
            sa.select(*columns, ledger.c.hash)
            .select_from(ledger.outerjoin(subjects, subjects.c.id == ledger.c.subject_id))
            .order_by(ledger.c.seq)
            .execution_options(yield_per=50_000)
        )
        with result:
            walked = walk(result, chain="ledger", progress=progress)
        if walked.problem is not None:
            return walked
        count, previous = walked.entries, walked.head_hash
        last_seq = count
        ends = connection.execute(
            sa.select(batches.c.id, batches.c.last_seq, batches.c.last_hash)
            .where(batches.c.last_seq.is_not(None))
            .order_by(batches.c.id)
        ).all()
        for batch in ends:
            if batch.last_seq > last_seq:
                return Verification(
                    count,
                    previous,
                    f"batch {batch.id} ended at entry {batch.last_seq} but the ledger ends at "
                    f"entry {last_seq} (entries cut off the end)",
                    last_seq + 1,
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
                )
    if progress is not None:
        progress(count)
    return Verification(count, previous, None)
