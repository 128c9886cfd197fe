"""Retention that erases (issue #15 item 3): a record's personal content is kept for its code's
retention period after the record stops having effect in every scheme in force, then erased.

**When.** A record stops having effect on the latest exclusive end it has, or could still
have, under any score rule or code list of a scheme in force (:func:`last_effect`): its end,
or an earlier repair or fulfilment; an extendable list counts with its extension cap (an
extension may still come), a delayed list with its delay. A record that no scheme counts stops
on its ``occurred_on``. Its retention (the code's ``retention``, five years by default: the
Regulation on the Administration of the Credit Reporting Industry art. 16) runs from that
day. A retracted record is erased once the objection period for the retraction is over
(``SOCIALCREDIT_OBJECTION_DAYS`` working days from the day it was retracted). A record with an
open objection, repair application or correction is held until the case is decided.

**What.** In one transaction per furnisher and chunk (:func:`run`): an ``erased`` event on
each record (a registry event, chained like every other); the record's entries and its
events blanked — record id ``~erased:SEQ``, subject key 0, amount and salt gone, the digest
kept (registry.ledger: v3 entries) so ``verify`` still passes and still finds every other
edit; the record's key digest in ``erasures``, so that the same record furnished again is
refused; the free text and subject link of its cases; every notice that names it; the
subject's name and region once no entry about it is left; the subject's current standings;
and a notice to the subject that a record was erased, on which day and under which rule
(what its report shows). What is kept: the identifier in ``subjects`` (the audit log's key:
who read whose data) and, on the blanked entries, the furnisher, code and dates, which no
longer name anyone.

Entries written before migration 0013 (v1/v2) chain their content itself. Each is checked
against its hash first (one that does not match is held, for ``verify`` to name), then
blanked the same way under a seal (registry.chain) that the ``erased`` event records, so what
is left of it, its hash and its link to the entry before are still covered by the chain.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa

from socialcredit.policy.deadlines import DEADLINES
from socialcredit.policy.model import Catalogue, Duration, Scheme
from socialcredit.registry.calendar import WorkCalendar, load_calendar
from socialcredit.registry.chain import GENESIS, anchored_head, entry_hash, seal
from socialcredit.registry.ledger import (
    ERASED_SUBJECT,
    EVENT_ROW,
    SEALED_FIELDS,
    V1_FIELDS,
    WITH_SUBJECTS,
    BatchMeta,
    BatchWriter,
    content_columns,
    erased_record_id,
    event_constants,
    key_digest,
    rest_text,
    seals_digest,
)
from socialcredit.registry.notices import insert_rows as insert_notices
from socialcredit.registry.policies import catalogue_at, schemes_in_force
from socialcredit.registry.standings.current import write_current
from socialcredit.registry.standings.online import load_subject
from socialcredit.semantics.fields import Record
from socialcredit.semantics.reference import (
    _Dates,
    _event_dates,
    effect_end,
    list_window,
)
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import (
    batches,
    corrections,
    erasures,
    ledger,
    notices,
    objections,
    repairs,
    reviews,
    snapshot_standings,
    snapshots,
    subjects,
)

DEFAULT_RETENTION = Duration(5, "years")
RETENTION_BASIS = (
    "Regulation on the Administration of the Credit Reporting Industry (State Council Decree "
    "No. 631) art. 16"
)
RETRACTED_BASIS = "retracted; erased after the objection period for the retraction"
CHUNK = 500


def retention_of(catalogue: Catalogue, code: str) -> Duration:
    found = catalogue.codes.get(code)
    return found.retention if found is not None and found.retention else DEFAULT_RETENTION


def last_effect(record: Record, dates: _Dates, schemes: Iterable[Scheme]) -> dt.date:
    """The latest exclusive end of the record's effect under any of these schemes — counting
    an extendable list at its extension cap — or its ``occurred_on`` when none counts it."""
    ends = [record.occurred_on]
    for scheme in schemes:
        if record.kind not in scheme.subjects:
            continue
        # rule 9: before min_age a record counts as retracted (retracted ones are not asked)
        adult = scheme.scope.adult_from(record.subject_id, record.kind)
        if adult is not None and record.occurred_on < adult:
            continue
        for rule in scheme.score.rules if scheme.score else ():
            if rule.code == record.code and rule.covers(record.occurred_on):
                ends_on = rule.ends_on_fulfilment
                ends.append(effect_end(record, rule.valid, dates, ends_on_fulfilment=ends_on))
        for lst in scheme.code_lists:
            if (
                record.code not in lst.codes
                or (lst.min_amount is not None and record.amount < lst.min_amount)
                or not lst.covers(record.occurred_on)
            ):
                continue
            latest = dataclasses.replace(dates, extended=dt.date.max) if lst.extendable else dates
            window = list_window(record, lst, latest)
            if window is not None and window[0] < window[1]:
                ends.append(window[1])
    return max(ends)


@dataclass(frozen=True)
class Due:
    record_seq: int
    furnisher: str
    record_id: str
    subject_key: int
    erase_on: dt.date
    basis: str
    stops: dt.date  # the first day it had no effect (retracted: the day it was retracted)


@dataclass
class Plan:
    """What an erasure run finds on ``day``."""

    day: dt.date
    due: list[Due] = field(default_factory=list)
    held: list[tuple[int, str]] = field(default_factory=list)  # (record seq, why)


@dataclass(frozen=True)
class ErasureRun:
    day: dt.date
    erased: int
    held: list[tuple[int, str]]
    subjects: int  # subjects with a record erased
    subjects_cleared: int  # of them, those with no entry left (name and region erased)


def _shortest_days(catalogue: Catalogue) -> int:
    """The fewest days any code's retention can last (a month counts 28, a year 365)."""
    lengths = [retention_of(catalogue, code) for code in catalogue.codes] or [DEFAULT_RETENTION]
    per_unit = {"days": 1, "months": 28, "years": 365}
    return min(d.n * per_unit[d.unit] for d in lengths)


def _day_of(settings: Settings, us: int) -> dt.date:
    return settings.today(dt.datetime.fromtimestamp(us / 1e6, dt.UTC))


def erasure_day(
    record: Record,
    dates: _Dates,
    retracted_us: int | None,
    schemes: Iterable[Scheme],
    catalogue: Catalogue,
    settings: Settings,
    calendar: WorkCalendar,
) -> tuple[dt.date, str, dt.date]:
    """(the day the record's personal content is erased, under which rule, the first day it
    had no effect). ``retracted_us``: when its retraction was recorded, if it is retracted."""
    if dates.retracted and retracted_us is not None:
        stops = _day_of(settings, retracted_us)
        objection_due = DEADLINES["objection_days"].due(
            stops, settings.objection_days, calendar.add_working_days
        )
        return objection_due + dt.timedelta(days=1), RETRACTED_BASIS, stops
    stops = last_effect(record, dates, schemes)
    code = catalogue.codes.get(record.code)
    basis = code.legal_basis if code is not None and code.retention else RETENTION_BASIS
    return retention_of(catalogue, record.code).after(stops), basis, stops


def plan(store: Store, settings: Settings, *, day: dt.date | None = None) -> Plan:
    """The records whose retention has ended by ``day`` (default today), and those of them
    held by an open case."""
    day = day or settings.today()
    found = Plan(day)
    calendar = load_calendar(settings.holidays_file)
    with store.reading() as connection:
        catalogue = catalogue_at(connection)
        schemes = [a.scheme for a in schemes_in_force(connection, as_of=day, known_us=now_us())]
        cut = day - dt.timedelta(days=_shortest_days(catalogue))
        retracted = sa.select(ledger.c.record_seq).where(
            ledger.c.entry == "event", ledger.c.event == "retracted"
        )
        keys = connection.scalars(
            sa.select(ledger.c.subject_id)
            .where(
                ledger.c.entry == "record",
                ledger.c.subject_id != ERASED_SUBJECT,
                sa.or_(ledger.c.occurred_on <= cut, ledger.c.seq.in_(retracted)),
            )
            .distinct()
            .order_by(ledger.c.subject_id)
        ).all()
        open_cases = _open_cases(connection)
        for key in keys:
            facts = load_subject(connection, int(key))
            dates = _event_dates(facts.events)
            retractions = {
                (e.furnisher, e.record_id): e.recorded_us
                for e in sorted(facts.events, key=lambda e: -e.recorded_us)
                if e.event == "retracted"
            }
            for record in facts.records:
                ref = (record.furnisher, record.record_id)
                erase_on, basis, stops = erasure_day(
                    record,
                    dates.get(ref, _Dates()),
                    retractions.get(ref),
                    schemes,
                    catalogue,
                    settings,
                    calendar,
                )
                if erase_on > day:
                    continue
                seq = int(record.row)
                if seq in open_cases:
                    found.held.append((seq, open_cases[seq]))
                else:
                    found.due.append(
                        Due(
                            seq,
                            record.furnisher,
                            record.record_id,
                            int(key),
                            erase_on,
                            basis,
                            stops,
                        )
                    )
    return found


def _open_cases(connection: sa.Connection) -> dict[int, str]:
    """Record seq -> the open case that holds its erasure."""
    held: dict[int, str] = {}
    for table, label in ((objections, "objection"), (repairs, "repair application")):
        for row in connection.execute(
            sa.select(table.c.id, table.c.record_seq).where(table.c.outcome.is_(None))
        ):
            held.setdefault(int(row.record_seq), f"open {label} {row.id}")
    for row in connection.execute(
        sa.select(corrections.c.id, corrections.c.record_seq).where(
            corrections.c.completed_us.is_(None)
        )
    ):
        held.setdefault(int(row.record_seq), f"open correction {row.id}")
    return held


def run(
    store: Store,
    settings: Settings,
    *,
    day: dt.date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ErasureRun:
    """Erase every record whose retention has ended (see the module's doc). Idempotent: an
    erased record is not found again."""
    found = plan(store, settings, day=day)
    by_furnisher: dict[str, list[Due]] = defaultdict(list)
    for due in found.due:
        by_furnisher[due.furnisher].append(due)
    done, cleared = 0, 0
    touched: set[int] = set()
    held = list(found.held)
    for furnisher, items in sorted(by_furnisher.items()):
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            erased, gone = _erase(store, settings, found.day, furnisher, chunk, held)
            done, cleared = done + len(erased), cleared + gone
            touched.update(d.subject_key for d in erased)
            if progress is not None:
                progress(done, len(found.due))
    if done and store.dialect == "sqlite":
        # The pages as they were before erasure leave the write-ahead log too.
        with store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return ErasureRun(found.day, done, held, len(touched), cleared)


def _seals(
    connection: sa.Connection, records: list[int], held: list[tuple[int, str]]
) -> dict[int, str]:
    """For these records' entries from before migration 0013 (v1/v2): each entry checked
    against its hash, then the records' seals digest (registry.ledger.seals_digest). A record
    with an entry that does not match is left out and put in ``held``."""
    heads = anchored_head(connection, "ledger")
    old = [r for r in records if r < heads.v3_from]
    if not old:
        return {}
    rows = connection.execute(
        sa.select(*content_columns(), ledger.c.hash)
        .select_from(WITH_SUBJECTS)
        .where(
            ledger.c.seq < heads.v3_from,
            sa.or_(ledger.c.seq.in_(old), ledger.c.record_seq.in_(old)),
        )
        .order_by(ledger.c.seq)
    ).all()
    before = dict(
        connection.execute(
            sa.select(ledger.c.seq, ledger.c.hash).where(
                ledger.c.seq.in_([int(r.seq) - 1 for r in rows])
            )
        ).all()
    )
    seals: dict[int, list[str]] = defaultdict(list)
    broken: dict[int, int] = {}
    for row in rows:
        seq = int(row.seq)
        record = seq if row.entry == "record" else int(row.record_seq)
        previous = GENESIS if seq == 1 else str(before[seq - 1])
        fields = tuple(row)[:-1]
        if entry_hash(previous, fields, v2_from=heads.v2_from, v1_fields=V1_FIELDS) != row.hash:
            broken.setdefault(record, seq)
        seals[record].append(seal(previous, [fields[i] for i in SEALED_FIELDS], str(row.hash)))
    for record, seq in sorted(broken.items()):
        held.append((record, f"its entry {seq} does not match its hash (run verify)"))
    return {r: seals_digest(s) for r, s in seals.items() if r not in broken}


def _erase(
    store: Store,
    settings: Settings,
    day: dt.date,
    furnisher: str,
    chunk: list[Due],
    held: list[tuple[int, str]],
) -> tuple[list[Due], int]:
    """One transaction: erase these records of one furnisher. Returns those it erased (not
    those another run erased first, nor those whose old entries do not match their hash: they
    go into ``held``) and how many of their subjects have no entry left."""
    seqs = [d.record_seq for d in chunk]
    erased_text = (
        f"[erased on {day.isoformat()}: this notice named a record whose retention period ended]"
    )
    with store.writing("ledger") as connection:
        # Another run may have erased some since the plan: only those still there.
        present = set(
            connection.scalars(
                sa.select(ledger.c.seq).where(
                    ledger.c.seq.in_(seqs), ledger.c.subject_id != ERASED_SUBJECT
                )
            )
        )
        chunk = [d for d in chunk if d.record_seq in present]
        sealing = _seals(connection, [d.record_seq for d in chunk], held)
        v3_from = anchored_head(connection, "ledger").v3_from
        chunk = [d for d in chunk if d.record_seq >= v3_from or d.record_seq in sealing]
        if not chunk:
            return [], 0
        seqs = [d.record_seq for d in chunk]
        digest = hashlib.sha256(f"erasure|{','.join(map(str, seqs))}".encode()).hexdigest()
        writer = BatchWriter(
            store,
            connection,
            BatchMeta(
                furnisher=furnisher,
                kind="decision",
                file_name=f"erasure on {day.isoformat()}",
                digest=digest,
                rows_read=len(chunk),
                accepted=len(chunk),
                noop=0,
                rejected=0,
            ),
        )
        rows = []
        for due in chunk:
            placeholder = erased_record_id(due.record_seq)
            salt, personal, rest = rest_text(
                sealing.get(due.record_seq),
                entry="event",
                furnisher=furnisher,
                record_id=placeholder,
                event="erased",
                event_date=day.isoformat(),
                record_seq=due.record_seq,
            )
            rows.append(
                (placeholder, ERASED_SUBJECT, "erased", day, due.record_seq, salt, personal, rest)
            )
        writer.append(EVENT_ROW, event_constants(furnisher), [rows])
        writer.close(standings_done=True)
        # The registry's decisions on these records are batches named after the case and the
        # subject: their names go too.
        decided = connection.scalars(
            sa.select(ledger.c.batch_id)
            .where(ledger.c.entry == "event", ledger.c.record_seq.in_(seqs))
            .distinct()
        ).all()
        connection.execute(
            batches.update()
            .where(
                batches.c.id.in_(decided),
                batches.c.kind == "decision",
                batches.c.id != writer.batch_id,
            )
            .values(file_name=f"decision on a record erased on {day.isoformat()}")
        )
        blanks = [{"s": d.record_seq, "r": erased_record_id(d.record_seq)} for d in chunk]
        blank = {"record_id": sa.bindparam("r"), "subject_id": ERASED_SUBJECT, "salt": None}
        connection.execute(
            ledger.update().where(ledger.c.seq == sa.bindparam("s")).values(**blank, amount=None),
            blanks,
        )
        connection.execute(
            ledger.update()
            .where(
                ledger.c.entry == "event",
                ledger.c.record_seq == sa.bindparam("s"),
                ledger.c.event != "erased",
            )
            .values(**blank),
            blanks,
        )
        store.bulk_insert(
            connection,
            erasures,
            ("record_seq", "furnisher", "key_digest", "erased_on", "basis", "erased_us"),
            [
                (
                    d.record_seq,
                    furnisher,
                    key_digest(furnisher, d.record_id),
                    day,
                    d.basis,
                    now_us(),
                )
                for d in chunk
            ],
        )
        _erase_cases(connection, seqs, f"[erased on {day.isoformat()}]")
        # Kept snapshots are derived (any can be recomputed from the ledger): the subject's rows
        # from the days the record may have counted go.
        if connection.scalar(sa.select(snapshots.c.id).limit(1)) is not None:
            connection.execute(
                snapshot_standings.delete().where(
                    snapshot_standings.c.subject_id == sa.bindparam("k"),
                    snapshot_standings.c.snapshot_id.in_(
                        sa.select(snapshots.c.id).where(snapshots.c.as_of < sa.bindparam("d"))
                    ),
                ),
                [{"k": d.subject_key, "d": d.stops} for d in chunk],
            )
        keys = sorted({d.subject_key for d in chunk})
        _erase_notices(connection, chunk, erased_text)
        insert_notices(
            store,
            connection,
            [
                (
                    key,
                    now_us(),
                    "erased",
                    None,
                    None,
                    f"{n} record{'s' if n > 1 else ''} about you "
                    f"{'were' if n > 1 else 'was'} erased on {day.isoformat()} under {basis}: "
                    "its retention period ended. The registry no longer holds its content.",
                )
                for (key, basis), n in sorted(_count_by(chunk).items())
            ],
        )
        left = set(
            connection.scalars(
                sa.select(ledger.c.subject_id).where(ledger.c.subject_id.in_(keys)).distinct()
            )
        )
        gone = [k for k in keys if k not in left]
        if gone:
            connection.execute(
                subjects.update().where(subjects.c.id.in_(gone)).values(name=None, region=None)
            )
        # An erased record had no effect left (its retention ran after its effect ended; a
        # retracted one had none at all), so the other subjects' standings are as they were;
        # those with nothing left lose theirs.
        write_current(store, connection, settings, gone)
    return chunk, len(gone)


def _count_by(chunk: list[Due]) -> dict[tuple[int, str], int]:
    counts: dict[tuple[int, str], int] = defaultdict(int)
    for due in chunk:
        counts[(due.subject_key, due.basis)] += 1
    return counts


def _erase_cases(connection: sa.Connection, seqs: list[int], text: str) -> None:
    """The free text and subject link of every case on these records."""
    for table, columns in (
        (objections, ("reason", "decision_reason")),
        (repairs, ("evidence", "decision_reason")),
        (reviews, ("reason", "decision_reason")),
    ):
        values: dict[str, object] = {"subject_id": ERASED_SUBJECT}
        values.update({c: sa.case((table.c[c].is_(None), None), else_=text) for c in columns})
        if table is reviews:
            values["reason"] = text  # not null
        connection.execute(table.update().where(table.c.record_seq.in_(seqs)).values(**values))
    connection.execute(
        corrections.update()
        .where(sa.or_(corrections.c.record_seq.in_(seqs), corrections.c.replacement_seq.in_(seqs)))
        .values(subject_id=ERASED_SUBJECT)
    )


def _erase_notices(connection: sa.Connection, chunk: list[Due], text: str) -> None:
    """Every notice to these subjects that names one of these records (in its ref or its
    text) loses its text and ref; a review's text that names one loses that text."""
    by_subject: dict[int, list[Due]] = defaultdict(list)
    for due in chunk:
        by_subject[due.subject_key].append(due)
    for key, items in by_subject.items():
        refs = {f"{d.furnisher}/{d.record_id}" for d in items}
        pattern = re.compile(
            "|".join(rf"(?<![\w-]){re.escape(d.record_id)}(?![\w-])" for d in items)
        )
        for row in connection.execute(
            sa.select(notices.c.id, notices.c.ref, notices.c.text).where(
                notices.c.subject_id == key
            )
        ):
            named = set((row.ref or "").split()) & refs
            if named or pattern.search(row.text or ""):
                connection.execute(
                    notices.update().where(notices.c.id == row.id).values(ref=None, text=text)
                )
        # A review's free text that names one of them (a review is about a whole standing).
        for row in connection.execute(
            sa.select(reviews.c.id, reviews.c.reason, reviews.c.decision_reason).where(
                reviews.c.subject_id == key
            )
        ):
            values = {
                column: text
                for column in ("reason", "decision_reason")
                if pattern.search(getattr(row, column) or "")
            }
            if values:
                connection.execute(reviews.update().where(reviews.c.id == row.id).values(**values))
