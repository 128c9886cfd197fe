"""The admin log: every security- or law-relevant write, chained, and checked against the store.

Each credential created, used (a sign-in link spent) or revoked, each portal session started or
ended, each furnisher added or changed, and each policy version published appends one entry in
the same transaction as the write: when, who, what (``action``), which object, and the
object's whole state after the write (canonical JSON; secrets only as the SHA-256 the store
keeps, a session's CSRF token as its SHA-256). The entries are hash-chained with the v2
encoding and the head is anchored, like the ledger and the audit log.

:func:`verify_state` folds the log into the state it says each object has and compares it with
the tables, so that a write that bypassed the registry — un-revoking a key, adding a session,
widening a furnisher's codes, editing a published policy's text — is named. A store migrated
from before the log adopts its state as ``baseline`` entries once (:func:`adopt`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from socialcredit.registry.chain import (
    GENESIS,
    Verification,
    anchor,
    anchored_head,
    check_anchor,
    text_v2,
    walk,
)
from socialcredit.store.db import lock, now_us
from socialcredit.store.schema import (
    admin_log,
    agreements,
    credentials,
    furnishers,
    peers,
    policy_versions,
    sessions,
)

FIELDS = ("seq", "at_us", "actor", "action", "object", "state")


def canonical(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# -- each object's state, as the log records it and as verify reads it from the tables ----------


def credential_state(row: Any) -> tuple[str, dict[str, Any]]:
    m = row._mapping
    state = {c.name: _plain(m[c.name]) for c in credentials.c}
    if state["peer_id"] is None:  # as before migration 0015: earlier entries' states hold
        del state["peer_id"]
    return f"credential:{m['id']}", state


def session_state(row: Any) -> tuple[str, dict[str, Any]]:
    m = row._mapping
    return f"session:{m['token_hash']}", {
        "credential_id": m["credential_id"],
        "csrf_sha256": _digest(str(m["csrf"])),
        "created_us": m["created_us"],
        "expires_us": m["expires_us"],
        "ended_us": m["ended_us"],
    }


def furnisher_state(row: Any) -> tuple[str, dict[str, Any]]:
    m = row._mapping
    return f"furnisher:{m['id']}", {
        "name": m["name"],
        "codes": json.loads(m["codes"]),
        "added_us": m["added_us"],
    }


def policy_state(row: Any) -> tuple[str, dict[str, Any]]:
    m = row._mapping
    return f"policy:{m['id']}", {
        "kind": m["kind"],
        "policy_id": m["policy_id"],
        "version": m["version"],
        "effective_from": _plain(m["effective_from"]),
        "published_us": m["published_us"],
        "digest": m["digest"],
        # Since migration 0010 (older entries have none of these, and keep their state).
        **{
            key: m[key]
            for key in ("published_by", "reason", "changes", "impact")
            if m[key] is not None
        },
    }


def peer_state(row: Any) -> tuple[str, dict[str, Any]]:
    m = row._mapping
    return f"peer:{m['id']}", {c.name: m[c.name] for c in peers.c if c.name != "id"}


def agreement_state(row: Any) -> tuple[str, dict[str, Any]]:
    m = row._mapping
    return f"agreement:{m['id']}", {
        c.name: m[c.name] for c in agreements.c if c.name not in ("id", "source")
    } | {"source_sha256": _digest(str(m["source"]))}


@dataclass(frozen=True)
class _Kind:
    table: sa.Table
    key: sa.Column[Any]
    state: Callable[[Any], tuple[str, dict[str, Any]]]
    label: str


KINDS = {
    "credential": _Kind(credentials, credentials.c.id, credential_state, "credential"),
    "session": _Kind(sessions, sessions.c.token_hash, session_state, "portal session"),
    "furnisher": _Kind(furnishers, furnishers.c.id, furnisher_state, "furnisher"),
    "policy": _Kind(policy_versions, policy_versions.c.id, policy_state, "policy version"),
    "peer": _Kind(peers, peers.c.id, peer_state, "peer registry"),
    "agreement": _Kind(agreements, agreements.c.id, agreement_state, "exchange agreement"),
}


# -- appending -----------------------------------------------------------------------------------


def record(connection: sa.Connection, *, actor: str, action: str, kind: str, key: object) -> int:
    """Append the state of one object, as the tables now hold it inside ``connection``'s
    write transaction, under the admin log's writer lock. Returns the entry's seq."""
    spec = KINDS[kind]
    row = connection.execute(sa.select(spec.table).where(spec.key == key)).one()
    name, state = spec.state(row)
    return append(connection, actor=actor, action=action, obj=name, state=state)


def append(
    connection: sa.Connection, *, actor: str, action: str, obj: str, state: dict[str, Any]
) -> int:
    lock(connection, "admin_log")
    last = connection.execute(
        sa.select(admin_log.c.seq, admin_log.c.at_us, admin_log.c.hash)
        .order_by(admin_log.c.seq.desc())
        .limit(1)
    ).first()
    seq, at, previous = (0, 0, GENESIS) if last is None else (int(last[0]), int(last[1]), last[2])
    seq, at = seq + 1, max(now_us(), at + 1)
    text = canonical(state)
    digest = hashlib.sha256(
        (previous + text_v2((seq, at, actor, action, obj, text))).encode("utf-8")
    ).hexdigest()
    connection.execute(
        admin_log.insert().values(
            seq=seq, at_us=at, actor=actor, action=action, object=obj, state=text, hash=digest
        )
    )
    anchor(connection, "admin_log", seq, digest)
    return seq


def adopt(connection: sa.Connection) -> int:
    """A store from before the admin log: record the state of every object as a ``baseline``
    entry, once (only while the log has never had an entry). Returns how many."""
    if anchored_head(connection, "admin_log").seq != 0:
        return 0
    count = 0
    for kind, spec in KINDS.items():
        for key in connection.scalars(sa.select(spec.key).order_by(spec.key)):
            record(
                connection, actor="migration 0009", action=f"{kind}.baseline", kind=kind, key=key
            )
            count += 1
    return count


# -- verifying -----------------------------------------------------------------------------------


def verify_chain(connection: sa.Connection) -> Verification:
    result = connection.execute(
        sa.select(*(admin_log.c[f] for f in FIELDS), admin_log.c.hash)
        .order_by(admin_log.c.seq)
        .execution_options(yield_per=50_000)
    )
    with result:
        walked = walk(result, chain="admin_log", v2_from=1)
    return check_anchor(connection, walked)


def _logged(connection: sa.Connection) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj, state in connection.execute(
        sa.select(admin_log.c.object, admin_log.c.state).order_by(admin_log.c.seq)
    ):
        yield str(obj), json.loads(state)


def verify_state(connection: sa.Connection, *, limit: int = 20) -> list[str]:
    """Every object whose stored state differs from what the admin log says (at most
    ``limit`` named, then a count)."""
    said = dict(_logged(connection))
    problems: list[str] = []
    seen: set[str] = set()
    for kind, spec in KINDS.items():
        for row in connection.execute(sa.select(spec.table).order_by(spec.key)):
            name, state = spec.state(row)
            seen.add(name)
            logged = said.get(name)
            if logged is None:
                problems.append(
                    f"{spec.label} {name.split(':', 1)[1]} is in the store but not in the admin "
                    "log: it was written without the registry"
                )
            elif logged != state:
                fields = sorted(
                    k for k in state.keys() | logged.keys() if state.get(k) != logged.get(k)
                )
                detail = "; ".join(
                    f"{f} is {state.get(f)!r} in the store, {logged.get(f)!r} in the log"
                    for f in fields
                )
                problems.append(
                    f"{spec.label} {name.split(':', 1)[1]} differs from the admin log: {detail}"
                )
        if kind == "policy":
            for row in connection.execute(
                sa.select(policy_versions.c.id, policy_versions.c.digest, policy_versions.c.source)
            ):
                if _digest(row.source) != row.digest:
                    problems.append(
                        f"policy version {row.id}: its text does not match its published digest"
                    )
    for name in sorted(set(said) - seen):
        label = KINDS[name.split(":", 1)[0]].label
        problems.append(
            f"{label} {name.split(':', 1)[1]} is in the admin log but missing from the store"
        )
    if len(problems) > limit:
        problems = [*problems[:limit], f"... and {len(problems) - limit} more"]
    return problems
