"""Working-day deadlines and the human review queue."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine

from socialcredit.errors import Conflict
from socialcredit.registry.audit import Reader
from socialcredit.registry.calendar import WorkCalendar, load_calendar
from socialcredit.registry.ingest import ingest_records
from socialcredit.registry.notices import notices_of
from socialcredit.registry.review import decide_review, list_reviews, request_review
from socialcredit.registry.standings.upkeep import refresh
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ALICE, RECORD_HEADER, write_csv

# The 2026 National Day week as an example calendar: 1-7 October off, Sunday 27 September and
# Saturday 10 October made working days.
CALENDAR = """
holidays: [2026-10-01, 2026-10-02, 2026-10-05, 2026-10-06, 2026-10-07]
workdays: [2026-09-27, 2026-10-10]
"""


def test_working_days_skip_weekends_and_holidays(tmp_path: Path) -> None:
    plain = WorkCalendar()
    friday = dt.date(2026, 11, 20)
    assert plain.add_working_days(friday, 1) == dt.date(2026, 11, 23)  # Monday
    assert plain.add_working_days(friday, 5) == dt.date(2026, 11, 27)
    assert plain.working_days_between(friday, dt.date(2026, 11, 27)) == 5
    path = tmp_path / "holidays.yaml"
    path.write_text(CALENDAR, encoding="utf-8")
    china = load_calendar(path)
    # Filed on Wednesday 30 September: Thursday 1 October to Wednesday 7 are off (Saturday 3,
    # Sunday 4 too), Thursday 8 and Friday 9 count, Saturday 10 is a make-up working day.
    assert china.add_working_days(dt.date(2026, 9, 30), 3) == dt.date(2026, 10, 10)
    assert china.is_working_day(dt.date(2026, 9, 27))  # a Sunday worked
    bad = tmp_path / "bad.yaml"
    bad.write_text("holidays: [someday]\n", encoding="utf-8")
    with pytest.raises(Exception, match="not a date"):
        load_calendar(bad)


def test_a_review_is_queued_with_its_deadline_flagged_when_late_and_decided_once(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv", RECORD_HEADER, [("j1", ALICE, "court.arrears", "2026-01-05", "")]
        ),
        settings=settings,
        furnisher_id="court",
    )
    path = tmp_path / "holidays.yaml"
    path.write_text(CALENDAR, encoding="utf-8")
    dated = settings.model_copy(update={"holidays_file": path, "review_days": 3})
    # The clock only moves forward from the store's creation.
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with time_machine.travel(start, tick=False):
        review = request_review(
            store, dated, ALICE, reason="the arrears were paid", scheme_id="rongcheng-person"
        )
        assert review.due == load_calendar(path).add_working_days(dated.today(), 3)
        assert [r.id for r in list_reviews(store, dated, reader=None)] == [review.id]
        assert list_reviews(store, dated, reader=None, overdue_only=True) == []
    late = dt.datetime.combine(review.due + dt.timedelta(days=1), dt.time(10), dt.UTC)
    with time_machine.travel(late, tick=False):
        [overdue] = list_reviews(store, dated, reader=None, overdue_only=True)
        assert overdue.id == review.id and overdue.overdue
        decided = decide_review(
            store, dated, review.id, outcome="confirmed", reason="the arrears are unpaid", by="li"
        )
        assert decided.outcome == "confirmed" and not decided.overdue
        assert list_reviews(store, dated, reader=None) == []
        with pytest.raises(Conflict, match="already decided"):
            decide_review(store, dated, review.id, outcome="corrected", reason="x", by="wang")
    told = notices_of(store, Reader("t", "operator", "test"), ALICE)
    assert told[-1].kind == "review" and "the arrears are unpaid" in told[-1].text


def test_a_review_past_its_due_date_is_told_once_and_escalated(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Issue #15: no deadline passes without consequence — a review left undecided past its
    due date is told to the subject once, by refresh, as escalated (registry.cases)."""
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [("j1", ALICE, "court.judgment_default", settings.today().isoformat(), "")],
        ),
        settings=settings,
        furnisher_id="court",
    )
    review = request_review(store, settings, ALICE, reason="please look again")
    assert refresh(store, settings).reviews_late == 0  # not late yet
    late = dt.datetime.combine(review.due + dt.timedelta(days=1), dt.time(4), dt.UTC)
    with time_machine.travel(late, tick=False):
        assert refresh(store, settings).reviews_late == 1
        assert refresh(store, settings).reviews_late == 0  # told once
        reader = Reader("t", "operator", "test")
        told = [n for n in notices_of(store, reader, ALICE) if n.kind == "review"]
        assert len(told) == 1 and "escalated" in told[0].text
        assert str(review.id) in told[0].text and review.due.isoformat() in told[0].text
