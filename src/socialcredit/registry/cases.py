"""The registry's kinds of case, in one table (issue #15 item 6): objections, credit repair
applications, human reviews and the furnishers' correction tasks. For each kind, :data:`KINDS`
says

- its **deadline rule**: the setting and its legal maximum (policy.deadlines.DEADLINES) and
  the column that holds the due date;
- what each **decision writes on the ledger** (the events on the record; a review that
  corrects retracts the record it names);
- what a **missed deadline** does, and what the subject is told then.

:func:`tell_lapses` (run by ``refresh``) applies the last to every kind: each case past its due
date undecided is told to its subject exactly once (``lapse_told_us``) and counted. The
objection's own consequence — from the day after its due date the record has no effect in any
scheme — is the ``objection_lapsed`` event written with the objection (registry.due_process).
The decisions themselves are made by registry.due_process (objections, repairs) and
registry.review (reviews), which read their ledger effects from this table; every kind's
queue is :func:`queue_of` (open cases, overdue first, the read audited before it is returned),
used by the CLI, the API and the portal alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from socialcredit.registry.audit import Reader, record_reads
from socialcredit.registry.notices import insert_rows as insert_notices
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import corrections, ledger, objections, repairs, reviews, subjects


@dataclass(frozen=True)
class CaseKind:
    name: str  # objection | repair | review | correction
    noun: str  # as the subject reads it
    table: sa.Table
    deadlines: tuple[str, ...]  # the DEADLINES keys (setting, legal maximum, basis)
    decisions: Mapping[str, tuple[str, ...]]  # outcome -> the ledger events it writes
    on_lapse: str  # what a missed deadline does
    late_text: Callable[[sa.Connection, Any], str]
    open_while_null: str = "outcome"  # the column that is null while the case is open

    def due(self) -> Any:
        """The column (SQL) that holds the case's due date: a repair file found complete is
        due within the decision deadline from that day."""
        table = self.table
        if self.name == "repair":
            return sa.func.coalesce(table.c.decision_due, table.c.due)
        return table.c.due

    def about_a_record(self) -> bool:
        return self.name != "review"


def _objection_late(connection: sa.Connection, row: Any) -> str:
    # Imported here: registry.due_process imports this module.
    from socialcredit.registry.due_process import lapse_day

    ref = f"{row.rec_furnisher}/{row.rec_id}"
    lapsed = lapse_day(row.due).isoformat()
    confirmed = connection.scalar(
        sa.select(objections.c.id).where(
            objections.c.record_seq == row.record_seq,
            objections.c.id < row.id,
            objections.c.outcome == "rejected",
        )
    )
    if confirmed is not None:  # the record's one suspension was spent on the first objection
        return (
            f"Your objection {row.id} to record {ref} was due to be decided by "
            f"{row.due.isoformat()} and has not been. The record was confirmed once already "
            f"(objection {confirmed} was rejected), so its effect continues; your objection is "
            "escalated and will be decided before any that is not late."
        )
    return (
        f"Your objection {row.id} to record {ref} was due to be decided by "
        f"{row.due.isoformat()} and has not been: from {lapsed} the record has no effect in "
        "any scheme until it is decided. Your standing shows the change."
    )


def _repair_late(_connection: sa.Connection, row: Any) -> str:
    return (
        f"Your application {row.id} for credit repair of record {row.rec_furnisher}/{row.rec_id} "
        f"was due to be answered by {row.due_on.isoformat()} and has not been: it is escalated "
        "and will be decided before any application that is not late."
    )


def _correction_late(_connection: sa.Connection, row: Any) -> str:
    return (
        f"The corrected record that {row.rec_furnisher} was to send in place of record "
        f"{row.rec_furnisher}/{row.rec_id} by {row.due_on.isoformat()} has not come. The wrong "
        "record stays retracted (it has no effect); the furnisher is counted late on the "
        "registry's dashboard."
    )


def _review_late(_connection: sa.Connection, row: Any) -> str:
    return (
        f"Your request {row.id} for a human review of your standing was due to be answered by "
        f"{row.due_on.isoformat()} and has not been: it is escalated and will be decided "
        "before any request that is not late."
    )


KINDS: dict[str, CaseKind] = {
    "objection": CaseKind(
        name="objection",
        noun="objection",
        table=objections,
        deadlines=("objection_days",),
        decisions={"upheld": ("retracted",), "rejected": ("objection_rejected",)},
        on_lapse="from the day after the due date the record has no effect in any scheme until "
        "it is decided (the objection_lapsed event); the subject is told; first in the queue",
        late_text=_objection_late,
    ),
    "repair": CaseKind(
        name="repair",
        noun="application for credit repair",
        table=repairs,
        # feedback from the application, then the decision from the file found complete
        deadlines=("repair_feedback_days", "repair_decision_days"),
        decisions={"granted": ("repaired",), "denied": ()},
        on_lapse="escalated: the subject is told; decided first in the queue; counted per "
        "furnisher on the dashboard",
        late_text=_repair_late,
    ),
    "review": CaseKind(
        name="review",
        noun="request for human review",
        table=reviews,
        deadlines=("review_days",),
        decisions={"corrected": ("retracted",), "confirmed": ()},
        on_lapse="escalated: the subject is told; decided first in the queue; counted on the "
        "dashboard",
        late_text=_review_late,
    ),
    "correction": CaseKind(
        name="correction",
        noun="correction task",
        table=corrections,
        deadlines=("correction_days",),
        decisions={"done": ()},  # the furnisher's corrected record is its own batch
        on_lapse="the subject is told; counted late per furnisher on the dashboard; the wrong "
        "record stays retracted",
        late_text=_correction_late,
        open_while_null="completed_us",
    ),
}


class Listed(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def due(self) -> dt.date: ...
    @property
    def overdue(self) -> bool: ...


Item = TypeVar("Item", bound=Listed)


def queue_of(
    store: Store,
    settings: Settings,
    kind: str,
    query: Any,
    convert: Callable[[Any, dt.date], Item],
    *,
    reader: Reader | None,
    purpose: str,
    open_only: bool = True,
    overdue_only: bool = False,
) -> list[Item]:
    """A queue of cases of ``kind``: the rows of ``query`` (which selects the case table with
    ``subjects.identifier``), open ones only by default, each made an item by ``convert``;
    overdue first, then by due date. The items name their subjects, so the read is audited
    for ``purpose``, one entry per subject, before they are returned (``reader=None`` only
    where they are counted and never shown, as on the dashboard)."""
    table = KINDS[kind].table
    if open_only:
        query = query.where(table.c[KINDS[kind].open_while_null].is_(None))
    with store.reading() as connection:
        rows = connection.execute(query).all()
    today = settings.today()
    kept = [
        (row, item)
        for row in rows
        for item in [convert(row, today)]
        if item.overdue or not overdue_only
    ]
    if reader is not None:
        read = [(int(row.subject_id), str(row.identifier)) for row, _ in kept]
        record_reads(store, reader, read, purpose)
    return sorted((item for _, item in kept), key=lambda c: (not c.overdue, c.due, c.id))


def events_of(kind: str, outcome: str, day: dt.date) -> list[tuple[str, dt.date | None]]:
    """The ledger events a decision of ``kind`` with ``outcome`` writes on its record, dated
    ``day`` (a retraction has no date)."""
    return [
        (event, None if event == "retracted" else day) for event in KINDS[kind].decisions[outcome]
    ]


def _late(kind: CaseKind, today: dt.date) -> Any:
    table = kind.table
    return sa.and_(
        table.c[kind.open_while_null].is_(None),
        kind.due() < today,
        table.c.lapse_told_us.is_(None),
    )


def _late_query(kind: CaseKind, today: dt.date) -> Any:
    table = kind.table
    query = sa.select(table, kind.due().label("due_on")).join(
        subjects, subjects.c.id == table.c.subject_id
    )
    if kind.about_a_record():
        # labelled: a correction task has a furnisher column of its own
        query = query.add_columns(
            ledger.c.furnisher.label("rec_furnisher"), ledger.c.record_id.label("rec_id")
        ).join(ledger, ledger.c.seq == table.c.record_seq)
    return query.where(_late(kind, today)).order_by(table.c.id)


def tell_lapses(store: Store, settings: Settings) -> dict[str, int]:
    """Tell each subject, once, of every case of theirs past its due date undecided (what
    that means: :data:`KINDS` ``on_lapse``). Run by ``refresh``; reads first and writes only
    when something is late and untold; a case decided meanwhile is not told. Returns how many
    were told, by kind."""
    today = settings.today()
    with store.reading() as connection:
        found = {
            name: connection.execute(_late_query(kind, today)).all() for name, kind in KINDS.items()
        }
    told = dict.fromkeys(KINDS, 0)
    if not any(found.values()):
        return told
    with store.writing("standings") as connection:
        for name, kind in KINDS.items():
            for row in found[name]:
                claimed = connection.execute(
                    kind.table.update()
                    .where(kind.table.c.id == row.id, _late(kind, today))
                    .values(lapse_told_us=now_us())
                ).rowcount
                if claimed != 1:  # decided (or told) meanwhile
                    continue
                ref = f"{row.rec_furnisher}/{row.rec_id}" if kind.about_a_record() else None
                insert_notices(
                    store,
                    connection,
                    [
                        (
                            int(row.subject_id),
                            now_us(),
                            name,
                            None,
                            ref,
                            kind.late_text(connection, row),
                        )
                    ],
                )
                told[name] += 1
    return told
