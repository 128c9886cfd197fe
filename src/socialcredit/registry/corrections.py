"""Corrections: a review that finds a record wrong changes it (issue #15).

A reviewer who decides a review *corrected* names the record found wrong. In one transaction
the review is decided, the record is retracted in the ledger (a registry decision batch, so
the record has no effect from the start), the subject's current standings are brought up to
date, a **correction task** is opened for the record's furnisher — send the corrected record
within ``SOCIALCREDIT_CORRECTION_DAYS`` working days (at most 3: Fa Shi [2017] No. 7 art. 12)
— and the subject is told. The furnisher sends the corrected record as any other (its own
record id) and names it in the task (``socialcredit correction done`` or
``POST /v1/corrections/{id}/replacement``): it must be the same subject's, from that
furnisher, received after the task, and not retracted. A task is completed once; the subject
is told; one not completed in time is counted on the operator dashboard, per furnisher.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from socialcredit.errors import Conflict, Forbidden, NotFound, UsageError
from socialcredit.policy.deadlines import DEADLINES
from socialcredit.registry.audit import Reader
from socialcredit.registry.calendar import load_calendar
from socialcredit.registry.cases import queue_of
from socialcredit.registry.due_process import RecordRef, record_of
from socialcredit.registry.notices import insert_rows as insert_notices
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import corrections, ledger, subjects


@dataclass(frozen=True)
class Correction:
    id: int
    review_id: int
    subject: str
    furnisher: str
    record: str  # the retracted record, FURNISHER/RECORD_ID
    due: dt.date
    replacement: str | None  # the corrected record, once sent
    completed_by: str | None
    overdue: bool


def open_correction(
    store: Store,
    connection: sa.Connection,
    settings: Settings,
    record: RecordRef,
    review_id: int,
) -> dt.date:
    """Open the furnisher's task for a record a review retracted, inside the caller's
    transaction; returns its due date."""
    calendar = load_calendar(settings.holidays_file)
    due = DEADLINES["correction_days"].due(
        settings.today(), settings.correction_days, calendar.add_working_days
    )
    connection.execute(
        corrections.insert().values(
            review_id=review_id,
            subject_id=record.subject_key,
            record_seq=record.seq,
            furnisher=record.furnisher,
            requested_us=now_us(),
            due=due,
        )
    )
    return due


def _query() -> sa.Select[tuple[object, ...]]:
    wrong = ledger.alias("wrong")
    fixed = ledger.alias("fixed")
    return (
        sa.select(
            corrections,
            subjects.c.identifier,
            wrong.c.record_id.label("wrong_id"),
            fixed.c.record_id.label("fixed_id"),
        )
        .join(subjects, subjects.c.id == corrections.c.subject_id)
        .join(wrong, wrong.c.seq == corrections.c.record_seq)
        .outerjoin(fixed, fixed.c.seq == corrections.c.replacement_seq)
    )


def _correction(row: sa.Row[tuple[object, ...]], today: dt.date) -> Correction:
    r = row._mapping
    furnisher = str(r["furnisher"])
    return Correction(
        id=int(r["id"]),
        review_id=int(r["review_id"]),
        subject=str(r["identifier"]),
        furnisher=furnisher,
        record=f"{furnisher}/{r['wrong_id']}",
        due=r["due"],
        replacement=None if r["fixed_id"] is None else f"{furnisher}/{r['fixed_id']}",
        completed_by=r["completed_by"],
        overdue=r["replacement_seq"] is None and today > r["due"],
    )


def list_corrections(
    store: Store,
    settings: Settings,
    *,
    reader: Reader | None,
    furnisher: str | None = None,
    open_only: bool = True,
) -> list[Correction]:
    """The correction tasks (of one furnisher, or all), open ones by default, overdue first.
    A task names the subject's identifier and two record ids, nothing else (the furnisher holds
    both records already); the read is audited, one entry per subject, before the tasks are
    returned (``reader=None``: counted only, never shown)."""
    query = _query()
    if furnisher is not None:
        query = query.where(corrections.c.furnisher == furnisher)
    return queue_of(
        store,
        settings,
        "correction",
        query,
        _correction,
        reader=reader,
        purpose="corrections",
        open_only=open_only,
    )


def complete_correction(
    store: Store,
    settings: Settings,
    correction_id: int,
    *,
    replacement: str,
    by: str,
    furnisher: str | None = None,
) -> Correction:
    """The furnisher names the corrected record it sent (``FURNISHER/RECORD_ID``, or its record
    id alone); with ``furnisher`` (a furnisher's own key) only that furnisher's task may be
    completed. Once per task; the subject is told."""
    if not by.strip():
        raise UsageError("say who completed the correction (by)", field="by")
    with store.writing("ledger") as connection:
        row = connection.execute(_query().where(corrections.c.id == correction_id)).first()
        if row is None or (furnisher is not None and row.furnisher != furnisher):
            raise NotFound(f"no correction {correction_id}")
        task = _correction(row, settings.today())
        if task.replacement is not None:
            raise Conflict(
                f"correction {correction_id} was completed already with {task.replacement}"
            )
        ref = replacement if "/" in replacement else f"{task.furnisher}/{replacement}"
        if not ref.startswith(f"{task.furnisher}/"):
            raise Forbidden(f"the corrected record must come from {task.furnisher}, not {ref}")
        new = record_of(connection, task.subject, ref)
        if new.seq == int(row.record_seq):
            raise UsageError(f"{ref} is the record found wrong; name the corrected one")
        if new.recorded_us < int(row.requested_us):
            raise UsageError(
                f"{ref} was received before the correction was asked for; send the corrected "
                "record, then name it"
            )
        retracted = connection.scalar(
            sa.select(ledger.c.seq).where(
                ledger.c.entry == "event",
                ledger.c.record_seq == new.seq,
                ledger.c.event == "retracted",
            )
        )
        if retracted is not None:
            raise UsageError(f"{ref} is retracted; send the corrected record, then name it")
        connection.execute(
            corrections.update()
            .where(corrections.c.id == correction_id, corrections.c.replacement_seq.is_(None))
            .values(replacement_seq=new.seq, completed_by=by.strip(), completed_us=now_us())
        )
        insert_notices(
            store,
            connection,
            [
                (
                    int(row.subject_id),
                    now_us(),
                    "review",
                    None,
                    ref,
                    f"The record found wrong in review {task.review_id} ({task.record}) was "
                    f"corrected by {task.furnisher}: the corrected record is {ref}.",
                )
            ],
        )
        done = connection.execute(_query().where(corrections.c.id == correction_id)).one()
    return _correction(done, settings.today())
