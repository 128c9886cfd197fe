"""A review that finds a record wrong corrects it (issue #15): the record is retracted in the
decision's transaction and its furnisher is asked for the corrected one, tracked to the end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from socialcredit.errors import Conflict, NotFound, UsageError
from socialcredit.registry.audit import Reader
from socialcredit.registry.corrections import complete_correction, list_corrections
from socialcredit.registry.due_process import lapses_by_furnisher
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.ledger import verify
from socialcredit.registry.notices import notices_of
from socialcredit.registry.review import decide_review, request_review
from socialcredit.registry.standings.upkeep import refresh
from socialcredit.registry.verify import verify_cases
from socialcredit.settings import Settings
from socialcredit.store.db import Store
from socialcredit.store.schema import audit_log, ledger

from .conftest import ALICE, RECORD_HEADER, measures_at_the_airport, write_csv
from .test_due_process import fill, listed

CLERK = Reader("clerk", "operator", "corrections test")
NOON = dt.time(12, tzinfo=dt.UTC)


def test_a_review_found_wrong_retracts_the_record_and_asks_for_the_corrected_one(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    assert measures_at_the_airport(store, settings, ALICE) == ["no-air-travel"]
    review = request_review(store, settings, ALICE, reason="the judgment is my namesake's")
    with pytest.raises(UsageError, match="name the record found wrong"):
        decide_review(store, settings, review.id, outcome="corrected", reason="x", by="li")
    with pytest.raises(UsageError, match="changes no record"):
        decide_review(
            store, settings, review.id, outcome="confirmed", reason="x", by="li", record="court/j1"
        )
    friday = settings.today()
    while friday.weekday() != 4:
        friday += dt.timedelta(days=1)
    with time_machine.travel(dt.datetime.combine(friday, NOON), tick=False):
        done = decide_review(
            store,
            settings,
            review.id,
            outcome="corrected",
            reason="another person's judgment",
            by="li",
            record="court/j1",
        )
        assert done.outcome == "corrected" and done.record == "court/j1"
        # the correction changes something: the record is retracted, the listing and the
        # measure gone at once
        assert not listed(store, settings, ALICE)
        assert measures_at_the_airport(store, settings, ALICE) == []
        with store.reading() as connection:
            events = connection.execute(
                sa.select(ledger.c.event).where(ledger.c.entry == "event")
            ).scalars()
            assert list(events) == ["retracted"]
        [task] = list_corrections(store, settings, reader=CLERK, furnisher="court")
        assert (task.record, task.subject, task.replacement) == ("court/j1", ALICE, None)
        assert task.due == friday + dt.timedelta(days=5)  # three working days: Mon, Tue, Wed
        told = notices_of(store, CLERK, ALICE)[-1].text
        assert "court/j1 was found wrong and retracted" in told and task.due.isoformat() in told
        with pytest.raises(Conflict, match="already decided"):
            decide_review(store, settings, review.id, outcome="confirmed", reason="x", by="li")
        assert verify(store).problem is None
    with store.reading() as connection:  # the task list named the subject: audited
        purposes = connection.scalars(
            sa.select(audit_log.c.what).where(audit_log.c.actor == "clerk")
        ).all()
    assert "corrections" in purposes

    late = dt.datetime.combine(task.due + dt.timedelta(days=1), NOON)
    with time_machine.travel(late, tick=False):
        assert list_corrections(store, settings, reader=None)[0].overdue
        assert lapses_by_furnisher(store, settings)["court"]["corrections"] == 1
        # The furnisher sends the corrected record under a new id, then names it.
        with pytest.raises(UsageError, match="is the record found wrong"):
            complete_correction(store, settings, task.id, replacement="j1", by="court clerk")
        corrected = (settings.today() - dt.timedelta(days=30)).isoformat()
        rows = [("j1-c", ALICE, "court.arrears", corrected, "1200")]
        ingest_records(
            store,
            write_csv(tmp_path / "c.csv", RECORD_HEADER, rows),
            settings=settings,
            furnisher_id="court",
        )
        with pytest.raises(NotFound):  # another furnisher's key cannot complete it
            complete_correction(
                store, settings, task.id, replacement="j1-c", by="x", furnisher="traffic"
            )
        finished = complete_correction(
            store, settings, task.id, replacement="j1-c", by="court clerk", furnisher="court"
        )
        assert finished.replacement == "court/j1-c" and not finished.overdue
        assert "corrected by court: the corrected record is court/j1-c" in (
            notices_of(store, CLERK, ALICE)[-1].text
        )
        with pytest.raises(Conflict, match="completed already"):
            complete_correction(store, settings, task.id, replacement="j1-c", by="court clerk")
        assert list_corrections(store, settings, reader=None) == []
        assert lapses_by_furnisher(store, settings)["court"]["corrections"] == 1  # sent late
        assert verify(store).problem is None
    # A correction that claims a record the ledger does not retract is found.
    with store.engine.begin() as connection:
        connection.execute(sa.text("UPDATE reviews SET record_seq = 2"))  # ACME's record
    with store.reading() as connection:
        assert any("does not retract" in p for p in verify_cases(connection))


def test_a_record_sent_before_the_task_does_not_complete_it(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)  # court/j2 about ACME exists before the review
    review = request_review(store, settings, ALICE, reason="not mine")
    decide_review(
        store, settings, review.id, outcome="corrected", reason="wrong", by="li", record="court/j1"
    )
    [task] = list_corrections(store, settings, reader=None)
    earlier = (settings.today() - dt.timedelta(days=40)).isoformat()
    rows = [("old-1", ALICE, "court.arrears", earlier, "10")]
    with time_machine.travel(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)):
        ingest_records(
            store,
            write_csv(tmp_path / "o.csv", RECORD_HEADER, rows),
            settings=settings,
            furnisher_id="court",
        )
    with pytest.raises(UsageError, match="received before the correction was asked for"):
        complete_correction(store, settings, task.id, replacement="court/old-1", by="clerk")


def test_a_corrected_record_not_sent_in_time_is_told_to_the_subject_once(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """A correction task past its due date: refresh tells the subject once (registry.cases),
    as for every kind of case; the wrong record stays retracted."""
    fill(store, settings, tmp_path)
    review = request_review(store, settings, ALICE, reason="not mine")
    decide_review(
        store, settings, review.id, outcome="corrected", reason="wrong", by="li", record="court/j1"
    )
    [task] = list_corrections(store, settings, reader=None)
    assert refresh(store, settings).corrections_late == 0
    late = dt.datetime.combine(task.due + dt.timedelta(days=1), NOON)
    with time_machine.travel(late, tick=False):
        assert refresh(store, settings).corrections_late == 1
        assert refresh(store, settings).corrections_late == 0  # told once
        told = [
            n
            for n in notices_of(store, Reader("t", "operator", "test"), ALICE)
            if n.kind == "correction"
        ]
        assert len(told) == 1 and "has not come" in told[0].text
        assert "court/j1" in told[0].text and task.due.isoformat() in told[0].text
        assert measures_at_the_airport(store, settings, ALICE) == []
