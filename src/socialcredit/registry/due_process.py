"""Objections and credit repair: the subject's rights as working procedures.

Objection: a subject objects to one record (``FURNISHER/RECORD_ID``). The registry writes an
``objected`` event dated that day to the ledger (a decision batch); from that moment the record
shows *under objection* in every standing and on the public page until decided. Its effect on
standing continues, unless the scheme says ``objection_suspends_effect: true``. The decision is
due within ``SOCIALCREDIT_OBJECTION_DAYS`` working days (never more than the legal maximum,
policy.deadlines), and the deadline binds: an ``objection_lapsed`` event dated the day after
the due date is written with the objection, so that from that day, while undecided, the record
has no effect in any scheme (docs/evaluation.md "Objections"); registry.cases.tell_lapses (run
by ``refresh``) tells the subject, and the dashboard counts the lapses per furnisher. Upheld: a
``retracted`` event, so the record has no effect at all. Rejected: an ``objection_rejected``
event dated the decision day (the suspension, where there was one, ends) and the record stays,
with the reason and the next remedy shown to the subject. Standings are updated at once; a
decision is taken once; the subject is told either way.

Credit repair: a subject applies for one record, with evidence and (where required) a credit
commitment. The conditions are checked when the application is made and every unmet one is
explained: the code is repairable; the obligation is fulfilled where the record carries one (a
scheme ends its effect on fulfilment); the minimum publication period for the code's severity
has passed (minor: none; general: 3 months; serious: 1 year; from the day of publication, as
the repair rules in force on the day of the application say — NDRC Order No. 58, from
2026-04-01 NDRC Order No. 36, ``socialcredit.policy.repair``); a commitment was given. Granted: a
``repaired`` event dated the decision day; publication stops, and the lists and points the
record drove end; the notice cites the rules in force that day. The answer is due within
``SOCIALCREDIT_REPAIR_FEEDBACK_DAYS`` working days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from socialcredit import faults
from socialcredit.errors import Conflict, NotFound, UsageError
from socialcredit.policy.deadlines import DEADLINES
from socialcredit.policy.repair import rules_on
from socialcredit.registry.audit import Reader
from socialcredit.registry.calendar import load_calendar
from socialcredit.registry.cases import KINDS, events_of, queue_of
from socialcredit.registry.ledger import (
    EVENT_ROW,
    BatchMeta,
    BatchWriter,
    event_constants,
    rest_text,
)
from socialcredit.registry.notices import insert_rows as insert_notices
from socialcredit.registry.policies import (
    RegistryError,
    catalogue_at,
    schemes_in_force,
)
from socialcredit.registry.publication import published_on
from socialcredit.registry.standings.current import write_current
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us, us_to_datetime
from socialcredit.store.schema import corrections, ledger, objections, repairs, subjects


@dataclass(frozen=True)
class RecordRef:
    seq: int
    subject_key: int
    identifier: str
    furnisher: str
    record_id: str
    code: str
    occurred_on: dt.date
    recorded_us: int


def record_of(connection: sa.Connection, identifier: str, ref: str) -> RecordRef:
    furnisher, _, record_id = ref.partition("/")
    if not furnisher or not record_id:
        raise UsageError(f"name the record as FURNISHER/RECORD_ID, not {ref!r}")
    row = connection.execute(
        sa.select(
            ledger.c.seq,
            ledger.c.subject_id,
            subjects.c.identifier,
            ledger.c.code,
            ledger.c.occurred_on,
            ledger.c.recorded_us,
        )
        .join(subjects, subjects.c.id == ledger.c.subject_id)
        .where(
            ledger.c.entry == "record",
            ledger.c.furnisher == furnisher,
            ledger.c.record_id == record_id,
        )
    ).first()
    if row is None or row.identifier != identifier:
        raise NotFound(f"{identifier} has no record {ref}")
    return RecordRef(
        int(row.seq),
        int(row.subject_id),
        row.identifier,
        furnisher,
        record_id,
        row.code,
        row.occurred_on,
        int(row.recorded_us),
    )


def record_events(connection: sa.Connection, seq: int) -> dict[str, dt.date | None]:
    found: dict[str, dt.date | None] = {}
    for row in connection.execute(
        sa.select(ledger.c.event, ledger.c.event_date).where(
            ledger.c.entry == "event", ledger.c.record_seq == seq
        )
    ):
        found.setdefault(row.event, row.event_date)
    return found


def _notice(
    store: Store, connection: sa.Connection, key: int, kind: str, ref: str, text: str
) -> None:
    insert_notices(store, connection, [(key, now_us(), kind, None, ref, text)])


def registry_event(
    store: Store,
    connection: sa.Connection,
    settings: Settings,
    record: RecordRef,
    events: list[tuple[str, dt.date | None]],
    decision: str,
) -> None:
    """Append the registry's decision as events on the record (a batch of kind ``decision``
    named after it), inside the caller's transaction, and bring the subject's current standings
    up to date in it too. An event already in the ledger (same record, event and date) is not
    appended twice."""
    who = connection.execute(
        sa.select(subjects.c.name, subjects.c.region).where(subjects.c.id == record.subject_key)
    ).one()
    fresh = []
    for event, day in events:
        exists = connection.scalar(
            sa.select(ledger.c.seq).where(
                ledger.c.entry == "event",
                ledger.c.record_seq == record.seq,
                ledger.c.event == event,
                ledger.c.event_date.is_(None) if day is None else ledger.c.event_date == day,
            )
        )
        if exists is None:
            fresh.append((event, day))
    shown = "|".join(f"{event}|{day.isoformat() if day else None}" for event, day in events)
    digest = hashlib.sha256(f"{decision}|{record.seq}|{shown}".encode()).hexdigest()
    writer = BatchWriter(
        store,
        connection,
        BatchMeta(
            furnisher=record.furnisher,
            kind="decision",
            file_name=decision,
            digest=digest,
            rows_read=len(events),
            accepted=len(fresh),
            noop=len(events) - len(fresh),
            rejected=0,
        ),
    )
    if fresh:
        rows = []
        for event, day in fresh:
            salt, personal, rest = rest_text(
                entry="event",
                furnisher=record.furnisher,
                record_id=record.record_id,
                subject=record.identifier,
                subject_name=who.name,
                subject_region=who.region,
                event=event,
                event_date=day.isoformat() if day else None,
                record_seq=record.seq,
            )
            rows.append(
                (record.record_id, record.subject_key, event, day, record.seq, salt, personal, rest)
            )
        writer.append(EVENT_ROW, event_constants(record.furnisher), [rows])
    writer.close(standings_done=True)
    faults.point("decision.appended")
    write_current(store, connection, settings, [record.subject_key])


# -- objections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """An objection or a repair application, as the queues and the subject see it."""

    kind: str  # objection | repair
    id: int
    subject: str
    record: str
    text: str  # the reason or the evidence
    due: dt.date
    outcome: str | None
    decision_reason: str | None
    decided_by: str | None
    overdue: bool
    # An objection past its due date undecided has lapsed: from this day the record has no
    # effect in any scheme until it is decided. None for a repair application.
    lapses_on: dt.date | None = None
    # A repair application's file found complete on this day: from then the decision is due
    # within SOCIALCREDIT_REPAIR_DECISION_DAYS working days. None: not (yet), or an objection.
    complete_on: dt.date | None = None


def file_objection(
    store: Store, settings: Settings, identifier: str, ref: str, *, reason: str
) -> Case:
    if not reason.strip():
        raise UsageError("reason is required: what is wrong with the record", field="reason")
    calendar = load_calendar(settings.holidays_file)
    with store.reading() as connection:
        record = record_of(connection, identifier, ref)
        _may_object(connection, record, ref)
    # One transaction: the case, the ledger events — objected, dated today (a scheme that
    # suspends effects under objection stops counting the record at once), and
    # objection_lapsed, dated the day after the due date (from then, undecided, the record
    # counts in no scheme) — the standings and the notice.
    with store.writing("ledger") as connection:
        _may_object(connection, record, ref)
        due = DEADLINES["objection_days"].due(
            settings.today(), settings.objection_days, calendar.add_working_days
        )
        case_id = connection.execute(
            objections.insert().values(
                subject_id=record.subject_key,
                record_seq=record.seq,
                reason=reason.strip(),
                filed_us=now_us(),
                due=due,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        lapses = lapse_day(due)
        registry_event(
            store,
            connection,
            settings,
            record,
            [("objected", settings.today()), ("objection_lapsed", lapses)],
            f"objection {case_id} by {identifier}",
        )
        _notice(
            store,
            connection,
            record.subject_key,
            "objection",
            ref,
            f"Your objection {case_id} to record {ref} was received; it will be decided by "
            f"{due.isoformat()}. Until then the record is shown as under objection. If it is "
            f"not decided by then, from {lapses.isoformat()} the record has no effect in any "
            "scheme until it is decided.",
        )
    faults.point("decision.committed")
    return _case(store, settings, "objection", int(case_id))


def lapse_day(due: dt.date) -> dt.date:
    """The day an objection due on ``due`` lapses if undecided: the day after (issue #15)."""
    return due + dt.timedelta(days=1)


def _may_object(connection: sa.Connection, record: RecordRef, ref: str) -> None:
    if "retracted" in record_events(connection, record.seq):
        raise Conflict(f"record {ref} is retracted already: it has no effect")
    open_ = connection.scalar(
        sa.select(objections.c.id).where(
            objections.c.record_seq == record.seq, objections.c.outcome.is_(None)
        )
    )
    if open_ is not None:
        raise Conflict(f"record {ref} is under objection already (objection {open_})")


def decide_objection(
    store: Store, settings: Settings, case_id: int, *, uphold: bool, reason: str, by: str
) -> Case:
    outcome = "upheld" if uphold else "rejected"
    consequence = "the record is retracted and has no effect" if uphold else "the record stands"
    _decide(
        store,
        settings,
        objections,
        "objection",
        case_id,
        outcome=outcome,
        events=events_of("objection", outcome, settings.today()),
        reason=reason,
        by=by,
        tell=lambda ref: (
            f"Your objection {case_id} to record {ref} was {outcome}: {consequence}. "
            f"Reason: {reason.strip()}" + ("" if uphold else next_remedy(settings))
        ),
    )
    return _case(store, settings, "objection", case_id)


def next_remedy(settings: Settings) -> str:
    """What a subject whose objection was rejected may do next, with the deadline that binds
    the registry (issue #15: a rejected objection names the next remedy)."""
    calendar = load_calendar(settings.holidays_file)
    due = DEADLINES["review_days"].due(
        settings.today(), settings.review_days, calendar.add_working_days
    )
    return (
        " If you disagree, you may ask that a person review your standing (the portal, or "
        f"`socialcredit review request`): a review asked for today is due by {due.isoformat()}. "
        "Where a court listed you, you may also apply to the court above it for "
        "reconsideration within 10 days (Fa Shi [2017] No. 7 art. 12)."
    )


def _decide(
    store: Store,
    settings: Settings,
    table: sa.Table,
    label: str,
    case_id: int,
    *,
    outcome: str,
    events: list[tuple[str, dt.date | None]],
    reason: str,
    by: str,
    tell: Callable[[str], str],
) -> None:
    """Decide a case once, in one transaction: the registry's ledger event (if the decision
    has one), the subject's current standings, the case closed and the subject told."""
    if not reason.strip() or not by.strip():
        raise UsageError("a decision needs a reason and who decided (by)", field="reason")
    _open_case(store, table, label, case_id)  # refused early, before any lock
    with store.writing("ledger") as connection:
        record = _open_case_in(connection, table, label, case_id)
        if events:
            registry_event(
                store, connection, settings, record, events, f"{label} {case_id} {outcome} by {by}"
            )
        connection.execute(
            table.update()
            .where(table.c.id == case_id)
            .values(
                outcome=outcome,
                decision_reason=reason.strip(),
                decided_by=by.strip(),
                decided_us=now_us(),
            )
        )
        ref = f"{record.furnisher}/{record.record_id}"
        kind = "objection" if table is objections else "repair"
        _notice(store, connection, record.subject_key, kind, ref, tell(ref))
    faults.point("decision.committed")


def _open_case(store: Store, table: sa.Table, label: str, case_id: int) -> RecordRef:
    with store.reading() as connection:
        return _open_case_in(connection, table, label, case_id)


def _open_case_in(
    connection: sa.Connection, table: sa.Table, label: str, case_id: int
) -> RecordRef:
    """The record of an undecided case; a decided or unknown one is refused."""
    row = connection.execute(sa.select(table).where(table.c.id == case_id)).first()
    if row is None:
        raise NotFound(f"no {label} {case_id}")
    if row.outcome is not None:
        raise Conflict(
            f"{label} {case_id} was already decided ({row.outcome}) by {row.decided_by}; "
            "a decision is not taken twice"
        )
    return _record_by_seq(connection, int(row.record_seq))


def _record_by_seq(connection: sa.Connection, seq: int) -> RecordRef:
    row = connection.execute(
        sa.select(ledger, subjects.c.identifier)
        .join(subjects, subjects.c.id == ledger.c.subject_id)
        .where(ledger.c.seq == seq)
    ).one()
    return RecordRef(
        seq,
        int(row.subject_id),
        row.identifier,
        row.furnisher,
        row.record_id,
        row.code,
        row.occurred_on,
        int(row.recorded_us),
    )


# -- repair -----------------------------------------------------------------------------------


def repair_conditions(
    store: Store, settings: Settings, identifier: str, ref: str, *, commitment: bool
) -> list[str]:
    """Every unmet condition for repairing a record, in words (empty: it may be applied for)."""
    today, known = settings.today(), now_us()
    with store.reading() as connection:
        record = record_of(connection, identifier, ref)
        events = record_events(connection, record.seq)
        catalogue = catalogue_at(connection, known)
        code = catalogue.codes[record.code]
        obliged = False
        for applicable in schemes_in_force(connection, as_of=today, known_us=known):
            scheme = applicable.scheme
            rules = scheme.score.rules if scheme.score else ()
            obliged |= any(r.code == record.code and r.ends_on_fulfilment for r in rules)
            obliged |= any(
                record.code in lst.codes and lst.ends_on_fulfilment for lst in scheme.code_lists
            )
    unmet = []
    if "retracted" in events:
        unmet.append("the record is retracted: it has no effect to repair")
    if "repaired" in events:
        unmet.append(f"the record was repaired already on {events['repaired']}")
    if not code.repairable:
        unmet.append(f"code {code.id} ({code.title}) is not repairable under the catalogue")
    fulfilled = events.get("fulfilled")
    if obliged and (fulfilled is None or fulfilled > today):
        unmet.append(
            "the obligation the record carries is not fulfilled: the furnisher must first "
            "report its fulfilment"
        )
    published = published_on(record.occurred_on)
    repair_rules = rules_on(today)
    tier = repair_rules.tiers[code.severity]
    earliest = tier.repair_from(published)
    if today < earliest:
        unmet.append(
            f"a {code.severity} record must be published at least {tier.repair_after} before "
            f"repair ({repair_rules.cite()}): apply on or after {earliest.isoformat()}"
        )
    if not commitment:
        unmet.append("a credit commitment is required: apply with --commitment")
    return unmet


def apply_repair(
    store: Store,
    settings: Settings,
    identifier: str,
    ref: str,
    *,
    evidence: str,
    commitment: bool,
) -> Case:
    if not evidence.strip():
        raise UsageError(
            "evidence is required: what shows the record may be repaired", field="evidence"
        )
    unmet = repair_conditions(store, settings, identifier, ref, commitment=commitment)
    if unmet:
        raise RegistryError(
            f"credit repair of {ref} cannot be applied for yet:\n"
            + "\n".join(f"  - {reason}" for reason in unmet)
        )
    calendar = load_calendar(settings.holidays_file)
    with store.writing("ledger") as connection:
        record = record_of(connection, identifier, ref)
        due = DEADLINES["repair_feedback_days"].due(
            settings.today(), settings.repair_feedback_days, calendar.add_working_days
        )
        case_id = connection.execute(
            repairs.insert().values(
                subject_id=record.subject_key,
                record_seq=record.seq,
                evidence=evidence.strip(),
                commitment=commitment,
                applied_us=now_us(),
                due=due,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        _notice(
            store,
            connection,
            record.subject_key,
            "repair",
            ref,
            f"Your application {case_id} for credit repair of record {ref} was received; you "
            f"will have an answer by {due.isoformat()}.",
        )
    return _case(store, settings, "repair", int(case_id))


def complete_repair(store: Store, settings: Settings, case_id: int, *, by: str) -> Case:
    """The official finds a repair application's file complete (the evidence examined and
    sufficient): that is the feedback the applicant is owed within
    ``SOCIALCREDIT_REPAIR_FEEDBACK_DAYS``, and from it the decision is due within
    ``SOCIALCREDIT_REPAIR_DECISION_DAYS`` working days (at most 3: Guobanfa [2025] No. 22).
    The subject is told the new date. Once per application; an incomplete file is denied with
    its reason (the subject may apply again)."""
    if not by.strip():
        raise UsageError("say who found the file complete (by)", field="by")
    calendar = load_calendar(settings.holidays_file)
    _open_case(store, repairs, "repair application", case_id)
    with store.writing("ledger") as connection:
        record = _open_case_in(connection, repairs, "repair application", case_id)
        found = connection.execute(
            sa.select(repairs.c.complete_on).where(repairs.c.id == case_id)
        ).scalar_one()
        if found is not None:
            raise Conflict(f"repair application {case_id} was found complete on {found} already")
        today = settings.today()
        due = DEADLINES["repair_decision_days"].due(
            today, settings.repair_decision_days, calendar.add_working_days
        )
        connection.execute(
            repairs.update()
            .where(repairs.c.id == case_id)
            .values(
                complete_on=today, completed_by=by.strip(), decision_due=due, lapse_told_us=None
            )
        )
        ref = f"{record.furnisher}/{record.record_id}"
        _notice(
            store,
            connection,
            record.subject_key,
            "repair",
            ref,
            f"Your application {case_id} for credit repair of record {ref} is complete: it "
            f"will be decided by {due.isoformat()}.",
        )
    return _case(store, settings, "repair", case_id)


def decide_repair(
    store: Store, settings: Settings, case_id: int, *, grant: bool, reason: str, by: str
) -> Case:
    today = settings.today()
    outcome = "granted" if grant else "denied"
    consequence = (
        f"from {today.isoformat()} the record is no longer published and the lists and points "
        f"it drove end ({rules_on(today).cite()})"
        if grant
        else "the record stands"
    )
    _decide(
        store,
        settings,
        repairs,
        "repair application",
        case_id,
        outcome=outcome,
        events=events_of("repair", outcome, today),
        reason=reason,
        by=by,
        tell=lambda ref: (
            f"Your application {case_id} for credit repair of record {ref} was {outcome}: "
            f"{consequence}. Reason: {reason.strip()}"
        ),
    )
    return _case(store, settings, "repair", case_id)


# -- the queues -------------------------------------------------------------------------------


def _case(store: Store, settings: Settings, kind: str, case_id: int) -> Case:
    return case_of(store, settings, kind, case_id)[1]


def case_of(store: Store, settings: Settings, kind: str, case_id: int) -> tuple[int, Case]:
    """One objection or repair application with its subject's key, decided or not (NotFound
    for an unknown id). Not audited: the caller reads the subject's data with it."""
    table = objections if kind == "objection" else repairs
    with store.reading() as connection:
        row = connection.execute(_case_query(table).where(table.c.id == case_id)).first()
    if row is None:
        raise NotFound(
            f"no {'objection' if kind == 'objection' else 'repair application'} {case_id}"
        )
    return int(row.subject_id), _to_case(kind, row, settings.today())


def _case_query(table: sa.Table) -> Any:
    return (
        sa.select(table, subjects.c.identifier, ledger.c.furnisher, ledger.c.record_id)
        .join(subjects, subjects.c.id == table.c.subject_id)
        .join(ledger, ledger.c.seq == table.c.record_seq)
    )


def _to_case(kind: str, row: Any, today: dt.date) -> Case:
    r = row._mapping
    return Case(
        kind=kind,
        id=int(r["id"]),
        subject=r["identifier"],
        record=f"{r['furnisher']}/{r['record_id']}",
        text=r["reason"] if kind == "objection" else r["evidence"],
        due=_due_of(kind, r),
        outcome=r["outcome"],
        decision_reason=r["decision_reason"],
        decided_by=r["decided_by"],
        overdue=r["outcome"] is None and today > _due_of(kind, r),
        lapses_on=lapse_day(r["due"]) if kind == "objection" else None,
        complete_on=r["complete_on"] if kind == "repair" else None,
    )


def _due_of(kind: str, r: Any) -> dt.date:
    """A case's deadline now: an objection's; a repair's feedback date, or once its file is
    complete the decision date."""
    if kind == "repair" and r["decision_due"] is not None:
        return r["decision_due"]  # type: ignore[no-any-return]
    return r["due"]  # type: ignore[no-any-return]


def _due_column(table: sa.Table) -> Any:
    """The case's due date, as the table of case kinds defines it (registry.cases)."""
    return next(kind for kind in KINDS.values() if kind.table is table).due()


def queue(
    store: Store,
    settings: Settings,
    kind: str,
    *,
    reader: Reader | None,
    overdue_only: bool = False,
) -> list[Case]:
    """Open objections or repair applications, overdue first, then by deadline (audited:
    registry.cases.queue_of)."""
    table = objections if kind == "objection" else repairs
    return queue_of(
        store,
        settings,
        kind,
        _case_query(table),
        lambda row, today: _to_case(kind, row, today),
        reader=reader,
        purpose=f"{kind} queue",
        overdue_only=overdue_only,
    )


# -- deadlines that pass ------------------------------------------------------------------------


def backfill_lapses(store: Store, settings: Settings) -> int:
    """Write the lapse of every open objection filed before lapses were written with the
    objection (no ``objection_lapsed`` on its record: a store from before migration 0012),
    dated the day after its due date, so that its deadline binds like any other. Run by
    ``refresh``; once written there is nothing left to do. Returns how many were written."""
    lapsed = sa.select(ledger.c.record_seq).where(
        ledger.c.entry == "event", ledger.c.event == "objection_lapsed"
    )
    with store.reading() as connection:
        legacy = connection.execute(
            sa.select(objections.c.id, objections.c.record_seq, objections.c.due)
            .where(objections.c.outcome.is_(None), objections.c.record_seq.not_in(lapsed))
            .order_by(objections.c.id)
        ).all()
    written = 0
    for case_id, record_seq, due in legacy:
        with store.writing("ledger") as connection:
            still = connection.scalar(
                sa.select(objections.c.id).where(
                    objections.c.id == case_id,
                    objections.c.outcome.is_(None),
                    objections.c.record_seq.not_in(lapsed),
                )
            )
            if still is None:  # decided, or written, meanwhile
                continue
            registry_event(
                store,
                connection,
                settings,
                _record_by_seq(connection, int(record_seq)),
                [("objection_lapsed", lapse_day(due))],
                f"objection {case_id}: its lapse (filed before lapses were written)",
            )
            written += 1
    return written


def lapses_by_furnisher(store: Store, settings: Settings) -> dict[str, dict[str, int]]:
    """Per furnisher (the office whose record is objected to or asked to be repaired): the
    objections lapsed and still open, every objection that lapsed (decided late or not yet),
    the repair applications answered late or still late, and the corrected records it sent
    late or still owes past their due date — the operator dashboard's counts. Counts only:
    nothing about any subject."""
    today = settings.today()
    counts: dict[str, dict[str, int]] = {}
    with store.reading() as connection:
        for kind, table in (("objection", objections), ("repair", repairs)):
            rows = connection.execute(
                sa.select(ledger.c.furnisher, _due_column(table), table.c.decided_us).join(
                    ledger, ledger.c.seq == table.c.record_seq
                )
            )
            for furnisher, due, decided_us in rows:
                decided = None if decided_us is None else settings.today(us_to_datetime(decided_us))
                if (decided or today) <= due:
                    continue
                mine = counts.setdefault(str(furnisher), _no_lapses())
                if kind == "repair":
                    mine["repairs"] += 1
                else:
                    mine["objections"] += 1
                    mine["objections_open"] += decided is None
        for furnisher, due, completed_us in connection.execute(
            sa.select(corrections.c.furnisher, corrections.c.due, corrections.c.completed_us)
        ):
            done = None if completed_us is None else settings.today(us_to_datetime(completed_us))
            if (done or today) > due:  # sent late, or still awaited past its day
                counts.setdefault(str(furnisher), _no_lapses())["corrections"] += 1
    return dict(sorted(counts.items()))


def _no_lapses() -> dict[str, int]:
    return {"objections_open": 0, "objections": 0, "repairs": 0, "corrections": 0}
