"""The one owner of freshness: when may a stored current standing be handed out as it is?

A stored current standing (table ``standings``) of a subject under a scheme answers for today
only when all of these hold — otherwise it is **stale**, and every reader evaluates the subject
online from the ledger instead (read-only), while the upkeep (`refresh`, the service's upkeep
thread, the end of a large ingest) rewrites it:

- it was evaluated with the scheme version in force today;
- it was evaluated for a day on or before today, and today is before its ``holds_until`` (the
  first day it may change without new data);
- no ledger batch whose standings are still pending (a large batch, committed before the
  derived state caught up: ``batches.standings_done`` false) holds an entry about the subject.

A subject in the scheme's population with no stored standing is stale too; one outside it
(another kind, another region, or not yet of the scheme's ``min_age`` today: DESIGN.md rule 9)
has nothing to go stale — on the day a person comes of age, the missing row makes it stale.
:func:`is_stale` is the rule for one stored row; :func:`stale_rows` is the same rule as SQL
over ``standings`` (the pending part is per subject, :func:`pending_subjects`); tests prove
the two agree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from socialcredit.registry.policies import Applicable
from socialcredit.store.schema import batches, ledger, standings, subjects


@dataclass(frozen=True)
class Stored:
    """What freshness needs of a stored current standing. Days are ISO text (YYYY-MM-DD),
    which orders as the dates do: the check path compares them as it reads them."""

    version: int
    as_of: str
    holds_until: str | None


def is_stale(
    stored: Stored | None,
    applicable: Applicable,
    identifier: str,
    kind: str,
    today: str,
    *,
    pending: bool,
) -> bool:
    """Whether a subject's stored standing under a scheme may not be handed out ``today``
    (ISO text)."""
    scheme = applicable.scheme
    if kind not in scheme.subjects:
        return False  # the scheme does not evaluate this subject: nothing to go stale
    if (scheme.scope.regions or scheme.scope.min_age is not None) and scheme.scope.outside(
        identifier, kind, dt.date.fromisoformat(today)
    ):
        return False  # outside the population today: not evaluated, nothing to go stale
    return (
        pending
        or stored is None
        or stored.version != applicable.scheme.version
        or stored.as_of > today
        or (stored.holds_until is not None and stored.holds_until <= today)
    )


def stale_rows(applicable: Applicable, today: dt.date) -> sa.ColumnElement[bool]:
    """:func:`is_stale` for the stored rows of one scheme (pending aside), as SQL."""
    return sa.and_(
        standings.c.scheme_id == applicable.scheme.id,
        sa.or_(
            standings.c.scheme_version != applicable.scheme.version,
            standings.c.as_of > today,
            standings.c.holds_until <= today,
        ),
    )


def pending_batches(connection: sa.Connection) -> list[tuple[int, int, int]]:
    """(batch id, first seq, last seq) of every batch whose standings are pending."""
    return [
        (int(r.id), int(r.first_seq), int(r.last_seq))
        for r in connection.execute(
            sa.select(batches.c.id, batches.c.first_seq, batches.c.last_seq).where(
                batches.c.standings_done.is_(False), batches.c.first_seq.is_not(None)
            )
        )
    ]


def pending_subjects(connection: sa.Connection, keys: Iterable[int] | None = None) -> set[int]:
    """The subjects (store keys) with an entry in a batch whose standings are pending: of
    ``keys``, or all of them (by the batches' seq ranges, on the ledger's primary key)."""
    ranges = pending_batches(connection)
    if not ranges:
        return set()
    within = sa.or_(*(ledger.c.seq.between(first, last) for _, first, last in ranges))
    query: Any = sa.select(ledger.c.subject_id).distinct().where(within)
    if keys is not None:
        wanted = sorted(set(keys))
        if not wanted:
            return set()
        found: set[int] = set()
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            found.update(
                int(k) for k in connection.scalars(query.where(ledger.c.subject_id.in_(chunk)))
            )
        return found
    return {int(k) for k in connection.scalars(query)}


COMING_OF_AGE_WINDOW = dt.timedelta(days=366)


def coming_of_age(
    connection: sa.Connection, in_force: Iterable[Applicable], today: dt.date
) -> set[int]:
    """Persons who came of age under a scheme's ``min_age`` within the last year, are in its
    regions, and have no stored standing under it yet (a person furnished while a minor has
    none): the upkeep evaluates them, as readers already do online."""
    found: set[int] = set()
    for applicable in in_force:
        scope = applicable.scheme.scope
        if scope.min_age is None:
            continue
        latest = scope.latest_birth(today)
        earliest = scope.latest_birth(today - COMING_OF_AGE_WINDOW)
        born = sa.func.substr(subjects.c.identifier, 7, 8)
        stored = sa.exists().where(
            standings.c.scheme_id == applicable.scheme.id,
            standings.c.subject_id == subjects.c.id,
        )
        query = sa.select(subjects.c.id).where(
            subjects.c.kind == "person",
            born > earliest.strftime("%Y%m%d"),
            born <= latest.strftime("%Y%m%d"),
            ~stored,
        )
        if scope.regions:
            query = query.where(
                sa.or_(
                    *(
                        sa.func.substr(subjects.c.identifier, 1, len(prefix)) == prefix
                        for prefix in scope.regions
                    )
                )
            )
        found.update(int(key) for key in connection.scalars(query))
    return found
