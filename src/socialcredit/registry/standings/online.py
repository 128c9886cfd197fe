"""One subject's standing, evaluated online from the ledger with the reference evaluator.

This is how every answer about one subject is made when the stored current standings cannot be
trusted for it (stale or pending: :mod:`socialcredit.registry.standings.freshness`), and how
`socialcredit standing`, reports and the subject's portal page are always made: read-only,
inside one read transaction, every point explained.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from socialcredit.errors import NotFound, UsageError
from socialcredit.identifiers import check
from socialcredit.policy.model import Scheme
from socialcredit.registry.audit import Reader, record_read
from socialcredit.registry.policies import (
    Applicable,
    companions,
    scheme_at,
    schemes_in_force,
)
from socialcredit.semantics.fields import Event, Record
from socialcredit.semantics.reference import Standing, evaluate, next_change, visible_dates
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us, us_to_iso
from socialcredit.store.schema import ledger, objections, subjects


def ids_json(values: Iterable[str]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def earliest(*dates: dt.date | None) -> dt.date | None:
    present = [d for d in dates if d is not None]
    return min(present) if present else None


@dataclass(frozen=True)
class SubjectFacts:
    key: int
    identifier: str
    kind: str
    name: str | None
    region: str | None
    records: list[Record]
    events: list[Event]


def subject_key(connection: sa.Connection, identifier: str) -> int | None:
    return connection.scalar(sa.select(subjects.c.id).where(subjects.c.identifier == identifier))


def load_subject(connection: sa.Connection, key: int) -> SubjectFacts:
    """Everything the ledger holds about one subject (all of it; visibility is for evaluation)."""
    who = connection.execute(sa.select(subjects).where(subjects.c.id == key)).one()
    records, events = [], []
    for row in connection.execute(
        sa.select(ledger).where(ledger.c.subject_id == key).order_by(ledger.c.seq)
    ):
        if row.entry == "record":
            records.append(
                Record(
                    row=int(row.seq),
                    furnisher=row.furnisher,
                    record_id=row.record_id,
                    subject_id=who.identifier,
                    kind=who.kind,
                    code=row.code,
                    occurred_on=row.occurred_on,
                    amount=Decimal(row.amount) if row.amount else Decimal(0),
                    recorded_us=int(row.recorded_us),
                    decided_on=row.decided_on,
                )
            )
        else:
            events.append(
                Event(
                    row=int(row.seq),
                    furnisher=row.furnisher,
                    record_id=row.record_id,
                    event=row.event,
                    date=row.event_date,
                    recorded_us=int(row.recorded_us),
                )
            )
    return SubjectFacts(key, who.identifier, who.kind, who.name, who.region, records, events)


@dataclass(frozen=True)
class Evaluated:
    """A subject's standing under one scheme version, and until when it holds."""

    scheme: Scheme
    standing: Standing | None  # None: not evaluated (another kind, or no record visible at K)
    holds_until: dt.date | None
    outside: str | None = None  # why the subject is outside the scheme's population at T
    # rule 14: the black lists of other schemes in force that hold the subject at T, which bar
    # it from this scheme's red lists and incentives, as (scheme id, list id, list title)
    barred_by: tuple[tuple[str, str, str], ...] = ()

    @property
    def in_population(self) -> bool:
        return self.outside is None

    def barred_json(self) -> list[dict[str, str]]:
        """``barred_by`` as the API, reports and the portal show it."""
        return [
            {"scheme": scheme_id, "list": list_id, "title": title}
            for scheme_id, list_id, title in self.barred_by
        ]


def evaluate_facts(
    facts: SubjectFacts,
    applicable: Applicable,
    *,
    as_of: dt.date,
    known_at_us: int,
    explain: bool = False,
    among: Iterable[Applicable] = (),
) -> Evaluated:
    """A subject's standing under one scheme version. ``among``: the schemes in force with it
    (rule 14): on a black list of any of them, the subject is on none of this scheme's red
    lists and gets none of its incentives, and the standing holds only until the first change
    under those schemes as well (:func:`socialcredit.registry.policies.companions`)."""
    scheme = applicable.scheme
    outside = (
        scheme.scope.outside(facts.identifier, facts.kind, as_of)
        if facts.kind in scheme.subjects
        else None
    )
    if outside is not None:  # rule 9: not evaluated; a minor comes of age on adult_from
        adult = scheme.scope.adult_from(facts.identifier, facts.kind)
        of_age = adult if adult is not None and as_of < adult else None
        return Evaluated(scheme, None, earliest(of_age, applicable.next_effective), outside)
    visible = [r for r in facts.records if r.recorded_us <= known_at_us]
    dates = visible_dates(facts.events, known_at_us)
    barred_by: list[tuple[str, str, str]] = []
    changes = [applicable.next_effective]
    for other in companions(applicable, among):
        changes.append(other.next_effective)
        if facts.kind not in other.scheme.subjects:
            continue
        theirs = evaluate(
            facts.records, facts.events, other.scheme, as_of=as_of, known_at_us=known_at_us
        )
        if theirs:
            barred_by += [
                (other.scheme.id, lst.id, lst.title)
                for lst in other.scheme.lists
                if lst.kind == "black" and lst.id in theirs[0].lists
            ]
            changes.append(next_change(visible, dates, other.scheme, as_of))
    found = evaluate(
        facts.records,
        facts.events,
        scheme,
        as_of=as_of,
        known_at_us=known_at_us,
        explain=explain,
        barred=bool(barred_by),
    )
    if not found:
        return Evaluated(scheme, None, applicable.next_effective)
    change = next_change(visible, dates, scheme, as_of)
    return Evaluated(scheme, found[0], earliest(change, *changes), barred_by=tuple(barred_by))


@dataclass(frozen=True)
class SubjectView:
    facts: SubjectFacts
    as_of: dt.date
    known_at_us: int
    results: dict[str, Evaluated]
    under_objection: dict[str, int]  # FURNISHER/RECORD_ID → open objection id


def under_objection(connection: sa.Connection, subject_key: int) -> dict[str, int]:
    """The subject's records under an open objection: ``FURNISHER/RECORD_ID`` → objection id."""
    rows = connection.execute(
        sa.select(objections.c.id, ledger.c.furnisher, ledger.c.record_id)
        .join(ledger, ledger.c.seq == objections.c.record_seq)
        .where(objections.c.subject_id == subject_key, objections.c.outcome.is_(None))
    ).all()
    return {f"{r.furnisher}/{r.record_id}": int(r.id) for r in rows}


def standing_of(
    store: Store,
    settings: Settings,
    identifier: str,
    *,
    reader: Reader,
    scheme_id: str | None = None,
    as_of: dt.date | None = None,
    known_at_us: int | None = None,
) -> SubjectView:
    """One subject evaluated online from the ledger, with explanations, under one or every
    published scheme that applies to its kind. The read is audited (who, why, what) before the
    result is returned."""
    result = check(identifier)
    if result.kind is None:
        raise UsageError(f"{identifier!r} is not a valid identifier: {result.reason}")
    known = now_us() if known_at_us is None else known_at_us
    day = settings.today() if as_of is None else as_of
    with store.reading() as connection:
        key = subject_key(connection, identifier)
        if key is None:
            raise NotFound(f"the registry holds no records about {identifier}")
        facts = load_subject(connection, key)
        in_force = schemes_in_force(connection, as_of=day, known_us=known)
        if scheme_id:
            in_force = [a for a in in_force if a.scheme.id != scheme_id]
            wanted = [scheme_at(connection, scheme_id, as_of=day, known_us=known)]
            in_force.append(wanted[0])
        else:
            wanted = in_force
        results = {}
        for applicable in wanted:
            sid = applicable.scheme.id
            if facts.kind not in applicable.scheme.subjects:
                if scheme_id:
                    raise UsageError(
                        f"scheme {sid} applies to {', '.join(applicable.scheme.subjects)}s, "
                        f"not to {facts.kind}s"
                    )
                continue
            results[sid] = evaluate_facts(
                facts, applicable, as_of=day, known_at_us=known, explain=True, among=in_force
            )
        marks = under_objection(connection, key)
    what = f"standing:{scheme_id or 'all'}"
    if as_of is not None or known_at_us is not None:
        what += f" as_of={day.isoformat()} known_at_us={known}"
    record_read(store, reader, key, identifier, what)
    return SubjectView(facts, day, known, results, marks)


def view_json(view: SubjectView) -> dict[str, Any]:
    """A subject's standing as JSON (the CLI's --json and the API), every point explained."""
    return {
        "subject_id": view.facts.identifier,
        "kind": view.facts.kind,
        "as_of": view.as_of.isoformat(),
        "known_at": us_to_iso(view.known_at_us),
        "under_objection": view.under_objection,
        "standings": {
            sid: {
                "version": ev.scheme.version,
                "holds_until": ev.holds_until.isoformat() if ev.holds_until else None,
                "standing": json.loads(ev.standing.to_json()) if ev.standing else None,
                "in_population": ev.in_population,
                "outside": ev.outside,
                "barred_by": ev.barred_json(),
            }
            for sid, ev in view.results.items()
        },
    }
