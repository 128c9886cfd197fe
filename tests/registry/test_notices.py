"""Notices: told at ingest of a negative record, and whenever a listing or a grade changes,
online or in batch; the outbox can be sent on."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from socialcredit.registry.audit import Reader
from socialcredit.registry.ingest import ingest_events, ingest_records
from socialcredit.registry.notices import notices_of, send
from socialcredit.registry.standings.batch import evaluate_registry
from socialcredit.settings import Settings
from socialcredit.store.db import Store

from .conftest import ALICE, BOB, EVENT_HEADER, RECORD_HEADER, RESIDENT, count, write_csv

CLERK = Reader("clerk", "operator", "notice check")


def kinds(store: Store, identifier: str) -> list[tuple[str, str | None, str | None]]:
    return [(n.kind, n.scheme_id, n.ref) for n in notices_of(store, CLERK, identifier)]


def test_subjects_are_told_of_records_listings_and_delistings(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    recent = (settings.today() - dt.timedelta(days=10)).isoformat()
    report = ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [("j1", ALICE, "court.judgment_default", recent, "")],
        ),
        settings=settings,
        furnisher_id="court",
    )
    # Warning before punishment: the record's notice first, committed with the batch and the
    # listing it drives.
    told = kinds(store, ALICE)
    assert told[0] == ("record", None, "court/j1")
    assert ("listed", "spc-defaulters", "dishonest-judgment-defaulters") in told
    # the person schemes (the FCRA-like report, Flensburg, the honour roll, the SPC list) less
    # Rongcheng's and Suining's, which are for their residents only
    assert report.standings.startswith("4 current standings of 1 subjects updated online")
    # Fulfilment takes the subject off the list: told again.
    ingest_events(
        store,
        write_csv(tmp_path / "e.csv", EVENT_HEADER, [("j1", "fulfilled", recent)]),
        settings=settings,
        furnisher_id="court",
    )
    assert ("delisted", "spc-defaulters", "dishonest-judgment-defaulters") in kinds(store, ALICE)
    text = next(n.text for n in notices_of(store, CLERK, ALICE) if n.kind == "listed")
    assert "List of dishonest judgment defaulters" in text and "Legal basis" in text


def test_batch_changes_are_told_and_the_outbox_can_be_sent(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    recent = (settings.today() - dt.timedelta(days=10)).isoformat()
    ingest_records(
        store,
        write_csv(
            tmp_path / "t.csv", RECORD_HEADER, [("t1", RESIDENT, "traffic.ticket", recent, "")]
        ),
        settings=settings,
        furnisher_id="traffic",
    )
    evaluate_registry(store, settings, "rongcheng-person")  # the resident: 995, grade A
    ingest_records(
        store,
        write_csv(
            tmp_path / "r.csv",
            RECORD_HEADER,
            [
                ("j1", BOB, "court.judgment_default", recent, ""),
                ("h1", RESIDENT, "court.breach_found", recent, ""),
            ],
        ),
        settings=settings,
        furnisher_id="court",
    )
    # The online update in the batch's transaction finds the new listing and the grade change.
    assert ("listed", "spc-defaulters", "dishonest-judgment-defaulters") in kinds(store, BOB)
    alice = [n for n in notices_of(store, CLERK, RESIDENT) if n.kind in ("record", "grade")]
    # A traffic ticket is a minor negative record: a warning too; then the new grade.
    assert [(n.kind, n.ref) for n in alice] == [
        ("record", "traffic/t1"),
        ("record", "court/h1"),
        ("grade", None),
    ]
    assert "is B (it was A)" in alice[-1].text
    # A batch evaluation of the same ledger finds nothing more to tell.
    before = count(store, "notices")
    for scheme in ("spc-defaulters", "rongcheng-person"):
        evaluate_registry(store, settings, scheme)
    assert count(store, "notices") == before
    # Sending hands them on, once.
    out = tmp_path / "sent.jsonl"
    sent = send(store, f"file:{out}")
    assert sent == count(store, "notices")
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {line["subject_id"] for line in lines} >= {RESIDENT, BOB}
    assert send(store, f"file:{out}") == 0


def test_positive_records_bring_no_warning(
    store: Store, settings: Settings, tmp_path: Path
) -> None:
    with store.writing("admin_log") as connection:
        from socialcredit.registry.policies import add_furnisher

        add_furnisher(connection, "civil", "民政局", ["civic.honour"], update=False)
    ingest_records(
        store,
        write_csv(
            tmp_path / "h.csv", RECORD_HEADER, [("h1", ALICE, "civic.honour", "2026-01-02", "")]
        ),
        settings=settings,
        furnisher_id="civil",
    )
    # No warning: the record is positive. (The listing it earns is told.)
    told = kinds(store, ALICE)
    assert [k for k in told if k[0] == "record"] == []
    assert ("listed", "honour-roll", "honour-roll") in told
