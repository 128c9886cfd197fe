"""Current standings of a few subjects, evaluated online and, by writers, stored.

:func:`evaluate_current` evaluates subjects under every scheme in force, inside whatever
transaction it is given (a reader's, or a writer's that has just appended to the ledger and so
sees its own entries). :func:`write_current` stores the result as the subjects' current
standings (``standings`` and ``standing_lists``), with the notices of every listing, delisting
and grade change, under the derived state's writer lock, and raises the derived state's change
counter. It never takes the ledger's lock: a caller that appends to the ledger holds that
already, and takes the derived state's after it (``Store.lock`` keeps the order).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from socialcredit.registry.notices import changes as notice_changes
from socialcredit.registry.notices import insert_rows as insert_notices
from socialcredit.registry.policies import Applicable, schemes_in_force
from socialcredit.registry.standings.online import evaluate_facts, ids_json, load_subject
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import (
    STANDINGS_GENERATION,
    batches,
    ledger,
    standing_lists,
    standings,
)

STANDING_COLUMNS = (
    "scheme_id",
    "subject_id",
    "scheme_version",
    "as_of",
    "known_us",
    "score",
    "grade",
    "lists",
    "measures",
    "holds_until",
)
LIST_COLUMNS = ("scheme_id", "list_id", "identifier", "subject_id", "since", "until")
CHUNK = 500


def applicable_now(
    connection: sa.Connection, settings: Settings, today: dt.date, known: int
) -> dict[str, Applicable]:
    """Every published scheme in the version in force today, as known at ``known``."""
    return {a.scheme.id: a for a in schemes_in_force(connection, as_of=today, known_us=known)}


@dataclass
class Current:
    """Current standings of some subjects: rows in ``STANDING_COLUMNS`` and ``LIST_COLUMNS``
    order, and the scheme versions they were evaluated under."""

    applicable: dict[str, Applicable]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    lists: list[tuple[Any, ...]] = field(default_factory=list)


def evaluate_current(
    connection: sa.Connection,
    settings: Settings,
    keys: Iterable[int],
    *,
    today: dt.date,
    known: int,
    applicable: dict[str, Applicable] | None = None,
) -> Current:
    """The current standings of these subjects under every scheme in force, from the ledger
    as ``connection`` sees it (read-only)."""
    found = Current(applicable or applicable_now(connection, settings, today, known))
    for key in keys:
        facts = load_subject(connection, key)
        for sid, app in found.applicable.items():
            result = evaluate_facts(
                facts,
                app,
                as_of=today,
                known_at_us=known,
                explain=True,
                among=found.applicable.values(),
            )
            s = result.standing
            if s is None or s.explanation is None:
                continue
            found.rows.append(
                (
                    sid,
                    key,
                    app.scheme.version,
                    today,
                    known,
                    s.score,
                    s.grade,
                    ids_json(s.lists),
                    ids_json(s.measures),
                    result.holds_until,
                )
            )
            dates = s.explanation["lists"]
            for list_id in s.lists:
                since, until = dates[list_id]["since"], dates[list_id]["until"]
                found.lists.append(
                    (
                        sid,
                        list_id,
                        facts.identifier,
                        key,
                        None if since is None else dt.date.fromisoformat(since),
                        None if until is None else dt.date.fromisoformat(until),
                    )
                )
    return found


def write_current(
    store: Store,
    connection: sa.Connection,
    settings: Settings,
    keys: Iterable[int],
    *,
    known: int | None = None,
) -> int:
    """Re-evaluate these subjects online inside ``connection``'s write transaction and store
    the results as their current standings, telling each subject of every change. Returns
    how many standings were written."""
    store.lock(connection, "standings")
    wanted = sorted(set(keys))
    if not wanted:
        return 0
    today, known = settings.today(), now_us() if known is None else known
    applicable = applicable_now(connection, settings, today, known)
    written = 0
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        current = evaluate_current(
            connection, settings, chunk, today=today, known=known, applicable=applicable
        )
        before: dict[str, dict[int, tuple[list[str], str | None]]] = {}
        for old in connection.execute(
            sa.select(
                standings.c.scheme_id, standings.c.subject_id, standings.c.lists, standings.c.grade
            ).where(standings.c.subject_id.in_(chunk))
        ):
            before.setdefault(old.scheme_id, {})[int(old.subject_id)] = (
                json.loads(old.lists),
                old.grade,
            )
        after: dict[str, dict[int, tuple[list[str], str | None]]] = {}
        for row in current.rows:
            after.setdefault(row[0], {})[int(row[1])] = (json.loads(row[7]), row[6])
        connection.execute(standings.delete().where(standings.c.subject_id.in_(chunk)))
        connection.execute(standing_lists.delete().where(standing_lists.c.subject_id.in_(chunk)))
        store.bulk_insert(connection, standings, STANDING_COLUMNS, current.rows)
        store.bulk_insert(connection, standing_lists, LIST_COLUMNS, current.lists)
        for sid, app in applicable.items():
            told = notice_changes(app.scheme, today, before.get(sid, {}), after.get(sid, {}))
            insert_notices(store, connection, told)
        written += len(current.rows)
    store.raise_generation(connection, STANDINGS_GENERATION)
    return written


def later_subjects(connection: sa.Connection, head_seq: int) -> list[int]:
    """Subjects with an entry after ``head_seq`` in a batch whose standings were written
    online (its standings done): a snapshot up to ``head_seq`` is older than their standings."""
    return sorted(
        int(k)
        for k in connection.scalars(
            sa.select(ledger.c.subject_id)
            .distinct()
            .join(batches, batches.c.id == ledger.c.batch_id)
            .where(ledger.c.seq > head_seq, batches.c.standings_done.is_(True))
        )
    )
