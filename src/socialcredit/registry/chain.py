"""The registry's hash chains: one canonical encoding of an entry, one way to chain and walk.

Three chains share this module: the **ledger** (records and events), the **audit log** (who
read whose data) and the **admin log** (every security- or law-relevant write: credentials,
sessions, furnishers, policy versions). Each entry's hash is SHA-256 over the previous entry's
hash and the entry's canonical text; changing, deleting or moving an entry changes a hash that
`verify` recomputes.

Encodings, by version:

- **v1** (stores made before migration 0009): the fields joined by U+001F, None as the empty
  string. Ambiguous when a field may itself contain U+001F (a caller's purpose, a record id):
  content can move from one field to the next without changing the text.
- **v2** (every entry since): ``v2,`` then per field either ``~,`` (None) or
  ``LENGTH:VALUE,`` where LENGTH is the value's length in UTF-8 bytes, in decimal (a
  netstring). Unambiguous whatever a field holds; a v1 text always begins with a digit, a v2
  text with ``v``, so an entry cannot verify under the other version either.
- **v3** (ledger entries since migration 0013): ``v3,`` then the v2 fields of the entry with
  its personal content replaced by one field, a salted digest of it (registry.ledger), so
  that the content can be erased and the chain still verifies.
- **v4** (ledger entries imported from a peer registry, since migration 0014): ``v4,``, the v3
  fields, then the entry's provenance — the registry that first recorded it, its seq and
  recorded time there, the peer that delivered it. Whether an entry is v3 or v4 is read from
  its provenance: removing it, or adding it to a local entry, changes the text.

A v1 or v2 ledger entry chains its content itself. When it is erased, the registry first
recomputes its hash from that content, then records its **seal** (:func:`seal`: SHA-256 over
the previous entry's hash, the fields that stay and its own hash) in the ``erased`` event, a
v3 entry further on; ``walk`` takes a :class:`Sealed` row's hash as it stands and hands its
seal to the caller, who compares it with the event's (registry.ledger.verify). What is left of
the entry, the link to the entry before it and its hash are so still covered by the chain.

Each chain's first v2 entry is recorded in ``chain_heads.v2_from``; ``chain_heads`` also
anchors each chain's head (seq and hash, written in the same transaction as every append), so
cutting entries off the end of a chain is detected, naming the last good entry. ``verify
--checkpoint`` publishes the heads; ``verify --against`` proves later chains extend them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from socialcredit.store.schema import chain_heads

GENESIS = "0" * 64
SEPARATOR = "\x1f"  # v1 only
CHAINS = ("ledger", "audit_log", "admin_log")
NAMES = {"ledger": "ledger", "audit_log": "audit log", "admin_log": "admin log"}


def text_v1(values: Iterable[object]) -> str:
    return SEPARATOR.join("" if v is None else str(v) for v in values)


def field_v2(value: object) -> str:
    """One field in the v2 encoding: ``~,`` for None, else ``LENGTH:VALUE,``."""
    if value is None:
        return "~,"
    text = str(value)
    return f"{len(text.encode('utf-8'))}:{text},"


def text_v2(values: Iterable[object]) -> str:
    return "v2," + "".join(field_v2(v) for v in values)


def text_v3(values: Iterable[object]) -> str:
    return "v3," + "".join(field_v2(v) for v in values)


def text_v4(values: Iterable[object]) -> str:
    return "v4," + "".join(field_v2(v) for v in values)


class Provenanced(tuple):  # type: ignore[type-arg]
    """A v4 ledger row: a v3 entry's fields, then its provenance (an imported entry)."""

    __slots__ = ()


def field_v2_sql(expression: str) -> str:
    """The same as :func:`field_v2`, as DuckDB SQL over a VARCHAR expression (``strlen`` is
    the length in bytes); tests prove the two agree."""
    return (
        f"CASE WHEN ({expression}) IS NULL THEN '~,' "
        f"ELSE CAST(strlen({expression}) AS VARCHAR) || ':' || ({expression}) || ',' END"
    )


def chain_rows(
    previous: str,
    first_seq: int,
    prefix: tuple[object, ...],
    rows: Iterable[tuple[object, ...]],
    version: str = "v2",
) -> list[tuple[object, ...]]:
    """Chain v2 (or v3) entries from ``previous``. Each row ends with the encoding of the
    entry's fields after seq and ``prefix`` (the fields every entry of the batch shares: see
    :func:`field_v2_sql`), which is replaced by its hash."""
    sha = hashlib.sha256
    shared = "".join(field_v2(v) for v in prefix)
    chained = []
    for seq, row in enumerate(rows, start=first_seq):
        text = f"{version},{field_v2(seq)}{shared}{row[-1]}"
        previous = sha((previous + text).encode("utf-8")).hexdigest()
        chained.append((*row[:-1], previous))
    return chained


class Sealed(tuple):  # type: ignore[type-arg]
    """A v1/v2 entry whose content was erased: seq, the fields that stay, its stored hash."""

    __slots__ = ()


def seal(previous: str, fields: Iterable[object], stored: str) -> str:
    """The seal of an erased v1/v2 entry: its predecessor's hash, what stays of it (seq
    first) and its own hash."""
    return hashlib.sha256(f"{previous}{text_v2(fields)}{stored}".encode()).hexdigest()


def entry_hash(
    previous: str,
    fields: Sequence[object],
    *,
    v2_from: int,
    v3_from: int | None = None,
    v1_fields: Sequence[int] | None = None,
) -> str:
    """An entry's hash from its canonical fields (seq first), in the version its seq has."""
    seq = int(fields[0])  # type: ignore[call-overload]
    if isinstance(fields, Provenanced):
        text = previous + text_v4(fields)
    elif v3_from is not None and seq >= v3_from:
        text = previous + text_v3(fields)
    elif seq >= v2_from:
        text = previous + text_v2(fields)
    else:
        old = fields if v1_fields is None else tuple(fields[i] for i in v1_fields)
        text = f"{previous}{SEPARATOR}{text_v1(old)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Head:
    chain: str
    seq: int
    hash: str
    v2_from: int
    v3_from: int


def anchored_head(connection: sa.Connection, chain: str) -> Head:
    row = connection.execute(sa.select(chain_heads).where(chain_heads.c.chain == chain)).one()
    return Head(chain, int(row.seq), str(row.hash), int(row.v2_from), int(row.v3_from))


def anchor(connection: sa.Connection, chain: str, seq: int, hash_: str) -> None:
    """Record a chain's new head, in the transaction that appended it."""
    connection.execute(
        chain_heads.update().where(chain_heads.c.chain == chain).values(seq=seq, hash=hash_)
    )


@dataclass(frozen=True)
class Verification:
    entries: int
    head_hash: str
    problem: str | None  # None: the chain holds
    seq: int | None = None  # the first entry that does not match
    chain: str = "ledger"
    last_good: int | None = None  # the last entry that matched


def walk(
    rows: Iterable[Any],
    *,
    chain: str,
    v2_from: int,
    v1_fields: Sequence[int] | None = None,
    progress: Callable[[int], None] | None = None,
    v3_from: int | None = None,
    check: Callable[[Any], str | None] | None = None,
    sealed: Callable[[int, str], None] | None = None,
) -> Verification:
    """Recompute a chain from its rows in seq order (seq first, the stored hash last, the
    canonical fields between); stop at the first entry that does not match. Entries before
    ``v2_from`` are v1 (over the fields at ``v1_fields``, default all), those from
    ``v3_from`` (the ledger's) v3, the others v2. ``check``: a problem with a row that its
    hash does not show (the ledger's personal digest), or None. A :class:`Sealed` row's hash
    is taken as it is and ``sealed`` is given its seq and :func:`seal`."""
    name = NAMES.get(chain, chain)
    previous, expected, count = GENESIS, 1, 0
    for row in rows:
        seq = int(row[0])
        if seq != expected:
            return Verification(
                count,
                previous,
                f"entry {expected} is missing: the {name} jumps from entry {expected - 1} to "
                f"entry {seq} (deleted entries)",
                expected,
                chain,
                expected - 1,
            )
        if check is not None and (problem := check(row)) is not None:
            return Verification(count, previous, problem, seq, chain, seq - 1)
        if isinstance(row, Sealed):
            if sealed is not None:
                sealed(seq, seal(previous, row[:-1], str(row[-1])))
            digest = str(row[-1])
        else:
            fields = Provenanced(row[:-1]) if isinstance(row, Provenanced) else row[:-1]
            digest = entry_hash(
                previous, fields, v2_from=v2_from, v3_from=v3_from, v1_fields=v1_fields
            )
        if digest != row[-1]:
            return Verification(
                count,
                previous,
                f"entry {seq} does not match its hash: its content was changed, or entries were "
                "moved",
                seq,
                chain,
                seq - 1,
            )
        previous, expected, count = digest, expected + 1, count + 1
        if progress is not None and count % 50_000 == 0:
            progress(count)
    return Verification(count, previous, None, None, chain, count)


def check_anchor(connection: sa.Connection, walked: Verification) -> Verification:
    """Compare a walked chain with its anchored head: entries cut off the end (or added
    without the anchor) are named."""
    if walked.problem is not None:
        return walked
    head = anchored_head(connection, walked.chain)
    name = NAMES.get(walked.chain, walked.chain)
    if head.seq > walked.entries:
        return Verification(
            walked.entries,
            walked.head_hash,
            f"the {name} ends at entry {walked.entries} but its anchored head is entry "
            f"{head.seq}: entries {walked.entries + 1}-{head.seq} were cut off the end "
            f"(the last good entry is {walked.entries})",
            walked.entries + 1,
            walked.chain,
            walked.entries,
        )
    if head.seq < walked.entries:
        return Verification(
            walked.entries,
            walked.head_hash,
            f"the {name} has entries after its anchored head (entry {head.seq}): entries "
            f"{head.seq + 1}-{walked.entries} were not written by the registry's writer",
            head.seq + 1,
            walked.chain,
            head.seq,
        )
    if head.hash != walked.head_hash:
        return Verification(
            walked.entries,
            walked.head_hash,
            f"the {name}'s last entry {head.seq} does not carry its anchored hash",
            head.seq,
            walked.chain,
            head.seq - 1,
        )
    return walked
