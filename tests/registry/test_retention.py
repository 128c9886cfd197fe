"""Retention that erases (issue #15 item 3), on SQLite and PostgreSQL with frozen clocks: after
its retention period a record's personal content is gone from every table, the export and the
report; ``verify`` still passes and still finds an edit of an erased entry; the same file
furnished again does not bring it back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from socialcredit.policy.loader import parse_catalogue
from socialcredit.registry.audit import Reader
from socialcredit.registry.chain import GENESIS, entry_hash
from socialcredit.registry.due_process import decide_objection, file_objection
from socialcredit.registry.export import export_ledger
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.ledger import (
    WITH_SUBJECTS,
    content_columns,
    erased_record_id,
    verify,
)
from socialcredit.registry.reports import report_data
from socialcredit.registry.retention import RETENTION_BASIS, plan, run
from socialcredit.registry.review import request_review
from socialcredit.registry.standings.batch import evaluate_registry
from socialcredit.registry.standings.online import subject_key
from socialcredit.registry.verify import verify_all
from socialcredit.semantics.fields import ERASED, RESERVED_ID, reason_text
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import (
    batches,
    chain_heads,
    ledger,
    metadata,
    snapshot_standings,
)

from .conftest import ALICE, BOB, EVENT_HEADER, write_csv

CLERK = Reader("clerk", "operator", "retention test")
NAME = "王小明"
AMOUNT = "12345.67"
REASON = "我已于五月全部履行完毕"  # the subject's own words in an objection
OLD, NEW = "(2023)鲁1082执987号", "(2026)鲁1082执5号"


def _as_before_0013(store: Store) -> None:
    """Make every entry so far what a store from before migration 0013 holds: v2 entries that
    chain their content itself (no salt, no digest, no decision day), v3 from the next."""
    with store.engine.begin() as connection:
        rows = connection.execute(
            sa.select(*content_columns()).select_from(WITH_SUBJECTS).order_by(ledger.c.seq)
        ).all()
        previous = GENESIS
        for row in rows:
            previous = entry_hash(previous, tuple(row), v2_from=1)
            connection.execute(
                ledger.update()
                .where(ledger.c.seq == row.seq)
                .values(hash=previous, salt=None, personal=None, decided_on=None)
            )
        connection.execute(
            batches.update().values(
                last_hash=sa.select(ledger.c.hash)
                .where(ledger.c.seq == batches.c.last_seq)
                .scalar_subquery()
            )
        )
        connection.execute(
            chain_heads.update()
            .where(chain_heads.c.chain == "ledger")
            .values(hash=previous, v3_from=int(rows[-1].seq) + 1)
        )
    assert verify(store).problem is None


def _fill(store: Store, settings: Settings, tmp_path: Path, *, old: bool = False) -> Path:
    """Alice: a 2023 judgment default, objected to (rejected) and fulfilled that year; Bob: a
    recent one. ``old``: the records and the fulfilment are in v2 entries, from before
    migration 0013. Returns the records file (to send it again)."""
    records = write_csv(
        tmp_path / "records.csv",
        ("record_id", "subject_id", "code", "occurred_on", "amount", "subject_name"),
        [
            (OLD, ALICE, "court.judgment_default", "2023-03-01", AMOUNT, NAME),
            (NEW, BOB, "court.judgment_default", "2026-11-02", "100", "李四"),
        ],
    )
    report = ingest_records(store, records, settings=settings, furnisher_id="court")
    assert report.accepted == 2, report.rejections
    events = write_csv(tmp_path / "events.csv", EVENT_HEADER, [(OLD, "fulfilled", "2023-06-01")])
    if old:
        assert ingest_events(store, events, settings=settings, furnisher_id="court").accepted == 1
        _as_before_0013(store)
    case = file_objection(store, settings, ALICE, f"court/{OLD}", reason=REASON)
    decide_objection(store, settings, case.id, uphold=False, reason="判决书属实", by="clerk")
    request_review(store, settings, ALICE, reason=f"记录 {OLD} 不应计入", scheme_id=None)
    if not old:
        assert ingest_events(store, events, settings=settings, furnisher_id="court").accepted == 1
    return records


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(4, tzinfo=dt.UTC))  # noon in Beijing


def _erase_day(store: Store, settings: Settings) -> dt.date:
    """The day Alice's record is due for erasure (seen from far ahead)."""
    with time_machine.travel(_noon(dt.date(2045, 1, 2)), tick=False):
        [due] = [d for d in plan(store, settings).due if d.record_id == OLD]
    return due.erase_on


def _everything(store: Store) -> dict[str, str]:
    """Every table's rows, as text, by table."""
    found = {}
    with store.reading() as connection:
        for table in metadata.sorted_tables:
            rows = connection.execute(sa.select(table)).all()
            found[table.name] = "\n".join(repr(tuple(row)) for row in rows)
    return found


def _where(haystack: dict[str, str], needle: str) -> list[str]:
    return sorted(name for name, text in haystack.items() if needle in text)


@pytest.mark.parametrize("old", [False, True], ids=["v3", "before-0013"])
def test_after_its_retention_a_record_is_erased_everywhere_and_the_ledger_still_verifies(
    store: Store, settings: Settings, tmp_path: Path, old: bool
) -> None:
    """Also for a record whose entries were written before migration 0013 (v2, chaining
    their content): erased under a seal, with the registry's later (v3) events on it."""
    records = _fill(store, settings, tmp_path, old=old)
    # A kept snapshot of a day the record counted (derived data, recomputable from the ledger).
    evaluate_registry(store, settings, "spc-defaulters", as_of=dt.date(2023, 4, 1))
    with store.reading() as connection:
        key = subject_key(connection, ALICE)
        held = sa.select(sa.func.count()).where(snapshot_standings.c.subject_id == key)
        assert connection.scalar(held) == 1
    before = _everything(store)
    assert _where(before, OLD) and _where(before, NAME) and _where(before, REASON)
    # Not yet: today the 2023 record is within its five years after its effect.
    assert plan(store, settings).due == []
    erase_day = _erase_day(store, settings)
    # The subject's report says, before, until when the record is kept and under which rule.
    with store.reading() as connection:
        alice = subject_key(connection, ALICE)
    assert alice is not None
    [shown] = [
        r for r in report_data(store, settings, alice, None)["records"] if r["record_id"] == OLD
    ]
    assert shown["erasure"] == {"on": erase_day.isoformat(), "basis": RETENTION_BASIS}
    # It stopped having effect on its fulfilment (2023-06-01) in every scheme but those whose
    # score rules run on; its retention is five years from the latest of them.
    assert dt.date(2028, 6, 1) <= erase_day <= dt.date(2033, 3, 1)
    with time_machine.travel(_noon(erase_day - dt.timedelta(days=1)), tick=False):
        assert plan(store, settings).due == []  # not a day before

    with time_machine.travel(_noon(erase_day), tick=False):
        settings_then = settings.model_copy()
        done = run(store, settings_then)
        assert (done.erased, done.subjects, done.subjects_cleared) == (1, 1, 1)
        assert done.held == []
        # Idempotent: nothing is left to erase.
        again = run(store, settings_then)
        assert again.erased == 0

        after = _everything(store)
        # The personal content is gone from every table...
        for needle in (OLD, NAME, AMOUNT, REASON):
            assert _where(after, needle) == [], needle
        # ...the identifier is left only as the audit log's key, linked to nothing erased.
        assert _where(after, ALICE) == ["subjects"]
        with store.reading() as connection:
            assert connection.scalar(held) == 0
        # Bob's recent record is untouched.
        assert _where(after, NEW) == _where(before, NEW)
        if store.dialect == "sqlite":  # byte by byte, in the database file itself
            raw = Path(store.engine.url.database or "").read_bytes()
            for needle in (OLD, NAME, AMOUNT, REASON):
                assert needle.encode() not in raw, needle
            wal = Path(f"{store.engine.url.database}-wal")
            assert not wal.exists() or not any(
                n.encode() in wal.read_bytes() for n in (OLD, NAME, REASON)
            )

        # The chain still verifies, and so does every other check of verify.
        assert verify(store).problem is None
        assert verify_all(store, settings_then).intact

        # The export and the report hold none of it; the report says what was erased.
        exported = export_ledger(store, tmp_path / "export", reader=CLERK)
        for path in exported.folder.rglob("*"):
            if path.is_file():
                blob = path.read_bytes()
                assert OLD.encode() not in blob and ALICE.encode() not in blob
        with store.reading() as connection:
            key = subject_key(connection, ALICE)
        assert key is not None
        data = report_data(store, settings_then, key, None)
        text = json.dumps(data, ensure_ascii=False)
        for needle in (OLD, NAME, AMOUNT, REASON):
            assert needle not in text
        assert data["records"] == []
        [erased] = data["erased"]
        assert f"erased on {erase_day.isoformat()} under" in erased and "art. 16" in erased
        assert erased in data["summary"]

        # The same file furnished again is a repeat of its batch and brings nothing back; the
        # record in another file is refused, row by row, and the file's other rows are kept.
        report = ingest_records(store, records, settings=settings_then, furnisher_id="court")
        assert report.accepted == 0 and report.rejections == []
        resent = write_csv(
            tmp_path / "resent.csv",
            ("record_id", "subject_id", "code", "occurred_on", "amount", "subject_name"),
            [
                ("(2028)鲁1082执1号", BOB, "court.judgment_default", "2028-01-02", "5", "李四"),
                (OLD, ALICE, "court.judgment_default", "2023-03-01", AMOUNT, NAME),
            ],
        )
        report = ingest_records(store, resent, settings=settings_then, furnisher_id="court")
        assert report.accepted == 1, report.rejections
        [refused] = report.rejections
        assert refused.row == 2
        assert refused.problem == ERASED
        catalogue = parse_catalogue(
            (Path(__file__).parents[2] / "src/socialcredit/data/catalogue.yaml").read_text()
        )
        kinds = {c.id: tuple(c.subjects) for c in catalogue.codes.values()}
        assert f"was erased on {erase_day.isoformat()}" in reason_text(refused, kind_subjects=kinds)
        assert _where(_everything(store), OLD) == []
        # An event for it is refused as erased, not as unknown.
        late = write_csv(tmp_path / "late.csv", EVENT_HEADER, [(OLD, "fulfilled", "2023-06-02")])
        report = ingest_events(store, late, settings=settings_then, furnisher_id="court")
        assert [r.problem for r in report.rejections] == [ERASED]


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE ledger SET code = 'court.arrears' WHERE seq = {seq}",
        "UPDATE ledger SET personal = '{zeros}' WHERE seq = {seq}",
        "UPDATE ledger SET occurred_on = '2019-01-01' WHERE seq = {seq}",
    ],
)
def test_an_edit_of_an_erased_entry_is_still_found(
    store: Store, settings: Settings, tmp_path: Path, tamper: str
) -> None:
    _fill(store, settings, tmp_path)
    with time_machine.travel(_noon(_erase_day(store, settings)), tick=False):
        assert run(store, settings).erased == 1
        with store.reading() as connection:
            seq = connection.scalar(
                sa.select(ledger.c.seq)
                .where(ledger.c.record_id == erased_record_id(1))
                .order_by(ledger.c.seq)
                .limit(1)
            )
        assert seq == 1
        with store.engine.begin() as connection:
            connection.execute(sa.text(tamper.format(seq=seq, zeros="0" * 64)))
        result = verify(store)
        assert result.problem is not None and result.seq == seq


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE ledger SET code = 'court.arrears' WHERE seq = 2",  # what stays of the record
        "UPDATE ledger SET event_date = '2023-07-01' WHERE seq = 3",  # ...and of its event
        "UPDATE ledger SET hash = '{zeros}' WHERE seq = 3",  # the sealed hash
        "EDIT BEFORE",  # the entry before it, edited and its hash recomputed to match
        "UPDATE ledger SET personal = '{zeros}' WHERE event = 'erased'",  # the seal itself
    ],
)
def test_an_edit_of_an_entry_erased_from_before_migration_0013_is_still_found(
    store: Store, settings: Settings, tmp_path: Path, tamper: str
) -> None:
    """A v2 entry cannot be recomputed once its content is gone: its seal, in the erased
    event, covers what stays, its hash and the hash before it."""
    records = write_csv(
        tmp_path / "records.csv",
        ("record_id", "subject_id", "code", "occurred_on", "amount", "subject_name"),
        [
            ("b-1", BOB, "court.judgment_default", "2026-10-01", "7", "李四"),
            (OLD, ALICE, "court.judgment_default", "2023-03-01", AMOUNT, NAME),
        ],
    )  # Bob's entry is not the last of its batch: only the seal binds it to Alice's
    assert ingest_records(store, records, settings=settings, furnisher_id="court").accepted == 2
    events = write_csv(tmp_path / "events.csv", EVENT_HEADER, [(OLD, "fulfilled", "2023-06-01")])
    assert ingest_events(store, events, settings=settings, furnisher_id="court").accepted == 1
    _as_before_0013(store)  # seq 1 Bob's record, 2 Alice's, 3 its fulfilment
    with time_machine.travel(_noon(_erase_day(store, settings)), tick=False):
        assert run(store, settings).erased == 1
        assert verify(store).problem is None
        with store.engine.begin() as connection:
            if tamper == "EDIT BEFORE":
                connection.execute(sa.text("UPDATE ledger SET amount = '8' WHERE seq = 1"))
                row = connection.execute(
                    sa.select(*content_columns())
                    .select_from(WITH_SUBJECTS)
                    .where(ledger.c.seq == 1)
                ).one()
                connection.execute(
                    ledger.update()
                    .where(ledger.c.seq == 1)
                    .values(hash=entry_hash(GENESIS, tuple(row), v2_from=1))
                )
            else:
                connection.execute(sa.text(tamper.format(zeros="0" * 64)))
        result = verify(store)
        assert result.problem is not None, tamper


def test_a_furnisher_cannot_take_an_erased_records_placeholder(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """A hostile furnisher that sent a record under a future placeholder id would make the
    erasure of that entry fail on the unique key (a denial of erasure): ids beginning with
    '~' are refused, row by row."""
    records = write_csv(
        tmp_path / "hostile.csv",
        ("record_id", "subject_id", "code", "occurred_on", "amount"),
        [
            (erased_record_id(5), BOB, "court.judgment_default", "2026-11-02", "1"),
            ("ok", BOB, "court.judgment_default", "2026-11-02", "1"),
        ],
    )
    report = ingest_records(store, records, settings=settings, furnisher_id="court")
    assert report.accepted == 1
    [refused] = report.rejections
    assert (refused.row, refused.field, refused.problem) == (1, "record_id", RESERVED_ID)
    assert "begins with '~'" in reason_text(refused, kind_subjects={})


def test_content_blanked_outside_an_erasure_is_found(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """An insider who blanks a record to hide it (as an erasure would) is found: no erased
    event follows; one who puts the content back into an erased entry is found too."""
    _fill(store, settings, tmp_path)
    with store.engine.begin() as connection:
        connection.execute(
            sa.text(
                f"UPDATE ledger SET record_id = '{erased_record_id(2)}', subject_id = 0, "
                "amount = NULL, salt = NULL WHERE seq = 2"
            )
        )
    result = verify(store)
    assert result.problem is not None and "no erased event" in result.problem


def test_an_open_case_holds_an_erasure_and_a_retracted_record_goes_after_its_objection_period(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    records = write_csv(
        tmp_path / "records.csv",
        ("record_id", "subject_id", "code", "occurred_on", "amount"),
        [("wrong", BOB, "court.judgment_default", "2026-11-02", "1")],
    )
    ingest_records(store, records, settings=settings, furnisher_id="court")
    case = file_objection(store, settings, BOB, "court/wrong", reason="not mine")
    # Held while the objection is open, however long ago.
    with time_machine.travel(dt.datetime(2040, 1, 2, 12, tzinfo=dt.UTC), tick=False):
        found = plan(store, settings)
        assert found.due == [] and found.held == [(1, f"open objection {case.id}")]
    decide_objection(store, settings, case.id, uphold=True, reason="wrong person", by="clerk")
    # Retracted today: erased once the objection period for the retraction is over.
    assert plan(store, settings).due == []
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=40), tick=False):
        [due] = plan(store, settings).due
        assert due.record_seq == 1 and "retracted" in due.basis
        assert run(store, settings).erased == 1
        assert verify(store).problem is None
