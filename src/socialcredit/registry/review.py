"""Human review of a standing: a subject may refuse a purely automated decision (PIPL art. 24).

A request joins the operator queue with a deadline in working days (``SOCIALCREDIT_REVIEW_DAYS``,
default 15, counted on the registry's calendar); `review list --overdue` shows the late ones
first. A reviewer decides once — the standing is *confirmed*, or found wrong and *corrected*, naming
the record found wrong, which is retracted in the same transaction while its furnisher is asked
for the corrected one (registry.corrections) — with a reason the subject is told in a notice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from socialcredit.errors import Conflict, NotFound, UsageError
from socialcredit.policy.deadlines import DEADLINES
from socialcredit.registry.audit import Reader
from socialcredit.registry.calendar import load_calendar
from socialcredit.registry.cases import events_of, queue_of
from socialcredit.registry.corrections import open_correction
from socialcredit.registry.due_process import record_events, record_of, registry_event
from socialcredit.registry.notices import insert_rows as insert_notices
from socialcredit.registry.policies import scheme_ids
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import ledger, reviews, subjects

OUTCOMES = ("confirmed", "corrected")


@dataclass(frozen=True)
class Review:
    id: int
    subject: str
    scheme_id: str | None
    reason: str
    requested_us: int
    due: dt.date
    outcome: str | None
    decision_reason: str | None
    decided_by: str | None
    overdue: bool
    record: str | None = None  # corrected: the record found wrong (retracted)


def request_review(
    store: Store, settings: Settings, identifier: str, *, reason: str, scheme_id: str | None = None
) -> Review:
    if not reason.strip():
        raise UsageError("reason is required: what the subject finds wrong", field="reason")
    calendar = load_calendar(settings.holidays_file)
    today = settings.today()
    with store.writing("reviews") as connection:
        key = connection.scalar(sa.select(subjects.c.id).where(subjects.c.identifier == identifier))
        if key is None:
            raise NotFound(f"the registry holds no records about {identifier}")
        if scheme_id is not None and scheme_id not in scheme_ids(connection):
            raise NotFound(f"no published scheme {scheme_id!r}")
        due = DEADLINES["review_days"].due(today, settings.review_days, calendar.add_working_days)
        review_id = connection.execute(
            reviews.insert().values(
                subject_id=key,
                scheme_id=scheme_id,
                reason=reason.strip(),
                requested_us=now_us(),
                due=due,
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return _one(store, settings, int(review_id))


def list_reviews(
    store: Store, settings: Settings, *, reader: Reader | None, overdue_only: bool = False
) -> list[Review]:
    """Open requests, overdue first, then by deadline; with ``overdue_only`` just the late ones
    (audited: registry.cases.queue_of)."""
    return queue_of(
        store,
        settings,
        "review",
        _query(),
        _review,
        reader=reader,
        purpose="review queue",
        overdue_only=overdue_only,
    )


def decide_review(
    store: Store,
    settings: Settings,
    review_id: int,
    *,
    outcome: str,
    reason: str,
    by: str,
    record: str | None = None,
) -> Review:
    """Decide a review once, with a reason the subject is told. *Corrected* names the record
    found wrong (``FURNISHER/RECORD_ID``): in the same transaction it is retracted in the
    ledger, the subject's standings are brought up to date and its furnisher is asked for the
    corrected record (registry.corrections)."""
    if outcome not in OUTCOMES:
        raise UsageError(f"outcome must be one of {', '.join(OUTCOMES)}")
    if not reason.strip() or not by.strip():
        raise UsageError("a decision needs a reason and who decided (by)", field="reason")
    record = (record or "").strip() or None
    with store.writing("ledger" if record else "reviews") as connection:
        row = connection.execute(
            sa.select(reviews, subjects.c.identifier)
            .join(subjects, subjects.c.id == reviews.c.subject_id)
            .where(reviews.c.id == review_id)
        ).first()
        if row is None:
            raise NotFound(f"no review {review_id}")
        if row.outcome is not None:  # refused first, whatever else the decision says
            raise Conflict(
                f"review {review_id} was already decided ({row.outcome}) by {row.decided_by}; "
                "a decision is not taken twice"
            )
        if outcome == "corrected" and record is None:
            raise UsageError(
                "name the record found wrong (FURNISHER/RECORD_ID): a correction retracts it "
                "and asks its furnisher for the corrected record",
                field="record",
            )
        if outcome == "confirmed" and record is not None:
            raise UsageError("a confirmed standing changes no record: name one only to correct it")
        corrected = ""
        wrong_seq = None
        if record is not None:
            wrong = record_of(connection, str(row.identifier), record)
            if "retracted" in record_events(connection, wrong.seq):
                raise Conflict(f"record {record} is retracted already: it has no effect")
            registry_event(
                store,
                connection,
                settings,
                wrong,
                events_of("review", outcome, settings.today()),
                f"review {review_id} corrected by {by.strip()}",
            )
            due = open_correction(store, connection, settings, wrong, review_id)
            wrong_seq = wrong.seq
            corrected = (
                f" Record {record} was found wrong and retracted: it has no effect. "
                f"{wrong.furnisher} is to send the corrected record by {due.isoformat()}."
            )
        connection.execute(
            reviews.update()
            .where(reviews.c.id == review_id)
            .values(
                outcome=outcome,
                decision_reason=reason.strip(),
                decided_by=by.strip(),
                decided_us=now_us(),
                record_seq=wrong_seq,
            )
        )
        what = f"your standing under {row.scheme_id}" if row.scheme_id else "your standings"
        insert_notices(
            store,
            connection,
            [
                (
                    int(row.subject_id),
                    now_us(),
                    "review",
                    row.scheme_id,
                    f"review {review_id}",
                    f"A person reviewed {what} as you asked (review {review_id}): {outcome}. "
                    f"Reason: {reason.strip()}{corrected}",
                )
            ],
        )
    return _one(store, settings, review_id)


def _query() -> sa.Select[tuple[object, ...]]:
    return (
        sa.select(reviews, subjects.c.identifier, ledger.c.furnisher, ledger.c.record_id)
        .join(subjects, subjects.c.id == reviews.c.subject_id)
        .outerjoin(ledger, ledger.c.seq == reviews.c.record_seq)
    )


def _one(store: Store, settings: Settings, review_id: int) -> Review:
    with store.reading() as connection:
        row = connection.execute(_query().where(reviews.c.id == review_id)).one()
    return _review(row, settings.today())


def _review(row: sa.Row[tuple[object, ...]], today: dt.date) -> Review:
    r = row._mapping
    return Review(
        id=int(r["id"]),
        subject=str(r["identifier"]),
        scheme_id=r["scheme_id"],
        reason=str(r["reason"]),
        requested_us=int(r["requested_us"]),
        due=r["due"],
        outcome=r["outcome"],
        decision_reason=r["decision_reason"],
        decided_by=r["decided_by"],
        overdue=r["outcome"] is None and today > r["due"],
        record=None if r["record_id"] is None else f"{r['furnisher']}/{r['record_id']}",
    )
