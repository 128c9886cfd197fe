"""What the public sees: publication windows by severity, early ends, masking, and never a
person's record, score or grade."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
import time_machine

from socialcredit.identifiers import person_check_character
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.policies import add_furnisher
from socialcredit.registry.publication import (
    _evaluated_listings,
    _public_schemes,
    mask_identifier,
    mask_name,
    public_list,
    public_view,
)
from socialcredit.registry.standings.online import load_subject
from socialcredit.registry.standings.online import subject_key as subject_key_of
from socialcredit.semantics.fields import reason_text
from socialcredit.settings import Settings
from socialcredit.store.db import Store, now_us
from socialcredit.store.schema import batches

from .conftest import ACME, ALICE, BOB, EVENT_HEADER, write_csv

HEADER = ("record_id", "subject_id", "code", "occurred_on", "amount", "subject_name")


def test_masking() -> None:
    assert mask_identifier(ALICE) == "110105**********2X"
    assert mask_name("张三丰") == "张**"
    assert mask_name("李四") == "李*"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("李") == "李"
    assert mask_name("Maria Schmidt") == "Schmidt M."
    assert mask_name(None) is None


def fill(store: Store, settings: Settings, tmp_path: Path, today: dt.date) -> None:
    with store.writing() as connection:
        add_furnisher(
            connection,
            "samr",
            "市场监督管理局",
            ["gsxt.annual_report_missing", "gsxt.serious_illegal"],
            update=False,
        )
    recent = (today - dt.timedelta(days=30)).isoformat()
    rows = [
        ("c1", ACME, "court.judgment_default", recent, "250000", "荣成某某海产有限公司"),
        ("c2", ALICE, "court.judgment_default", recent, "", "张三丰"),
        ("c3", ACME, "court.arrears", recent, "900", ""),
        ("c4", ACME, "court.judgment_default", recent, "", ""),
        ("c5", BOB, "court.breach_found", recent, "", "李四"),
    ]
    for furnisher, path_rows in (("court", rows),):
        ingest_records(
            store,
            write_csv(tmp_path / f"{furnisher}.csv", HEADER, path_rows),
            settings=settings,
            furnisher_id=furnisher,
        )
    ingest_records(
        store,
        write_csv(
            tmp_path / "samr.csv",
            HEADER,
            [("s1", ACME, "gsxt.annual_report_missing", recent, "", "")],
        ),
        settings=settings,
        furnisher_id="samr",
    )
    ingest_events(
        store,
        write_csv(
            tmp_path / "court-events.csv",
            EVENT_HEADER,
            [
                ("c3", "repaired", (today - dt.timedelta(days=1)).isoformat()),
                ("c4", "retracted", ""),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )


def test_what_is_public_about_an_organisation_and_a_person(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    today = settings.today()
    fill(store, settings, tmp_path, today)
    acme = public_view(store, settings, ACME)
    assert acme.identifier == ACME and acme.name == "荣成某某海产有限公司"
    # c1 (serious) and s1 (general) are public; c3 was repaired yesterday; c4 was retracted.
    assert sorted(r.record_id for r in acme.records) == ["c1", "s1"]
    c1 = next(r for r in acme.records if r.record_id == "c1")
    assert (
        c1.published_until
        == (dt.date.fromisoformat(c1.published_from) + dt.timedelta(days=1095)).isoformat()
    )
    assert sorted((x.scheme, x.list_id) for x in acme.listings) == [
        ("gsxt-enterprises", "abnormal-operations"),
        ("spc-defaulters", "dishonest-judgment-defaulters"),
    ]
    alice = public_view(store, settings, ALICE)
    assert alice.identifier == "110105**********2X" and alice.name == "张**"
    assert alice.records == [] and [x.list_id for x in alice.listings] == [
        "dishonest-judgment-defaulters"
    ]
    # A person not on any public list: nothing public at all, not even that the registry
    # holds something (the same answer as for someone it has never heard of).
    bob = public_view(store, settings, BOB)
    assert bob.records == [] and bob.listings == [] and bob.name is None
    body = "11010519850505123"
    stranger = public_view(store, settings, body + person_check_character(body))
    assert stranger.identifier != bob.identifier
    assert bob.to_json() | {"identifier": ""} == stranger.to_json() | {"identifier": ""}
    # The public list: organisations by name, persons masked; no output names a person.
    members = public_list(
        store, settings, "spc-defaulters", "dishonest-judgment-defaulters"
    ).members
    assert [(m.identifier, m.name) for m in members] == [
        ("110105**********2X", "张**"),
        (ACME, "荣成某某海产有限公司"),
    ]
    everything = json.dumps(
        [acme.to_json(), alice.to_json(), bob.to_json(), [m.__dict__ for m in members]],
        ensure_ascii=False,
    )
    for secret in (ALICE, BOB, "张三丰", "李四"):
        assert secret not in everything
    assert not re.search(r"\b\d{17}[\dX]\b", everything), "an unmasked resident number"
    assert '"score"' not in everything and '"grade"' not in everything


def test_publication_ends_on_the_right_day(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    today = settings.today()
    fill(store, settings, tmp_path, today)
    s1 = next(r for r in public_view(store, settings, ACME).records if r.record_id == "s1")
    last_day = dt.date.fromisoformat(s1.published_until) - dt.timedelta(days=1)
    with time_machine.travel(dt.datetime.combine(last_day, dt.time(12), dt.UTC), tick=False):
        assert "s1" in [r.record_id for r in public_view(store, settings, ACME).records]
    with time_machine.travel(
        dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(12), dt.UTC), tick=False
    ):
        assert "s1" not in [r.record_id for r in public_view(store, settings, ACME).records]


def test_publication_runs_from_the_decision_and_ends_three_working_days_after_performance(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Issue #15: a 2019 judgment ingested today was public 2019-2022 and is not public now
    (the window starts at the decision, not at ingest); a judgment performed on a Friday,
    whose list ends on performance, stays public three working days — past a holiday Monday,
    until the Thursday (SPC Fa Shi [2017] No. 7 art. 10)."""
    today = settings.today()
    friday = today + dt.timedelta(days=(4 - today.weekday()) % 7 or 7)  # the clock only advances
    monday = friday + dt.timedelta(days=3)
    holidays = tmp_path / "holidays.yaml"
    holidays.write_text(f"holidays: [{monday.isoformat()}]\n", encoding="utf-8")
    with_holiday = settings.model_copy(update={"holidays_file": holidays})
    recent = (today - dt.timedelta(days=60)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "court.csv",
            HEADER,
            [
                ("old", ACME, "court.judgment_default", "2019-06-03", "", "荣成某某海产有限公司"),
                ("paid", ACME, "court.judgment_default", recent, "", ""),
                ("arrears", ACME, "court.arrears", recent, "", ""),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )
    performed = [
        ("paid", "fulfilled", friday.isoformat()),
        ("arrears", "fulfilled", friday.isoformat()),
    ]
    with time_machine.travel(dt.datetime.combine(friday, dt.time(4), dt.UTC), tick=False):
        ingest_events(
            store,
            write_csv(tmp_path / "events.csv", EVENT_HEADER, performed),
            settings=settings,
            furnisher_id="court",
        )

    def public_on(day: dt.date) -> dict[str, str]:
        with time_machine.travel(dt.datetime.combine(day, dt.time(4), dt.UTC), tick=False):
            view = public_view(store, with_holiday, ACME)
        return {r.record_id: r.published_until for r in view.records}

    thursday = friday + dt.timedelta(days=6)
    shown = public_on(thursday - dt.timedelta(days=1))
    assert "old" not in shown  # public 2019-06-03 until 2022-06-03, not from today
    assert shown["paid"] == thursday.isoformat()  # Tuesday and Wednesday are the 2nd and 3rd
    # court.arrears is on no list that ends on fulfilment: its window does not move
    assert dt.date.fromisoformat(shown["arrears"]) > thursday
    assert "paid" not in public_on(thursday)


def test_a_new_listing_waits_out_the_notice_period(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    today = settings.today()
    fill(store, settings, tmp_path, today)  # listed 30 days ago
    patient = settings.model_copy(update={"publication_notice_days": 45})
    assert public_view(store, patient, ALICE).listings == []
    assert public_list(store, patient, "spc-defaulters", "dishonest-judgment-defaulters").total == 0
    brief = settings.model_copy(update={"publication_notice_days": 30})
    members = public_list(store, brief, "spc-defaulters", "dishonest-judgment-defaulters").members
    assert [m.name for m in members] == ["张**", "荣成某某海产有限公司"]


def _statements(store: Store, run: Callable[[], object]) -> list[str]:
    """The SQL statements ``run`` sends to the store, in order (parameters aside)."""
    sent: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        run()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    return sent


def test_a_persons_public_view_does_the_same_work_held_or_not(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """That the registry holds data on a person is not public, so neither is it in the work
    of answering: a held person on no public list (BOB) and a person the registry has never
    heard of get the same statements — no read of the ledger, no evaluation — and the
    answer of a listed person from the stored standings is the online evaluation's."""
    today = settings.today()
    fill(store, settings, tmp_path, today)
    body = "11010519850505123"
    stranger = body + person_check_character(body)
    public_view(store, settings, stranger)  # the policy reads are warmed once
    held = _statements(store, lambda: public_view(store, settings, BOB))
    unknown = _statements(store, lambda: public_view(store, settings, stranger))
    assert held == unknown
    assert not any(re.search(r"\bFROM ledger\b", s) for s in held)
    with store.reading() as connection:
        key = subject_key_of(connection, ALICE)
        assert key is not None
        facts = load_subject(connection, key)
        schemes, among = _public_schemes(connection, settings, today, now_us(), "person")
    online = _evaluated_listings(facts, schemes, among, settings, today, now_us())
    assert online and public_view(store, settings, ALICE).listings == online
    # A pending batch about the person: freshness refuses the stored standing, and the
    # person is evaluated online — the same answer.
    with store.writing() as connection:
        connection.execute(sa.update(batches).values(standings_done=False))
    assert public_view(store, settings, ALICE).listings == online
    assert public_view(store, settings, BOB).listings == []
    # The one transient difference (docs/registry.md): BOB, in a pending batch, is evaluated.
    held = _statements(store, lambda: public_view(store, settings, BOB))
    unknown = _statements(store, lambda: public_view(store, settings, stranger))
    assert len(held) > len(unknown)


def test_a_furnished_decision_day_starts_the_publication_window(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    """Issue #15 item 2: the window starts at ``decided_on`` when the furnisher gives it (the
    day the judgment became a decision of record), else at ``occurred_on``; a decision day
    before the conduct, after the day of receipt or not a date is refused, row by row."""
    today = settings.today()
    decided = today - dt.timedelta(days=10)
    rows = [
        ("late", ACME, "court.judgment_default", "2019-06-03", "", "", decided.isoformat()),
        ("plain", ACME, "court.judgment_default", "2019-06-03", "", "", ""),
        ("before", ACME, "court.judgment_default", "2019-06-03", "", "", "2019-06-02"),
        ("future", ACME, "court.judgment_default", "2019-06-03", "", "", "2099-01-01"),
        ("garbled", ACME, "court.judgment_default", "2019-06-03", "", "", "10/05/2026"),
    ]
    report = ingest_records(
        store,
        write_csv(tmp_path / "court.csv", (*HEADER, "decided_on"), rows),
        settings=settings,
        furnisher_id="court",
    )
    assert report.accepted == 2
    assert [(r.row, r.field) for r in report.rejections] == [
        (3, "decided_on"),
        (4, "decided_on"),
        (5, "decided_on"),
    ]
    kinds = {"court.judgment_default": ("person", "organisation")}
    reasons = [reason_text(r, kind_subjects=kinds) for r in report.rejections]
    assert "before the conduct" in reasons[0] and "2019-06-03" in reasons[0]
    assert "the day the registry received" in reasons[1]
    assert "not a real date" in reasons[2]
    view = public_view(store, settings, ACME)
    shown = {r.record_id: r for r in view.records}
    assert "plain" not in shown  # public 2019-06-03 until 2022-06-03
    assert shown["late"].published_from == decided.isoformat()
    # the same content again is a no-op; another decision day is a conflict
    again = ingest_records(
        store,
        write_csv(
            tmp_path / "again.csv",
            (*HEADER, "decided_on"),
            [rows[0], (*rows[1][:6], decided.isoformat())],
        ),
        settings=settings,
        furnisher_id="court",
    )
    assert again.noop == 1 and [r.problem for r in again.rejections] == ["ledger_conflict"]
    # within one file too: the same key with another decision day is a conflict, not a repeat
    twice = ingest_records(
        store,
        write_csv(
            tmp_path / "twice.csv",
            (*HEADER, "decided_on"),
            [
                ("new", ACME, "court.arrears", "2026-01-05", "", "", ""),
                ("new", ACME, "court.arrears", "2026-01-05", "", "", "2026-01-06"),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )
    assert twice.accepted == 1 and twice.noop == 0
    assert [(r.row, r.problem) for r in twice.rejections] == [(2, "conflict")]
