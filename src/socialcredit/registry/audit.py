"""The access audit: every read of a subject's data leaves an entry saying when, who (actor and
role), why (purpose) and what was read, before the data is handed over.

The log is append-only and hash-chained like the ledger (same separator, same walk in
`verify`): each entry's hash covers the previous hash and the entry's canonical text — seq,
``at_us``, actor, role, purpose, the subject's identifier and what was read. A subject can see
who read its data (`socialcredit audit SUBJECT_ID`), and that listing is itself a read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from socialcredit.errors import UsageError
from socialcredit.registry.ledger import GENESIS, SEPARATOR, Verification, entry_text, walk
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import audit_log, subjects

ROLES = ("operator", "furnisher", "agency", "subject", "public", "system")

# The canonical fields, in order (the subject by its identifier, not the store's key).
FIELDS = ("seq", "at_us", "actor", "role", "purpose", "subject", "what")


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


def record_read(store: Store, reader: Reader, subject_key: int, identifier: str, what: str) -> int:
    """Append one audit entry and commit it; returns its seq. Call it before handing the data
    over: if it fails, the read fails."""
    with store.writing("audit_log") as connection:
        last = connection.execute(
            sa.select(audit_log.c.seq, audit_log.c.at_us, audit_log.c.hash)
            .order_by(audit_log.c.seq.desc())
            .limit(1)
        ).first()
        seq = 1 if last is None else int(last.seq) + 1
        previous = GENESIS if last is None else str(last.hash)
        at = now_us() if last is None else max(now_us(), int(last.at_us) + 1)
        values = (seq, at, reader.actor, reader.role, reader.purpose, identifier, what)
        digest = hashlib.sha256(f"{previous}{SEPARATOR}{entry_text(values)}".encode()).hexdigest()
        connection.execute(
            audit_log.insert().values(
                seq=seq,
                at_us=at,
                actor=reader.actor,
                role=reader.role,
                purpose=reader.purpose,
                subject_id=subject_key,
                what=what,
                hash=digest,
            )
        )
    return seq


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
            raise UsageError(f"the registry holds no records about {identifier}")
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
    """Recompute the audit log's chain; stop at the first entry that does not match."""
    with store.reading() as connection:
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
            return walk(result, chain="audit log")
