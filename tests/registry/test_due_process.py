"""Objections and credit repair, end to end: each step shows in the standing, the public view,
the notices and the ledger."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from socialcredit.errors import Conflict
from socialcredit.policy.model import add_months
from socialcredit.registry.audit import Reader
from socialcredit.registry.due_process import (
    apply_repair,
    complete_repair,
    decide_objection,
    decide_repair,
    file_objection,
    lapses_by_furnisher,
    queue,
    record_of,
    registry_event,
)
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.ledger import verify
from socialcredit.registry.notices import notices_of
from socialcredit.registry.policies import RegistryError, publish_scheme
from socialcredit.registry.publication import public_list, public_view
from socialcredit.registry.reports import subject_page
from socialcredit.registry.standings.online import standing_of
from socialcredit.registry.standings.upkeep import refresh
from socialcredit.semantics.fields import reason_text
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import ledger, objections, standings, subjects

from .conftest import (
    ACME,
    ALICE,
    EVENT_HEADER,
    RECORD_HEADER,
    measures_at_the_airport,
    write_csv,
)

CLERK = Reader("clerk", "operator", "due process test")
LIST = "dishonest-judgment-defaulters"


def listed(store: Store, settings: Settings, identifier: str) -> bool:
    view = standing_of(store, settings, identifier, reader=CLERK, scheme_id="spc-defaulters")
    standing = view.results["spc-defaulters"].standing
    return standing is not None and LIST in standing.lists


def fill(store: Store, settings: Settings, tmp_path: Path) -> None:
    recent = (settings.today() - dt.timedelta(days=20)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [
                ("j1", ALICE, "court.judgment_default", recent, ""),
                ("j2", ACME, "court.judgment_default", recent, "90000"),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )


def test_an_upheld_objection_takes_the_listing_away(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    assert listed(store, settings, ALICE)
    case = file_objection(store, settings, ALICE, "court/j1", reason="I never owed this")
    with pytest.raises(Conflict, match="under objection already"):
        file_objection(store, settings, ALICE, "court/j1", reason="again")
    # Marked under objection everywhere; the effect continues meanwhile.
    view = standing_of(store, settings, ALICE, reader=CLERK)
    assert view.under_objection == {"court/j1": case.id}
    assert listed(store, settings, ALICE)
    assert [c.id for c in queue(store, settings, "objection", reader=None)] == [case.id]
    decided = decide_objection(store, settings, case.id, uphold=True, reason="no debt", by="li")
    assert decided.outcome == "upheld"
    with pytest.raises(Conflict, match="already decided"):
        decide_objection(store, settings, case.id, uphold=False, reason="x", by="wang")
    # Retracted in the ledger; the listing is gone from the standing and the public list.
    assert not listed(store, settings, ALICE)
    assert standing_of(store, settings, ALICE, reader=CLERK).under_objection == {}
    members = public_list(store, settings, "spc-defaulters", LIST).members
    assert [m.identifier for m in members] == [ACME]
    told = [n.kind for n in notices_of(store, CLERK, ALICE)]
    assert told.count("objection") == 2 and "delisted" in told
    assert verify(store).problem is None


def test_a_rejected_objection_keeps_the_record_and_the_public_sees_the_mark(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    case = file_objection(store, settings, ACME, "court/j2", reason="paid in full")
    [record] = [r for r in public_view(store, settings, ACME).records if r.record_id == "j2"]
    assert record.under_objection
    decide_objection(store, settings, case.id, uphold=False, reason="unpaid", by="li")
    [record] = [r for r in public_view(store, settings, ACME).records if r.record_id == "j2"]
    assert not record.under_objection
    assert listed(store, settings, ACME)
    told = notices_of(store, CLERK, ACME)[-1].text
    assert "unpaid" in told
    # the next remedy, with the deadline that binds the registry (issue #15)
    assert "ask that a person review your standing" in told and "is due by 20" in told
    assert "reconsideration within 10 days" in told


def test_a_scheme_may_suspend_a_record_while_it_is_under_objection(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    shipped = resources.files("socialcredit") / "data" / "schemes" / "spc-defaulters.yaml"
    text = shipped.read_text(encoding="utf-8")
    suspending = text.replace("version: 1\n", "version: 2\nobjection_suspends_effect: true\n")
    assert suspending != text
    with store.writing() as connection:
        publish_scheme(connection, suspending, source="test")
    fill(store, settings, tmp_path)
    assert listed(store, settings, ALICE)
    case = file_objection(store, settings, ALICE, "court/j1", reason="I never owed this")
    # The ledger has the objection; the listing is suspended at once, also in the current
    # standings and the public list.
    with store.reading() as connection:
        events = connection.execute(
            sa.select(ledger.c.event, ledger.c.event_date).where(ledger.c.entry == "event")
        ).all()
    assert [(e.event, e.event_date) for e in events] == [
        ("objected", settings.today()),
        ("objection_lapsed", case.due + dt.timedelta(days=1)),  # only if undecided by then
    ]
    assert not listed(store, settings, ALICE)
    assert [m.identifier for m in public_list(store, settings, "spc-defaulters", LIST).members] == [
        ACME
    ]
    decide_objection(store, settings, case.id, uphold=False, reason="the debt is real", by="li")
    assert listed(store, settings, ALICE)
    assert public_list(store, settings, "spc-defaulters", LIST).total == 2
    # A second objection after the rejection is decided, but does not suspend again.
    again = file_objection(store, settings, ALICE, "court/j1", reason="still not mine")
    assert standing_of(store, settings, ALICE, reader=CLERK).under_objection == {
        "court/j1": again.id
    }
    assert listed(store, settings, ALICE)
    assert verify(store).problem is None


def test_a_furnisher_cannot_send_the_registry_s_objection_events(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    rows = [
        ("j1", "objected", "2026-01-05"),
        ("j1", "objection_rejected", "2026-01-06"),
        ("j1", "objection_lapsed", "2026-01-07"),  # a hostile furnisher ending its own record
    ]
    report = ingest_events(
        store,
        write_csv(tmp_path / "e.csv", EVENT_HEADER, rows),
        settings=settings,
        furnisher_id="court",
    )
    assert report.accepted == 0
    assert [(r.row, r.field) for r in report.rejections] == [
        (1, "event"),
        (2, "event"),
        (3, "event"),
    ]
    assert "written by the registry itself" in reason_text(report.rejections[0], kind_subjects={})


def test_repair_is_refused_before_its_conditions_and_granted_after(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    fill(store, settings, tmp_path)
    with pytest.raises(RegistryError) as refused:
        apply_repair(store, settings, ALICE, "court/j1", evidence="paid", commitment=False)
    reasons = str(refused.value)
    assert "obligation" in reasons and "at least 1 year" in reasons and "commitment" in reasons
    assert "NDRC Order No. 36" in reasons  # the repair rules in force today
    ingest_events(
        store,
        write_csv(
            tmp_path / "e.csv",
            EVENT_HEADER,
            [("j1", "fulfilled", (settings.today() - dt.timedelta(days=1)).isoformat())],
        ),
        settings=settings,
        furnisher_id="court",
    )
    with pytest.raises(RegistryError) as still:
        apply_repair(store, settings, ALICE, "court/j1", evidence="paid", commitment=True)
    assert "1 year" in str(still.value) and "obligation" not in str(still.value)
    a_year_on = dt.datetime.now(dt.UTC) + dt.timedelta(days=366)
    with time_machine.travel(a_year_on, tick=False):
        case = apply_repair(store, settings, ALICE, "court/j1", evidence="paid", commitment=True)
        assert [c.id for c in queue(store, settings, "repair", reader=None)] == [case.id]
        granted = decide_repair(store, settings, case.id, grant=True, reason="ok", by="li")
        assert granted.outcome == "granted"
        with pytest.raises(Conflict, match="already decided"):
            decide_repair(store, settings, case.id, grant=False, reason="x", by="li")
        with pytest.raises(RegistryError, match="repaired already"):
            apply_repair(store, settings, ALICE, "court/j1", evidence="again", commitment=True)
        told = [n.text for n in notices_of(store, CLERK, ALICE) if "was granted" in n.text]
        assert told and "NDRC Order No. 36" in told[0]
    assert verify(store).problem is None


def test_a_general_record_may_be_repaired_three_calendar_months_after_publication(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """The repair rules in force (NDRC Order No. 36 from 2026-04-01) count the minimum
    publication period in calendar months (Civil Code art. 202) from the decision day, and the
    refusal cites them."""
    published = settings.today() - dt.timedelta(days=5)  # the decision day starts the window
    occurred = published.isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv", RECORD_HEADER, [("f1", ALICE, "court.breach_found", occurred, "")]
        ),
        settings=settings,
        furnisher_id="court",
    )
    earliest = add_months(published, 3)
    with pytest.raises(RegistryError) as early:
        apply_repair(store, settings, ALICE, "court/f1", evidence="filed", commitment=True)
    assert "at least 3 months" in str(early.value) and earliest.isoformat() in str(early.value)
    assert "NDRC Order No. 36" in str(early.value)
    noon = dt.time(12, tzinfo=dt.UTC)
    day_before = dt.datetime.combine(earliest - dt.timedelta(days=1), noon)
    with (
        time_machine.travel(day_before),
        pytest.raises(RegistryError, match=earliest.isoformat()),
    ):
        apply_repair(store, settings, ALICE, "court/f1", evidence="filed", commitment=True)
    with time_machine.travel(dt.datetime.combine(earliest, noon)):
        case = apply_repair(store, settings, ALICE, "court/f1", evidence="filed", commitment=True)
        assert case.kind == "repair"


def test_an_objection_is_due_within_the_regulation_s_twenty_days(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Twenty working days (the most a registry may set) across a fortnight of holidays would
    run past the credit-reporting regulation's 20 days: the due date is the twentieth day."""
    fill(store, settings, tmp_path)
    today = settings.today()
    holidays = [today + dt.timedelta(days=n) for n in range(1, 15)]
    path = tmp_path / "holidays.yaml"
    path.write_text(f"holidays: [{', '.join(d.isoformat() for d in holidays)}]\n", "utf-8")
    strict = settings.model_copy(update={"holidays_file": path, "objection_days": 20})
    case = file_objection(store, strict, ALICE, "court/j1", reason="I never owed this")
    assert case.due == today + dt.timedelta(days=20)


NOON = dt.time(12, tzinfo=dt.UTC)


@pytest.mark.parametrize("uphold", [False, True], ids=["rejected late", "upheld late"])
def test_an_objection_left_undecided_lapses_the_day_after_it_is_due(
    store: Store, settings: Settings, tmp_path: Path, uphold: bool
) -> None:
    """Issue #15: the deadline binds. Undecided on the day after its due date, the record has
    no effect in any scheme — the first check already answers without it, before any refresh
    — the subject is told once, the dashboard counts the lapse, and verify passes; deciding it
    afterwards restores the listing (rejected) or retracts the record (upheld)."""
    fill(store, settings, tmp_path)
    assert measures_at_the_airport(store, settings, ALICE) == ["no-air-travel"]
    case = file_objection(store, settings, ALICE, "court/j1", reason="I never owed this")
    assert case.lapses_on == case.due + dt.timedelta(days=1)
    assert listed(store, settings, ALICE)  # the shipped scheme does not suspend meanwhile
    with store.reading() as connection:  # the stored standing falls stale on the lapse day
        stored = connection.scalar(
            sa.select(standings.c.holds_until)
            .join(subjects, subjects.c.id == standings.c.subject_id)
            .where(subjects.c.identifier == ALICE, standings.c.scheme_id == "spc-defaulters")
        )
    assert str(stored)[:10] == case.lapses_on.isoformat()

    with time_machine.travel(dt.datetime.combine(case.due, NOON), tick=False):
        assert measures_at_the_airport(store, settings, ALICE) == ["no-air-travel"]  # still in time
        assert listed(store, settings, ALICE)
    with time_machine.travel(dt.datetime.combine(case.lapses_on, NOON), tick=False):
        assert measures_at_the_airport(store, settings, ALICE) == []  # the first read, no refresh
        assert not listed(store, settings, ALICE)
        page = subject_page(store, settings, ALICE, reader=CLERK)
        [record] = [r for r in page["records"] if r["record"] == "court/j1"]
        assert record["status"] == "suspended"
        assert case.lapses_on.isoformat() in record["status_detail"]
        assert ("objection_lapsed", case.lapses_on.isoformat()) in [
            (e["event"], e["date"]) for e in record["events"]
        ]
        result = refresh(store, settings)
        assert result.objections_lapsed == 1
        assert refresh(store, settings).objections_lapsed == 0  # told once
        told = [n.text for n in notices_of(store, CLERK, ALICE) if "has not been" in n.text]
        assert len(told) == 1 and f"from {case.lapses_on.isoformat()}" in told[0]
        assert "no effect in any scheme" in told[0]
        late = queue(store, settings, "objection", reader=CLERK, overdue_only=True)
        assert [(c.id, c.overdue) for c in late] == [(case.id, True)]
        assert lapses_by_furnisher(store, settings) == {
            "court": {"objections_open": 1, "objections": 1, "repairs": 0, "corrections": 0}
        }
        assert verify(store).problem is None
    decided_on = case.lapses_on + dt.timedelta(days=2)
    with time_machine.travel(dt.datetime.combine(decided_on, NOON), tick=False):
        decide_objection(store, settings, case.id, uphold=uphold, reason="checked", by="li")
        assert listed(store, settings, ALICE) is not uphold
        assert measures_at_the_airport(store, settings, ALICE) == (
            [] if uphold else ["no-air-travel"]
        )
        assert lapses_by_furnisher(store, settings) == {
            "court": {"objections_open": 0, "objections": 1, "repairs": 0, "corrections": 0}
        }
        assert verify(store).problem is None


def test_an_objection_decided_in_time_never_lapses(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """The lapse written with the objection is void when the decision comes first: the record
    keeps its effect after the due date and no report lists the lapse."""
    fill(store, settings, tmp_path)
    case = file_objection(store, settings, ALICE, "court/j1", reason="I never owed this")
    decide_objection(store, settings, case.id, uphold=False, reason="the debt is real", by="li")
    with time_machine.travel(dt.datetime.combine(case.lapses_on, NOON), tick=False):
        assert listed(store, settings, ALICE)
        assert measures_at_the_airport(store, settings, ALICE) == ["no-air-travel"]
        page = subject_page(store, settings, ALICE, reader=CLERK)
        [record] = [r for r in page["records"] if r["record"] == "court/j1"]
        assert "objection_lapsed" not in [e["event"] for e in record["events"]]
        assert refresh(store, settings).objections_lapsed == 0
        assert lapses_by_furnisher(store, settings) == {}


def test_a_late_repair_decision_is_escalated(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """A repair application not answered by its due date: the subject is told once that it is
    escalated, the queue puts it first, the dashboard counts it."""
    occurred = (settings.today() - dt.timedelta(days=5)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv", RECORD_HEADER, [("f1", ALICE, "court.breach_found", occurred, "")]
        ),
        settings=settings,
        furnisher_id="court",
    )
    ready = dt.datetime.combine(add_months(settings.today() - dt.timedelta(days=5), 3), NOON)
    with time_machine.travel(ready, tick=False):
        first = apply_repair(store, settings, ALICE, "court/f1", evidence="filed", commitment=True)
    with time_machine.travel(ready + dt.timedelta(days=1), tick=False):
        assert refresh(store, settings).repairs_late == 0
    with time_machine.travel(dt.datetime.combine(first.due, NOON) + dt.timedelta(days=1)):
        result = refresh(store, settings)
        assert result.repairs_late == 1 and refresh(store, settings).repairs_late == 0
        told = notices_of(store, CLERK, ALICE)[-1].text
        assert "escalated" in told and first.due.isoformat() in told
        assert [c.id for c in queue(store, settings, "repair", reader=CLERK)] == [first.id]
        assert queue(store, settings, "repair", reader=CLERK)[0].overdue
        assert lapses_by_furnisher(store, settings)["court"]["repairs"] == 1


def test_a_complete_repair_file_is_decided_within_three_working_days(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Guobanfa [2025] No. 22: feedback within 10 working days, the decision within 3 working
    days of a complete file (SOCIALCREDIT_REPAIR_DECISION_DAYS, never more). Finding the file
    complete moves the deadline, tells the subject, and binds like any other."""
    occurred = (settings.today() - dt.timedelta(days=5)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv", RECORD_HEADER, [("f1", ALICE, "court.breach_found", occurred, "")]
        ),
        settings=settings,
        furnisher_id="court",
    )
    friday = add_months(settings.today() - dt.timedelta(days=5), 3)
    while friday.weekday() != 4:
        friday += dt.timedelta(days=1)
    with time_machine.travel(dt.datetime.combine(friday, NOON), tick=False):
        case = apply_repair(store, settings, ALICE, "court/f1", evidence="filed", commitment=True)
        assert case.complete_on is None and case.due > friday + dt.timedelta(days=10)
        done = complete_repair(store, settings, case.id, by="wang.li")
        # three working days from a Friday: Monday, Tuesday, Wednesday
        assert done.complete_on == friday and done.due == friday + dt.timedelta(days=5)
        told = notices_of(store, CLERK, ALICE)[-1].text
        assert "is complete" in told and done.due.isoformat() in told
        with pytest.raises(Conflict, match="found complete on"):
            complete_repair(store, settings, case.id, by="wang.li")
    with time_machine.travel(dt.datetime.combine(done.due + dt.timedelta(days=1), NOON)):
        assert refresh(store, settings).repairs_late == 1
        assert queue(store, settings, "repair", reader=CLERK)[0].overdue
        decide_repair(store, settings, case.id, grant=True, reason="paid", by="wang.li")
    with pytest.raises(Conflict, match="already decided"):
        complete_repair(store, settings, case.id, by="wang.li")


def test_an_objection_filed_before_lapses_were_written_is_given_its_lapse_by_refresh(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """A store from before migration 0012 has open objections with no lapse in the ledger:
    refresh writes it (dated the day after the due date, through the one writer), once, so the
    deadline binds for them too; verify then judges them like any other."""
    fill(store, settings, tmp_path)
    today = settings.today()
    due = today + dt.timedelta(days=3)
    with store.writing("ledger") as connection:  # an objection as the old registry filed it
        record = record_of(connection, ALICE, "court/j1")
        connection.execute(
            objections.insert().values(
                subject_id=record.subject_key,
                record_seq=record.seq,
                reason="filed long ago",
                filed_us=now_us(),
                due=due,
            )
        )
        registry_event(store, connection, settings, record, [("objected", today)], "old objection")
    result = refresh(store, settings)
    assert result.lapses_backfilled == 1
    assert refresh(store, settings).lapses_backfilled == 0  # nothing left to do
    with store.reading() as connection:
        lapses = (
            connection.execute(
                sa.select(ledger.c.event_date).where(
                    ledger.c.record_seq == record.seq, ledger.c.event == "objection_lapsed"
                )
            )
            .scalars()
            .all()
        )
    assert lapses == [due + dt.timedelta(days=1)]
    assert verify(store).problem is None
    with time_machine.travel(dt.datetime.combine(due + dt.timedelta(days=1), NOON), tick=False):
        assert measures_at_the_airport(store, settings, ALICE) == []  # it binds
